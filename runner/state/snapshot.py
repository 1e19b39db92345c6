"""A job's snapshot: what comparing reads of the state (runner.changes.Known's two arrays) kept beside the
rows it is made of, so that a plan reads it as two values of one row instead of every user's row, sorted.

A snapshot holds, for one tenant and spec, the fingerprint of every user's accepted line in ascending order
and the user's username hash in the same order, each array as one blob of big-endian 64-bit integers (the
same on every machine that shares a PostgreSQL store, and how PostgreSQL's int8send writes them, so that
it can make a snapshot from the rows itself), and how many users it holds. The store writes it
in the transaction that writes the rows (StateStore.record): when a run changes few users, by `update`
from the snapshot before it; otherwise it is made again from the rows, read in fingerprint order. A snapshot
whose count is not the count of the job's rows (a store changed by hand, a username hash shared by two
users) is not used: the plan reads the rows, as it did before snapshots, and the next run that changes
something makes the snapshot again.
"""

from __future__ import annotations

import bisect
import sys
from array import array
from collections.abc import Iterable, Iterator, Set

from runner.changes import positions

# At most this share of a snapshot's users changed (accepted or forgotten) for `update` to be worth it;
# more (a first run, a big change), and the snapshot is made again from the rows, read in order.
UPDATE_SHARE = 0.25


def pack(values: array[int]) -> bytes:
    """`values` (64-bit signed) as big-endian bytes."""
    if sys.byteorder == "big":
        return values.tobytes()
    swapped = array("q", values)
    swapped.byteswap()
    return swapped.tobytes()


def chunks(values: array[int], size: int) -> Iterator[bytes]:
    """`pack` of `values`, `size` integers at a time."""
    for start in range(0, len(values), size):
        yield pack(values[start : start + size])


def unpack(blob: bytes) -> array[int]:
    """The 64-bit signed integers of a blob `pack` made."""
    values = array("q")
    values.frombytes(blob)
    if sys.byteorder != "big":
        values.byteswap()
    return values


def unpack_chunks(chunks: Iterable[bytes]) -> array[int]:
    """The 64-bit signed integers of a blob `pack` made, read in chunks (each a multiple of 8 bytes)."""
    values = array("q")
    for chunk in chunks:
        values.frombytes(chunk)
    if sys.byteorder != "big":
        values.byteswap()
    return values


def worth_updating(users: int, changed: int) -> bool:
    """Whether a snapshot of `users` users is better updated than made again, when `changed` users were
    accepted or forgotten."""
    return users > 0 and changed <= users * UPDATE_SHARE


def update(arrays: list[array[int]], gone: Set[int], added: Iterable[tuple[int, int]]) -> None:
    """Update a snapshot, `arrays` (its fingerprints ascending, its hashes in the same order), in place:
    without the users whose username hash is in `gone` and with the `added` (fingerprint, username hash)
    users, still in fingerprint order. A user whose line changed is in both: gone by its hash, added with
    its new fingerprint. Each array is made again in one pass, a run of kept items at a time, and replaces
    the old one at once, so that no more than three are held (24 bytes a user, not 32)."""
    fingerprints, hashes = arrays
    drop = list(positions(hashes, gone)) if gone else []
    new = sorted(added)
    where = [bisect.bisect_left(fingerprints, fp) for fp, _ in new]
    del fingerprints, hashes
    if drop or new:
        arrays[0] = _spliced(arrays[0], drop, where, [fp for fp, _ in new])
        arrays[1] = _spliced(arrays[1], drop, where, [h for _, h in new])


def _spliced(values: array[int], drop: list[int], where: list[int], put: list[int]) -> array[int]:
    """`values` without the items at the ascending positions `drop`, and with `put[i]` placed before the
    item at position `where[i]` (ascending; len(values) for the end)."""
    out, start, i, j = array("q"), 0, 0, 0
    while i < len(drop) or j < len(where):
        if j < len(where) and (i == len(drop) or where[j] <= drop[i]):
            out += values[start : where[j]]
            out.append(put[j])
            start, j = where[j], j + 1
        else:
            out += values[start : drop[i]]
            start, i = drop[i] + 1, i + 1
    out += values[start:]
    return out
