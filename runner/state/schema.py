"""The state store's schema: its tables, its version, creating it and migrating an older one.

The schema carries a version (`infiniti_sync_meta`); the runner creates and migrates it, and refuses a store
written by a newer runner before anything in it is touched. Version 2 keeps, beside each username, a 64-bit
hash of it (`user_hash`, runner.changes.user_hash), so that comparing reads the state as two arrays; a
version 1 store (made before the hash) is migrated by `run` when it opens it. Version 3 adds the change of
each job's last held run (`infiniti_sync_held`) and approvals of such changes (`infiniti_sync_approvals`,
runner.approve): new tables only, created by whichever command next opens the store for writing. Version 4
adds each job's snapshot (`infiniti_sync_snapshots`, runner.state.snapshot): what comparing reads, kept
beside the rows, made by the next run of each job. Version 5 adds to each snapshot the count of hand edits
(`hand_edits`) when it was written: in PostgreSQL a trigger counts every write of the rows not made by a
runner's `record` (runner.state.postgres), and a snapshot is trusted only while the count is the same; an
older snapshot (NULL) is not, until its job's next run. SQLite counts the job's rows instead.

The tables are data (`TABLES`): each column's name, type and nullability, the primary key and the indexes,
from which each backend's DDL is written (`create`). A type is SQL both databases read alike, or one of
`ID`, `TIME` and `BYTES`, which the backend names (runner.state.backend.Backend.types). The DDL is the one
SQLAlchemy's `create_all` wrote for the same tables before the store spoke to the drivers directly
(tests/test_state_schema.py holds the two equal), so stores made by either are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.changes import user_hash
from runner.errors import StateError
from runner.records import record
from runner.state.connections import Session

if TYPE_CHECKING:
    from runner.state.backend import Backend

SCHEMA_VERSION = 5
HASHED = 2  # the first version with `user_hash`
APPROVING = 3  # the first version with held changes and approvals
SNAPSHOTS = 4  # the first version with each job's snapshot
EDITS = 5  # the first version whose snapshots keep the count of hand edits
CHUNK = 5000  # rows written (or migrated, or forgotten) at a time

ID = "id"  # an integer primary key the database numbers
TIME = "time"  # a moment, written in UTC
BYTES = "bytes"
_QUOTED = {"key", "user", "new"}  # names SQL reserves in one database or the other


@record
class Column:
    """A column: its name, its type and whether it may be NULL."""

    name: str
    type: str
    null: bool = False


@record
class Index:
    """An index of a table, by name."""

    name: str
    columns: tuple[str, ...]


@record
class Table:
    """A table of the store."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @property
    def names(self) -> str:
        """Its columns, as a SELECT lists them."""
        return ", ".join(quoted(c.name) for c in self.columns)

    def create(self, types: Mapping[str, str]) -> list[str]:
        """Its CREATE TABLE and CREATE INDEX statements, with the backend's `types`."""
        columns = [
            f"{quoted(c.name)} {types.get(c.type, c.type)}{'' if c.null else ' NOT NULL'}"
            for c in self.columns
        ]
        key = ", ".join(quoted(name) for name in self.key)
        table = f"CREATE TABLE {self.name} ({', '.join(columns)}, PRIMARY KEY ({key}))"
        return [table, *(self.index(index) for index in self.indexes)]

    def index(self, index: Index) -> str:
        """The CREATE INDEX statement of one of its indexes."""
        return f"CREATE INDEX {index.name} ON {self.name} ({', '.join(index.columns)})"


def quoted(name: str) -> str:
    """A column's name as SQL writes it."""
    return f'"{name}"' if name in _QUOTED else name


def _columns(*columns: Column | str) -> tuple[Column, ...]:
    return tuple(Column(c, "VARCHAR(200)") if isinstance(c, str) else c for c in columns)


META = Table("infiniti_sync_meta", (Column("key", "VARCHAR(64)"), Column("value", "TEXT")), key=("key",))
RUNS = Table(
    "infiniti_sync_runs",
    _columns(
        Column("id", ID),
        "tenant",
        "spec",
        Column("started_at", TIME),
        Column("finished_at", TIME),
        Column("outcome", "VARCHAR(20)"),
        Column("exit_code", "INTEGER"),
        Column("mode", "VARCHAR(20)"),
        *(Column(name, "INTEGER", null=True) for name in ("rows_read", "rows_sent", "processed")),
        *(Column(name, "INTEGER", null=True) for name in ("created", "updated", "failed")),
        Column("archive", "TEXT", null=True),
        Column("message", "TEXT", null=True),
        Column("host", "VARCHAR(255)", null=True),
        Column("pid", "INTEGER", null=True),
    ),
    key=("id",),
    # The last start of every job (what is due, runner.due) read from the job index alone, never the table:
    # four times faster at a million runs in SQLite. Stores made before it get it when `run` next opens them.
    indexes=(
        Index("ix_infiniti_sync_runs_tenant", ("tenant",)),
        Index("ix_infiniti_sync_runs_job", ("tenant", "spec", "started_at")),
    ),
)
SYNCED = Table(
    "infiniti_sync_synced",
    _columns(
        "tenant",
        "spec",
        Column("username", "VARCHAR(255)"),
        Column("fingerprint", "BIGINT"),
        Column("run_id", "INTEGER"),
        Column(
            "user_hash", "BIGINT", null=True
        ),  # runner.changes.user_hash(username); version 2 on, always written
    ),
    key=("tenant", "spec", "username"),
)
_CHANGE = (  # a change (runner.approve.Change): sorted 64-bit integers, 8 bytes a user, and its counts
    Column("lines", BYTES),  # fingerprints of the lines it would have sent
    Column("gone", BYTES),  # username hashes of the users gone
    Column("new", "INTEGER"),
    Column("changed", "INTEGER"),
    Column("vanished", "INTEGER"),
)
# The change the last held run of a job found: one row a job, replaced by each held run.
HELD = Table(
    "infiniti_sync_held",
    _columns("tenant", "spec", Column("run_id", "INTEGER"), *_CHANGE),
    key=("tenant", "spec"),
)
# Approvals of a held run's change, kept for history; the change is copied in (the next held run replaces
# the job's held row) and dropped once the approval is used or replaced.
APPROVALS = Table(
    "infiniti_sync_approvals",
    _columns(
        Column("id", ID),
        "tenant",
        "spec",
        Column("run_id", "INTEGER"),  # the held run approved
        Column("user", "VARCHAR(255)"),
        Column("host", "VARCHAR(255)"),
        Column("approved_at", TIME),
        Column("expires", TIME),
        Column("status", "VARCHAR(20)"),  # waiting, used, replaced
        Column("used_by", "INTEGER", null=True),  # the run that sent the change
        *(Column(c.name, c.type, null=True) for c in _CHANGE[:2]),
        *_CHANGE[2:],
    ),
    key=("id",),
    indexes=(Index("ix_infiniti_sync_approvals_job", ("tenant", "spec")),),
)
# Each job's snapshot (runner.state.snapshot): the fingerprints of its rows ascending and their username
# hashes in the same order, as big-endian 64-bit integers, 16 bytes a user; written with the rows.
SNAPSHOT = Table(
    "infiniti_sync_snapshots",
    _columns(
        "tenant",
        "spec",
        Column("run_id", "INTEGER"),  # the run that wrote it
        Column("users", "INTEGER"),
        Column("fingerprints", BYTES),
        Column("hashes", BYTES),
        Column("hand_edits", "BIGINT", null=True),  # the count of hand edits then; NULL: unknown
    ),
    key=("tenant", "spec"),
)
TABLES = (META, RUNS, SYNCED, HELD, APPROVALS, SNAPSHOT)


@record
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

    def to_json(self, approved_by: str | None = None) -> dict[str, object]:
        """The run as `history --format json` gives it, with who approved it when an approval sent it
        (the approvals say that, not the run)."""
        data: dict[str, object] = dict(self.__dict__)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        data["approved_by"] = approved_by
        return data


RUN_FIELDS = tuple(c.name for c in RUNS.columns)


def aware(moment: Any) -> datetime:
    """A time read from the store as an aware datetime (SQLite keeps them as text, written in UTC)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def record_of(row: tuple[Any, ...]) -> RunRecord:
    """A run record from a row of the runs table's columns, in their order."""
    values = dict(zip(RUN_FIELDS, row, strict=True))
    for key in ("started_at", "finished_at"):
        values[key] = aware(values[key])
    return RunRecord(**values)


def newer(display: str, found: int) -> StateError:
    """The error of a store written by a newer runner."""
    return StateError(
        f"state store {display} was written by a newer infiniti-sync "
        f"(schema version {found}; this runner knows up to {SCHEMA_VERSION})",
        hint="upgrade infiniti-sync here; an older runner must not change a newer store",
    )


def version(session: Session, backend: Backend) -> int | None:
    """The store's schema version; None when the store has not been created yet."""
    if not backend.present(session, [META.name]):
        return None
    row = session.first(f'SELECT value FROM {META.name} WHERE "key" = ?', ("schema_version",))
    return int(row[0]) if row else None


def up_to_date(session: Session, backend: Backend, display: str) -> bool:
    """Whether the store has this version's schema, every table and index of it, so that opening it
    writes nothing and waits for no other writer; a newer store is refused."""
    found = version(session, backend)
    if found is not None and found > SCHEMA_VERSION:
        raise newer(display, found)
    return found == SCHEMA_VERSION and not _missing(session, backend)


def create_or_migrate(session: Session, backend: Backend, display: str) -> None:
    """Inside the caller's transaction (which keeps other runners out): create the schema, or check its
    version and migrate an older one; a newer store is refused before anything in it is touched."""
    found = version(session, backend)
    if found is not None and found > SCHEMA_VERSION:
        raise newer(display, found)
    backend.recording(session)  # the migration's own writes of the rows (version 1's hashes) are a runner's
    old = found is not None and found < EDITS and backend.present(session, [SNAPSHOT.name])
    if old and "hand_edits" not in backend.columns(session, SNAPSHOT.name):  # old snapshots: NULL, untrusted
        session.execute(f"ALTER TABLE {SNAPSHOT.name} ADD COLUMN hand_edits BIGINT")
    for statement in _missing(
        session, backend
    ):  # the tables and indexes of versions 3 and 4, in an older store too
        session.execute(statement)
    if found is None:
        session.execute(
            f'INSERT INTO {META.name} ("key", value) VALUES (?, ?)', ("schema_version", str(SCHEMA_VERSION))
        )
        return
    if found < HASHED:
        _hash_usernames(session, backend)
    if found < SCHEMA_VERSION:
        session.execute(
            f'UPDATE {META.name} SET value = ? WHERE "key" = ?', (str(SCHEMA_VERSION), "schema_version")
        )


def _missing(session: Session, backend: Backend) -> list[str]:
    """The statements creating the tables and indexes the store lacks (a table with its indexes)."""
    names = [t.name for t in TABLES] + [i.name for t in TABLES for i in t.indexes]
    present = backend.present(session, names)
    statements = []
    for table in TABLES:
        if table.name not in present:
            statements += table.create(backend.types)
        else:
            statements += [table.index(i) for i in table.indexes if i.name not in present]
    return statements + backend.guard(session)


def _hash_usernames(session: Session, backend: Backend) -> None:
    """Migrate a version 1 store to version 2 inside the caller's transaction: add `user_hash`, fill it
    in chunks (by primary key, so each chunk reads on from the last). Each step may be done again: a
    migration of a store made by an older runner that was killed halfway leaves a version 1 store with
    the column, and the next run goes on from there."""
    table = SYNCED.name
    if "user_hash" not in backend.columns(session, table):
        session.execute(f"ALTER TABLE {table} ADD COLUMN user_hash BIGINT")
    fill = f"UPDATE {table} SET user_hash = ? WHERE tenant = ? AND spec = ? AND username = ?"
    pending = f"SELECT tenant, spec, username FROM {table} WHERE user_hash IS NULL"
    order = f" ORDER BY tenant, spec, username LIMIT {CHUNK}"
    last: tuple[Any, ...] = ()
    while True:
        after = " AND (tenant, spec, username) > (?, ?, ?)" if last else ""
        rows = session.all(pending + after + order, last)
        if not rows:
            break
        session.many(fill, [(user_hash(u), t, s, u) for t, s, u in rows])
        last = rows[-1]
    if backend.present(session, [SNAPSHOT.name]):  # none in a version 1 store; made again by the next runs
        session.execute(f"DELETE FROM {SNAPSHOT.name}")
