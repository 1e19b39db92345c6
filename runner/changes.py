"""What changed since Infiniti last accepted a spec's rows: new, changed, unchanged and vanished users.

Each line of the file has a fingerprint (64 bits of BLAKE2b over its cells); the state store keeps, per
username, the fingerprint of the line Infiniti last accepted. Comparing the two classifies every user. In
incremental mode the unchanged lines are then taken out of the file, so only new and changed rows are sent.
Users who vanished from the source are reported, never deleted: the contract has no delete. Once a run
is sent, the state forgets them, so they are reported as gone once, not by every run after. A user whose
row the pre-checks left out has not vanished (the report names it as left out): it is neither counted
as gone nor forgotten, so Infiniti's copy is still known when the row is fixed.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.csvfile import drop_lines, read_records
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


def compare(
    planned: Planned, known: Mapping[str, int], *, incremental: bool, keep_lists: bool = False
) -> Changes:
    """Classify the users of `planned`'s file against `known` (username -> fingerprint); the result is
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


def _compare(planned: Planned, known: Mapping[str, int], *, incremental: bool, keep_lists: bool) -> Changes:
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
    remaining = dict(known)
    unchanged_lines: set[int] = set()
    changes.pending = []
    line = 0  # the line's number in the file that will be sent
    for i, record in enumerate(records):
        before = remaining.pop(record[user], None)
        now = fingerprint(record)
        if before == now:
            changes._add("unchanged", record[user])
            if incremental:
                unchanged_lines.add(i)
                continue
            line += 1
            continue
        line += 1
        changes._add("new" if before is None else "changed", record[user])
        changes.pending.append((line, record[user], now))
    left_out = {f.username for f in planned.findings if f.username}
    changes.gone = sorted(u for u in remaining if u not in left_out)
    for username in changes.gone:
        changes._add("vanished", username)
    if incremental and unchanged_lines:
        _drop(planned, unchanged_lines)
    return changes


def _drop(planned: Planned, lines: set[int]) -> None:
    drop_lines(planned.path, lines)
    planned.source_rows = array("q", (r for i, r in enumerate(planned.source_rows) if i not in lines))
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
