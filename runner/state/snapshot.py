"""A job's snapshot: what comparing reads of the state (runner.changes.Known's two arrays) kept beside the
rows it is made of, so that a plan reads it as two values of one row instead of every user's row, sorted.

A snapshot holds, for one tenant and spec, the fingerprint of every user's accepted line in ascending order
and the user's username hash in the same order, each array as one blob of little-endian 64-bit integers
(the same on every machine that shares a PostgreSQL store), and how many users it holds. The store writes it
in the transaction that writes the rows (StateStore.record): when a run changes few users, by `updated`
from the snapshot before it; otherwise it is made again from the rows, read in fingerprint order. A snapshot
whose count is not the count of the job's rows (a store changed by hand, a username hash shared by two
users) is not used: the plan reads the rows, as it did before snapshots, and the next run that changes
something makes the snapshot again.
"""

from __future__ import annotations

import bisect
import sys
from array import array
from collections.abc import Iterable, Set

# At most this share of a snapshot's users changed (accepted or forgotten) for `updated` to be worth it;
# more (a first run, a big change), and the snapshot is made again from the rows, read in order.
UPDATE_SHARE = 0.25


def pack(values: array[int]) -> bytes:
    """`values` (64-bit signed) as little-endian bytes."""
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array("q", values)
    swapped.byteswap()
    return swapped.tobytes()


def unpack(blob: bytes) -> array[int]:
    """The 64-bit signed integers of a blob `pack` made."""
    values = array("q")
    values.frombytes(blob)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def worth_updating(users: int, changed: int) -> bool:
    """Whether a snapshot of `users` users is better updated than made again, when `changed` users were
    accepted or forgotten."""
    return users > 0 and changed <= users * UPDATE_SHARE


def updated(
    fingerprints: array[int], hashes: array[int], gone: Set[int], added: Iterable[tuple[int, int]]
) -> tuple[array[int], array[int]]:
    """The snapshot (`fingerprints` ascending, `hashes` in the same order) without the users whose username
    hash is in `gone` and with the `added` (fingerprint, username hash) users, still in fingerprint order.
    A user whose line changed is in both: gone by its hash, added with its new fingerprint."""
    drop = [at for at, h in enumerate(hashes) if h in gone] if gone else []
    kept_prints, kept_hashes = _without(fingerprints, drop), _without(hashes, drop)
    return _merged(kept_prints, kept_hashes, sorted(added))


def _without(values: array[int], drop: list[int]) -> array[int]:
    """`values` without the items at the ascending positions `drop`, copied a run of kept items at a time."""
    if not drop:
        return values
    kept, start = array("q"), 0
    for at in drop:
        kept += values[start:at]
        start = at + 1
    kept += values[start:]
    return kept


def _merged(
    fingerprints: array[int], hashes: array[int], added: list[tuple[int, int]]
) -> tuple[array[int], array[int]]:
    """`added` (sorted by fingerprint) placed among `fingerprints` (ascending) and `hashes`, a run of the
    old items at a time."""
    if not added:
        return fingerprints, hashes
    prints, names, start = array("q"), array("q"), 0
    for fp, h in added:
        at = bisect.bisect_left(fingerprints, fp, start)
        prints += fingerprints[start:at]
        names += hashes[start:at]
        prints.append(fp)
        names.append(h)
        start = at
    prints += fingerprints[start:]
    names += hashes[start:]
    return prints, names
