"""Approving a held run: what its change was, exactly and compactly, and who let it through until when.

A run a guard holds records the change it found (`Change`): the fingerprints of the lines it would have
sent (new and changed users; a fingerprint covers the username and every cell, so it names that user's
line exactly) and the username hashes of the users gone, as two sorted arrays of 64-bit integers, 8 bytes
a user (a change of 100,000 users is 800 kB). `infiniti-sync approve` copies the last held run's change
into an `Approval`; the next run that a guard holds sends anyway when every line it would send and every
user gone is in the approved change (the same change, or part of it), and uses the approval up.

    held run -> Change (state) -> approve -> Approval (state) -> next run: covered? send, use up : hold
"""

from __future__ import annotations

import bisect
import getpass
import os
import re
import socket
import sys
from array import array
from collections.abc import Iterable
from datetime import datetime, timedelta

from runner.changes import fingerprint, user_hash
from runner.csvfile import read_records
from runner.errors import UsageError
from runner.numbers import number, plural
from runner.plan import Planned
from runner.records import record

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _sorted(values: Iterable[int]) -> array[int]:
    return array("q", sorted(set(values)))


def _bytes(values: array[int]) -> bytes:
    """Little-endian on every machine, so that a store moves between them."""
    if sys.byteorder == "big":
        values = array("q", values)
        values.byteswap()
    return values.tobytes()


def _array(data: bytes) -> array[int]:
    values = array("q")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _missing(among: array[int], values: array[int]) -> int:
    """How many of `values` are not in the sorted `among`."""
    count = 0
    for value in values:
        at = bisect.bisect_left(among, value)
        count += not (at < len(among) and among[at] == value)
    return count


@record
class Change:
    """A held run's change: the sorted fingerprints of the lines it would send (new and changed users)
    and the sorted username hashes of the users gone, with the counts of each kind for reports."""

    lines: array[int]
    gone: array[int]
    new: int = 0
    changed: int = 0
    vanished: int = 0

    @property
    def users(self) -> int:
        """Users in the change."""
        return len(self.lines) + len(self.gone)

    def outside(self, other: Change) -> int:
        """How many users of `other` this change does not cover (0: `other` is this change or part of it)."""
        return _missing(self.lines, other.lines) + _missing(self.gone, other.gone)

    def to_bytes(self) -> tuple[bytes, bytes]:
        """The two arrays as the store keeps them."""
        return _bytes(self.lines), _bytes(self.gone)

    @classmethod
    def from_bytes(cls, lines: bytes, gone: bytes, new: int, changed: int, vanished: int) -> Change:
        """A change as the store keeps it."""
        return cls(_array(lines), _array(gone), new, changed, vanished)

    def describe(self) -> str:
        """`2 new, 0 changed, 2 gone`."""
        return f"{number(self.new)} new, {number(self.changed)} changed, {number(self.vanished)} gone"


def change_of(planned: Planned) -> Change:
    """The change of a plan: its new and changed lines and its users gone; on a first run (nothing
    compared), every line of the file, read back from it."""
    changes = planned.changes
    if changes is None or changes.pending is None:
        records = read_records(planned.path)
        next(records)
        lines = _sorted(fingerprint(record) for record in records)
        return Change(lines, array("q"), new=len(lines))
    return Change(
        _sorted(fp for _, _, fp in changes.pending),
        _sorted(user_hash(username) for username in changes.gone),
        new=changes.new,
        changed=changes.changed,
        vanished=changes.vanished,
    )


@record
class Approval:
    """An approval of the change of a held run (`run_id`) of one job, by a user on a host, until `expires`."""

    id: int
    tenant: str
    spec: str
    run_id: int
    user: str
    host: str
    approved_at: datetime
    expires: datetime
    status: str = "waiting"  # waiting, used (by used_by, a run id), replaced (by a later approval)
    used_by: int | None = None
    change: Change | None = None  # read only when it is to be compared

    @property
    def by(self) -> str:
        """`alice@host`."""
        return f"{self.user}@{self.host}"

    def expired(self, at: datetime) -> bool:
        """Whether the approval no longer applies at `at`."""
        return at >= self.expires

    def until(self) -> str:
        """Its expiry as reports show it (UTC)."""
        return shown(self.expires)

    def to_json(self) -> dict[str, object]:
        """The approval as `history --format json` and `approve --format json` give it."""
        return {
            "tenant": self.tenant,
            "spec": self.spec,
            "held_run": self.run_id,
            "user": self.user,
            "host": self.host,
            "approved_at": self.approved_at.isoformat(),
            "expires_at": self.expires.isoformat(),
            "status": self.status,
            "used_by_run": self.used_by,
        }


def refusal(approval: Approval, change: Change, at: datetime) -> str | None:
    """Why `approval` does not let `change` through at `at` (expired, or not covering it); None if it does."""
    if approval.expired(at):
        return f"it expired at {approval.until()}"
    outside = approval.change.outside(change) if approval.change is not None else change.users
    if outside:
        users = change.users
        return (
            f"it does not cover this change: {number(outside)} of its {plural(users, 'user')} are not in the "
            "approved one"
        )
    return None


def shown(moment: datetime) -> str:
    """A time as reports show it: `2026-12-02 14:50:00Z`."""
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def duration(text: str) -> timedelta:
    """`30m`, `12h`, `2d` (or `90s`) as a timedelta; UsageError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise UsageError(
            f"--for {text!r} is not a duration",
            hint="give a number and a unit: 30m, 12h, 2d (s, m, h or d; more than 0)",
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def who() -> tuple[str, str]:
    """The operating system user and host approving: getpass's user (from LOGNAME, USER and the like, then
    the password database), or, in a container whose user has no entry, `uid N`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (KeyError before Python 3.13)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return user, socket.gethostname()
