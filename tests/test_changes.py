"""Fingerprints: two different import lines never look the same to incremental mode."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runner.changes import fingerprint

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
