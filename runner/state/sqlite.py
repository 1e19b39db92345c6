"""A state store in a SQLite file (the default), through the stdlib sqlite3: its pragmas, its private
file, its writes, its locks.

The file is created readable only by its owner (it lists users; mode 0600 on POSIX, on Windows its
folder's ACL) and set to WAL mode with full syncs by the runner that creates or writes it; a reader sets
nothing. A transaction begins IMMEDIATE, taking the write lock at once (waiting up to a minute for another
writer), so that it never fails halfway on a lock another writer took after it read. Moments are text,
`YYYY-MM-DD HH:MM:SS.ffffff` in UTC, as SQLAlchemy's DateTime wrote them in stores made before. The locks
are small SQLite files in the `locks` folder beside it (runner.state.filelock), which also keep two runners
from creating the schema at once.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sqlite3
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.errors import StateError
from runner.records import record
from runner.state import snapshot
from runner.state.backend import ROWS_OF_JOB
from runner.state.connections import Connections, Session
from runner.state.filelock import FileLocks

_BLOB_CHUNK = 1 << 20  # bytes of a snapshot's blob read or written at a time
_SORT_HELPERS = max(0, min(3, (os.cpu_count() or 1) - 1))  # SQLite's sorter threads: none on one core
_BUSY_SECONDS = 60  # how long a statement waits for another connection's lock
_CHUNK = 5000  # fingerprints written at a time
_UPSERT = (
    "INSERT INTO infiniti_sync_synced (tenant, spec, username, fingerprint, run_id, user_hash) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, spec, username) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, run_id = excluded.run_id, user_hash = excluded.user_hash"
)
TYPES = {"id": "INTEGER", "time": "DATETIME", "bytes": "BLOB"}


@record
class SQLiteBackend:
    """The SQLite file shown as `display`."""

    connections: Connections
    display: str
    locks: FileLocks
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    types = TYPES

    @classmethod
    def open(cls, location: str, *, create: bool) -> SQLiteBackend:
        """The file at `location`; with `create`, made if missing and set up for writing."""
        path = Path(location)
        if create:  # a reader sets nothing: WAL mode is the file's own once its creator set it
            _create_private(path)
        connections = Connections(lambda: _connect(path, create=create), _alive, "?", _begin)
        return cls(connections, str(path), FileLocks(path.parent / "locks", str(path)))

    def recording(self, session: Session) -> None:
        """Nothing to mark: a snapshot is checked by the count of its job's rows."""

    def guard(self, session: Session) -> list[str]:
        """No trigger: the count of a job's rows (cheap in SQLite, its index's B-tree) checks a snapshot."""
        return []

    def edits(self, session: Session, version: int) -> int | None:
        """Not counted."""
        return None

    def holds(self, version: int) -> str:
        """The snapshot's count is the count of its job's rows (a row deleted or added by hand)."""
        return ROWS_OF_JOB

    @contextlib.contextmanager
    def migrating(self) -> Iterator[Session]:
        """A transaction inside the schema's lock file."""
        with self.locks.schema(), self.connections.transaction() as session:
            yield session

    def present(self, session: Session, names: Sequence[str]) -> set[str]:
        """Those of `names` sqlite_master lists."""
        return {row[0] for row in session.all("SELECT name FROM sqlite_master")} & set(names)

    def columns(self, session: Session, table: str) -> set[str]:
        """The columns PRAGMA table_info lists."""
        return {row[1] for row in session.all(f"PRAGMA table_info({table})")}

    def moment(self, when: datetime) -> str:
        """Text in UTC, always with microseconds: text sorts as time only when every value has them."""
        if when.tzinfo is not None:
            when = when.astimezone(UTC)
        return when.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def insert(self, session: Session, sql: str, params: Sequence[Any]) -> int:
        """The row's id, as sqlite3 tells it (RETURNING needs SQLite 3.35)."""
        cursor = session.run(sql, params)
        try:
            return int(cursor.lastrowid)
        finally:
            cursor.close()

    def stream(self, session: Session, sql: str, params: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
        """sqlite3 steps through the rows as they are fetched. A sort (the fingerprints, read in order) has
        helper threads on the other cores: measured at a million users, 0.3 s becomes 0.2 s, for 2 MB more
        while it sorts (a sort of text rows, an export's ORDER BY, gained nothing, so only here)."""
        session.raw.execute(f"PRAGMA threads = {_SORT_HELPERS}")
        cursor = session.run(sql, params)
        try:
            while chunk := cursor.fetchmany(size):
                yield chunk
        finally:
            cursor.close()

    def blob_array(self, session: Session, table: str, column: str, job: Sequence[str]) -> array[int] | None:
        """Read through sqlite3's incremental blob I/O, a megabyte at a time into the array. A row changed
        by a writer meanwhile (SQLite then aborts the read) is as good as none: the caller reads the rows."""
        row = session.first(f"SELECT rowid FROM {table} WHERE tenant = ? AND spec = ?", job)
        if row is None:
            return None
        try:
            with session.raw.blobopen(table, column, row[0], readonly=True) as blob:
                return snapshot.unpack_chunks(iter(functools.partial(blob.read, _BLOB_CHUNK), b""))
        except sqlite3.OperationalError:
            return None

    def build_snapshot(self, session: Session, job: tuple[str, str, int], edits: int | None) -> bool:
        """SQLite has no way to write an integer's bytes: the caller makes it from the rows read in order."""
        return False

    def write_blob_array(
        self, session: Session, table: str, column: str, job: Sequence[str], values: array[int]
    ) -> None:
        """A blob of zeros of the right size, then filled through sqlite3's incremental blob I/O, a
        megabyte at a time."""
        key = "WHERE tenant = ? AND spec = ?"
        session.execute(f"UPDATE {table} SET {column} = zeroblob(?) {key}", (len(values) * 8, *job))
        row = session.first(f"SELECT rowid FROM {table} {key}", job)
        assert row is not None  # written in this transaction
        with session.raw.blobopen(table, column, row[0]) as blob:
            for chunk in snapshot.chunks(values, _BLOB_CHUNK // 8):
                blob.write(chunk)

    def write(
        self, session: Session, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int, int]]
    ) -> None:
        """Insert or update fingerprints through the driver's own executemany, in chunks."""
        rows = ((tenant, spec, u, fp, run_id, h) for u, fp, h in accepted)
        while batch := list(itertools.islice(rows, _CHUNK)):
            session.many(_UPSERT, batch)


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (the store begins its transactions itself), usable from the thread
    that takes it out of the pool; a writer's sets WAL mode and full syncs."""
    raw = sqlite3.connect(path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False)
    if create:
        _wal(raw)
        raw.execute("PRAGMA synchronous=FULL")
    return raw


def _wal(raw: sqlite3.Connection) -> None:
    """Set WAL mode, unless the file is in it already (every store but a new one). Runners that open a new
    store at once all set it: SQLite answers "database is locked" at once to one that asks while another
    changes the mode (its busy handler does not wait for that), so it asks again until the busy timeout."""
    if raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    _unlocked(raw, "PRAGMA journal_mode=WAL", first=0.01, most=0.01)


def _begin(raw: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting up to the busy timeout for another writer's lock in short steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ms and more between tries: a writer that holds the lock
    for a millisecond (a tenant's record and its sync) kept another runner's worker asleep for 3 to 8 ms,
    350 times over 1,000 tenants with `--jobs 2`. Here the first tries come a tenth of a millisecond apart,
    doubling to 5 ms; the busy handler is off only for this statement."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        _unlocked(raw, "BEGIN IMMEDIATE", first=0.0001, most=0.005)
    finally:
        raw.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")


def _unlocked(raw: sqlite3.Connection, statement: str, *, first: float, most: float) -> None:
    """Run `statement`, again while SQLite answers that the database is locked, until the busy timeout:
    `first` seconds between the first tries, doubling up to `most`."""
    pause, deadline = first, time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            raw.execute(statement)
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, most)


def _alive(_raw: sqlite3.Connection) -> bool:
    return True  # a file does not drop its connections


def _create_private(path: Path) -> None:
    """Create the SQLite file readable only by its owner (it lists users); SQLite gives its -wal and -shm
    files the same mode. An existing file keeps the mode it has. On Windows the mode means nothing: the
    file has the ACL of its folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as err:
        raise StateError(f"state store {path}: cannot create: {err.strerror}") from err
