"""What changed since Infiniti last accepted a spec's rows: new, changed, unchanged and vanished users.

Each line of the file has a fingerprint (64 bits of BLAKE2b over its cells); the state store keeps, per
username, the fingerprint of the line Infiniti last accepted. For an import of several lines per user (the
contacts import), a user's fingerprint covers its whole set of lines (`compare_users`), and a user whose
set changed is sent with all of its lines. The planner classifies every line as it
writes it (`Classifier`), never by reading the file back; in incremental mode an unchanged line is not
written at all, so only new and changed rows are sent.
Users who vanished from the source are reported, never deleted: the contract has no delete. Once a run
is sent, the state forgets them, so they are reported as gone once, not by every run after. A user whose
row the pre-checks left out has not vanished (the report names it as left out): it is neither counted
as gone nor forgotten, so Infiniti's copy is still known when the row is fixed.

What the state knows is read as `Known`: two sorted arrays of 64-bit integers (a hash of each username,
and its fingerprint), 16 bytes a user and a seen flag, never a Python object per user; the names of the
users who vanished are fetched from the store only when some did.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import math
import weakref
from array import array
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from runner.csvfile import read_records
from runner.numbers import number, plural
from runner.precheck import Finding
from runner.records import record
from runner.spec import Spec

EXAMPLES = 5
# NUL never occurs in a line of the file (the pre-checks keep such lines out), so joining on it is
# unambiguous: two different lines never join to the same text.
_SEPARATOR = "\x00"


# An empty 8-byte BLAKE2b, copied for each text hashed: copying it costs a third less than making a new one
# (whose constructor reads its many keyword parameters), for the same digest.
_BLAKE2B_8 = hashlib.blake2b(digest_size=8)


def fingerprint(cells: Sequence[str]) -> int:
    """A signed 64-bit fingerprint of a line's cells (header order)."""
    return _digest64(_SEPARATOR.join(cells))


def user_hash(username: str) -> int:
    """A signed 64-bit hash of a username (BLAKE2b, the same in every process, unlike Python's hash())."""
    return _digest64(username)


def _digest64(text: str) -> int:
    """The 8-byte BLAKE2b of `text` (UTF-8) as a signed 64-bit integer."""
    state = _BLAKE2B_8.copy()
    state.update(text.encode())
    return int.from_bytes(state.digest(), "big", signed=True)


def positions(values: Iterable[int], wanted: Container[int]) -> Iterator[int]:
    """The positions of the items of `values` that are in `wanted`, in order: the loop runs in C, a
    million items in some 30 ms, where a Python loop over them takes several times that."""
    return itertools.compress(itertools.count(), map(wanted.__contains__, values))


# (fingerprint, username) rows of the store, for the fingerprints asked about (or more: extra rows are
# skipped); how `Known` learns the names of the users the file no longer has.
NameSource = Callable[[Sequence[int]], Iterable[tuple[int, str]]]
_HALF, _LOW = 1 << 63, (1 << 64) - 1  # to pack two signed 64-bit integers into one sortable int


class Known:
    """The users Infiniti last accepted for one tenant and spec, 17 bytes a user: the fingerprint of
    each user's line, sorted, and the hash of the username (`user_hash`) in the same order, in two
    arrays, with a flag per user set once the file is seen to have it.

    A line is unchanged when its fingerprint is one of those stored (looked up by bisection): the
    fingerprint covers the username cell, so it is that user's line. Only the other lines (new or
    changed) are looked for by username hash, in one pass over the hashes. Two usernames whose 64-bit
    hashes collide can only make a new user count as changed: its line is sent either way, so no row
    is ever left unsent; the other user of that hash is then taken as seen (at worst a leaver is not
    reported as gone).
    """

    def __init__(self, fingerprints: array[int], hashes: array[int], names: NameSource | None = None):
        """`fingerprints` sorted, `hashes` in the same order; `names` gives the usernames of fingerprints."""
        self.fingerprints = fingerprints
        self.hashes = hashes
        self.seen = bytearray(len(fingerprints))
        self._names = names
        # Once a file is compared with these users: the source row (or the place in the file) of each
        # user's unchanged line (0: none), and (row, position) of each unchanged line that came again.
        # What names the unchanged users later (Changes.names) is kept here, with the users it indexes,
        # and the changes refer to it weakly: it goes when they do (a run's results outlive them).
        self.unchanged_rows: tuple[array[int], Sequence[tuple[int, int]]] | None = None

    @classmethod
    def of(cls, fingerprints: Mapping[str, int]) -> Known:
        """What a mapping of username -> fingerprint knows (empty: a first run, nothing known)."""
        rows = [(fp, u) for u, fp in fingerprints.items()]
        return cls.of_rows(((fp, user_hash(u)) for fp, u in rows), lambda _wanted: rows)

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[int, int]], names: NameSource) -> Known:
        """What (fingerprint, user_hash) rows in any order know, sorted here: for few users (tests), or a
        store that cannot give its rows in order (see StateStore.known); sorting holds an int a user."""
        packed = sorted(((fp + _HALF) << 64) | (h + _HALF) for fp, h in rows)
        fingerprints = array("q", ((p >> 64) - _HALF for p in packed))
        hashes = array("q", ((p & _LOW) - _HALF for p in packed))
        return cls(fingerprints, hashes, names)

    def __len__(self) -> int:
        return len(self.fingerprints)

    def index(self, now: int) -> int:
        """Where fingerprint `now` is among those known, or -1; nothing is marked seen."""
        at = bisect.bisect_left(self.fingerprints, now)
        return at if at < len(self.fingerprints) and self.fingerprints[at] == now else -1

    def buckets(self) -> tuple[array[int], int]:
        """For a lookup a line: where the fingerprints of each value of their top bits start (and the
        shift that leaves those bits), so that bisection looks only among about 8 of them (fingerprints
        are uniform); half a byte a user, in 32-bit integers (as `Classifier.rows`), so that at a million
        users the table a line reads is 0.5 MB, not 1 MB, and stays in the processor's cache more often
        (the lookup 0.1 to 0.2 s faster a million lines, measured)."""
        prints, count = self.fingerprints, len(self.fingerprints)
        shift = 64 - max(1, count.bit_length() - 3)
        starts = array(
            "i", (bisect.bisect_left(prints, (b << shift) - _HALF) for b in range(1 << (64 - shift)))
        )
        starts.append(count)
        return starts, shift

    def unchanged(self, now: int) -> bool:
        """Whether a line of fingerprint `now` is the one last accepted; its user is then seen."""
        at = bisect.bisect_left(self.fingerprints, now)
        if at < len(self.fingerprints) and self.fingerprints[at] == now:
            self.seen[at] = 1
            return True
        return False

    def users(self, wanted: set[int]) -> set[int]:
        """Which of the `wanted` username hashes are known (their users are then seen)."""
        found: set[int] = set()
        if not wanted:
            return found
        for at in positions(self.hashes, wanted):
            self.seen[at] = 1
            found.add(self.hashes[at])
        return found

    def usernames(self, positions: Iterable[int]) -> dict[int, str] | None:
        """The usernames of the users at `positions`, asked of the store by fingerprint (None: this
        Known has no names to ask)."""
        if self._names is None:
            return None
        wanted = {self.fingerprints[at]: at for at in positions}
        if not wanted:
            return {}
        return {wanted[fp]: name for fp, name in self._names(sorted(wanted)) if fp in wanted}

    def unseen(self) -> list[str]:
        """The usernames of the users not seen, sorted; the store is asked only when there are some."""
        missing = []
        at = self.seen.find(0)
        while at >= 0:
            missing.append(self.fingerprints[at])
            at = self.seen.find(0, at + 1)
        if not missing or self._names is None:
            return []
        gone = []
        for fp, username in self._names(missing):
            at = bisect.bisect_left(self.fingerprints, fp)
            if at < len(self.fingerprints) and self.fingerprints[at] == fp and not self.seen[at]:
                gone.append(username)
        return sorted(gone)

    def named(self, positions: Sequence[int]) -> Iterator[str]:
        """The usernames of the users at `positions`, in that order (a position may come again), asked of
        the store by fingerprint once the first is wanted; a user the store no longer has is left out.
        The names are held as UTF-8 in one buffer with their places, some 18 bytes a user, not as a str
        each: at a million users that is 18 MB, not 65."""
        if self._names is None or not positions:
            return
        prints, count = self.fingerprints, len(self.fingerprints)
        wanted = bytearray(count)  # 1: asked for, 2: found
        for at in positions:
            wanted[at] = 1
        starts, sizes, names = array("i", bytes(4 * count)), array("i", bytes(4 * count)), bytearray()
        buckets, shift = self.buckets()  # the store's rows come in any order: each is looked up
        bisect_left = bisect.bisect_left
        for fp, username in self._names(array("q", itertools.compress(prints, wanted))):
            bucket = (fp + _HALF) >> shift
            at = bisect_left(prints, fp, buckets[bucket], buckets[bucket + 1])
            if at < count and prints[at] == fp and wanted[at]:
                data = username.encode()
                starts[at], sizes[at], wanted[at] = len(names), len(data), 2
                names += data
        for at in positions:
            if wanted[at] == 2:
                yield names[starts[at] : starts[at] + sizes[at]].decode()


# Where every username of one kind of change comes from, on demand (Changes.names).
Names = Callable[[], Iterable[str]]


@record
class Changes:
    """How the file compares with what Infiniti last accepted (worked out while the file was written)."""

    first_run: bool
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    vanished: int = 0
    examples: dict[str, list[str]] = field(
        default_factory=lambda: {k: [] for k in ("new", "changed", "unchanged", "vanished")}
    )
    gone: list[str] = field(default_factory=list)  # every vanished username, to forget once sent
    # (line in the file to send, username, fingerprint) of each new or changed user, worked out while
    # planning, so that recording what Infiniti accepts need not read the file again. None: not known
    # (a first run compares nothing; every line of the file is new). For an import whose user's record
    # is all of its lines (compare_users), every line of each such user, with the record's fingerprint.
    pending: list[tuple[int, str, int]] | None = None
    # By kind, how to name every user of it (`names`), from what planning keeps anyway: the planned file,
    # the pending lines, the known users' arrays (whose names the store gives). Planning is the same
    # whatever is reported; only a report that shows the full lists pays for them, and then only while
    # it writes them (the file must still be there and the state store open).
    every: Mapping[str, Names] = field(default_factory=dict, compare=False, repr=False)

    def names(self, kind: str) -> Iterable[str]:
        """Every username of `kind` (new, changed, unchanged or vanished), in the file's order (the
        vanished sorted): derived now, never kept."""
        source = self.every.get(kind)
        return () if source is None else source()

    def lists(self) -> dict[str, list[str]]:
        """Every username of each kind, in order."""
        return {kind: list(self.names(kind)) for kind in KINDS}

    def to_json(self, *, lists: bool = False) -> dict[str, Any]:
        """Counts and examples, and with `lists` every username of each kind (`lists()`)."""
        doc: dict[str, Any] = {
            "first_run": self.first_run,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "vanished": self.vanished,
            "examples": self.examples,
        }
        if lists:
            doc["lists"] = self.lists()
        return doc

    @property
    def total(self) -> int:
        """Users that are new, changed or gone: what max_change limits."""
        return self.new + self.changed + self.vanished


def _of(
    first_run: bool, kinds: Mapping[str, Sequence[str]], every: Mapping[str, Names], **more: Any
) -> Changes:
    """Changes with these usernames of each kind as examples (the first of them, in order; `more` holds
    the counts of the kinds that have more than the names given), every name of each kind from `every`."""
    counts = {kind: more.pop(kind, len(names)) for kind, names in kinds.items()}
    examples = {kind: list(kinds.get(kind, ())[:EXAMPLES]) for kind in KINDS}
    return Changes(first_run, **counts, examples=examples, every=every, **more)


def _column(path: Path, column: int, keep: Iterable[int] | None = None) -> Iterator[str]:
    """Cell `column` of the data lines of the file at `path` (with `keep`, of those whose flag, one a
    line in order, is set), read from the file: the lines are not held."""
    records = read_records(path)
    next(records)
    lines = records if keep is None else itertools.compress(records, keep)
    return (record[column] for record in lines)


def _flagged(pending: Sequence[tuple[int, str, int]], flags: bytes, flag: int) -> Iterator[str]:
    """The usernames of the `pending` lines whose flag (one a line, in order) is `flag`, in order."""
    return (user for (_, user, _), f in zip(pending, flags, strict=True) if f == flag)


KINDS = ("new", "changed", "unchanged", "vanished")

# What the classifier makes of a line (Classifier.verdict): left out of the file (unchanged, in
# incremental mode), written although unchanged, or written as new or changed.
LEFT_OUT, UNCHANGED, NEW = 0, 1, 2


class Classifier:
    """Classifies each line of the file as the planner writes it: unchanged (its fingerprint is the one
    last accepted), or new or changed (told apart once the file is done, in one pass over `known`).

    In incremental mode an unchanged line is never written: the planner asks `verdict()` first. What such
    a line needs later (its source row, for the duplicate check) is kept in an array beside `known`, 4
    bytes a known user; a line repeated exactly (the same fingerprint twice) is listed apart. The known
    users' seen flags stand in for the planner's duplicate check of unchanged lines (`suspects`). Nothing
    here reads the file.
    """

    def __init__(self, known: Known, *, username: int, incremental: bool):
        self.known = known
        self.username = username
        self.skip = incremental and bool(known)  # unchanged lines are left out of the file
        # the source row of the unwritten line of each known user (0: none), and exact repeats (row, at)
        self.rows: array[int] = array("i", bytes(4 * len(known))) if self.skip else array("i")
        self.repeats: list[tuple[int, int]] = []
        self.written_unchanged = bytearray()  # per written line, when unchanged lines are written
        self.pending: list[tuple[int, str, int]] = []  # (written index, username, fingerprint)
        self.unchanged: list[tuple[int, str]] = []  # (source row, username): the first, for examples
        self.limit = 4 * EXAMPLES  # more than shown: duplicates may drop some
        self.again: list[str] = []  # the usernames of unchanged lines whose user's line was seen before
        self._settled = not self.skip  # whether known.seen has the users `rows` marks (`_settle`)
        # what the planner calls for each line (LEFT_OUT, UNCHANGED or NEW); None: a first run (nothing
        # to keep, every line new)
        self.verdict: Callable[[int, Sequence[str]], int] | None = self._comparer() if known else None

    def line(self, n: int, cells: Sequence[str]) -> bool:
        """Whether line `cells` (source row `n`) is to be written (its verdict is not LEFT_OUT)."""
        return self.verdict is None or self.verdict(n, cells) != LEFT_OUT

    def _comparer(self) -> Callable[[int, Sequence[str]], int]:
        """`verdict()` against what is known: the planner's hot loop calls it once a line, so everything
        it uses is bound here, and `fingerprint` and `Known.finder` are inlined."""
        self._buckets = self.known.buckets()  # kept for `inline`
        prints, count, (starts, shift) = self.known.fingerprints, len(self.known), self._buckets
        seen, rows, repeats, again = self.known.seen, self.rows, self.repeats, self.again
        pending, flags, unchanged = self.pending, self.written_unchanged, self.unchanged
        user, skip = self.username, self.skip
        limit = self.limit
        blake2b, from_bytes, join, bisect_left = (
            _BLAKE2B_8.copy,
            int.from_bytes,
            _SEPARATOR.join,
            bisect.bisect_left,
        )

        def verdict(n: int, cells: Sequence[str]) -> int:
            """What line `cells` (source row `n`) is: NEW (or changed), UNCHANGED, or LEFT_OUT."""
            state = blake2b()  # fingerprint(cells), inlined
            state.update(join(cells).encode())
            now = from_bytes(state.digest(), "big", signed=True)
            bucket = (now + _HALF) >> shift
            at = bisect_left(prints, now, starts[bucket], starts[bucket + 1])
            if at == count or prints[at] != now:
                pending.append((len(pending) if skip else len(flags), cells[user], now))
                if not skip:
                    flags.append(0)
                return NEW
            if len(unchanged) < limit:
                unchanged.append((n, cells[user]))
            if not skip:
                if seen[at]:  # the same line again: its username is on two lines
                    again.append(cells[user])
                seen[at] = 1
                flags.append(1)
                return UNCHANGED
            if rows[at]:  # the same line again (`rows` stands in for `seen` until `_settle`)
                again.append(cells[user])
                repeats.append((n, at))
            else:
                rows[at] = n
            return LEFT_OUT

        return verdict

    def inline(self) -> tuple[list[str], dict[str, Any]]:
        """`verdict()` as Python statements, for a loop compiled around them (runner.plan's): they read
        `n` (the source row), `c` (the cells) and `f` (the cells joined with NUL, what `fingerprint`
        hashes), and set `_v` to the verdict; with the names they use (all begin with `_x`). The same
        steps as `_comparer`'s, in the same order, without a call a line."""
        if self.verdict is None:  # nothing known: every line is new
            return ["_v = 2"], {}
        user = self.username
        starts, shift = self._buckets
        names: dict[str, Any] = {
            "_xprints": self.known.fingerprints,
            "_xcount": len(self.known),
            "_xstarts": starts,
            "_xrows": self.rows,
            "_xrepeats": self.repeats,
            "_xagain": self.again,
            "_xpending": self.pending,
            "_xflags": self.written_unchanged,
            "_xunchanged": self.unchanged,
            "_xlimit": self.limit,
            "_xblake2b": _BLAKE2B_8.copy,
            "_xint": int.from_bytes,
            "_xbisect": bisect.bisect_left,
            "_xshift": shift,  # a name, not a number in the text: the text is the same for every tenant
        }
        if not self.skip:
            names["_xseen"] = self.known.seen
        at = "_xpending" if self.skip else "_xflags"
        lines = [
            "_xs = _xblake2b()",
            "_xs.update(f.encode())",
            # the digest as a signed integer: unsigned, its top bit flipped, less 2**63 (a call without
            # keywords, which cost more to parse than the two operations); its bucket is the flipped
            # value's top bits
            f'_xw = _xint(_xs.digest(), "big") ^ {_HALF}',
            f"_xnow = _xw - {_HALF}",
            "_xb = _xw >> _xshift",
            "_xat = _xbisect(_xprints, _xnow, _xstarts[_xb], _xstarts[_xb + 1])",
            "if _xat == _xcount or _xprints[_xat] != _xnow:",
            f"    _xpending.append((len({at}), c[{user}], _xnow))",
            *([] if self.skip else ["    _xflags.append(0)"]),
            "    _v = 2",
            "else:",
            "    if len(_xunchanged) < _xlimit:",
            f"        _xunchanged.append((n, c[{user}]))",
        ]
        if self.skip:
            lines += [
                "    if _xrows[_xat]:",
                f"        _xagain.append(c[{user}])",
                "        _xrepeats.append((n, _xat))",
                "    else:",
                "        _xrows[_xat] = n",
                "    _v = 0",
            ]
        else:
            lines += [
                "    if _xseen[_xat]:",
                f"        _xagain.append(c[{user}])",
                "    _xseen[_xat] = 1",
                "    _xflags.append(1)",
                "    _v = 1",
            ]
        return lines, names

    def suspects(self) -> list[str]:
        """Usernames that may be on more than one line, among those the planner did not check itself
        (it checks the new and changed lines' only): an unchanged line seen twice, and a new or changed
        line whose username is that of a user an unchanged line was seen for. Call it before `finish`,
        which marks more users seen. A hash that collides only makes a name a suspect, which the
        planner's check of the names themselves clears."""
        self._settle()
        found = list(self.again)
        wanted = {user_hash(username): username for _, username, _ in self.pending}
        if not wanted:
            return found
        hashes, seen = self.known.hashes, self.known.seen
        for at in positions(hashes, wanted):  # few: the new and changed users'
            if seen[at]:
                found.append(wanted[hashes[at]])
        return found

    def unwritten(self, wanted: Mapping[int, str]) -> list[tuple[str, int, int]]:
        """(username, source row, key) of the unwritten lines whose user is one of `wanted` (by
        user_hash, the name then compared with the store's, so that two names whose hashes collide are
        never taken for one); the key is what `drop` takes."""
        self._settle()
        if not self.skip or not wanted:
            return []
        found = []  # (username, source row, key, position among the known)
        hashes, rows = self.known.hashes, self.rows
        for at in positions(hashes, wanted):
            if rows[at]:
                found.append((wanted[hashes[at]], rows[at], at, at))
        for i, (row, at) in enumerate(self.repeats):
            if hashes[at] in wanted:
                found.append((wanted[hashes[at]], row, -1 - i, at))
        names = self.known.usernames(at for *_, at in found)
        return [(user, row, key) for user, row, key, at in found if names is None or names.get(at) == user]

    def drop(self, keys: Iterable[int]) -> None:
        """Forget unwritten lines the duplicate check left out (keys from `unwritten`); their users stay
        seen."""
        self._settle()
        gone: set[int] = set()
        for key in keys:
            if key >= 0:
                self.rows[key] = 0
            else:
                gone.add(-1 - key)
        if gone:
            self.repeats[:] = [r for i, r in enumerate(self.repeats) if i not in gone]

    def finish(
        self,
        dropped_lines: Sequence[int],
        dropped_rows: set[int],
        findings: Iterable[Finding],
        preview: Sequence[Sequence[str]],
        rows_out: int,
        *,
        path: Path,
    ) -> Changes:
        """The changes, once the duplicate check dropped the written lines at `dropped_lines` (sorted
        indexes) and the source rows `dropped_rows` (written or not); `preview` is the first lines of the
        file at `path` (done: the full lists of the changes read it), `rows_out` how many it has."""
        self._settle()
        user = self.username
        if not self.known:  # every line of the file is new
            names = [line[user] for line in preview[:EXAMPLES]]
            return _of(True, {"new": names}, {"new": functools.partial(_column, path, user)}, new=rows_out)
        pending = [
            (i - bisect.bisect_left(dropped_lines, i) + 1, username, fp)
            for i, username, fp in self.pending
            if not _contains(dropped_lines, i)
        ]
        hashes = [user_hash(username) for _, username, _ in pending]
        found = self.known.users(set(hashes))
        changed = bytes(h in found for h in hashes)  # per pending line: 1 changed, 0 new
        left_out = {f.username for f in findings if f.username}
        gone = [u for u in self.known.unseen() if u not in left_out]
        every: dict[str, Names] = {
            "new": functools.partial(_flagged, pending, changed, 0),
            "changed": functools.partial(_flagged, pending, changed, 1),
            "unchanged": self._unchanged_names(dropped_lines, path),
            "vanished": functools.partial(iter, gone),
        }
        count = self._unchanged(dropped_lines)
        unchanged = [u for row, u in self.unchanged if row not in dropped_rows][:EXAMPLES]
        if len(unchanged) < min(count, EXAMPLES):  # duplicates dropped most of the first: look further
            unchanged = list(itertools.islice(every["unchanged"](), EXAMPLES))
        examples = {
            "new": list(itertools.islice(_flagged(pending, changed, 0), EXAMPLES)),
            "changed": list(itertools.islice(_flagged(pending, changed, 1), EXAMPLES)),
            "unchanged": unchanged,
            "vanished": gone,
        }
        return _of(
            False,
            examples,
            every,
            new=changed.count(0),
            changed=changed.count(1),
            unchanged=count,
            gone=gone,
            pending=pending,
        )

    def _settle(self) -> None:
        """Once the file is done, before anything reads the seen flags or changes `rows`: mark seen the
        users whose unchanged line was left out. While the lines come, in incremental mode, `rows` alone
        records them (a user's row is set exactly when its seen flag would be), so that a line touches
        one array of the known users rather than two (each a likely cache miss at a million users, some
        0.1 s a million lines); the flags are then made from it at once (0.035 s a million). Nothing else
        marks this Known's users before (users() and unseen() come after)."""
        if self._settled:
            return
        self._settled = True
        self.known.seen[:] = bytes(map(bool, self.rows))

    def _unchanged_names(self, dropped_lines: Sequence[int], path: Path) -> Names:
        """Where every unchanged username comes from, in the order of the source rows: the file and
        each written line's flag, or (unchanged lines left out) the store's names of the known users
        whose line was left out, ordered by the source row each such line came from."""
        if not self.skip:
            return functools.partial(
                _written_unchanged, path, self.username, self.written_unchanged, dropped_lines
            )
        self.known.unchanged_rows = (self.rows, self.repeats)
        return functools.partial(_unchanged_names, weakref.ref(self.known))

    def _unchanged(self, dropped_lines: Sequence[int]) -> int:
        if self.skip:
            return len(self.rows) - self.rows.count(0) + len(self.repeats)
        flags = self.written_unchanged
        return flags.count(1) - sum(flags[i] for i in dropped_lines)

    @property
    def left_out(self) -> int:
        """Lines not written (unchanged, in incremental mode)."""
        return len(self.rows) - self.rows.count(0) + len(self.repeats) if self.skip else 0


def _written_unchanged(
    path: Path, column: int, flags: Sequence[int], dropped: Sequence[int]
) -> Iterator[str]:
    """The usernames of the file's unchanged lines: `flags` says which of the lines written were (1),
    before the duplicate check took out those at `dropped`."""
    out = set(dropped)
    return _column(path, column, (f for i, f in enumerate(flags) if i not in out) if out else flags)


def _unchanged_names(users: weakref.ref[Known]) -> Iterator[str]:
    """The usernames of the unchanged users of the Known `users` refers to (Known.unchanged_rows), in
    the order of their rows; the positions are put in that order through an array indexed by row, 4
    bytes a row. The Known must still be there (and its store open): the plan keeps them until then."""
    known = users()
    if known is None or known.unchanged_rows is None:
        raise LookupError("the users a plan was compared with are gone: name them while its state is open")
    rows, repeats = known.unchanged_rows
    last = max(max(rows, default=0), max((row for row, _ in repeats), default=0))
    by_row = array("i", bytes(4 * (last + 1)))  # position + 1 of the known user of each row left out
    for at in itertools.compress(itertools.count(), rows):
        by_row[rows[at]] = at + 1
    for row, at in repeats:
        by_row[row] = at + 1
    return known.named(array("i", map((-1).__add__, filter(None, by_row))))


def _contains(ordered: Sequence[int], value: int) -> bool:
    at = bisect.bisect_left(ordered, value)
    return at < len(ordered) and ordered[at] == value


def hold(spec: Spec, changes: Changes, known: int) -> list[str]:
    """The max_change guard: a hold message when more users changed than the spec allows."""
    limit = spec.checks.max_change
    if limit is None or changes.first_run:
        return []
    allowed = limit.of(known)
    if changes.total <= allowed:
        return []
    of = f" of the {number(known)} last accepted: {number(math.floor(allowed))}" if limit.percent else ""
    return [
        f"{plural(changes.total, 'user')} changed since the last accepted run ({number(changes.new)} new, "
        f"{number(changes.changed)} changed, {number(changes.vanished)} gone), more than checks.max_change "
        f"allows ({limit}{of}); check the source, then let it through with infiniti-sync approve (or run "
        "again with --force)"
    ]


def accepted_fingerprints(
    path_records: Iterable[list[str]], failed_lines: set[int]
) -> Iterable[tuple[str, int]]:
    """(username, fingerprint) of every data line Infiniti accepted (lines numbered from 1)."""
    records = iter(path_records)
    header = next(records)
    user = header.index("username")
    for line, cells in enumerate(records, 1):
        if line not in failed_lines:
            yield cells[user], fingerprint(cells)


def record_fingerprint(lines: Iterable[Sequence[str]]) -> int:
    """The fingerprint of a user's whole set of lines, whatever their order (each line has every column,
    so the sorted lines' cells, joined, are unambiguous)."""
    return fingerprint([cell for line in sorted(map(tuple, lines)) for cell in line])


@record
class Users:
    """How an import whose user's record is all of its lines (runner.imports: whole_user) compares with
    what Infiniti last accepted, user by user: the lines to leave out of the file (0-based), and the
    changes, whose `pending` lists every line of each new or changed user, numbered in the file as it is
    once those lines are gone."""

    drop: set[int]
    changes: Changes | None  # None: nothing known to compare with


def compare_users(
    lines: Sequence[Sequence[str]],
    username: int,
    known: Known | None,
    *,
    incremental: bool,
    left_out: set[str],
) -> Users:
    """Group the file's `lines` by user, fingerprint each user's set, and classify it against `known`;
    in incremental mode the lines of unchanged users are left out, so that a user is sent whole or not
    at all. `left_out` are the users the pre-checks left out (not gone)."""
    indexes: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        indexes.setdefault(line[username], []).append(i)
    prints = {user: record_fingerprint(lines[i] for i in at) for user, at in indexes.items()}
    if known is None:
        return Users(set(), None)
    unchanged = {user for user, fp in prints.items() if known.unchanged(fp)}
    others = [user for user in indexes if user not in unchanged]
    found = known.users({user_hash(user) for user in others})
    kinds: dict[str, list[str]] = {
        "new": [u for u in others if user_hash(u) not in found],
        "changed": [u for u in others if user_hash(u) in found],
        "unchanged": [u for u in indexes if u in unchanged],
        "vanished": [u for u in known.unseen() if u not in left_out],
    }
    drop = {i for user in unchanged for i in indexes[user]} if incremental and known else set()
    kept = [i for i in range(len(lines)) if i not in drop]
    pending = [(n, lines[i][username], prints[lines[i][username]]) for n, i in enumerate(kept, 1)]
    pending = [p for p in pending if p[1] not in unchanged]
    # what naming every user of each kind needs, not the names: a flag per pending line (1: changed),
    # and the place in the file's order of each known user who is unchanged (Known.unchanged_rows)
    changed = bytes(user_hash(user) in found for _, user, _ in pending)
    ranks = array("i", bytes(4 * len(known)))
    for rank, user in enumerate(kinds["unchanged"], 1):
        ranks[known.index(prints[user])] = rank
    known.unchanged_rows = (ranks, [])
    gone = kinds["vanished"]
    every: dict[str, Names] = {
        "new": lambda: iter(dict.fromkeys(_flagged(pending, changed, 0))),
        "changed": lambda: iter(dict.fromkeys(_flagged(pending, changed, 1))),
        "unchanged": functools.partial(_unchanged_names, weakref.ref(known)),
        "vanished": functools.partial(iter, gone),
    }
    changes = _of(not known, kinds, every, gone=gone, pending=pending)
    return Users(drop, changes)
