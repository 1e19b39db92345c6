"""The reports of `validate`: findings as text, as JSON (each problem's own, runner.errors.Problem.to_json),
as GitHub Actions annotations, and as JUnit (a test case per file checked)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runner.errors import Problem
from runner.numbers import plural
from runner.records import record
from runner.report.github import annotation
from runner.report.junit import JUnitCase, junit


@record
class Validation:
    """What `validate` reports: the findings in the files asked about, whether they pass, and whether
    to say only the findings (-q)."""

    problems: Sequence[Problem]
    files: Sequence[str]
    valid: bool
    quiet: bool = False


def text_report(v: Validation) -> str | None:
    """The findings, then a verdict (-q: the findings alone, nothing when there are none)."""
    return problems_text(v.problems, len(v.files), quiet=v.quiet)


def json_report(v: Validation) -> str:
    """The findings as one JSON document."""
    return problems_json(v.problems, v.files, v.valid)


def github_report(v: Validation) -> str | None:
    """The findings as GitHub annotations; nothing when there are none."""
    return problems_github(v.problems) or None


def junit_report(v: Validation) -> str:
    """A JUnit test case per file checked, failing with its errors."""
    return problems_junit(v.problems, v.files)


def problems_junit(problems: Sequence[Problem], files: Sequence[str]) -> str:
    """The JUnit report of `validate`: one test case per file checked (and per other file a problem is
    in), failed by its errors, with every problem of it (the warnings too) as its output."""
    cases = []
    for name in dict.fromkeys([*files, *(p.file for p in problems)]):
        found = [p for p in problems if p.file == name]
        errors = [str(p) for p in found if p.severity == "error"]
        cases.append(
            JUnitCase(
                classname="validate",
                name=name,
                failure="\n".join(errors) or None,
                output="\n".join(map(str, found)),
                file=name,
                line=found[0].line if found else None,
            )
        )
    return junit("infiniti-sync validate", cases)


def problems_text(problems: Sequence[Problem], files: int, *, quiet: bool = False) -> str | None:
    """Validation findings, one per line, then a one-line verdict (with `quiet`, the findings alone, and
    None when there are none)."""
    lines = [str(p) for p in problems]
    if quiet:
        return "\n".join(lines) or None
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors or warnings:
        lines.append(f"{plural(errors, 'error')}, {plural(warnings, 'warning')} in {plural(files, 'file')}")
    else:
        lines.append(f"{plural(files, 'file')} valid")
    return "\n".join(lines)


def problems_json(problems: Sequence[Problem], files: Sequence[str], valid: bool) -> str:
    """Validation findings as one JSON document."""
    doc: dict[str, Any] = {
        "valid": valid,
        "files": list(files),
        "problems": [p.to_json() for p in problems],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def problems_github(problems: Sequence[Problem]) -> str:
    """Validation findings as GitHub Actions workflow commands (annotations on the changed lines)."""
    return "\n".join(annotation(p.severity, p.file, p.line, p.path, p.message, col=p.col) for p in problems)
