"""Reporters: the same results as text for people, JSON for machines, JUnit for CI dashboards, and
GitHub annotations. The core never prints; commands hand their results to one of these."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runner.errors import Problem


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def problems_text(problems: Sequence[Problem], files: int) -> str:
    """Validation findings, one per line, then a one-line verdict."""
    lines = [str(p) for p in problems]
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors or warnings:
        lines.append(
            f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')} in {_plural(files, 'file')}"
        )
    else:
        lines.append(f"{_plural(files, 'file')} valid")
    return "\n".join(lines)


def problems_json(problems: Sequence[Problem], files: Sequence[str], valid: bool) -> str:
    """Validation findings as one JSON document."""
    doc: dict[str, Any] = {
        "valid": valid,
        "files": list(files),
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "column": p.col,
                "path": p.path,
                "severity": p.severity,
                "rule": p.rule,
                "message": p.message,
            }
            for p in problems
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def problems_github(problems: Sequence[Problem]) -> str:
    """Validation findings as GitHub Actions workflow commands (annotations on the changed lines)."""
    lines = []
    for p in problems:
        props = ",".join(
            [
                f"file={_escape_property(p.file)}",
                f"line={p.line}",
                f"col={p.col}",
                f"title={_escape_property(p.path)}",
            ]
        )
        lines.append(f"::{p.severity} {props}::{_escape_data(p.message)}")
    return "\n".join(lines)
