"""Fingerprints: two different import lines never look the same to incremental mode; comparing with what
the state knows (runner.changes.Known) classifies every user, whatever two username hashes share."""

from __future__ import annotations

import csv
from array import array
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runner.changes import Known, compare, fingerprint, user_hash

# Cells as the file can hold them: any text but NUL (the pre-checks keep such lines out).
CELL = st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))


def test_a_separator_inside_a_cell_does_not_make_two_lines_alike() -> None:
    assert fingerprint(["a\x1fb", "c"]) != fingerprint(["a", "b\x1fc"])
    assert fingerprint(["a,b", "c"]) != fingerprint(["a", "b,c"])
    assert fingerprint(["", "x"]) != fingerprint(["x", ""])


@given(st.lists(CELL, min_size=1, max_size=6), st.lists(CELL, min_size=1, max_size=6))
def test_lines_with_the_same_cells_have_the_same_fingerprint_and_others_do_not(
    a: list[str], b: list[str]
) -> None:
    if len(a) == len(b):
        assert (fingerprint(a) == fingerprint(b)) == (a == b)


def _planned(tmp_path: Path, lines: Sequence[tuple[str, ...]]) -> Any:
    path = tmp_path / "staff.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([HEADER, *lines])
    return SimpleNamespace(
        path=path,
        header=HEADER,
        rows_out=len(lines),
        findings=[],
        preview=list(lines[:5]),
        source_rows=array("q", range(2, len(lines) + 2)),
        changes=None,
    )


HEADER = ("username", "library-group")


def test_a_username_hash_shared_with_a_known_user_only_makes_a_line_changed(tmp_path: Path) -> None:
    # a and b are known under the hash of c (as if their hashes collided with c's): c is sent as changed,
    # never taken as unchanged; a, still in the file, is unchanged; b, sharing c's hash, is taken as seen.
    a, b, c = ("a", "Staff"), ("b", "Staff"), ("c", "Staff")
    known = Known.of_rows(
        [(fingerprint(a), user_hash("c")), (fingerprint(b), user_hash("c"))],
        lambda _wanted: [(fingerprint(a), "a"), (fingerprint(b), "b")],
    )
    planned = _planned(tmp_path, [a, c])
    changes = compare(planned, known, incremental=True)
    assert (changes.new, changes.changed, changes.unchanged, changes.vanished) == (0, 1, 1, 0)
    assert changes.pending == [(1, "c", fingerprint(c))]
    assert planned.path.read_bytes() == b"username,library-group\r\nc,Staff\r\n"
    assert list(planned.source_rows) == [3]


def test_new_changed_unchanged_and_gone_users_in_the_file_order(tmp_path: Path) -> None:
    lines = [(f"u{i}", "Staff") for i in range(8)]
    known = Known.of({**{u: fingerprint((u, g)) for u, g in lines[:5]}, "u1": 1, "left": 2, "also left": 3})
    planned = _planned(tmp_path, lines)
    changes = compare(planned, known, incremental=False, keep_lists=True)
    assert changes.lists == {
        "new": ["u5", "u6", "u7"],
        "changed": ["u1"],
        "unchanged": ["u0", "u2", "u3", "u4"],
        "vanished": ["also left", "left"],
    }
    assert [(line, user) for line, user, _ in changes.pending or []] == [
        (2, "u1"),
        (6, "u5"),
        (7, "u6"),
        (8, "u7"),
    ]
    assert changes.gone == ["also left", "left"]
