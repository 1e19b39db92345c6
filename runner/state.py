"""The runner's memory: runs, the fingerprint of every row Infiniti accepted, and one lock per job.

One code path (SQLAlchemy Core) serves a SQLite file (the default) and a PostgreSQL database shared by many
runners. The schema carries a version; the runner creates and migrates it, and refuses a store written by a
newer runner. A run is written in one transaction at its end (its history row and the fingerprints of the
rows Infiniti accepted), so a run killed at any moment leaves the store exactly as it was before it.

Locks: with SQLite, a lock file per tenant and spec beside the store (flock, released by the kernel when the
process dies); with PostgreSQL, a session advisory lock on a connection held for the run (released when the
connection drops). A second run meanwhile fails at once naming the holder, or waits `--wait` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from runner.dburl import engine_url, unwritten_sqlite
from runner.errors import LockHeld, StateError, Where
from runner.secrets import remember_url, resolve
from runner.spec import Secret

SCHEMA_VERSION = 1
_CHUNK = 5000

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
)
locks_table = Table(
    "infiniti_sync_locks",
    metadata,
    Column("tenant", String(200), primary_key=True),
    Column("spec", String(200), primary_key=True),
    Column("holder", Text, nullable=False),
)
COUNT_COLUMNS = ("processed", "created", "updated", "failed")


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


def _describe(info: str) -> str:
    try:
        data = json.loads(info)
        return f"host {data['host']}, process {data['pid']}, running since {data['since']}"
    except (ValueError, KeyError, TypeError):
        return "an unknown process"


class StateStore:
    """The state store at a SQLite path or a PostgreSQL URL."""

    def __init__(self, engine: Engine, *, lock_dir: Path | None, display: str):
        self.engine = engine
        self.lock_dir = lock_dir
        self.display = display
        self.is_postgres = engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, state: str | Secret, *, environ: Mapping[str, str]) -> StateStore:
        """Open (creating or migrating) the store named by the project's `state`."""
        location = state if isinstance(state, str) else resolve(state, environ, what="state", mask=False)
        if "://" in location:
            remember_url(location)
        if "://" not in location:
            path = Path(location)
            _create_private(path)
            engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_pragmas)
            store = cls(engine, lock_dir=path.parent / "locks", display=str(path))
        else:
            url = engine_url(location)
            if url.get_backend_name() != "postgresql":
                raise StateError(
                    f"state: {url.get_backend_name()} is not supported; use a SQLite path or a PostgreSQL URL"
                )
            engine = create_engine(url, pool_pre_ping=True)
            store = cls(engine, lock_dir=None, display=url.render_as_string(hide_password=True))
        store._migrate()
        return store

    @classmethod
    def open_existing(cls, state: str | Secret, *, environ: Mapping[str, str]) -> StateStore | None:
        """The store if it exists already (a SQLite file not yet written is None): for read-only commands."""
        if unwritten_sqlite(state):
            return None
        return cls.open(state, environ=environ)

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def _fail(self, what: str, err: Exception) -> StateError:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        return StateError(f"state store {self.display}: {what}: {reason}")

    def _migrate(self) -> None:
        try:
            with self.engine.begin() as conn:
                if self.is_postgres:  # one runner at a time creates or migrates a shared store
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key("schema")})
                metadata.create_all(conn, checkfirst=True)
                row = conn.execute(
                    select(meta_table.c.value).where(meta_table.c.key == "schema_version")
                ).first()
                version = int(row[0]) if row else None
                if version is None:
                    conn.execute(insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION)))
                elif version > SCHEMA_VERSION:
                    raise StateError(
                        f"state store {self.display} was written by a newer infiniti-sync "
                        f"(schema version {version}; this runner knows up to {SCHEMA_VERSION})",
                        hint="upgrade infiniti-sync here; an older runner must not change a newer store",
                    )
        except SQLAlchemyError as err:
            raise self._fail("cannot open", err) from err

    # --- reading ------------------------------------------------------------------------------

    def synced(self, tenant: str, spec: str) -> dict[str, int]:
        """Username -> fingerprint of every row Infiniti last accepted for this tenant and spec."""
        query = select(synced_table.c.username, synced_table.c.fingerprint).where(
            synced_table.c.tenant == tenant, synced_table.c.spec == spec
        )
        try:
            with self.engine.connect() as conn:
                return dict(conn.execute(query).all())
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

    def last(self, tenant: str, spec: str, outcomes: Iterable[str] = ("ok", "failed")) -> RunRecord | None:
        """The latest run of this tenant and spec with one of `outcomes`."""
        query = (
            select(runs_table)
            .where(
                runs_table.c.tenant == tenant,
                runs_table.c.spec == spec,
                runs_table.c.outcome.in_(list(outcomes)),
            )
            .order_by(runs_table.c.id.desc())
            .limit(1)
        )
        try:
            with self.engine.connect() as conn:
                row = conn.execute(query).first()
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err
        return None if row is None else _record_of(row._mapping)

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
                batch: list[tuple[str, str, str, int, int]] = []
                for username, fp in accepted:
                    batch.append((run.tenant, run.spec, username, fp, run_id))
                    if len(batch) >= _CHUNK:
                        self._upsert(conn, batch)
                        batch = []
                if batch:
                    self._upsert(conn, batch)
                self._forget(conn, run.tenant, run.spec, list(forget))
                return run_id
        except SQLAlchemyError as err:
            raise self._fail("cannot record the run", err) from err

    def _upsert(self, conn: Any, rows: list[tuple[str, str, str, int, int]]) -> None:
        """Insert or update fingerprints through the driver's own executemany (SQLite and PostgreSQL
        share the statement; only the placeholder differs): a million rows in seconds, not minutes."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO {synced_table.name} (tenant, spec, username, fingerprint, run_id) "
            f"VALUES ({', '.join([mark] * 5)}) ON CONFLICT (tenant, spec, username) "
            "DO UPDATE SET fingerprint = excluded.fingerprint, run_id = excluded.run_id",
            rows,
        )

    def _forget(self, conn: Any, tenant: str, spec: str, usernames: list[str]) -> None:
        for start in range(0, len(usernames), _CHUNK):
            conn.execute(
                delete(synced_table).where(
                    synced_table.c.tenant == tenant,
                    synced_table.c.spec == spec,
                    synced_table.c.username.in_(usernames[start : start + _CHUNK]),
                )
            )

    def forget(self, tenant: str, spec: str) -> None:
        """Drop the fingerprints of a tenant and spec (the next run sends everything)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(synced_table).where(synced_table.c.tenant == tenant, synced_table.c.spec == spec)
            )

    def count_runs(self) -> int:
        """How many runs are recorded (for tests and diagnostics)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(runs_table)).scalar_one())

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
                    info = ""
                    with contextlib.suppress(OSError):
                        info = path.read_text(encoding="utf-8")
                    raise _held(where, _describe(info))
                time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder()).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                _unflock(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _advisory(self, tenant: str, spec: str, deadline: float, where: Where) -> Iterator[None]:
        key = _lock_key(f"{tenant}/{spec}")
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as err:
            raise self._fail("cannot connect", err) from err
        with conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one():
                if time.monotonic() >= deadline:
                    info = conn.execute(
                        select(locks_table.c.holder).where(
                            locks_table.c.tenant == tenant, locks_table.c.spec == spec
                        )
                    ).scalar_one_or_none()
                    raise _held(where, _describe(info or ""))
                time.sleep(0.2)
            try:
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                statement = pg_insert(locks_table).values(
                    tenant=tenant, spec=spec, holder=json.dumps(holder())
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["tenant", "spec"], set_={"holder": statement.excluded.holder}
                    )
                )
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


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
