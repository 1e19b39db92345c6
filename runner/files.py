"""The loaded files of a project, as validation and building read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from runner.errors import Problem, Severity
from runner.yamlfile import Document, JsonPath


@dataclass
class Files:
    """The loaded files of a project: the project file (if any), its tenant files (when `tenants:` names a
    folder) and the specs."""

    project: Document | None
    specs: list[Document] = field(default_factory=list)
    tenant_files: list[Document] = field(default_factory=list)

    def spec_name(self, doc: Document) -> str:
        """A spec's name: its `name` key, else the file name without extension."""
        data = doc.data if isinstance(doc.data, dict) else {}
        name = data.get("name")
        return name if isinstance(name, str) else doc.path.stem

    @property
    def tenants_folder(self) -> bool:
        """Whether the project's `tenants:` names a folder of tenant files."""
        data = self.project.data if self.project and isinstance(self.project.data, dict) else {}
        return isinstance(data.get("tenants"), str)

    def tenants(self) -> dict[str, Any]:
        """The project's tenants by name (from the project file or its tenant files; the first file of a
        name when two clash), or empty when they are missing or malformed."""
        if self.tenants_folder:
            return {name: doc.data for name, doc in self._tenant_docs.items()}
        data = self.project.data if self.project and isinstance(self.project.data, dict) else {}
        tenants = data.get("tenants")
        return tenants if isinstance(tenants, dict) else {}

    @cached_property
    def _tenant_docs(self) -> dict[str, Document]:
        """The tenant files by tenant name (the first file of a name when two clash)."""
        found: dict[str, Document] = {}
        for doc in self.tenant_files:
            found.setdefault(doc.path.stem, doc)
        return found

    def tenant_at(self, name: str) -> tuple[Document, JsonPath]:
        """The file tenant `name` is written in, and the path of its entry there."""
        if self.tenants_folder:
            return self._tenant_docs[name], ()
        assert self.project is not None
        return self.project, ("tenants", name)

    def tenant_problem(
        self,
        name: str,
        path: JsonPath,
        message: str,
        *,
        rule: str,
        severity: Severity = "error",
        key: bool = False,
    ) -> Problem:
        """A finding about the node at `path` in tenant `name`'s entry, located in the file holding it."""
        doc, prefix = self.tenant_at(name)
        return doc.problem((*prefix, *path), message, rule=rule, severity=severity, key=key)
