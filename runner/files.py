"""The loaded files of a project, as validation and building read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.yamlfile import Document


@dataclass
class Files:
    """The loaded files of a project: the project file (if any) and the specs."""

    project: Document | None
    specs: list[Document] = field(default_factory=list)

    def spec_name(self, doc: Document) -> str:
        """A spec's name: its `name` key, else the file name without extension."""
        data = doc.data if isinstance(doc.data, dict) else {}
        name = data.get("name")
        return name if isinstance(name, str) else doc.path.stem

    def tenants(self) -> dict[str, Any]:
        """The project's tenants mapping, or empty when it is missing or malformed."""
        data = self.project.data if self.project and isinstance(self.project.data, dict) else {}
        tenants = data.get("tenants")
        return tenants if isinstance(tenants, dict) else {}
