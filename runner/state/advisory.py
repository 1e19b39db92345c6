"""The lock kind of a PostgreSQL store: a session advisory lock per tenant and spec.

The lock is held on a connection of its own for the run (out of the store's pool, and back in it once the
lock is let go), and released when that connection drops. The holder's name is its session's
application_name (`infiniti-sync PID SINCE HOST`), which goes with the session: whoever sees the lock taken
sees the name too. The keys are the store's own (its schema, the namespace, is part of them), so two stores
in one database never meet each other's locks. A transaction lock of the same kind keeps two runners from
creating or migrating a store at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from runner.errors import Where
from runner.records import record
from runner.state.backend import failure
from runner.state.connections import Connections, Session
from runner.state.locks import UNKNOWN, describe, held, holder

_NAME_LIMIT = 63  # characters of a PostgreSQL application_name
_NAME_SESSION = "SELECT set_config('application_name', ?, false)"
_IDLE_SESSION = "infiniti-sync"
_SESSION_NAME = re.compile(r"infiniti-sync (\d+) (\d{8}T\d{6}Z) (.+)")
_LOCK_HOLDER = (
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint = ? AND l.objid::bigint = ?"
)


@record
class AdvisoryLocks:
    """The advisory locks of the PostgreSQL store shown as `display`, living in schema `namespace`;
    `errors` are the driver's."""

    connections: Connections
    namespace: str
    display: str
    errors: tuple[type[Exception], ...]

    def take(self, tenant: str, spec: str, deadline: float, where: Where) -> AdvisoryLock:
        """Take the lock of this tenant and spec on a connection of its own, trying until `deadline`."""
        key = lock_key(json.dumps([self.namespace, tenant, spec]))  # the store's own locks
        stack = contextlib.ExitStack()
        try:
            session = stack.enter_context(self.connections.session())
        except self.errors as err:
            raise failure(self.display, "cannot connect", err) from err
        try:
            with stack:  # given back to the pool unless the lock is taken
                _take(session, key, deadline, where)
                holding = stack.pop_all()
        except self.errors as err:
            raise failure(self.display, "cannot take the lock", err) from err
        return AdvisoryLock(holding, session, key, self.display, self.errors)

    def schema(self, session: Session) -> None:
        """Inside the transaction that creates or migrates the schema: one runner at a time."""
        key = lock_key(json.dumps([self.namespace, "schema"]))
        session.execute("SELECT pg_advisory_xact_lock(?)", (key,))


@record
class AdvisoryLock:
    """An advisory lock taken, held by the session `holding` keeps out of the pool."""

    holding: contextlib.ExitStack
    session: Session
    key: int
    display: str
    errors: tuple[type[Exception], ...]

    def release(self) -> None:
        """Let go of the lock and the session's name; the connection goes back to the pool, or is closed
        when it failed (which ends the session, and its lock with it)."""
        try:
            with self.holding:
                self.session.execute("SELECT pg_advisory_unlock(?)", (self.key,))
                self.session.execute(_NAME_SESSION, (_IDLE_SESSION,))
        except self.errors as err:  # the session ends with the connection, and its lock too
            raise failure(self.display, "cannot release the lock", err) from err


def lock_key(name: str) -> int:
    """The 64-bit advisory lock key of `name`."""
    digest = hashlib.blake2b(f"infiniti-sync:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _take(session: Session, key: int, deadline: float, where: Where) -> None:
    while not _try(session, key):
        if time.monotonic() >= deadline:
            who = _holder(session, key)
            if who is not None:
                raise held(where, who)
            continue  # released meanwhile: try again
        time.sleep(0.2)


def _try(session: Session, key: int) -> bool:
    """Name the session after this process, then try to take the lock: whoever sees the lock taken
    sees its holder's name too."""
    session.execute(_NAME_SESSION, (_session_name(holder()),))
    row = session.first("SELECT pg_try_advisory_lock(?)", (key,))
    return bool(row and row[0])


def _session_name(data: Mapping[str, Any]) -> str:
    """`infiniti-sync PID SINCE HOST` in the 63 characters PostgreSQL keeps (a long host keeps its end)."""
    since = datetime.fromisoformat(data["since"]).strftime("%Y%m%dT%H%M%SZ")
    head = f"{_IDLE_SESSION} {data['pid']} {since} "
    host = str(data["host"]).encode("ascii", "replace").decode()
    room = _NAME_LIMIT - len(head)
    return head + (host if len(host) <= room else "..." + host[-(room - 3) :])


def _holder(session: Session, key: int) -> str | None:
    """Who holds an advisory lock, from the name of its session; None when nobody holds it any more."""
    high, low = divmod(key & 0xFFFF_FFFF_FFFF_FFFF, 1 << 32)
    row = session.first(_LOCK_HOLDER, (high, low))
    if row is None:
        return None
    match = _SESSION_NAME.fullmatch(row[0] or "")
    if match is None:
        return UNKNOWN
    pid, since, host = match.groups()
    started = datetime.strptime(since, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return describe({"host": host, "pid": pid, "since": started.isoformat()})
