"""The duplicate check finds the same usernames on a run with users known as on a first run.

With users known, the planner checks the username of a new or changed line itself and leaves the
unchanged lines to the classifier (Classifier.suspects): an unchanged line seen twice, or an unchanged
and a new or changed line of one username. Whatever is known, in full or incremental mode, and with each
duplicates policy, the findings, the rows left out and (in full mode) the file are those of a plan
that knows nothing; two usernames whose hashes collide are never taken for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.changes import Known, fingerprint, user_hash
from runner.csvfile import read_records
from runner.plan import Planned, build
from runner.source import StaticRows
from runner.spec import Duplicates
from tests.support.specs import groups_line, groups_spec, make_tenant

GROUPS = ("Year 7", "Year 8")
ROWS = st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from(GROUPS)), min_size=1, max_size=12)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _plan(path: Path, policy: Duplicates, rows: Sequence[tuple[str, str]], **options: Any) -> Planned:
    source = StaticRows([{"u": u, "g": g} for u, g in rows])
    return build(groups_spec(policy), make_tenant(), source, path, **options)


def _data(planned: Planned) -> list[list[str]]:
    return list(read_records(planned.path))[1:]


@SETTINGS
@given(
    rows=ROWS,
    known=st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from(GROUPS)), max_size=6),
    policy=st.sampled_from(["error", "first", "last"]),
    incremental=st.booleans(),
)
def test_duplicates_are_found_whatever_is_known(
    tmp_path: Path,
    rows: list[tuple[str, str]],
    known: list[tuple[str, str]],
    policy: Duplicates,
    incremental: bool,
) -> None:
    first = _plan(tmp_path / "first.csv", policy, rows)
    accepted = Known.of({u: fingerprint(groups_line(u, g)) for u, g in known})
    planned = _plan(tmp_path / "again.csv", policy, rows, known=accepted, incremental=incremental)
    assert planned.findings == first.findings
    assert planned.dropped == first.dropped
    if not incremental:
        assert _data(planned) == _data(first)
        assert list(planned.source_rows) == list(first.source_rows)


def test_an_unchanged_line_twice_is_a_duplicate(tmp_path: Path) -> None:
    known = Known.of({"a": fingerprint(groups_line("a", "Year 7"))})
    rows = [("a", "Year 7"), ("b", "Year 8"), ("a", "Year 7")]
    for incremental in (False, True):
        planned = _plan(tmp_path / "f.csv", "error", rows, known=known, incremental=incremental)
        assert [(f.row, f.message) for f in planned.findings] == [
            (1, "username 'a' is on 2 rows: 1, 3"),
            (3, "username 'a' is on 2 rows: 1, 3"),
        ]
        assert _data(planned) == [list(groups_line("b", "Year 8"))]


def test_an_unchanged_and_a_changed_line_of_one_username_are_duplicates(tmp_path: Path) -> None:
    known = Known.of({"a": fingerprint(groups_line("a", "Year 7"))})
    for rows in ([("a", "Year 8"), ("a", "Year 7")], [("a", "Year 7"), ("a", "Year 8")]):
        for incremental in (False, True):
            planned = _plan(tmp_path / "f.csv", "last", rows, known=known, incremental=incremental)
            assert [(f.row, f.message) for f in planned.dropped] == [
                (1, "username 'a' is also on row 2; duplicates: last sends row 2"),
            ]


def test_a_username_hash_shared_with_an_unchanged_user_is_no_duplicate(tmp_path: Path) -> None:
    # a is known under the hash of c (as if their hashes collided): a's unchanged line makes c a suspect,
    # which the names themselves clear, in either mode
    a = groups_line("a", "Year 7")
    known = Known.of_rows([(fingerprint(a), user_hash("c"))], lambda _wanted: [(fingerprint(a), "a")])
    for incremental in (False, True):
        known.seen[:] = bytes(len(known))
        planned = _plan(
            tmp_path / "f.csv",
            "error",
            [("a", "Year 7"), ("c", "Year 7")],
            known=known,
            incremental=incremental,
        )
        assert (planned.findings, planned.dropped) == ([], [])
        assert _data(planned) == (
            [list(groups_line("c", "Year 7"))] if incremental else [list(a), list(groups_line("c", "Year 7"))]
        )
