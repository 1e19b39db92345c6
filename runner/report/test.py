"""The report of `test`: each spec test case as text (with -q, the failing ones), as JSON (each case's
own, runner.spectest.CaseResult.to_json), as GitHub annotations on the failing cases' lines, and as JUnit."""

from __future__ import annotations

import json
from collections.abc import Sequence

from runner.console import one_line
from runner.numbers import number
from runner.records import record
from runner.report.github import annotation
from runner.report.junit import JUnitCase, junit
from runner.spectest import CaseResult
from runner.yamlfile import display_path


@record
class TestReport:
    """What `test` reports: each case's result with its seconds, in order; `quiet`: only the failing."""

    results: Sequence[tuple[CaseResult, float]]
    quiet: bool = False


def text_report(r: TestReport) -> str | None:
    """A line per case with its differences, then the count; -q: a line per failing case, or nothing."""
    return tests_quiet(r.results) if r.quiet else tests_text(r.results)


def json_report(r: TestReport) -> str:
    """Every case as JSON."""
    return tests_json(r.results)


def github_report(r: TestReport) -> str | None:
    """A GitHub annotation on the line of each failing case; nothing when all pass."""
    return tests_github(r.results)


def junit_report(r: TestReport) -> str:
    """A JUnit test case per spec test."""
    return tests_junit(r.results)


def tests_text(results: Sequence[tuple[CaseResult, float]]) -> str:
    """The text report of `test`: a line per case, its differences, and the count."""
    lines = []
    for result, _ in results:
        mark = "ok  " if result.passed else "FAIL"
        lines.append(f"{mark} {result.spec.name}: {result.case.name} ({result.where})")
        lines += [f"     {d}" for d in result.differences]
    failed = sum(not r.passed for r, _ in results)
    lines.append(f"{number(len(results) - failed)} passed, {number(failed)} failed")
    return "\n".join(lines)


def tests_quiet(results: Sequence[tuple[CaseResult, float]]) -> str | None:
    """The report of `test -q`: a line per failing case, with what differs (the tables under it are in
    `test`'s own report); None when all pass."""
    lines = [
        one_line(
            f"FAIL {r.spec.name}: {r.case.name} ({r.where}): "
            + "; ".join(d.rstrip(":") for d in r.differences if d and not d[0].isspace())
        )
        for r, _ in results
        if not r.passed
    ]
    return "\n".join(lines) if lines else None


def tests_json(results: Sequence[tuple[CaseResult, float]]) -> str:
    """The JSON report of `test`: whether all passed, and each case's own JSON."""
    doc = {"passed": all(r.passed for r, _ in results), "cases": [r.to_json() for r, _ in results]}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def tests_junit(results: Sequence[tuple[CaseResult, float]]) -> str:
    """The JUnit report of `test`: one test case per spec test."""
    cases = [
        JUnitCase(
            r.spec.name,
            r.case.name,
            failure="\n".join(r.differences) or None,
            file=display_path(r.spec.path),
            line=r.case.line,
            seconds=s,
        )
        for r, s in results
    ]
    return junit("infiniti-sync test", cases)


def tests_github(results: Sequence[tuple[CaseResult, float]]) -> str | None:
    """The failing cases of `test` as GitHub Actions annotations on their lines, with what differs;
    None when all pass."""
    lines = [
        annotation("error", display_path(r.spec.path), r.case.line, title, "\n".join(r.differences))
        for r, _ in results
        if not r.passed
        for title in [f"{r.spec.name}: {r.case.name}"]
    ]
    return "\n".join(lines) if lines else None
