"""A state store in PostgreSQL, shared by many runners: its engine, its namespace, its writes, its locks.

A store is one schema, the namespace (the first of the URL's search_path, as `current_schema()` says); its
locks are its own (runner.state.advisory). The fingerprints of a run are written with COPY into a temporary
table, then one INSERT ... SELECT (ON CONFLICT only when rows of the job exist already).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from runner import stateurl
from runner.dburl import engine_url
from runner.errors import UsageError
from runner.secrets import redact, remember_url
from runner.spec import Secret
from runner.state.advisory import AdvisoryLocks
from runner.state.backend import failure
from runner.state.schema import synced_table

_INCOMING_NAME = "infiniti_sync_incoming"
_INCOMING = (
    f"CREATE TEMPORARY TABLE {_INCOMING_NAME} (username text NOT NULL, user_hash bigint NOT NULL, "
    "fingerprint bigint NOT NULL) ON COMMIT DROP"
)
_ANY_ROW = f"SELECT 1 FROM {synced_table.name} WHERE tenant = %s AND spec = %s LIMIT 1"
_FROM_INCOMING = (
    f"INSERT INTO {synced_table.name} (tenant, spec, username, fingerprint, run_id, user_hash) "
    f"SELECT %s, %s, username, fingerprint, %s, user_hash FROM {_INCOMING_NAME}"
)
_ON_CONFLICT = (
    " ON CONFLICT (tenant, spec, username) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, run_id = excluded.run_id, user_hash = excluded.user_hash"
)


@dataclass(frozen=True)
class PostgresBackend:
    """The PostgreSQL store shown as `display`, in schema `namespace`."""

    engine: Engine
    display: str
    namespace: str
    mark: str = "%s"

    @classmethod
    def open(cls, location: str, state: str | Secret) -> PostgresBackend:
        """The store at URL `location` (the project's `state`, or the value of its secret)."""
        remember_url(location)
        stateurl.check(location, what="state", hint=f"a PostgreSQL URL looks like {stateurl.EXAMPLE}")
        try:
            url = engine_url(location)
            # Every job of `run --jobs N` holds a connection for its lock and briefly takes a second one:
            # the pool must never make a job wait for a connection another job's lock holds.
            engine = create_engine(url, pool_pre_ping=True, max_overflow=-1)
        except (ValueError, ImportError, ArgumentError) as err:  # a driver not installed, a bad query
            what = "state" if isinstance(state, str) else f"state ({state})"
            raise UsageError(
                f"{what}: the URL cannot be used: {redact(str(err))}",
                hint="postgresql:// uses psycopg, which pip install 'infiniti-sync[postgres]' installs",
            ) from err
        display = url.render_as_string(hide_password=True)
        try:
            with engine.connect() as conn:
                namespace = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        except SQLAlchemyError as err:
            engine.dispose()
            raise failure(display, "cannot open", err) from err
        return cls(engine, display, namespace)

    @property
    def locks(self) -> AdvisoryLocks:
        """Session advisory locks keyed by the namespace, the tenant and the spec."""
        return AdvisoryLocks(self.engine, self.namespace, self.display)

    @contextlib.contextmanager
    def migrating(self) -> Iterator[Connection]:
        """A transaction that first takes the schema's transaction advisory lock."""
        with self.engine.begin() as conn:
            self.locks.schema(conn)
            yield conn

    def cursor(self, raw: Any) -> Any:
        """A server-side cursor: psycopg would otherwise fetch every row at once."""
        return raw.cursor(name="infiniti_sync_read")

    def write(
        self, conn: Connection, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int, int]]
    ) -> None:
        """COPY the fingerprints (binary) into a temporary table dropped at the commit, then one
        INSERT ... SELECT: the round trip per row of executemany is gone. When the store holds no row of
        this tenant and spec yet (a first run, a million rows perhaps), a plain INSERT, which costs
        PostgreSQL half of one ON CONFLICT: the job's lock keeps other writers of these rows out.
        The usernames are unique (the plan's duplicate check), as one INSERT ... SELECT needs."""
        rows = iter(accepted)
        first = next(rows, None)
        if first is None:
            return
        raw: Any = conn.connection.dbapi_connection  # psycopg's own: its cursor copies
        with raw.cursor() as cursor:
            cursor.execute(_INCOMING)
            with cursor.copy(f"COPY {_INCOMING_NAME} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "int8"])
                for username, fp, h in itertools.chain((first,), rows):
                    copy.write_row((username, h, fp))
            cursor.execute(_ANY_ROW, (tenant, spec))
            upsert = cursor.fetchone() is not None
            cursor.execute(_FROM_INCOMING + (_ON_CONFLICT if upsert else ""), (tenant, spec, run_id))
