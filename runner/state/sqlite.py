"""A state store in a SQLite file (the default): its pragmas, its private file, its writes, its locks.

The file is created readable only by its owner (it lists users; mode 0600 on POSIX, on Windows its
folder's ACL) and set to WAL mode with full syncs by the runner that creates or writes it; a reader sets
nothing. The locks are small SQLite files in the `locks` folder beside it (runner.state.filelock), which
also keep two runners from creating the schema at once.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from runner.errors import StateError
from runner.state.filelock import FileLocks
from runner.state.schema import CHUNK, synced_table

_SORT_HELPERS = max(0, min(3, (os.cpu_count() or 1) - 1))  # SQLite's sorter threads: none on one core
_UPSERT = (
    f"INSERT INTO {synced_table.name} (tenant, spec, username, fingerprint, run_id, user_hash) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, spec, username) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, run_id = excluded.run_id, user_hash = excluded.user_hash"
)


@dataclass(frozen=True)
class SQLiteBackend:
    """The SQLite file shown as `display`."""

    engine: Engine
    display: str
    locks: FileLocks
    mark: str = "?"

    @classmethod
    def open(cls, location: str, *, create: bool) -> SQLiteBackend:
        """The file at `location`; with `create`, made if missing and set up for writing."""
        path = Path(location)
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})
        if create:  # a reader sets nothing: WAL mode is the file's own once its creator set it
            _create_private(path)
            event.listen(engine, "connect", _pragmas)
        return cls(engine, str(path), FileLocks(path.parent / "locks", str(path)))

    @contextlib.contextmanager
    def migrating(self) -> Iterator[Connection]:
        """A transaction inside the schema's lock file."""
        with self.locks.schema(), self.engine.begin() as conn:
            yield conn

    def cursor(self, raw: Any) -> Any:
        """sqlite3 steps through the rows as they are fetched. Its sort of the fingerprints (read in order)
        has helper threads on the other cores: measured at a million users, 0.3 s becomes 0.2 s, for 2 MB
        more while it sorts (a sort of text rows, an export's ORDER BY, gained nothing, so only here)."""
        raw.execute(f"PRAGMA threads = {_SORT_HELPERS}")
        return raw.cursor()

    def write(
        self, conn: Connection, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int, int]]
    ) -> None:
        """Insert or update fingerprints through the driver's own executemany, in chunks."""
        rows = ((tenant, spec, u, fp, run_id, h) for u, fp, h in accepted)
        while batch := list(itertools.islice(rows, CHUNK)):
            conn.exec_driver_sql(_UPSERT, batch)


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


def _pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
