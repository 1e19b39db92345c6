"""The lock kind of a PostgreSQL store: a session advisory lock per tenant and spec.

The lock is held on a connection of its own for the run, and released when that connection drops. The
holder's name is its session's application_name (`infiniti-sync PID SINCE HOST`), which goes with the
session: whoever sees the lock taken sees the name too. The keys are the store's own (its schema, the
namespace, is part of them), so two stores in one database never meet each other's locks. A transaction
lock of the same kind keeps two runners from creating or migrating a store at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from runner.errors import Where
from runner.state.backend import failure
from runner.state.locks import UNKNOWN, describe, held, holder

_NAME_LIMIT = 63  # characters of a PostgreSQL application_name
_NAME_SESSION = text("SELECT set_config('application_name', :name, false)")
_IDLE_SESSION = "infiniti-sync"
_SESSION_NAME = re.compile(r"infiniti-sync (\d+) (\d{8}T\d{6}Z) (.+)")
_LOCK_HOLDER = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint = :high AND l.objid::bigint = :low"
)


@dataclass(frozen=True)
class AdvisoryLocks:
    """The advisory locks of the PostgreSQL store shown as `display`, living in schema `namespace`."""

    engine: Engine
    namespace: str
    display: str

    def take(self, tenant: str, spec: str, deadline: float, where: Where) -> AdvisoryLock:
        """Take the lock of this tenant and spec on a connection of its own, trying until `deadline`."""
        key = lock_key(json.dumps([self.namespace, tenant, spec]))  # the store's own locks
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as err:
            raise failure(self.display, "cannot connect", err) from err
        try:
            _take(conn, key, deadline, where)
        except SQLAlchemyError as err:
            conn.close()
            raise failure(self.display, "cannot take the lock", err) from err
        except BaseException:
            conn.close()
            raise
        return AdvisoryLock(conn, key, self.display)

    def schema(self, conn: Connection) -> None:
        """Inside the transaction that creates or migrates the schema: one runner at a time."""
        key = lock_key(json.dumps([self.namespace, "schema"]))
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@dataclass(frozen=True)
class AdvisoryLock:
    """An advisory lock taken, held by the session of `conn`."""

    conn: Connection
    key: int
    display: str

    def release(self) -> None:
        """Let go of the lock and the session's name; the connection is closed in any case (which ends
        the session, and its lock with it)."""
        with self.conn:
            try:
                self.conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self.conn.execute(_NAME_SESSION, {"name": _IDLE_SESSION})
            except SQLAlchemyError as err:  # the session ends with the connection, and its lock too
                raise failure(self.display, "cannot release the lock", err) from err


def lock_key(name: str) -> int:
    """The 64-bit advisory lock key of `name`."""
    digest = hashlib.blake2b(f"infiniti-sync:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _take(conn: Connection, key: int, deadline: float, where: Where) -> None:
    while not _try(conn, key):
        if time.monotonic() >= deadline:
            who = _holder(conn, key)
            if who is not None:
                raise held(where, who)
            continue  # released meanwhile: try again
        time.sleep(0.2)


def _try(conn: Connection, key: int) -> bool:
    """Name the session after this process, then try to take the lock: whoever sees the lock taken
    sees its holder's name too."""
    conn.execute(_NAME_SESSION, {"name": _session_name(holder())})
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one())


def _session_name(data: Mapping[str, Any]) -> str:
    """`infiniti-sync PID SINCE HOST` in the 63 characters PostgreSQL keeps (a long host keeps its end)."""
    since = datetime.fromisoformat(data["since"]).strftime("%Y%m%dT%H%M%SZ")
    head = f"{_IDLE_SESSION} {data['pid']} {since} "
    host = str(data["host"]).encode("ascii", "replace").decode()
    room = _NAME_LIMIT - len(head)
    return head + (host if len(host) <= room else "..." + host[-(room - 3) :])


def _holder(conn: Connection, key: int) -> str | None:
    """Who holds an advisory lock, from the name of its session; None when nobody holds it any more."""
    high, low = divmod(key & 0xFFFF_FFFF_FFFF_FFFF, 1 << 32)
    row = conn.execute(_LOCK_HOLDER, {"high": high, "low": low}).first()
    if row is None:
        return None
    match = _SESSION_NAME.fullmatch(row[0] or "")
    if match is None:
        return UNKNOWN
    pid, since, host = match.groups()
    started = datetime.strptime(since, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return describe({"host": host, "pid": pid, "since": started.isoformat()})
