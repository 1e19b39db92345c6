"""The state store's schema: its tables, its version, creating it and migrating an older one.

The schema carries a version (`infiniti_sync_meta`); the runner creates and migrates it, and refuses a store
written by a newer runner before anything in it is touched. Version 2 keeps, beside each username, a 64-bit
hash of it (`user_hash`, runner.changes.user_hash), so that comparing reads the state as two arrays; a
version 1 store (made before the hash) is migrated by `run` when it opens it. Version 3 adds the change of
each job's last held run (`infiniti_sync_held`) and approvals of such changes (`infiniti_sync_approvals`,
runner.approve): new tables only, created by whichever command next opens the store for writing. Version 4
adds each job's snapshot (`infiniti_sync_snapshots`, runner.state.snapshot): what comparing reads, kept
beside the rows, made by the next run of each job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    inspect,
    select,
    text,
    tuple_,
    update,
)

from runner.changes import user_hash
from runner.errors import StateError

SCHEMA_VERSION = 4
HASHED = 2  # the first version with `user_hash`
APPROVING = 3  # the first version with held changes and approvals
SNAPSHOTS = 4  # the first version with each job's snapshot
CHUNK = 5000  # rows written (or migrated, or forgotten) at a time

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
# The last start of every job (what is due, runner.due) read from this index alone, never the table: four
# times faster at a million runs in SQLite. Stores made before it get it when `run` next opens them.
Index("ix_infiniti_sync_runs_job", runs_table.c.tenant, runs_table.c.spec, runs_table.c.started_at)
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

# The change the last held run of a job found (runner.approve.Change): one row a job, replaced by each held
# run; sorted 64-bit integers, 8 bytes a user.
held_table = Table(
    "infiniti_sync_held",
    metadata,
    Column("tenant", String(200), primary_key=True),
    Column("spec", String(200), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("lines", LargeBinary, nullable=False),  # fingerprints of the lines it would have sent
    Column("gone", LargeBinary, nullable=False),  # username hashes of the users gone
    Column("new", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("vanished", Integer, nullable=False),
)
# Approvals of a held run's change, kept for history; the change is copied in (the next held run replaces
# the job's held row) and dropped once the approval is used or replaced.
approvals_table = Table(
    "infiniti_sync_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(200), nullable=False),
    Column("spec", String(200), nullable=False),
    Column("run_id", Integer, nullable=False),  # the held run approved
    Column("user", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("approved_at", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),  # waiting, used, replaced
    Column("used_by", Integer),  # the run that sent the change
    Column("lines", LargeBinary),
    Column("gone", LargeBinary),
    Column("new", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("vanished", Integer, nullable=False),
)
Index("ix_infiniti_sync_approvals_job", approvals_table.c.tenant, approvals_table.c.spec)
# Each job's snapshot (runner.state.snapshot): the fingerprints of its rows ascending and their username
# hashes in the same order, as little-endian 64-bit integers, 16 bytes a user; written with the rows.
snapshots_table = Table(
    "infiniti_sync_snapshots",
    metadata,
    Column("tenant", String(200), primary_key=True),
    Column("spec", String(200), primary_key=True),
    Column("run_id", Integer, nullable=False),  # the run that wrote it
    Column("users", Integer, nullable=False),
    Column("fingerprints", LargeBinary, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
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


def aware(moment: Any) -> datetime:
    """A time read from the store as an aware datetime (SQLite returns naive ones, written in UTC; a
    MAX() over them may even come back as text)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def record_of(row: Any) -> RunRecord:
    """A run record from a row (SQLite returns naive datetimes; they were written in UTC)."""
    values = dict(row)
    for key in ("started_at", "finished_at"):
        values[key] = aware(values[key])
    return RunRecord(**values)


def version(conn: Connection) -> int | None:
    """The store's schema version; None when the store has not been created yet."""
    if not inspect(conn).has_table(meta_table.name):
        return None
    row = conn.execute(select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
    return int(row[0]) if row else None


def newer(display: str, found: int) -> StateError:
    """The error of a store written by a newer runner."""
    return StateError(
        f"state store {display} was written by a newer infiniti-sync "
        f"(schema version {found}; this runner knows up to {SCHEMA_VERSION})",
        hint="upgrade infiniti-sync here; an older runner must not change a newer store",
    )


def create_or_migrate(conn: Connection, display: str) -> None:
    """Inside the caller's transaction (which keeps other runners out): create the schema, or check its
    version and migrate an older one; a newer store is refused before anything in it is touched."""
    found = version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise newer(display, found)
    metadata.create_all(conn, checkfirst=True)  # the tables of versions 3 and 4, in an older store too
    for index in runs_table.indexes:  # create_all adds no index to a table that exists already
        index.create(conn, checkfirst=True)
    if found is None:
        conn.execute(insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION)))
        return
    if found < HASHED:
        _hash_usernames(conn)
    if found < SCHEMA_VERSION:
        conn.execute(
            update(meta_table).where(meta_table.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
        )


def _hash_usernames(conn: Connection) -> None:
    """Migrate a version 1 store to version 2 inside the caller's transaction: add `user_hash`, fill it
    in chunks (by primary key, so each chunk reads on from the last).
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
        query = select(*key).where(table.c.user_hash.is_(None)).order_by(*key).limit(CHUNK)
        if last is not None:
            query = query.where(tuple_(*key) > tuple_(*last))
        rows = conn.execute(query).all()
        if not rows:
            break
        conn.execute(
            fill, [{"k_tenant": t, "k_spec": s, "k_username": u, "k_hash": user_hash(u)} for t, s, u in rows]
        )
        last = tuple(rows[-1])
