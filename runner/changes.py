"""What changed since Infiniti last accepted a spec's rows: new, changed, unchanged and vanished users.

Each line of the file has a fingerprint (64 bits of BLAKE2b over its cells); the state store keeps, per
username, the fingerprint of the line Infiniti last accepted. Comparing the two classifies every user. In
incremental mode the unchanged lines are then taken out of the file, so only new and changed rows are sent.
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
import hashlib
import itertools
import math
import os
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.csvfile import dialect_writer, private_open, read_records
from runner.precheck import Finding
from runner.spec import Spec

EXAMPLES = 5
# NUL never occurs in a line of the file (the pre-checks keep such lines out), so joining on it is
# unambiguous: two different lines never join to the same text.
_SEPARATOR = "\x00"


def fingerprint(cells: Sequence[str]) -> int:
    """A signed 64-bit fingerprint of a line's cells (header order)."""
    digest = hashlib.blake2b(_SEPARATOR.join(cells).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def user_hash(username: str) -> int:
    """A signed 64-bit hash of a username (BLAKE2b, the same in every process, unlike Python's hash())."""
    digest = hashlib.blake2b(username.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
        for at, h in enumerate(self.hashes):
            if h in wanted:
                self.seen[at] = 1
                found.add(h)
        return found

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


@dataclass
class Changes:
    """How the file compares with what Infiniti last accepted."""

    first_run: bool
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    vanished: int = 0
    examples: dict[str, list[str]] = field(
        default_factory=lambda: {k: [] for k in ("new", "changed", "unchanged", "vanished")}
    )
    lists: dict[str, list[str]] | None = None
    gone: list[str] = field(default_factory=list)  # every vanished username, to forget once sent
    # (line in the file to send, username, fingerprint) of each new or changed user, worked out while
    # comparing, so that recording what Infiniti accepts need not read the file again. None: not known
    # (a first run compares nothing; every line of the file is new).
    pending: list[tuple[int, str, int]] | None = None

    def to_json(self) -> dict[str, Any]:
        """Counts, examples, and the full lists when they were kept."""
        doc: dict[str, Any] = {
            "first_run": self.first_run,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "vanished": self.vanished,
            "examples": self.examples,
        }
        if self.lists is not None:
            doc["lists"] = self.lists
        return doc

    @property
    def total(self) -> int:
        """Users that are new, changed or gone: what max_change limits."""
        return self.new + self.changed + self.vanished

    def _add(self, kind: str, username: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(username)
        if self.lists is not None:
            self.lists[kind].append(username)


class Planned(Protocol):
    """What comparing reads of a planned file (runner.plan.Planned), and the fields it rewrites in
    incremental mode; named here so that this module need not import the planner."""

    path: Path
    header: tuple[str, ...]
    rows_out: int
    findings: list[Finding]
    preview: list[tuple[str, ...]]
    source_rows: array[int]
    changes: Changes | None


def compare(planned: Planned, known: Known, *, incremental: bool, keep_lists: bool = False) -> Changes:
    """Classify the users of `planned`'s file against `known` (what the state knows); the result is
    also kept as `planned.changes`.

    With `incremental`, lines whose user is unchanged are removed from the file (and from
    `planned.source_rows`); `planned.rows_out` then counts the rows still to send.
    """
    planned.changes = _compare(planned, known, incremental=incremental, keep_lists=keep_lists)
    return planned.changes


def hold(spec: Spec, changes: Changes, known: int) -> list[str]:
    """The max_change guard: a hold message when more users changed than the spec allows."""
    limit = spec.checks.max_change
    if limit is None or changes.first_run:
        return []
    allowed = limit.of(known)
    if changes.total <= allowed:
        return []
    of = f" of the {known} last accepted: {math.floor(allowed)}" if limit.percent else ""
    return [
        f"{changes.total} users changed since the last accepted run ({changes.new} new, {changes.changed} "
        f"changed, {changes.vanished} gone), more than checks.max_change allows ({limit}{of}); check the "
        "source, then run again with --force to send"
    ]


def _compare(planned: Planned, known: Known, *, incremental: bool, keep_lists: bool) -> Changes:
    changes = Changes(first_run=not known)
    user = planned.header.index("username")
    if not known and not keep_lists:  # every user is new: no need to read the file again
        changes.new = planned.rows_out
        changes.examples["new"] = [line[user] for line in planned.preview[:EXAMPLES]]
        return changes
    if keep_lists:
        changes.lists = {k: [] for k in changes.examples}
    records = read_records(planned.path)
    next(records)
    if not known:
        for record in records:
            changes._add("new", record[user])
        return changes
    rewrite = _Rewrite(planned.path, planned.header) if incremental else None
    dropped = bytearray(planned.rows_out)
    try:
        _classify(changes, known, records, user, rewrite=rewrite, dropped=dropped)
    except BaseException:
        if rewrite is not None:
            rewrite.abandon()
        raise
    _new_or_changed(changes, known)
    left_out = {f.username for f in planned.findings if f.username}
    changes.gone = [u for u in known.unseen() if u not in left_out]
    for username in changes.gone:
        changes._add("vanished", username)
    if rewrite is not None:
        _drop(planned, rewrite, dropped)
    return changes


def _classify(
    changes: Changes,
    known: Known,
    records: Iterable[list[str]],
    user: int,
    *,
    rewrite: _Rewrite | None,
    dropped: bytearray,
) -> None:
    """One pass over the file: unchanged lines are counted (and, rewriting, left out and flagged in
    `dropped`); the others are pending, numbered as lines of the file that will be sent."""
    changes.pending = []
    examples = changes.examples["unchanged"]
    line = 0
    for i, record in enumerate(records):
        now = fingerprint(record)
        if known.unchanged(now):
            if changes.lists is None and len(examples) >= EXAMPLES:
                changes.unchanged += 1  # what _add does, without the call: most lines are unchanged
            else:
                changes._add("unchanged", record[user])
            if rewrite is not None:
                dropped[i] = 1
                continue
        else:
            changes.pending.append((line + 1, record[user], now))
        line += 1
        if rewrite is not None:
            rewrite.writer.writerow(record)


def _new_or_changed(changes: Changes, known: Known) -> None:
    """Count the lines that are not unchanged as new or changed (in the file's order)."""
    assert changes.pending is not None
    hashes = [user_hash(username) for _, username, _ in changes.pending]
    found = known.users(set(hashes))
    for (_, username, _), h in zip(changes.pending, hashes, strict=True):
        changes._add("changed" if h in found else "new", username)


class _Rewrite:
    """The file without its unchanged lines, written beside it while comparing reads it (one pass);
    it replaces the file only when some line was left out of it."""

    def __init__(self, path: Path, header: Sequence[str]):
        self.path = path
        self.part = path.with_name(path.name + ".rewrite")
        self.handle = private_open(self.part)
        self.writer = dialect_writer(self.handle)
        self.writer.writerow(header)

    def abandon(self) -> None:
        self.handle.close()
        self.part.unlink(missing_ok=True)

    def finish(self, replace: bool) -> None:
        self.handle.close()
        if replace:
            os.replace(self.part, self.path)
        else:
            self.part.unlink(missing_ok=True)


def _drop(planned: Planned, rewrite: _Rewrite, dropped: bytearray) -> None:
    """Put the rewritten file in place when lines were dropped, and renumber what follows the lines."""
    some = dropped.find(1) >= 0
    rewrite.finish(replace=some)
    if not some:
        return
    planned.source_rows = array("q", (r for r, d in zip(planned.source_rows, dropped, strict=False) if not d))
    planned.rows_out = len(planned.source_rows)
    records = read_records(planned.path)
    next(records)
    planned.preview = [tuple(r) for r in itertools.islice(records, max(len(planned.preview), EXAMPLES))]


def accepted_fingerprints(
    path_records: Iterable[list[str]], failed_lines: set[int]
) -> Iterable[tuple[str, int]]:
    """(username, fingerprint) of every data line Infiniti accepted (lines numbered from 1)."""
    records = iter(path_records)
    header = next(records)
    user = header.index("username")
    for line, record in enumerate(records, 1):
        if line not in failed_lines:
            yield record[user], fingerprint(record)
