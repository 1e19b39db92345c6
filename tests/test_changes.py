"""Fingerprints: two different import lines never look the same to incremental mode; comparing with what
the state knows (runner.changes.Known) classifies every user, whatever two username hashes share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runner.changes import Classifier, Known, fingerprint, user_hash
from runner.csvfile import read_records
from runner.plan import Planned, build
from runner.source import StaticRows
from tests.support.specs import make_spec, make_tenant

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


SPEC = make_spec({"username": "{{ row.u }}", "library-group": "{{ row.g }}"}, ids=["u"])


def _line(username: str, group: str) -> tuple[str, ...]:
    """The line of the file the spec makes of a row (system-group is a constant)."""
    return (username, group, "Students")


def _plan(tmp_path: Path, rows: Sequence[tuple[str, str]], known: Known, **options: Any) -> Planned:
    source = StaticRows([{"u": u, "g": g} for u, g in rows])
    return build(SPEC, make_tenant(), source, tmp_path / "staff.csv", known=known, **options)


def _data(planned: Planned) -> list[list[str]]:
    return list(read_records(planned.path))[1:]


def test_a_username_hash_shared_with_a_known_user_only_makes_a_line_changed(tmp_path: Path) -> None:
    # a and b are known under the hash of c (as if their hashes collided with c's): c is sent as changed,
    # never taken as unchanged; a, still in the file, is unchanged; b, sharing c's hash, is taken as seen.
    a, b, c = _line("a", "Staff"), _line("b", "Staff"), _line("c", "Staff")
    known = Known.of_rows(
        [(fingerprint(a), user_hash("c")), (fingerprint(b), user_hash("c"))],
        lambda _wanted: [(fingerprint(a), "a"), (fingerprint(b), "b")],
    )
    planned = _plan(tmp_path, [("a", "Staff"), ("c", "Staff")], known, incremental=True)
    changes = planned.changes
    assert changes is not None
    assert (changes.new, changes.changed, changes.unchanged, changes.vanished) == (0, 1, 1, 0)
    assert changes.pending == [(1, "c", fingerprint(c))]
    assert _data(planned) == [list(c)]
    assert list(planned.source_rows) == [2]


def test_new_changed_unchanged_and_gone_users_in_the_file_order(tmp_path: Path) -> None:
    rows = [(f"u{i}", "Staff") for i in range(8)]
    accepted = {u: fingerprint(_line(u, g)) for u, g in rows[:5]}
    known = Known.of({**accepted, "u1": 1, "left": 2, "also left": 3})
    changes = _plan(tmp_path, rows, known).changes
    assert changes is not None and changes.lists() == {
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


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=300, unique=True), st.data())
def test_each_line_is_found_among_the_known_fingerprints_exactly_when_it_is_one(
    users: list[str], data: st.DataObject
) -> None:
    # the classifier looks a line up only among the fingerprints sharing its top bits (Known.buckets)
    accepted = data.draw(st.sets(st.sampled_from(users)))
    known = Known.of({u: fingerprint((u, "Staff")) for u in accepted})
    classifier = Classifier(known, username=0, incremental=True)
    assert classifier.line is not None
    written = [u for n, u in enumerate(users, 1) if classifier.line(n, (u, "Staff"))]
    assert written == [u for u in users if u not in accepted]
    assert classifier.left_out == len(accepted)


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=12), st.data())
def test_incremental_mode_marks_and_suspects_the_users_seen_as_writing_every_line_does(
    usernames: list[str], data: st.DataObject
) -> None:
    # Left out, an unchanged line is recorded in the classifier's rows alone until the file is done
    # (Classifier._settle); written, in the seen flags at once: the same users end up seen, and the same
    # names are suspects (an unchanged line twice, or a new line of a user an unchanged line was seen for).
    accepted = data.draw(st.sets(st.sampled_from(["a", "b", "c", "d", "e", "gone"]), min_size=1))
    moved = data.draw(st.sets(st.sampled_from(usernames))) if usernames else set()
    lines = [(u, "Moved" if u in moved and n % 2 else "Staff") for n, u in enumerate(usernames)]
    found = []
    for incremental in (True, False):
        known = Known.of({u: fingerprint((u, "Staff")) for u in accepted})
        classifier = Classifier(known, username=0, incremental=incremental)
        for n, cells in enumerate(lines, 1):
            classifier.line(n, cells)
        found.append((sorted(classifier.suspects()), bytes(known.seen), known.unseen()))
    assert found[0] == found[1]
    assert found[0][2] == sorted(accepted - {u for u, g in lines if g == "Staff"})
