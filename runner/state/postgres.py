"""A state store in PostgreSQL, shared by many runners, through psycopg (version 3): its connections, its
namespace, its writes, its locks.

A store is one schema, the namespace (the first of the URL's search_path, as `current_schema()` says); its
locks are its own (runner.state.advisory). The URL is read as SQLAlchemy reads it (its URL parser and its
psycopg dialect's connection arguments, imported only here: a SQLite store never imports SQLAlchemy), so
every URL that worked before works the same. A connection that waited in the pool is pinged before it is
used again, as SQLAlchemy's pool_pre_ping did. The fingerprints of a run are written with COPY into a
temporary table, then one INSERT ... SELECT (ON CONFLICT only when rows of the job exist already).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from runner import stateurl
from runner.dburl import engine_url
from runner.errors import UsageError
from runner.records import record
from runner.secrets import redact, remember_url
from runner.spec import Secret
from runner.state import snapshot
from runner.state.advisory import AdvisoryLocks
from runner.state.backend import failure
from runner.state.connections import Connections, Session

_INCOMING_NAME = "infiniti_sync_incoming"
_INCOMING = (
    f"CREATE TEMPORARY TABLE {_INCOMING_NAME} (username text NOT NULL, user_hash bigint NOT NULL, "
    "fingerprint bigint NOT NULL) ON COMMIT DROP"
)
_ANY_ROW = "SELECT 1 FROM infiniti_sync_synced WHERE tenant = ? AND spec = ? LIMIT 1"
_FROM_INCOMING = (
    "INSERT INTO infiniti_sync_synced (tenant, spec, username, fingerprint, run_id, user_hash) "
    f"SELECT ?, ?, username, fingerprint, ?, user_hash FROM {_INCOMING_NAME}"
)
_ON_CONFLICT = (
    " ON CONFLICT (tenant, spec, username) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, run_id = excluded.run_id, user_hash = excluded.user_hash"
)
_INSTALL_HINT = "postgresql:// uses psycopg, which pip install 'infiniti-sync[postgres]' installs"
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open
TYPES = {"id": "SERIAL", "time": "TIMESTAMP WITH TIME ZONE", "bytes": "BYTEA"}


_ORDER = "ORDER BY fingerprint, user_hash"  # the order of runner.changes.Known's arrays
_BUILD_SNAPSHOT = (
    "INSERT INTO infiniti_sync_snapshots (tenant, spec, run_id, users, fingerprints, hashes) "
    "SELECT ?, ?, ?, COUNT(*), "
    f"COALESCE(string_agg(int8send(fingerprint), ''::bytea {_ORDER}), ''::bytea), "
    f"COALESCE(string_agg(int8send(user_hash), ''::bytea {_ORDER}), ''::bytea) "
    "FROM infiniti_sync_synced WHERE tenant = ? AND spec = ?"
)


@record
class PostgresBackend:
    """The PostgreSQL store shown as `display`, in schema `namespace`."""

    connections: Connections
    display: str
    namespace: str
    errors: tuple[type[Exception], ...]
    types = TYPES

    @classmethod
    def open(cls, location: str, state: str | Secret) -> PostgresBackend:
        """The store at URL `location` (the project's `state`, or the value of its secret)."""
        remember_url(location)
        stateurl.check(location, what="state", hint=f"a PostgreSQL URL looks like {stateurl.EXAMPLE}")
        what = "state" if isinstance(state, str) else f"state ({state})"
        display, arguments = _arguments(location, what)
        try:
            import psycopg
        except ImportError as err:
            raise UsageError(
                f"{what}: the URL cannot be used: {redact(str(err))}", hint=_INSTALL_HINT
            ) from err
        connect = functools.partial(psycopg.connect, **arguments, autocommit=True)
        connections = Connections(connect, _alive, "%s", _begin)
        try:
            with connections.session() as session:
                row = session.first("SELECT current_schema()")
        except psycopg.Error as err:
            connections.close()
            raise failure(display, "cannot open", err) from err
        assert row is not None
        return cls(connections, display, str(row[0]), (psycopg.Error,))

    @property
    def locks(self) -> AdvisoryLocks:
        """Session advisory locks keyed by the namespace, the tenant and the spec."""
        return AdvisoryLocks(self.connections, self.namespace, self.display, self.errors)

    @contextlib.contextmanager
    def migrating(self) -> Iterator[Session]:
        """A transaction that first takes the schema's transaction advisory lock."""
        with self.connections.transaction() as session:
            self.locks.schema(session)
            yield session

    def present(self, session: Session, names: Sequence[str]) -> set[str]:
        """Those of `names` a table or index visible on the search_path has (as SQLAlchemy's has_table
        asked)."""
        sql = "SELECT relname FROM pg_class WHERE relname = ANY(?) AND pg_table_is_visible(oid)"
        return {row[0] for row in session.all(sql, (list(names),))}

    def columns(self, session: Session, table: str) -> set[str]:
        """The columns of the table the search_path finds."""
        sql = (
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped"
        )
        return {row[0] for row in session.all(sql, (table,))}

    def moment(self, when: datetime) -> datetime:
        """psycopg writes an aware datetime as timestamptz itself."""
        return when

    def insert(self, session: Session, sql: str, params: Sequence[Any]) -> int:
        """The row's id, as RETURNING tells it."""
        cursor = session.run(f"{sql} RETURNING id", params)
        try:
            return int(cursor.fetchone()[0])
        finally:
            cursor.close()

    def blob_array(self, session: Session, table: str, column: str, job: Sequence[str]) -> array[int] | None:
        """Read in binary: a bytea comes as its bytes, not as hex text twice its size to be decoded."""
        with session.raw.cursor(binary=True) as cursor:
            cursor.execute(
                session.sql(f"SELECT {column} FROM {table} WHERE tenant = ? AND spec = ?"), tuple(job)
            )
            row = cursor.fetchone()
        return None if row is None else snapshot.unpack(row[0])

    def build_snapshot(self, session: Session, job: tuple[str, str, int]) -> bool:
        """One INSERT ... SELECT: the server sorts the rows and joins each one's int8send (big-endian, as
        runner.state.snapshot packs), so that no row travels to be packed here."""
        tenant, spec, run_id = job
        session.execute(_BUILD_SNAPSHOT, (tenant, spec, run_id, tenant, spec))
        return True

    def write_blob_array(
        self, session: Session, table: str, column: str, job: Sequence[str], values: array[int]
    ) -> None:
        """One UPDATE with the blob as a binary parameter."""
        session.execute(
            f"UPDATE {table} SET {column} = ? WHERE tenant = ? AND spec = ?", (snapshot.pack(values), *job)
        )

    def stream(self, session: Session, sql: str, params: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
        """A server-side cursor (psycopg would otherwise fetch every row at once), inside the session's
        transaction, or one of its own when none is open (a server-side cursor lives in a transaction)."""
        own = session.raw.info.transaction_status == _IDLE
        if own:
            session.raw.execute(session.sql("BEGIN"))
        try:
            with session.raw.cursor(name="infiniti_sync_read") as cursor:
                cursor.execute(session.sql(sql), tuple(params))
                while chunk := cursor.fetchmany(size):
                    yield chunk
        finally:
            if own:
                with contextlib.suppress(*self.errors):
                    session.raw.execute("COMMIT")

    def write(
        self, session: Session, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int, int]]
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
        with session.raw.cursor() as cursor:
            cursor.execute(session.sql(_INCOMING))
            with cursor.copy(session.sql(f"COPY {_INCOMING_NAME} FROM STDIN (FORMAT BINARY)")) as copy:
                copy.set_types(["text", "int8", "int8"])
                for username, fp, h in itertools.chain((first,), rows):
                    copy.write_row((username, h, fp))
        upsert = session.first(_ANY_ROW, (tenant, spec)) is not None
        session.execute(_FROM_INCOMING + (_ON_CONFLICT if upsert else ""), (tenant, spec, run_id))


def _arguments(location: str, what: str) -> tuple[str, dict[str, Any]]:
    """The store as messages show it and psycopg's connection arguments, from the URL as SQLAlchemy reads
    it (UsageError for a URL of another driver, or one SQLAlchemy cannot read)."""
    from sqlalchemy.exc import ArgumentError

    try:
        url = engine_url(location)
        dialect = url.get_dialect()
        if url.get_driver_name() != "psycopg":
            raise ValueError(
                f"the state store speaks to PostgreSQL through psycopg, not {url.get_driver_name()}"
            )
        _, arguments = dialect().create_connect_args(url)
    except (ValueError, ImportError, ArgumentError) as err:  # a driver not installed, a bad query
        raise UsageError(f"{what}: the URL cannot be used: {redact(str(err))}", hint=_INSTALL_HINT) from err
    return url.render_as_string(hide_password=True), dict(arguments)


def _alive(raw: Any) -> bool:
    """Whether a connection that waited in the pool still answers (its server may have dropped it)."""
    try:
        raw.execute("SELECT 1")
    except Exception:  # any failure: the pool makes a new connection instead
        return False
    return True


def _begin(raw: Any) -> None:
    raw.execute("BEGIN")
