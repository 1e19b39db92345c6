"""Masking the secrets of many tenants in one process (runner/secrets.py): every occurrence of every value
is masked, however many values there are and in whatever groups they came, and a value is compiled again
only a few times, not once for each tenant after it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner import secrets

# a small alphabet, so that values share prefixes, are prefixes of one another and overlap in the text
VALUE = st.text(alphabet="ab%=", min_size=3, max_size=7)


def _expected(text: str, values: set[str]) -> str:
    """`text` masked plainly: each position where a value starts covers the longest value starting there,
    and each run of such spans that overlap one another becomes one mask."""
    spans = [
        (i, i + max(len(v) for v in values if text.startswith(v, i)))
        for i in range(len(text))
        if any(text.startswith(v, i) for v in values)
    ]
    out, done, run = [], 0, None
    for start, end in spans:
        if run is not None and start < run[1]:
            run = (run[0], max(run[1], end))
            continue
        if run is not None:
            out += [text[done : run[0]], secrets.MASK]
            done = run[1]
        run = (start, end)
    if run is not None:
        out += [text[done : run[0]], secrets.MASK]
        done = run[1]
    return "".join(out) + text[done:]


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.lists(VALUE, min_size=1, max_size=4), min_size=1, max_size=8), data=st.data())
def test_every_occurrence_of_every_value_is_masked_whatever_the_groups(
    groups: list[list[str]], data: st.DataObject
) -> None:
    secrets.forget_all()
    for group in groups:
        for value in group:
            secrets.remember(value)
        secrets.redact("")  # a redact between groups, as between tenants: the values so far make levels
    values = secrets.known_values()  # with the escapes' forms (here the URL escape of %)
    # a text of values, parts of values (so that occurrences overlap and run into one another) and others
    piece = st.sampled_from(sorted(values)).flatmap(
        lambda v: st.tuples(st.integers(0, len(v)), st.integers(0, len(v))).map(
            lambda ab: v[ab[0] : ab[1] or None]
        )
    )
    text = "".join(data.draw(st.lists(piece | st.text(alphabet="ab%=xy", max_size=3), max_size=10)))
    assert secrets.redact(text) == _expected(text, values)


def test_a_thousand_tenants_compile_each_value_a_few_times(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[int] = []
    finder = secrets._finder

    def counted(values: set[str]) -> re.Pattern[str]:
        compiled.append(len(values))
        return finder(values)

    monkeypatch.setattr(secrets, "_finder", counted)
    secrets.forget_all()
    for n in range(1000):
        secrets.remember_basic("autosync", f"password-of-school-{n:04d}")
        assert secrets.redact(f"no access for password-of-school-{n:04d}") == "no access for ***"
    values = len(secrets.known_values())
    # compiling every value so far after each tenant compiles some values * tenants / 2 (some 5,000,000);
    # levels compile each about log2(values) times
    assert sum(compiled) <= values * (values.bit_length() + 1)
    assert len(secrets._known.patterns()) <= values.bit_length()
    assert secrets.redact("password-of-school-0000 and password-of-school-0999") == "*** and ***"


def test_values_too_deep_for_a_trie_are_still_masked() -> None:
    # each value a prefix of the next, hundreds deep: the trie's nesting is more than the regular
    # expression compiler takes, and the values are searched as a plain alternation instead
    secrets.forget_all()
    for i in range(2, 800):
        secrets.remember("ab" * i)
    assert secrets.redact("zz" + "ab" * 900 + "zz") == "zz***zz"
    assert secrets.redact("zz abab zz aba") == "zz *** zz aba"
