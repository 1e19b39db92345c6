"""A state store in PostgreSQL, shared by many runners, through psycopg (version 3): its connections, its
namespace, its writes, its locks.

A store is one schema, the namespace (the first of the URL's search_path, as `current_schema()` says); its
locks are its own (runner.state.advisory). The URL is read as SQLAlchemy reads it (its URL parser and its
psycopg dialect's connection arguments, imported only here: a SQLite store never imports SQLAlchemy), so
every URL that worked before works the same. A connection that waited in the pool is pinged before it is
used again, as SQLAlchemy's pool_pre_ping did. The fingerprints of a run are written with COPY into a
temporary table, then one INSERT ... SELECT (ON CONFLICT only when rows of the job exist already).

Hand edits (schema version 5): a statement-level trigger on the rows (no transition tables: they cost a
second on a million-row INSERT), AFTER INSERT, UPDATE, DELETE and TRUNCATE, fired even under
session_replication_role = replica, counts every writing statement whose transaction is not a runner's
record (`recording` sets the transaction's `infiniti_sync.recording`), in the meta row `hand_edits`, made by
the first hand edit. Runners of different jobs never wait on that row. Each snapshot keeps the count read
before its rows were written; it is trusted while the count is the same and the triggers are there: O(1),
where counting a job's million rows cost 0.1 s, and a fingerprint changed by hand is noticed too.
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
from runner.state.backend import ROWS_OF_JOB, failure
from runner.state.connections import Connections, Session
from runner.state.schema import EDITS

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


_TRIGGERS = ("infiniti_sync_hand_edits", "infiniti_sync_hand_truncates")
_COUNTING = (  # the function lives in the store's schema (DROP SCHEMA ... CASCADE removes it)
    "CREATE OR REPLACE FUNCTION infiniti_sync_hand_edit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF current_setting('infiniti_sync.recording', true) IS DISTINCT FROM 'on' THEN "
    "EXECUTE 'INSERT INTO ' || quote_ident(TG_TABLE_SCHEMA) || '.infiniti_sync_meta AS m (\"key\", value) "
    "VALUES (''hand_edits'', ''1'') ON CONFLICT (\"key\") DO UPDATE "
    "SET value = CAST(CAST(m.value AS BIGINT) + 1 AS TEXT)'; "
    "END IF; RETURN NULL; END $$"
)
_EVENTS = {_TRIGGERS[0]: "INSERT OR UPDATE OR DELETE", _TRIGGERS[1]: "TRUNCATE"}
_GUARDED = (
    "(SELECT COUNT(*) FROM pg_trigger WHERE tgrelid = to_regclass('infiniti_sync_synced') "
    f"AND tgname IN ('{_TRIGGERS[0]}', '{_TRIGGERS[1]}') AND tgenabled = 'A') = 2"
)
_EDITS = (
    "(SELECT COALESCE(MAX(CAST(m.value AS BIGINT)), 0) FROM infiniti_sync_meta m "
    "WHERE m.\"key\" = 'hand_edits')"
)
_ORDER = "ORDER BY fingerprint, user_hash"  # the order of runner.changes.Known's arrays
_BUILD_SNAPSHOT = (
    "INSERT INTO infiniti_sync_snapshots (tenant, spec, run_id, users, fingerprints, hashes, hand_edits) "
    "SELECT ?, ?, ?, COUNT(*), "
    f"COALESCE(string_agg(int8send(fingerprint), ''::bytea {_ORDER}), ''::bytea), "
    f"COALESCE(string_agg(int8send(user_hash), ''::bytea {_ORDER}), ''::bytea), ? "
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

    def build_snapshot(self, session: Session, job: tuple[str, str, int], edits: int | None) -> bool:
        """One INSERT ... SELECT: the server sorts the rows and joins each one's int8send (big-endian, as
        runner.state.snapshot packs), so that no row travels to be packed here."""
        tenant, spec, run_id = job
        session.execute(_BUILD_SNAPSHOT, (tenant, spec, run_id, edits, tenant, spec))
        return True

    def recording(self, session: Session) -> None:
        """The transaction's own setting, which the trigger reads: gone at its end."""
        session.execute("SELECT set_config('infiniti_sync.recording', 'on', true)")

    def guard(self, session: Session) -> list[str]:
        """The function and both triggers, made again when either is missing or not always enabled (dropped
        or disabled by hand: edits may have gone uncounted meanwhile, so every snapshot is untrusted)."""
        if session.first(f"SELECT {_GUARDED}") == (True,):
            return []
        made = [
            statement
            for name, events in _EVENTS.items()
            for statement in (
                f"DROP TRIGGER IF EXISTS {name} ON infiniti_sync_synced",
                f"CREATE TRIGGER {name} AFTER {events} ON infiniti_sync_synced "
                "FOR EACH STATEMENT EXECUTE FUNCTION infiniti_sync_hand_edit()",
                f"ALTER TABLE infiniti_sync_synced ENABLE ALWAYS TRIGGER {name}",
            )
        ]
        return [_COUNTING, *made, "UPDATE infiniti_sync_snapshots SET hand_edits = NULL"]

    def edits(self, session: Session, version: int) -> int | None:
        """The meta row's count (0 before the first hand edit); None in a store older than the count."""
        if version < EDITS:
            return None
        row = session.first(f"SELECT {_EDITS}")
        return None if row is None else int(row[0])

    def holds(self, version: int) -> str:
        """Nothing but runners wrote rows since the snapshot was written, and the triggers that count are
        there; a store older than the count (read-only by `plan`) counts the job's rows, as before."""
        if version < EDITS:
            return ROWS_OF_JOB
        return f"s.hand_edits = {_EDITS} AND {_GUARDED}"

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
