"""One job pipeline that walks one way: the plan classifies each line as it writes it, never writes a line
it will not send, and returns a frozen result that the stages after it (guards, sending, recording) only
read; `run` never reads its sent.csv back to compare."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runner.changes import Known, fingerprint
from runner.csvfile import read_records
from runner.plan import Planned, build
from runner.source import StaticRows
from runner.spec import Checks
from tests.support.project import Site, example_site_fixture
from tests.support.specs import make_spec, make_tenant


def _spec(**checks: Any) -> Any:
    return make_spec(
        {"username": "{{ row.u }}", "library-group": "{{ row.g }}"}, ids=["u"], checks=Checks(**checks)
    )


def _plan(tmp_path: Path, rows: Sequence[tuple[str, str]], known: Known, **options: Any) -> Planned:
    spec = options.pop("spec", None) or _spec()
    source = StaticRows([{"u": u, "g": g} for u, g in rows])
    return build(spec, make_tenant(), source, tmp_path / "people.csv", known=known, **options)


def _accepted(rows: Sequence[tuple[str, str]]) -> Known:
    """What the state knows once Infiniti accepted `rows` (the spec's third column is a constant)."""
    return Known.of({u: fingerprint((u, g, "Students")) for u, g in rows})


def _data(planned: Planned) -> list[list[str]]:
    return list(read_records(planned.path))[1:]


def test_the_planned_result_and_its_changes_are_frozen(tmp_path: Path) -> None:
    planned = _plan(tmp_path, [("a", "Staff")], _accepted([]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        planned.rows_out = 0  # type: ignore[misc]
    assert planned.changes is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        planned.changes.new = 0  # type: ignore[misc]


def test_an_incremental_plan_writes_only_new_and_changed_lines(tmp_path: Path) -> None:
    known = _accepted([("a", "Staff"), ("b", "Staff"), ("c", "Staff"), ("gone", "Staff")])
    rows = [("a", "Staff"), ("b", "Year 7"), ("c", "Staff"), ("d", "Staff")]
    planned = _plan(tmp_path, rows, known, incremental=True)
    assert _data(planned) == [["b", "Year 7", "Students"], ["d", "Staff", "Students"]]
    assert (planned.rows_out, list(planned.source_rows)) == (2, [2, 4])
    assert planned.preview == (("b", "Year 7", "Students"), ("d", "Staff", "Students"))
    changes = planned.changes
    assert changes is not None
    # a and c are in no line of the file: they were classified while the file was written, not read back
    assert (changes.new, changes.changed, changes.unchanged, changes.vanished) == (1, 1, 2, 1)
    assert changes.examples == {"new": ["d"], "changed": ["b"], "unchanged": ["a", "c"], "vanished": ["gone"]}
    assert changes.pending == [
        (1, "b", fingerprint(("b", "Year 7", "Students"))),
        (2, "d", fingerprint(("d", "Staff", "Students"))),
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["people.csv"]  # nothing written beside it


def test_min_rows_counts_the_unchanged_lines_an_incremental_plan_leaves_out(tmp_path: Path) -> None:
    rows = [("a", "Staff"), ("b", "Staff"), ("c", "Staff")]
    planned = _plan(tmp_path, rows, _accepted(rows), incremental=True, spec=_spec(min_rows=3))
    assert (planned.rows_out, planned.holds) == (0, [])
    fewer = _plan(tmp_path, rows[:2], _accepted(rows), incremental=True, spec=_spec(min_rows=3))
    assert fewer.holds[0].startswith("2 rows is fewer than checks.min_rows (3)")


# a: unchanged twice (the same line again); b: unchanged, then changed; c: changed, then unchanged;
# d: new twice; e: unchanged once
DUPLICATES = [
    ("a", "Staff"),
    ("b", "Staff"),
    ("c", "Year 7"),
    ("a", "Staff"),
    ("d", "Staff"),
    ("b", "Year 8"),
    ("c", "Staff"),
    ("d", "Year 9"),
    ("e", "Staff"),
]


@pytest.mark.parametrize("policy", ["error", "first", "last"])
def test_duplicates_are_found_among_the_lines_an_incremental_plan_leaves_out(
    tmp_path: Path, policy: str
) -> None:
    """Incremental mode finds the same duplicates as full mode (whose file has every line), and its file
    is full mode's without the unchanged lines."""
    known = _accepted([("a", "Staff"), ("b", "Staff"), ("c", "Staff"), ("e", "Staff")])
    spec = _spec(duplicates=policy)
    full = _plan(tmp_path / "full", DUPLICATES, known, spec=spec)
    known = _accepted([("a", "Staff"), ("b", "Staff"), ("c", "Staff"), ("e", "Staff")])
    incremental = _plan(tmp_path / "incremental", DUPLICATES, known, spec=spec, incremental=True)
    assert full.changes is not None and incremental.changes is not None
    assert (incremental.findings, incremental.dropped) == (full.findings, full.dropped)
    assert incremental.findings or incremental.dropped
    unchanged = {fingerprint(line) for line in (("a", "Staff", "Students"), ("b", "Staff", "Students"))}
    unchanged |= {fingerprint(("c", "Staff", "Students")), fingerprint(("e", "Staff", "Students"))}
    sent = [line for line in _data(full) if fingerprint(line) not in unchanged]
    assert _data(incremental) == sent
    kept = [
        r for r, line in zip(full.source_rows, _data(full), strict=True) if fingerprint(line) not in unchanged
    ]
    assert list(incremental.source_rows) == kept
    counts = [
        (c.new, c.changed, c.unchanged, c.vanished, c.examples) for c in (full.changes, incremental.changes)
    ]
    assert counts[0] == counts[1]
    assert [line for line, _, _ in incremental.changes.pending or []] == list(range(1, len(sent) + 1))


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The sent.csv files opened to be read as text (the upload reads its file as bytes) from now on."""
    reads: list[Path] = []
    opening = pathlib.Path.open

    def counted(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.name == "sent.csv" and "r" in mode and "b" not in mode:
            reads.append(self)
        return opening(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", counted)
    return reads


site = example_site_fixture


def test_a_second_run_never_reads_its_sent_file_back(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = site.root / "specs" / "staff.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "mode: incremental\n", encoding="utf-8")
    staff = ["run", "--tenant", "demo", "--spec", "staff", "--format", "json"]
    assert site.invoke(staff).code == 0
    export = site.root / "sms-export" / "staff.csv"
    export.write_text(
        export.read_text(encoding="utf-8").replace("helen.carter@", "h.carter@"), encoding="utf-8"
    )
    reads = _count_reads(monkeypatch)
    ran = site.invoke(staff)
    monkeypatch.undo()
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)["runs"][0]
    assert (report["changes"]["changed"], report["changes"]["unchanged"], report["rows"]["sent"]) == (1, 5, 1)
    sent = Path(report["archive"]) / "sent.csv"
    assert [r[0] for r in read_records(sent)] == ["username", "t201"]  # only the changed line was written
    assert reads == []  # comparing, guarding and recording read the plan's result, not the file


def test_the_rows_an_incremental_run_sees_fail_are_named_without_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "sandbox.yaml"
    config.write_text(
        (Path(__file__).parent / "run_cases" / "row-failures" / "sandbox.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    site = Site.start(tmp_path / "project", config=config)
    try:
        spec = site.root / "specs" / "students.yaml"
        text = spec.read_text(encoding="utf-8")
        assert "\nmode: full\n" in text
        spec.write_text(text.replace("\nmode: full\n", "\nmode: incremental\n"), encoding="utf-8")
        students = ["run", "--tenant", "demo", "--spec", "students", "--format", "json"]
        first = json.loads(site.invoke(students).out)["runs"][0]["failed_rows"]
        reads = _count_reads(monkeypatch)
        second = json.loads(site.invoke(students).out)["runs"][0]
        monkeypatch.undo()
    finally:
        site.stop()
    failed = [(row["username"], row["source_row"]) for row in second["failed_rows"]]
    assert failed and failed == [(row["username"], row["source_row"]) for row in first]
    assert second["changes"]["unchanged"] > 0  # the failed rows are sent again, the others not
    assert reads == []
