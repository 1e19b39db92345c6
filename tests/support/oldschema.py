"""The state store's tables as SQLAlchemy's Table objects, as the runner defined them before its store spoke
to the drivers directly (schema version 5), and the older versions' differences: tests build stores of
every version with SQLAlchemy itself (`build`) and look into a store from outside with these.

    build(engine, 1)     # a version 1 store: no user_hash, no held changes nor approvals, no job index
    build(engine, 5)     # as SQLAlchemy's create_all made it, with its version row
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    text,
)

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
# hashes in the same order, as big-endian 64-bit integers, 16 bytes a user; written with the rows.
snapshots_table = Table(
    "infiniti_sync_snapshots",
    metadata,
    Column("tenant", String(200), primary_key=True),
    Column("spec", String(200), primary_key=True),
    Column("run_id", Integer, nullable=False),  # the run that wrote it
    Column("users", Integer, nullable=False),
    Column("fingerprints", LargeBinary, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("hand_edits", BigInteger),  # the count of hand edits when written (version 5); NULL: unknown
)


def _without(table: Table, column: str) -> Table:
    """`table` as an older version made it: the same columns but `column`, in a MetaData of its own."""
    kept = (Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in table.c)
    return Table(table.name, MetaData(), *(c for c in kept if c.name != column))


# Version 4's snapshots: no count of hand edits.
snapshots_v4_table = _without(snapshots_table, "hand_edits")

# Version 1's synced table: no user_hash.
synced_v1_table = _without(synced_table, "user_hash")


def build(engine: Engine, version: int) -> None:
    """Create an empty store of schema `version` (1 to 5) on `engine`, as the runner of that version's
    SQLAlchemy code did: version 1 without `user_hash` (and made before the job index of the runs),
    versions 1 and 2 without the held and approvals tables, versions 1 to 3 without the snapshots,
    version 4 without their count of hand edits."""
    with engine.begin() as conn:
        tables = [meta_table, runs_table, synced_table if version >= 2 else synced_v1_table]
        if version >= 3:
            tables += [held_table, approvals_table]
        if version >= 4:
            tables.append(snapshots_table if version >= 5 else snapshots_v4_table)
        for table in tables:
            table.create(conn)
        if version < 2:
            conn.execute(text("DROP INDEX ix_infiniti_sync_runs_job"))
        conn.execute(insert(meta_table).values(key="schema_version", value=str(version)))
