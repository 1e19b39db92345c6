"""Counts are written one way in every message: digits grouped by commas, a word in the singular for one."""

from __future__ import annotations

import pytest

from runner.numbers import number, plural


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "0"), (7, "7"), (999, "999"), (1000, "1,000"), (200_000, "200,000"), (-1500, "-1,500")],
)
def test_a_count_groups_its_digits(count: int, shown: str) -> None:
    assert number(count) == shown


def test_plural_says_one_in_the_singular_and_groups_the_digits_of_the_others() -> None:
    assert [plural(n, "row") for n in (0, 1, 2, 25_000)] == ["0 rows", "1 row", "2 rows", "25,000 rows"]
    assert [plural(n, "batch", "batches") for n in (1, 3)] == ["1 batch", "3 batches"]
