"""The `tests:` cases inside specs: given rows in, the expected import lines or pre-check findings out.

A case runs the spec's real pipeline (rendering, pre-checks, duplicates, the CSV writer) on the rows it
gives instead of the query's; the file is then read back, so what is compared is what Infiniti would get.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.csvfile import read_records
from runner.errors import SyncError
from runner.plan import Planned, build
from runner.source import StaticRows
from runner.spec import Secret, Spec, SpecTest, Tenant
from runner.tables import table
from runner.yamlfile import display_path


@dataclass
class CaseResult:
    """The outcome of one case: passed, or the differences side by side."""

    spec: Spec
    case: SpecTest
    differences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No difference between expected and actual."""
        return not self.differences

    @property
    def where(self) -> str:
        """The case's file and line."""
        return f"{display_path(self.spec.path)}:{self.case.line}"

    def to_json(self) -> dict[str, object]:
        """The case as a JSON object (each case of `test --format json`)."""
        return {
            "spec": self.spec.name,
            "name": self.case.name,
            "file": display_path(self.spec.path),
            "line": self.case.line,
            "passed": self.passed,
            "differences": self.differences,
        }


def _tenant(spec: Spec, case: SpecTest) -> Tenant:
    return Tenant(
        name=case.tenant,
        url="https://infiniti.invalid",
        username="test",
        password=Secret(env="INFINITI_SYNC_TEST_UNUSED"),
        specs=(spec.name,),
        vars=case.vars,
    )


def run_case(spec: Spec, case: SpecTest) -> CaseResult:
    """Run one case of `spec`."""
    result = CaseResult(spec, case)
    with tempfile.TemporaryDirectory(prefix="infiniti-sync-test-") as folder:
        try:
            planned = build(
                spec, _tenant(spec, case), StaticRows(case.rows), Path(folder) / "out.csv", params={}
            )
        except SyncError as err:
            place = str(err.where)
            result.differences.append(f"the case could not run: {place + ': ' if place else ''}{err.message}")
            result.differences += [f"hint: {err.hint}"] if err.hint else []
            return result
        records = list(read_records(planned.path))
    actual = [dict(zip(records[0], r, strict=True)) for r in records[1:]]
    if case.csv is not None:
        differences = _compare_rows(case.csv, actual)
        if len(actual) < len(case.csv):  # the lines missing: what kept rows out of the file
            differences[1:1] = _left_out(planned)
        result.differences += differences
    if case.findings is not None:
        got = [(f.row, f.check, f.message) for f in planned.findings]
        result.differences += _compare_findings(case, got)
    return result


def _left_out(planned: Planned) -> list[str]:
    """Why rows of the case are not in the file: the pre-checks' findings, duplicates dropped, `where`."""
    said = [f"left out: {f.where}: {f.check}: {f.message}" for f in [*planned.findings, *planned.dropped]]
    if planned.rows_skipped:
        rows = "row" if planned.rows_skipped == 1 else "rows"
        said.append(f"skipped by where: {planned.rows_skipped} {rows}")
    return said


def _compare_rows(expected: Sequence[Mapping[str, str]], actual: list[dict[str, str]]) -> list[str]:
    out: list[str] = []
    if len(expected) != len(actual):
        out.append(f"expected {len(expected)} line(s) in the file, got {len(actual)}")
    for n in range(max(len(expected), len(actual))):
        want = expected[n] if n < len(expected) else None
        got = actual[n] if n < len(actual) else None
        columns = list(dict.fromkeys([*(want or {}), *(got or {})]))
        if want is not None and got is not None and all(got.get(c) == v for c, v in want.items()):
            continue
        rows = []
        for c in columns:
            w = "(none)" if want is None else want.get(c, "(not compared)")
            g = "(none)" if got is None else got.get(c, "(no such column)")
            differs = want is None or got is None or (c in want and w != g)
            rows.append(
                (
                    "!" if differs else " ",
                    c,
                    repr(w) if c in (want or {}) else w,
                    repr(g) if c in (got or {}) else g,
                )
            )
        out.append(f"line {n + 1} differs:")
        out += table(("", "column", "expected", "actual"), rows, indent="  ", width=None)
    return out


def _compare_findings(case: SpecTest, got: list[tuple[int, str, str]]) -> list[str]:
    assert case.findings is not None
    want = [(f.row, f.check, f.message) for f in case.findings]
    matches = len(want) == len(got) and all(
        w[:2] == g[:2] and (w[2] is None or w[2] == g[2]) for w, g in zip(want, got, strict=True)
    )
    if matches:
        return []

    def show(item: tuple[int, str, str | None] | None) -> str:
        if item is None:
            return "(none)"
        return f"row {item[0]}: {item[1]}" + (f": {item[2]}" if item[2] else "")

    rows = [
        (show(want[i] if i < len(want) else None), show(got[i] if i < len(got) else None))
        for i in range(max(len(want), len(got)))
    ]
    return ["findings differ:", *table(("expected", "actual"), rows, indent="  ", width=None)]
