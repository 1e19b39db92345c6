"""The runner's memory: runs, the fingerprint of every row Infiniti accepted, and one lock per job.

One code path (SQLAlchemy Core) serves a SQLite file (the default) and a PostgreSQL database shared by many
runners. The schema carries a version; the runner creates and migrates it, and refuses a store written by a
newer runner. A run is written in one transaction at its end (its history row and the fingerprints of the
rows Infiniti accepted), so a run killed at any moment leaves the store exactly as it was before it.

Locks: with SQLite, a lock file per tenant and spec beside the store (flock, released by the kernel when the
process dies; the holder's name is written in the file); with PostgreSQL, a session advisory lock on a
connection held for the run (released when the connection drops; the holder's name is that session's
application_name, which goes with it). Taking a lock writes nothing in the store, so a killed run leaves no
trace there. A second run meanwhile fails at once naming the holder, or waits `--wait` seconds.
A PostgreSQL store is one schema (the first of the URL's search_path); its locks are its own.

`plan` and `history` open a store read-only (`open_existing`): they never create, migrate or write one.

Schema version 2 keeps, beside each username, a 64-bit hash of it (`user_hash`), so that comparing reads
what the state knows, sorted by fingerprint, as two arrays (runner.changes.Known) rather than a Python
object per user. The store sorts them itself (SQLite in a temporary B-tree, PostgreSQL in a sort that
spills to disk): as fast, measured at a million users, as reading an index on the fingerprint, which
would double the cost of recording a first run (its rows come in random fingerprint order). `run`
migrates a version 1 store (made before the hash) when it opens it; `plan` on a version 1 store works all
the same, hashing the usernames it reads (slower, and it holds them while sorting), and says nothing: the
next `run` upgrades the store.
PostgreSQL writes the fingerprints with COPY into a temporary table, then one INSERT ... ON CONFLICT.

For tests only: `StateStore.before_commit`, None in production, is called inside `record`'s transaction
just before the commit, so that a test (tests/support/paused.py) can kill a runner in the middle of recording.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import re
import socket
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from runner import stateurl
from runner.changes import Known, user_hash
from runner.dburl import engine_url, unwritten_sqlite
from runner.errors import LockHeld, StateError, UsageError, Where
from runner.secrets import redact, remember_url, resolve
from runner.spec import Secret

SCHEMA_VERSION = 2
_CHUNK = 5000
_FETCH = 5000  # rows read at a time when streaming the fingerprints (some 600 kB of Python objects)
_ASK_NAMES = 2000  # at most so many vanished users are asked for by fingerprint; more: every user is read
_HOLDER_TRIES = 20  # reading who holds a lock file: the holder writes its name just after taking it
_NAME_LIMIT = 63  # characters of a PostgreSQL application_name

metadata = MetaData()
meta_table = Table(
    "infiniti_sync_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
runs_table = Table(
    "infiniti_sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(200), nullable=False, index=True),
    Column("spec", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("mode", String(20), nullable=False),
    Column("rows_read", Integer),
    Column("rows_sent", Integer),
    Column("processed", Integer),
    Column("created", Integer),
    Column("updated", Integer),
    Column("failed", Integer),
    Column("archive", Text),
    Column("message", Text),
    Column("host", String(255)),
    Column("pid", Integer),
)
synced_table = Table(
    "infiniti_sync_synced",
    metadata,
    Column("tenant", String(200), primary_key=True),
    Column("spec", String(200), primary_key=True),
    Column("username", String(255), primary_key=True),
    Column("fingerprint", BigInteger, nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("user_hash", BigInteger),  # runner.changes.user_hash(username); version 2 on, always written
)


@dataclass(frozen=True)
class RunRecord:
    """One finished run, as history shows it."""

    tenant: str
    spec: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    exit_code: int
    mode: str
    rows_read: int | None = None
    rows_sent: int | None = None
    processed: int | None = None
    created: int | None = None
    updated: int | None = None
    failed: int | None = None
    archive: str | None = None
    message: str | None = None
    host: str | None = None
    pid: int | None = None
    id: int | None = None


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def holder() -> dict[str, Any]:
    """Who this process is, for lock messages."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": now().isoformat(timespec="seconds")}


_UNKNOWN = "an unknown process"


def _holder_of(info: str | None) -> dict[str, Any] | None:
    """The holder a lock's info names, or None when it names none (not written yet, or garbled)."""
    try:
        data = json.loads(info or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not {"host", "pid", "since"} <= data.keys():
        return None
    return data


def _describe(data: Mapping[str, Any]) -> str:
    return f"host {data['host']}, process {data['pid']}, running since {data['since']}"


class StateStore:
    """The state store at a SQLite path or a PostgreSQL URL."""

    # Called inside record()'s transaction just before its commit; set only by tests.
    before_commit: ClassVar[Callable[[], None] | None] = None

    def __init__(self, engine: Engine, *, lock_dir: Path | None, display: str):
        self.engine = engine
        self.lock_dir = lock_dir
        self.display = display
        self.is_postgres = engine.dialect.name == "postgresql"
        self.namespace = ""  # PostgreSQL: the schema the store lives in
        self.version = SCHEMA_VERSION  # a read-only open may find an older store: see known()

    @classmethod
    def open(cls, state: str | Secret, *, environ: Mapping[str, str]) -> StateStore:
        """Open (creating or migrating) the store named by the project's `state`."""
        store = cls._connect(state, environ, create=True)
        try:
            store._migrate()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_existing(cls, state: str | Secret, *, environ: Mapping[str, str]) -> StateStore | None:
        """The store if it exists already, else None, for read-only commands: it is never created,
        migrated or written. A store written by a newer runner is refused as by `open`."""
        if unwritten_sqlite(state):
            return None
        store = cls._connect(state, environ, create=False)
        try:
            exists = store._check_existing()
        except BaseException:
            store.close()
            raise
        if not exists:
            store.close()
            return None
        return store

    @classmethod
    def _connect(cls, state: str | Secret, environ: Mapping[str, str], *, create: bool) -> StateStore:
        location = state if isinstance(state, str) else _from_secret(state, environ)
        if not stateurl.is_url(location):
            path = Path(location)
            engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})
            if create:  # a reader sets nothing: WAL mode is the file's own once its creator set it
                _create_private(path)
                event.listen(engine, "connect", _sqlite_pragmas)
            return cls(engine, lock_dir=path.parent / "locks", display=str(path))
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
        store = cls(engine, lock_dir=None, display=url.render_as_string(hide_password=True))
        try:
            with engine.connect() as conn:
                store.namespace = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        except SQLAlchemyError as err:
            store.close()
            raise store._fail("cannot open", err) from err
        return store

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def _fail(self, what: str, err: Exception) -> StateError:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        return StateError(f"state store {self.display}: {what}: {reason}")

    def _migrate(self) -> None:
        """Create the schema, or check its version, one runner at a time: a newer store is refused
        before anything in it is touched."""
        try:
            with self._schema_lock(), self.engine.begin() as conn:
                if self.is_postgres:
                    key = _lock_key(json.dumps([self.namespace, "schema"]))
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                version = self._version(conn)
                if version is not None and version > SCHEMA_VERSION:
                    raise self._newer(version)
                metadata.create_all(conn, checkfirst=True)
                if version is None:
                    conn.execute(insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION)))
                elif version < SCHEMA_VERSION:
                    _upgrade(conn)
        except SQLAlchemyError as err:
            raise self._fail("cannot open", err) from err

    def _check_existing(self) -> bool:
        """Whether the store has been created (refusing one of a newer runner), without writing."""
        try:
            with self.engine.connect() as conn:
                version = self._version(conn)
        except SQLAlchemyError as err:
            raise self._fail("cannot open", err) from err
        if version is not None and version > SCHEMA_VERSION:
            raise self._newer(version)
        self.version = version or SCHEMA_VERSION
        return version is not None

    def _version(self, conn: Any) -> int | None:
        """The store's schema version; None when the store has not been created yet."""
        if not inspect(conn).has_table(meta_table.name):
            return None
        row = conn.execute(select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
        return int(row[0]) if row else None

    def _newer(self, version: int) -> StateError:
        return StateError(
            f"state store {self.display} was written by a newer infiniti-sync "
            f"(schema version {version}; this runner knows up to {SCHEMA_VERSION})",
            hint="upgrade infiniti-sync here; an older runner must not change a newer store",
        )

    @contextlib.contextmanager
    def _schema_lock(self) -> Iterator[None]:
        """With SQLite, a file lock around creating the schema: SQLite commits each CREATE TABLE on its
        own, so two runners starting on a new store at once would both try to create it."""
        if self.lock_dir is None:
            yield
            return
        try:
            self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.lock_dir / "schema.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise StateError(f"state store {self.display}: cannot create its lock: {err.strerror}") from err
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # --- reading ------------------------------------------------------------------------------

    def known(self, tenant: str, spec: str) -> Known:
        """What Infiniti last accepted for this tenant and spec, as comparing reads it: fingerprints and
        username hashes streamed in fingerprint order (sorted by the store) into two arrays, 16 bytes a
        user, never a Python object per user; usernames are read afterwards, only those of users the
        file no longer has.

        A version 1 store (opened read-only by `plan`, which must not migrate it) has no hashes: its
        usernames are hashed here, which is slower and holds them while sorting; `run` upgrades it."""
        names = functools.partial(self._names, tenant, spec)
        if self.version < SCHEMA_VERSION:
            rows = self._rows(_NAMES, (tenant, spec))
            return Known.of_rows(((fp, user_hash(u)) for fp, u in rows), names)
        fingerprints, hashes = array("q"), array("q")
        for chunk in self._chunks(_KNOWN, (tenant, spec)):
            prints, found = zip(*chunk, strict=True)
            fingerprints.extend(prints)
            hashes.extend(found)
        return Known(fingerprints, hashes, names)

    def _names(self, tenant: str, spec: str, wanted: Sequence[int]) -> Iterator[tuple[int, str]]:
        """(fingerprint, username) of the `wanted` fingerprints: asked for by fingerprint when they are
        few, else every user of the tenant and spec (the caller picks)."""
        if len(wanted) > _ASK_NAMES or self.version < SCHEMA_VERSION:
            yield from self._rows(_NAMES, (tenant, spec))
            return
        for start in range(0, len(wanted), _IN_LIST):
            part = list(wanted[start : start + _IN_LIST])
            marks = ", ".join(["?"] * len(part))
            yield from self._rows(f"{_NAMES} AND fingerprint IN ({marks})", (tenant, spec, *part))

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        for chunk in self._chunks(sql, params):
            yield from chunk

    def _chunks(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of a query (written with ? placeholders) in chunks, through the driver's own cursor
        (a server-side one in PostgreSQL), so that no driver holds every row at once."""
        errors = (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                if self.is_postgres:
                    cursor = raw.cursor(name="infiniti_sync_read")
                    sql = sql.replace("?", "%s")
                else:
                    cursor = raw.cursor()
                try:
                    cursor.execute(sql, tuple(params))
                    while chunk := cursor.fetchmany(_FETCH):
                        yield chunk
                finally:
                    cursor.close()
        except errors as err:
            raise self._fail("cannot read", err) from err

    def synced(self, tenant: str, spec: str) -> dict[str, int]:
        """Username -> fingerprint of every row Infiniti last accepted for this tenant and spec, as a
        dict: for tests and a look at a small store (comparing uses `known`, which holds no dict)."""
        try:
            with self.engine.connect() as conn:
                mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                rows = conn.exec_driver_sql(  # the driver's own rows: a hundred thousand in a blink
                    f"SELECT username, fingerprint FROM {synced_table.name} "
                    f"WHERE tenant = {mark} AND spec = {mark}",
                    (tenant, spec),
                )
                return dict(rows.all())
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

    def history(
        self, tenants: Iterable[str] = (), specs: Iterable[str] = (), limit: int = 20
    ) -> list[RunRecord]:
        """The most recent runs, newest first."""
        query = (
            select(runs_table).order_by(runs_table.c.finished_at.desc(), runs_table.c.id.desc()).limit(limit)
        )
        tenants, specs = list(tenants), list(specs)
        if tenants:
            query = query.where(runs_table.c.tenant.in_(tenants))
        if specs:
            query = query.where(runs_table.c.spec.in_(specs))
        try:
            with self.engine.connect() as conn:
                return [_record_of(row._mapping) for row in conn.execute(query)]
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

    # --- writing ------------------------------------------------------------------------------

    def record(
        self, run: RunRecord, accepted: Iterable[tuple[str, int]] = (), forget: Iterable[str] = ()
    ) -> int:
        """Write a finished run and the fingerprints of its accepted rows, and drop those of the
        `forget` usernames (gone from the source), in one transaction."""
        values = {k: v for k, v in run.__dict__.items() if k != "id"}
        try:
            with self.engine.begin() as conn:
                key = conn.execute(insert(runs_table).values(**values)).inserted_primary_key
                assert key is not None
                run_id = int(key[0])
                if self.is_postgres:
                    self._copy_upsert(conn, run.tenant, run.spec, run_id, accepted)
                else:
                    self._upsert(conn, run.tenant, run.spec, run_id, accepted)
                self._forget(conn, run.tenant, run.spec, list(forget))
                if StateStore.before_commit is not None:
                    StateStore.before_commit()
                return run_id
        except SQLAlchemyError as err:
            raise self._fail("cannot record the run", err) from err

    @staticmethod
    def _upsert(conn: Any, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int]]) -> None:
        """SQLite: insert or update fingerprints through the driver's own executemany, in chunks."""
        rows = ((tenant, spec, u, fp, run_id, user_hash(u)) for u, fp in accepted)
        while batch := list(itertools.islice(rows, _CHUNK)):
            conn.exec_driver_sql(_UPSERT, batch)

    @staticmethod
    def _copy_upsert(
        conn: Any, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int]]
    ) -> None:
        """PostgreSQL: COPY the fingerprints (binary) into a temporary table dropped at the commit, then
        one INSERT ... SELECT: the round trip per row of executemany is gone. When the store holds no
        row of this tenant and spec yet (a first run, a million rows perhaps), a plain INSERT, which
        costs PostgreSQL half of one ON CONFLICT: the job's lock keeps other writers of these rows out.
        The usernames are unique (the plan's duplicate check), as one INSERT ... SELECT needs."""
        rows = iter(accepted)
        first = next(rows, None)
        if first is None:
            return
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor:
            cursor.execute(_INCOMING)
            with cursor.copy(f"COPY {_INCOMING_NAME} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "int8"])
                for username, fp in itertools.chain((first,), rows):
                    copy.write_row((username, user_hash(username), fp))
            cursor.execute(_ANY_ROW, (tenant, spec))
            upsert = cursor.fetchone() is not None
            cursor.execute(_FROM_INCOMING + (_ON_CONFLICT if upsert else ""), (tenant, spec, run_id))

    def _forget(self, conn: Any, tenant: str, spec: str, usernames: list[str]) -> None:
        for start in range(0, len(usernames), _CHUNK):
            conn.execute(
                delete(synced_table).where(
                    synced_table.c.tenant == tenant,
                    synced_table.c.spec == spec,
                    synced_table.c.username.in_(usernames[start : start + _CHUNK]),
                )
            )

    # --- locks --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(
        self, tenant: str, spec: str, *, wait: float = 0.0, where: Where | None = None
    ) -> Iterator[None]:
        """Hold the lock of this tenant and spec for the duration of the block."""
        where = where or Where(tenant=tenant, spec=spec)
        deadline = time.monotonic() + max(0.0, wait)
        if self.is_postgres:
            with self._advisory(tenant, spec, deadline, where):
                yield
        else:
            with self._file_lock(tenant, spec, deadline, where):
                yield

    @contextlib.contextmanager
    def _file_lock(self, tenant: str, spec: str, deadline: float, where: Where) -> Iterator[None]:
        assert self.lock_dir is not None
        self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.lock_dir / f"{_safe(tenant)}--{_safe(spec)}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    raise _held(where, _file_holder(path))
                time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder()).encode(), 0)
            try:
                yield
            finally:
                try:
                    os.ftruncate(fd, 0)
                    _unflock(fd)
                except OSError as err:  # closing the file releases the lock all the same
                    why = f"lock file {path}: cannot release: {err.strerror}"
                    raise StateError(why, where=where) from err
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _advisory(self, tenant: str, spec: str, deadline: float, where: Where) -> Iterator[None]:
        key = _lock_key(json.dumps([self.namespace, tenant, spec]))  # the store's own locks
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as err:
            raise self._fail("cannot connect", err) from err
        with conn:
            try:
                self._take_advisory(conn, key, deadline, where)
            except SQLAlchemyError as err:
                raise self._fail("cannot take the lock", err) from err
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.execute(_NAME_SESSION, {"name": _IDLE_SESSION})
                except SQLAlchemyError as err:  # the session ends with the connection, and its lock too
                    raise self._fail("cannot release the lock", err) from err

    @staticmethod
    def _take_advisory(conn: Any, key: int, deadline: float, where: Where) -> None:
        while not _try_advisory(conn, key):
            if time.monotonic() >= deadline:
                who = _advisory_holder(conn, key)
                if who is not None:
                    raise _held(where, who)
                continue  # released meanwhile: try again
            time.sleep(0.2)


_IN_LIST = 500  # hashes in one IN list when asking for the names of vanished users
_KNOWN = (
    f"SELECT fingerprint, user_hash FROM {synced_table.name} WHERE tenant = ? AND spec = ? "
    "ORDER BY fingerprint"
)
_NAMES = f"SELECT fingerprint, username FROM {synced_table.name} WHERE tenant = ? AND spec = ?"
_UPSERT = (
    f"INSERT INTO {synced_table.name} (tenant, spec, username, fingerprint, run_id, user_hash) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, spec, username) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, run_id = excluded.run_id, user_hash = excluded.user_hash"
)
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


def _upgrade(conn: Any) -> None:
    """Migrate a version 1 store to this version inside the caller's transaction: add `user_hash`, fill
    it in chunks (by primary key, so each chunk reads on from the last), note the version.
    Each step may be done again: a SQLite store's ALTER TABLE commits on its own, so a migration killed
    after it leaves a version 1 store with the column, and the next run goes on from there."""
    table = synced_table
    if "user_hash" not in {c["name"] for c in inspect(conn).get_columns(table.name)}:
        conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN user_hash BIGINT"))
    key = (table.c.tenant, table.c.spec, table.c.username)
    fill = (
        update(table)
        .where(table.c.tenant == bindparam("k_tenant"))
        .where(table.c.spec == bindparam("k_spec"))
        .where(table.c.username == bindparam("k_username"))
        .values(user_hash=bindparam("k_hash"))
    )
    last: tuple[Any, ...] | None = None
    while True:
        query = select(*key).where(table.c.user_hash.is_(None)).order_by(*key).limit(_CHUNK)
        if last is not None:
            query = query.where(tuple_(*key) > tuple_(*last))
        rows = conn.execute(query).all()
        if not rows:
            break
        conn.execute(
            fill, [{"k_tenant": t, "k_spec": s, "k_username": u, "k_hash": user_hash(u)} for t, s, u in rows]
        )
        last = tuple(rows[-1])
    conn.execute(
        update(meta_table).where(meta_table.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
    )


def _file_holder(path: Path) -> str:
    """Who holds a lock file, as its holder wrote it. The holder writes just after taking the lock, and
    a runner killed with the lock leaves its name behind: wait a moment for a live holder's name."""
    for _ in range(_HOLDER_TRIES):
        info = ""
        with contextlib.suppress(OSError):
            info = path.read_text(encoding="utf-8")
        data = _holder_of(info)
        if data is not None and not _dead(data):
            return _describe(data)
        time.sleep(0.05)
    return _UNKNOWN


def _dead(data: Mapping[str, Any]) -> bool:
    """Whether the holder named is a process of this host that no longer runs."""
    if data["host"] != socket.gethostname() or not isinstance(data["pid"], int):
        return False
    try:
        os.kill(data["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


_NAME_SESSION = text("SELECT set_config('application_name', :name, false)")
_IDLE_SESSION = "infiniti-sync"
_SESSION_NAME = re.compile(r"infiniti-sync (\d+) (\d{8}T\d{6}Z) (.+)")
_LOCK_HOLDER = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid::bigint = :high AND l.objid::bigint = :low"
)


def _try_advisory(conn: Any, key: int) -> bool:
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


def _advisory_holder(conn: Any, key: int) -> str | None:
    """Who holds an advisory lock, from the name of its session; None when nobody holds it any more."""
    high, low = divmod(key & 0xFFFF_FFFF_FFFF_FFFF, 1 << 32)
    row = conn.execute(_LOCK_HOLDER, {"high": high, "low": low}).first()
    if row is None:
        return None
    match = _SESSION_NAME.fullmatch(row[0] or "")
    if match is None:
        return _UNKNOWN
    pid, since, host = match.groups()
    started = datetime.strptime(since, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return _describe({"host": host, "pid": pid, "since": started.isoformat()})


def _held(where: Where, who: str) -> LockHeld:
    return LockHeld(
        f"another run holds this tenant and spec: {who}",
        where=where,
        hint="wait for it to finish, or pass --wait SECONDS",
    )


def _try_flock(fd: int) -> bool:
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unflock(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _from_secret(state: Secret, environ: Mapping[str, str]) -> str:
    """The `state` a secret holds: a SQLite path or a PostgreSQL URL, checked as validate checks a literal
    one (UsageError otherwise, with the value kept out of every message)."""
    location = resolve(state, environ, what="state", mask=False)
    if stateurl.problem(location) is not None:
        remember_url(location)  # whatever it holds, it may hold a password
    hint = f"fix the value of {state}; a PostgreSQL URL looks like {stateurl.EXAMPLE}"
    stateurl.check(location, what=f"state ({state})", hint=hint)
    return location


def _lock_key(name: str) -> int:
    digest = hashlib.blake2b(f"infiniti-sync:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _create_private(path: Path) -> None:
    """Create the SQLite file readable only by its owner (it lists users); SQLite gives its -wal and -shm
    files the same mode. An existing file keeps the mode it has."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as err:
        raise StateError(f"state store {path}: cannot create: {err.strerror}") from err


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _record_of(row: Any) -> RunRecord:
    """A run record from a row (SQLite returns naive datetimes; they were written in UTC)."""
    values = dict(row)
    for key in ("started_at", "finished_at"):
        if isinstance(values[key], datetime) and values[key].tzinfo is None:
            values[key] = values[key].replace(tzinfo=UTC)
    return RunRecord(**values)
