"""Writing a new project's files: never over an existing file, each written whole (runner/atomic.py).

The files every project kept on disk has besides its own: a `.gitignore` that keeps `.infiniti-sync/` (the
state, the run archive and the sandbox's files, which hold personal data) out of git, and the JSON Schemas
in `schemas/`, which the files' `yaml-language-server` comments point editors at.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from runner import schema
from runner.atomic import replace_file
from runner.errors import UsageError

SCHEMAS = "schemas"
FILE_MODE = 0o644


def template(name: str) -> str:
    """The text of a template of runner/init/templates."""
    return resources.files("runner.init").joinpath("templates", name).read_text(encoding="utf-8")


def common_files() -> dict[str, str]:
    """`.gitignore` and the JSON Schemas, by path relative to the project's folder."""
    files = {".gitignore": template("gitignore")}
    for which, name in schema.FILES.items():
        files[f"{SCHEMAS}/{name}"] = schema.text(which)
    return files


def write_new(folder: Path, files: Mapping[str, str]) -> list[Path]:
    """Write `files` (relative path -> text) into `folder`; refuse, writing nothing, if any of them is
    there already. Returns the paths written."""
    there = [name for name in files if (folder / name).exists()]
    if there:
        listed = ", ".join(there[:5]) + (f" and {len(there) - 5} more" if len(there) > 5 else "")
        raise UsageError(
            f"{folder}: {listed} exist{'s' if len(there) == 1 else ''} already; nothing was written",
            hint="give a new or empty folder, or move those files away first (init never overwrites a file)",
        )
    written = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, text.encode("utf-8"), mode=FILE_MODE)
        written.append(path)
    return written
