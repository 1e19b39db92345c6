"""Reporters: the same results as text for people, JSON for machines, JUnit for CI dashboards, and GitHub
annotations. The core never prints; a command builds one report value and hands it to the reporter the
command line names.

This module is the registry, by command and by name, and imports nothing heavy: the parser reads each
command's `--format` choices (and whether it has `--junit FILE`) from it at start-up. The reporters of a
command are the functions `NAME_report` of `runner.report.COMMAND`, each taking that command's report value
and returning the text to print (None: nothing to print), imported only when the command reports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.console import Console

# The formats of standard output (`--format NAME`, the first the default), by command.
FORMATS: dict[str, tuple[str, ...]] = {
    "validate": ("text", "json", "github"),
    "test": ("text", "json", "github"),
    "plan": ("text", "json"),
    "run": ("text", "json", "github"),
    "due": ("text", "json"),
    "approve": ("text", "json"),
    "history": ("text", "json"),
}

# The reports written to a file besides standard output (`--NAME FILE`), by command, and their help.
FILES: dict[str, dict[str, str]] = {
    "validate": {"junit": "also write a JUnit XML report"},
    "test": {"junit": "also write a JUnit XML report"},
    "run": {"junit": "also write a JUnit XML report"},
}

# The reporters that name every user of each kind of change, not only examples (runner.changes.Changes.names).
# Planning is the same whatever the format; for these alone the command keeps what each plan was compared
# with (the known users' arrays, about 21 bytes a user) until they have written, and they ask the state
# store, open until every report is written, for the names.
NAMES_USERS = {("plan", "json")}

Reporter = Callable[[Any], "str | None"]


def reporter(command: str, name: str) -> Reporter:
    """The reporter `name` of `command` (a format of FORMATS or a file of FILES)."""
    if name not in FORMATS.get(command, ()) and name not in FILES.get(command, {}):
        raise KeyError(f"{command} has no reporter {name!r}")
    found: Reporter = getattr(importlib.import_module(f"runner.report.{command}"), f"{name}_report")
    return found


def names_users(command: str, name: str) -> bool:
    """Whether the reporter `name` of `command` names every user of each kind of change."""
    return (command, name) in NAMES_USERS


def write(console: Console, command: str, name: str, report: object) -> None:
    """Print `report` on standard output as the reporter `name` of `command` says it (nothing when it has
    nothing to say)."""
    text = reporter(command, name)(report)
    if text is not None:
        console.print(text)


def write_file(command: str, name: str, path: Path, report: object) -> None:
    """Write `report` as the file reporter `name` of `command` says it (readable only by its owner:
    reports can hold personal data)."""
    from runner.archive import write_text

    text = reporter(command, name)(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text or "")
