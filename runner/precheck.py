"""The pre-checks of an import line, done locally before anything is sent.

They are the "Manual Import File Pre-checks" Infiniti applies, plus the spec's own promises: a username, both
groups named and listed in the spec's `groups`, a well-formed email address, booleans written TRUE/FALSE, and
one line per username. An import with rules of its own (runner.imports: the contacts import's type, role,
booleans, scenarios and contact, in runner.contract, shared with the sandbox) adds them. A line that fails
is left out of the file and reported with its source row.

Any text survives the file byte for byte except two things no import file can carry: a NUL character (C
string handling on the receiving side cuts the value there, and no SMS means one) and a lone surrogate
(not Unicode, so not UTF-8). A cell holding either keeps its line out of the file, rather than sending a
value other than the source's. So does a cell longer than bounds.MAX_CELL characters.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runner import generated
from runner.bounds import MAX_CELL
from runner.contract import MAX_EMAIL, is_boolean, is_email
from runner.numbers import number
from runner.records import record
from runner.spec import GROUP_COLUMNS, Spec


@record
class Finding:
    """Why one source row is not in the file."""

    row: int
    check: str
    message: str
    identity: str = ""
    username: str | None = None

    @property
    def where(self) -> str:
        """The source row, as a person finds it: `row 12 (student_code=S1012)`."""
        return f"row {self.row}" + (f" ({self.identity})" if self.identity else "")

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return {
            "row": self.row,
            "identity": self.identity,
            "check": self.check,
            "message": self.message,
            "username": self.username,
        }


class LineChecks:
    """The checks of one spec's import lines, with the column positions worked out once."""

    def __init__(self, spec: Spec):
        header = spec.header
        self.header = header
        self.username = header.index("username")
        kind = spec.kind
        self.groups = [
            (header.index(c), c, spec.groups.of(c), GROUP_COLUMNS[c]) for c in GROUP_COLUMNS if c in header
        ]
        fields = [kind.canonical(name) for name in header]
        self.emails = [(i, header[i]) for i, f in enumerate(fields) if f in kind.emails]
        self.booleans = [(i, header[i]) for i, f in enumerate(fields) if f in kind.booleans]
        self.rules = kind.rules  # the import's own rules of a whole line (runner.imports)
        self.fields = tuple(f or name for f, name in zip(fields, header, strict=True))

    def fast(self, constants: Mapping[int, str]) -> Callable[[Sequence[str]], bool]:
        """One compiled test that is true exactly when `problems(cells)` is empty.

        Checks of `constants` (cells every line has, worked out once by the renderer) that pass are
        left out; most lines then cost a handful of comparisons.
        """
        test, names = self.expression(constants)
        source = "def ok(c):\n    return bool(" + test + ")"
        exec(generated.code(source, "<pre-checks>"), names)  # noqa: S102 - built from indexes only
        return names["ok"]  # type: ignore[no-any-return]

    def expression(self, constants: Mapping[int, str], *, joined: bool = False) -> tuple[str, dict[str, Any]]:
        """`fast` as Python source, a test of the cells `c`, with the names it uses (for a caller that
        compiles it into a loop of its own: runner.plan). With `joined`, the text checks read `j`, the
        cells already joined with commas, rather than join them again."""
        tests = [(self.username, f"c[{self.username}].strip()")]
        names: dict[str, Any] = {
            "_email": _EMAIL_FAST.match,
            "_most": MAX_EMAIL,
            "_longest": MAX_CELL,
            "_unicode": _is_unicode,
            "_bools": frozenset(("", "TRUE", "FALSE")),
        }
        for i, _, listed, _ in self.groups:
            names[f"_g{i}"] = listed
            blank_listed = any(not name.strip() for name in listed)  # then membership alone is not enough
            tests.append((i, f"c[{i}].strip() and c[{i}] in _g{i}" if blank_listed else f"c[{i}] in _g{i}"))
        # is_email, inlined: a function call a line is a good part of what the check costs
        email = '(not c[{0}] or (len(c[{0}]) <= _most and ".." not in c[{0}] and _email(c[{0}]) is not None))'
        tests += [(i, email.format(i)) for i, _ in self.emails]
        tests += [(i, f"c[{i}] in _bools") for i, _ in self.booleans]
        kept = [test for i, test in tests if i not in constants or not _holds(test, names, constants)]
        if self.rules is not None:
            names["_rules"], names["_fields"] = self.rules, self.fields
            kept.append("not _rules(dict(zip(_fields, c)))")
        plain = _PLAIN_JOINED if joined else _PLAIN
        return " and ".join([*kept, plain]), names

    def problems(self, cells: Sequence[str]) -> list[tuple[str, str]]:
        """(check, message) for every check the line fails; empty when it passes."""
        found: list[tuple[str, str]] = []
        if not cells[self.username].strip():
            found.append(("username", "username is empty"))
        for i, column, listed, kind in self.groups:
            value = cells[i]
            if not value.strip():
                found.append(("required", f"{column} is empty"))
            elif value not in listed:
                found.append(("group", f"{column} {value!r} is not in groups.{kind}"))
        for i, column in self.emails:
            if cells[i] and not is_email(cells[i]):
                found.append(("email", f"{column} {cells[i]!r} is not a well-formed email address"))
        for i, column in self.booleans:
            if cells[i] and not is_boolean(cells[i]):
                found.append(("boolean", f"{column} {cells[i]!r} is not TRUE or FALSE"))
        if self.rules is not None:
            found += self.rules(dict(zip(self.fields, cells, strict=True)))
        if not _plain(cells):
            found += self._text(cells)
        return found

    def _text(self, cells: Sequence[str]) -> list[tuple[str, str]]:
        found = []
        for column, value in zip(self.header, cells, strict=True):
            if len(value) > MAX_CELL:
                found.append(
                    (
                        "text",
                        f"{column} is {number(len(value))} characters long; a cell holds at most "
                        f"{number(MAX_CELL)}",
                    )
                )
            elif "\x00" in value:
                found.append(
                    ("text", f"{column} contains a NUL character, which an import file cannot carry")
                )
            elif not _is_unicode(value):
                found.append(("text", f"{column} contains a lone surrogate, which is not Unicode text"))
        return found


def _plain(cells: Sequence[str]) -> bool:
    """Whether every cell is text an import file can carry (no NUL, no lone surrogate, not too long)."""
    joined = "".join(cells)
    if len(joined) > MAX_CELL and any(len(cell) > MAX_CELL for cell in cells):
        return False
    return "\x00" not in joined and (joined.isascii() or _is_unicode(joined))


# EMAIL (runner.contract) as the compiled check tests it, with `".." not in` the text before it: the same
# addresses for a fifth less work a line. EMAIL's `(?!.*\.\.)` scans the whole text before matching starts,
# and its labels' nested groups backtrack. A text the rest matches holds no line break (but perhaps one
# last, which `$` allows), so no `..` in it is the same test; a label of 1 to 63 letters, digits and
# hyphens that neither starts nor ends with a hyphen is the same set of labels. (A test holds the two
# to the same answers.) The repeats are possessive: no class holds what must follow it (`@` after the local
# part, `.` or the end after a label), so giving a character back never makes a match, and the engine is
# told not to try (a tenth less work an address).
_EMAIL_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}+(?<!-)"
_EMAIL_FAST = re.compile(
    r"^(?!\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}+(?<!\.)@" + rf"{_EMAIL_LABEL}(?:\.{_EMAIL_LABEL})++$"
)


# _plain(c), as the compiled check inlines it (c: the cells; _longest: MAX_CELL; _unicode: _is_unicode)
_PLAIN = (
    '(len(j := "".join(c)) <= _longest or not any(len(x) > _longest for x in c)) '
    'and "\\x00" not in j and (j.isascii() or _unicode(j))'
)
# the same on the cells joined with commas (j): longer than the cells by the commas, which are ASCII and
# not NUL, so each test means what it means on the cells joined with nothing
_PLAIN_JOINED = (
    "(len(j) <= _longest or not any(len(x) > _longest for x in c)) "
    'and "\\x00" not in j and (j.isascii() or _unicode(j))'
)


def _is_unicode(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SeenHashes:
    """The hashes of the usernames written so far: a compact open-addressing table, 8 bytes a slot.

    Duplicate detection must not hold every username (a million of them would take ~100 MB as Python
    strings); a hash that was seen before only marks a suspect, confirmed afterwards on the file itself.
    """

    def __init__(self, capacity: int = 1 << 12):
        self._table = array("q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._count = 0

    @classmethod
    def for_keys(cls, expected: int | None) -> SeenHashes:
        """A table that holds `expected` keys (about; None: unknown) without growing, which would move
        every hash again each time it doubles."""
        capacity = 1 << 12
        while expected is not None and expected * 2 > capacity - 1:
            capacity <<= 1
        return cls(capacity)

    def add(self, key: str) -> int | None:
        """Add `key`'s hash; return the hash if it was already there, else None."""
        h = hash(key) or 1
        table, mask = self._table, self._mask
        i = h & mask
        while True:
            slot = table[i]
            if slot == 0:
                break
            if slot == h:
                return h
            i = (i + 1) & mask
        table[i] = h
        self._count += 1
        if self._count * 2 > mask:
            self._grow()
        return None

    def _grow(self) -> None:
        old = self._table
        self._table = array("q", bytes(16 * len(old)))
        self._mask = len(self._table) - 1
        table, mask = self._table, self._mask
        for h in old:
            if h:
                i = h & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = h


def _holds(test: str, names: dict[str, Any], constants: Mapping[int, str]) -> bool:
    """Whether the check `test` passes for the cells `constants` (those every line has)."""
    return bool(eval(generated.code(test, "<pre-check>", "eval"), names, {"c": constants}))  # noqa: S307
