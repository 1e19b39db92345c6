"""The lock of a tenant and spec, as the store takes it: one small interface, two kinds.

A lock kind (`LockKind`) takes the lock of a tenant and spec by a deadline (`take`), or raises `LockHeld`
naming who holds it; what it returns (`Lock`) lets go of it (`release`). The kinds: the lock file beside a
SQLite store (runner.state.filelock) and the session advisory lock of a PostgreSQL store
(runner.state.advisory). Taking a lock writes nothing in the store, so a killed run leaves no trace there.

The holder naming is shared: `holder()` is who this process is, `describe` how a message names a holder,
`held` the error a second run gets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from runner.errors import LockHeld, Where

UNKNOWN = "an unknown process"


class Lock(Protocol):
    """A lock taken: held until released (or until its process dies, which releases it too)."""

    def release(self) -> None:
        """Let go of the lock (StateError when it cannot be released cleanly; it is freed all the same)."""


class LockKind(Protocol):
    """How a store locks a tenant and spec."""

    def take(self, tenant: str, spec: str, deadline: float, where: Where) -> Lock:
        """Take the lock, trying until `deadline` (time.monotonic()); LockHeld naming the holder after."""


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def holder() -> dict[str, Any]:
    """Who this process is, for lock messages."""
    return {"host": hostname(), "pid": os.getpid(), "since": now().isoformat(timespec="seconds")}


def hostname() -> str:
    """This machine's name. The socket module is imported only here, by a command that takes a lock or
    names a holder: `plan`, `due` and `history` read the state and never need it (it and the modules it
    imports cost a few milliseconds of each start-up)."""
    import socket

    return socket.gethostname()


def holder_of(info: str | None) -> dict[str, Any] | None:
    """The holder a lock's info names, or None when it names none (not written yet, or garbled)."""
    try:
        data = json.loads(info or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not {"host", "pid", "since"} <= data.keys():
        return None
    return data


def describe(data: Mapping[str, Any]) -> str:
    """A holder as messages name it."""
    return f"host {data['host']}, process {data['pid']}, running since {data['since']}"


def held(where: Where, who: str) -> LockHeld:
    """The error of a run that finds the lock held by `who`."""
    return LockHeld(
        f"another run holds this tenant and spec: {who}",
        where=where,
        hint="wait for it to finish, or pass --wait SECONDS",
    )
