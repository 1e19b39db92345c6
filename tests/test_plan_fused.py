"""The planner's compiled row loop (`_Writer.run`) plans exactly what its per-stage loop (`run_stages`) does.

The compiled loop inlines the pre-checks and the classifier's verdict, joins each line's cells once and
writes the lines that need no quoting in batches; any row out of the ordinary goes through the per-stage
code. On generated rows (cells that need quoting, NUL and lone surrogates, binary values, template
failures, where-skips, failed pre-checks, duplicates, lines known unchanged or changed, in full and
incremental mode), both give the same file bytes, findings, rows, changes and progress calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import plan
from runner.changes import Known, fingerprint
from runner.plan import Planned, build
from runner.render import Context, Renderer
from runner.source import Rows, StaticRows
from runner.spec import Checks, Duplicates, Spec
from runner.templates import LookupTable
from tests import test_render_agreement as agreement
from tests.support.specs import make_spec, make_tenant

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
GROUPS = ("Year 7", "Year 8", "Nowhere")  # the last is not in the spec's groups: a failed pre-check
TEXT = st.sampled_from(["", "plain", "a,b", 'say "hi"', "two\nlines", "cr\r", "nul\x00", "\ud800", "é"])
VALUE = st.one_of(TEXT, st.sampled_from([b"bytes", b"\xff", 7, None]))
ROW = st.fixed_dictionaries(
    {
        "u": st.sampled_from(["a", "b", "c", "d", " ", "e,f"]),
        "g": st.sampled_from(GROUPS),
        "e": st.sampled_from(["", "a@example.edu", "not an email", "x@y"]),
        "x": VALUE,
        "k": st.sampled_from(["1", "2", "3"]),
        "w": st.sampled_from(["yes", "yes", "yes", "no"]),
    }
)


def _spec(policy: Duplicates, *, single: bool = False) -> Spec:
    if single:  # one column: the csv module quotes an empty cell, so no line is written plain
        return make_spec([("username", "{{ row.u }}")], ids=["u"], checks=Checks(duplicates=policy))
    return make_spec(
        {
            "username": "{{ row.u }}",
            "library-group": "{{ row.g }}",
            "emailAddress": "{{ row.e }}",
            "preferredName": "{{ row.x }}",
            "libraryBarcode": "{{ lookups.codes[row.k] }}",  # "3" is not in the table: a template failure
        },
        ids=["u"],
        where="{{ row.w }}",
        lookups={"codes": {"1": "C1", "2": "C,2"}},
        checks=Checks(duplicates=policy),
    )


def _plan(
    path: Path, spec: Spec, rows: Sequence[dict[str, Any]], *, stages: bool, **options: Any
) -> tuple[Planned, list[int]]:
    told: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        if stages:
            patch.setattr(plan._Writer, "run", plan._Writer.run_stages)
        planned = build(spec, make_tenant(), StaticRows(rows), path, progress=told.append, **options)
    return planned, told


def _same(a: tuple[Planned, list[int]], b: tuple[Planned, list[int]]) -> None:
    (one, told_one), (two, told_two) = a, b
    assert one.path.read_bytes() == two.path.read_bytes()
    for name in ("rows_read", "rows_skipped", "rows_out", "findings", "dropped", "preview", "holds"):
        assert getattr(one, name) == getattr(two, name), name
    assert list(one.source_rows) == list(two.source_rows)
    assert one.changes == two.changes
    if one.changes is not None and two.changes is not None:  # every username of each kind, too
        assert one.changes.lists() == two.changes.lists()
    assert told_one == told_two


def _known(spec: Spec, lines: Sequence[Sequence[str]]) -> Known:
    """What the state would know had `lines` been accepted (a fresh one a plan: plans mark it seen)."""
    return Known.of({line[spec.header.index("username")]: fingerprint(line) for line in lines})


@SETTINGS
@given(
    rows=st.lists(ROW, min_size=1, max_size=25),
    mode=st.fixed_dictionaries(
        {
            "policy": st.sampled_from(["error", "first", "last"]),
            "incremental": st.booleans(),
            "single": st.booleans(),
        }
    ),
    accepted=st.lists(st.integers(0, 24), max_size=10),
)
def test_the_compiled_loop_plans_what_the_stages_do(
    tmp_path: Path, rows: list[dict[str, Any]], mode: dict[str, Any], accepted: list[int]
) -> None:
    policy, incremental, single = mode["policy"], mode["incremental"], mode["single"]
    spec = _spec(policy, single=single)
    first, _ = _plan(tmp_path / "first.csv", spec, rows, stages=True)
    _same(first_run := _plan(tmp_path / "a.csv", spec, rows, stages=False), (first, first_run[1]))
    for known in (None, Known.of({})):  # no state, and a first run's
        options = {"known": known}
        _same(
            _plan(tmp_path / "stages.csv", spec, rows, stages=True, **options),
            _plan(tmp_path / "fused.csv", spec, rows, stages=False, **options),
        )
    # some lines accepted as they are, others changed since: unchanged lines (left out in incremental mode)
    lines = [tuple(r) for r in _records(first.path)]
    chosen = [lines[i] for i in accepted if i < len(lines)]
    changed = [(line[0], *("?" for _ in line[1:])) for line in lines[::3]]
    for known_lines in (chosen, chosen + changed):
        options = {"incremental": incremental}
        # each plan's known users, kept while its lists are compared (the changes hold them weakly)
        one, two = _known(spec, known_lines), _known(spec, known_lines)
        _same(
            _plan(tmp_path / "s.csv", spec, rows, stages=True, known=one, **options),
            _plan(tmp_path / "f.csv", spec, rows, stages=False, known=two, **options),
        )


def _records(path: Path) -> Iterator[list[str]]:
    from runner.csvfile import read_records

    records = read_records(path)
    next(records)
    return records


def test_the_compiled_loop_writes_in_batches_and_keeps_the_order(tmp_path: Path) -> None:
    """More lines than a batch, with lines that need quoting and rows that fail among them: the file is the
    per-stage loop's, byte for byte."""
    spec = _spec("error")
    rows = [
        {
            "u": f"u{i}",
            "g": GROUPS[2 if i % 7 == 0 else i % 2],
            "e": "",
            "x": 'a "b"' if i % 500 == 0 else "x",
        }
        | {"k": "1", "w": "yes"}
        for i in range(3 * plan._BATCH + 17)
    ]
    stages = _plan(tmp_path / "s.csv", spec, rows, stages=True)
    fused = _plan(tmp_path / "f.csv", spec, rows, stages=False)
    _same(stages, fused)
    assert fused[0].rows_out == len(rows) - len(fused[0].findings)


def test_only_rows_out_of_the_ordinary_take_the_per_stage_path(tmp_path: Path) -> None:
    """With users known, a line that passes its checks is checked, classified and written inside the
    compiled loop; a failed one goes through `_line`, a row with a binary value through `_row`."""
    spec = _spec("error")
    rows: list[dict[str, Any]] = [
        {"u": u, "g": g, "e": "", "x": "plain", "k": "1", "w": "yes"}
        for u, g in [("a", "Year 7"), ("b", "Year 8")]
    ]
    rows += [{"u": "c", "g": "Nowhere", "e": "", "x": "plain", "k": "1", "w": "yes"}]
    rows += [{"u": "d", "g": "Year 7", "e": "", "x": b"bytes", "k": "1", "w": "yes"}]
    calls: list[tuple[str, int]] = []
    line, row = plan._Writer._line, plan._Writer._row

    def counted_line(self: Any, n: int, *args: Any) -> None:
        calls.append(("line", n))
        line(self, n, *args)

    def counted_row(self: Any, n: int, fetched: Any) -> None:
        calls.append(("row", n))
        row(self, n, fetched)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan._Writer, "_line", counted_line)
        patch.setattr(plan._Writer, "_row", counted_row)
        planned = build(
            spec,
            make_tenant(),
            StaticRows(rows),
            tmp_path / "f.csv",
            known=_known(spec, [("a", "Year 7", "Students", "", "plain", "C1")]),
        )
    assert calls == [("line", 3), ("row", 4), ("line", 4)]
    assert planned.changes is not None and (planned.changes.unchanged, planned.changes.new) == (1, 2)
    assert [f.row for f in planned.findings] == [3]


LOCAL = st.text(alphabet="a.Z9_+-é", max_size=66)
LABEL = st.text(alphabet="a-9Z_.", max_size=65)
ADDRESS = st.one_of(
    st.text(alphabet="a9.-@_\n +", max_size=24),
    st.builds(
        lambda local, labels, end: local + "@" + ".".join(labels) + end,
        LOCAL,
        st.lists(LABEL, max_size=4),
        st.sampled_from(["", "\n", "\n\n", ".", "-", " "]),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(text=ADDRESS)
def test_the_compiled_email_check_is_the_contracts(text: str) -> None:
    """The compiled pre-check's email test (runner.precheck: `".." not in` and _EMAIL_FAST) says what
    runner.contract's EMAIL says, on texts made near its edges: 64-character local parts, 63-character
    labels, hyphens and dots at either end of a label, `..`, line breaks."""
    from runner.contract import EMAIL
    from runner.precheck import _EMAIL_FAST

    assert (".." not in text and _EMAIL_FAST.match(text) is not None) == (EMAIL.match(text) is not None)


def test_the_compiled_email_check_on_chosen_addresses() -> None:
    from runner.contract import EMAIL
    from runner.precheck import _EMAIL_FAST

    label = "a" * 61
    for text in [
        "a@b.co",
        "a@b.co\n",
        "a@b..co",
        "a..b@c.de",
        ".a@b.co",
        "a.@b.co",
        "a@-b.co",
        "a@b-.co",
        "a@b.c-d.ef",
        "a@b",
        "a" * 64 + "@b.co",
        "a" * 65 + "@b.co",
        f"a@x{label}y.co",
        f"a@x{label}yz.co",
        "a@b.co\nx",
    ]:
        assert (".." not in text and _EMAIL_FAST.match(text) is not None) == (
            EMAIL.match(text) is not None
        ), text


class _TextRows:
    """Rows of text only, said so (runner.source.Rows.text), as a CSV file's come."""

    def __init__(self, rows: Sequence[dict[str, str]]):
        self.inner = StaticRows(rows)

    @contextlib.contextmanager
    def query(self, sql: str, params: Any) -> Iterator[Rows]:
        with self.inner.query(sql, params) as rows:
            yield Rows(rows.columns, rows.rows, origin=rows.origin, text=True)


@SETTINGS
@given(rows=st.lists(ROW, min_size=1, max_size=25), policy=st.sampled_from(["error", "first", "last"]))
def test_rows_said_to_be_text_plan_as_any_rows(
    tmp_path: Path, rows: list[dict[str, Any]], policy: Duplicates
) -> None:
    """The renderer compiled for text rows (no type tests, a lookup by the table's get) plans what the
    one for any rows does."""
    text = [{k: v if isinstance(v, str) else "t" for k, v in row.items()} for row in rows]
    spec = _spec(policy)
    _same(
        (build(spec, make_tenant(), StaticRows(text), tmp_path / "any.csv"), []),
        (build(spec, make_tenant(), _TextRows(text), tmp_path / "text.csv"), []),
    )


@settings(max_examples=400, deadline=None)
@given(
    template=agreement.templates, row=st.fixed_dictionaries(dict.fromkeys(agreement.COLUMNS, agreement.texts))
)
def test_the_renderer_for_text_rows_renders_what_jinja_does(template: str, row: dict[str, str]) -> None:
    """On rows of text, the renderer compiled for text rows gives Jinja's text or Jinja's failure."""

    def fast(template: str, row: dict[str, Any]) -> str:
        lookups = {k: LookupTable(k, v) for k, v in agreement.LOOKUPS.items()}
        context = Context(agreement.VARS, agreement.TENANT, lookups)
        renderer = Renderer(agreement._spec(template), agreement.COLUMNS, context, text=True)
        cells = renderer.row(tuple(row[c] for c in agreement.COLUMNS))
        assert cells is not None
        return cells[0]

    expected = agreement._outcome(agreement._jinja, template, row)
    assert agreement._outcome(fast, template, row) == expected, template
