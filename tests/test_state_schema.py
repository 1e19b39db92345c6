"""The store's schema against the one SQLAlchemy made before the store spoke to the drivers directly, in a
SQLite file and in PostgreSQL: a new store has the same tables, columns, types, nullability, keys and
indexes as `create_all` of the old Table definitions (tests/support/oldschema.py), both read by SQLAlchemy's
inspector; and a store of each schema version (1 to 5) built by SQLAlchemy itself opens, migrates to the
same schema, reads what SQLAlchemy wrote and writes what SQLAlchemy reads, its moments in the very text
SQLAlchemy's DateTime wrote in SQLite."""

from __future__ import annotations

import contextlib
import sqlite3
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect, select

from runner.approve import Change
from runner.changes import user_hash
from runner.state import SCHEMA_VERSION, RunRecord, StateStore
from runner.state.schema import APPROVING
from tests.support.oldschema import (
    approvals_table,
    build,
    held_table,
    meta_table,
    metadata,
    runs_table,
    synced_table,
    synced_v1_table,
)
from tests.support.stores import KINDS, StateUnderTest, open_store

STARTED = datetime(2026, 12, 1, 19, 7, 56, 123456, tzinfo=UTC)
ON_THE_SECOND = datetime(2026, 12, 2, 3, 15, 0, 0, tzinfo=UTC)  # no microseconds: still six digits written


def _schema(engine: Engine) -> dict[str, Any]:
    """Every table of the store as SQLAlchemy's inspector reads it: columns (name, type, nullability,
    default), primary key, indexes, unique constraints and foreign keys."""
    seen = inspect(engine)
    return {
        table: {
            "columns": [
                (c["name"], repr(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                for c in seen.get_columns(table)
            ],
            "key": seen.get_pk_constraint(table),
            "indexes": sorted((i["name"], i["column_names"], i["unique"]) for i in seen.get_indexes(table)),
            "unique": seen.get_unique_constraints(table),
            "foreign": seen.get_foreign_keys(table),
        }
        for table in sorted(seen.get_table_names())
    }


def _opened(store: StateUnderTest) -> None:
    StateStore.open(store.location, environ={}).close()


def _inspected(store: StateUnderTest) -> dict[str, Any]:
    engine = store.engine()
    try:
        return _schema(engine)
    finally:
        engine.dispose()


@pytest.fixture(name="two_stores", params=KINDS)
def two_stores_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Two empty stores of one kind: the old code's and the new code's."""
    made = [open_store(request.param, tmp_path / name) for name in ("old", "new")]
    for store in made:
        if store.kind == "sqlite":
            Path(store.location).parent.mkdir(parents=True)
    try:
        yield made
    finally:
        for store in made:
            store.drop()


def test_a_new_store_is_the_store_sqlalchemy_created(two_stores: list[StateUnderTest]) -> None:
    old, new = two_stores
    engine = old.engine()
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    _opened(new)
    made = _inspected(new)
    assert made == _inspected(old)
    assert list(made) == sorted(t.name for t in metadata.sorted_tables)
    times = [c for c in made["infiniti_sync_runs"]["columns"] if c[0].endswith("_at")]
    if new.kind == "postgresql":  # timestamp with time zone
        assert [c[1] for c in times] == ["TIMESTAMP(timezone=True)"] * 2
    else:
        assert [c[1] for c in times] == ["DATETIME()"] * 2


def _seeded(engine: Engine, version: int) -> None:
    """A store of `version` as SQLAlchemy built and wrote it: two runs of demo/staff (the second held), the
    users the first accepted and, from version 3 on, the held change and an approval of it waiting."""
    build(engine, version)
    run = {"tenant": "demo", "spec": "staff", "mode": "full", "rows_read": 2}
    users = [
        {"tenant": "demo", "spec": "staff", "username": u, "fingerprint": fp, "run_id": 1} for u, fp in USERS
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(runs_table),
            [
                {**run, "started_at": STARTED, "finished_at": STARTED, "outcome": "ok", "exit_code": 0},
                {
                    **run,
                    "started_at": ON_THE_SECOND,
                    "finished_at": ON_THE_SECOND,
                    "outcome": "held",
                    "exit_code": 1,
                },
            ],
        )
        if version == 1:
            conn.execute(insert(synced_v1_table), users)
        else:
            conn.execute(
                insert(synced_table), [{**u, "user_hash": user_hash(str(u["username"]))} for u in users]
            )
        if version >= APPROVING:
            lines, gone = CHANGE.to_bytes()
            change = {"lines": lines, "gone": gone, "new": 1, "changed": 1, "vanished": 1}
            conn.execute(insert(held_table).values(tenant="demo", spec="staff", run_id=2, **change))
            conn.execute(insert(approvals_table).values(
                tenant="demo", spec="staff", run_id=2, user="ana", host="desk", approved_at=ON_THE_SECOND,
                expires=ON_THE_SECOND + timedelta(days=1), status="waiting", **change,
            ))  # fmt: skip


USERS = (("t201", -5), ("t202", 7))
CHANGE = Change(array("q", [3, 9]), array("q", [4]), 1, 1, 1)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_a_store_sqlalchemy_made_opens_migrates_reads_and_writes(
    two_stores: list[StateUnderTest], version: int
) -> None:
    old, new = two_stores
    engine = old.engine()
    try:
        _seeded(engine, version)
        store = StateStore.open(old.location, environ={})
        try:
            read = _read(store)
            later = RunRecord(
                "demo",
                "staff",
                STARTED + timedelta(days=1),
                ON_THE_SECOND + timedelta(days=1),
                "ok",
                0,
                "full",
            )
            run_id = store.record(later, [("t203", 11)], forget=["t201"])
        finally:
            store.close()
        with engine.connect() as conn:  # what SQLAlchemy's own types read of what the store wrote
            runs = conn.execute(
                select(runs_table.c.id, runs_table.c.started_at, runs_table.c.finished_at)
            ).all()
            synced = conn.execute(select(synced_table.c.username, synced_table.c.user_hash)).all()
            meta = conn.execute(select(meta_table)).all()
    finally:
        engine.dispose()
    assert read == {
        "history": [("held", ON_THE_SECOND, ON_THE_SECOND), ("ok", STARTED, STARTED)],
        "last_starts": {("demo", "staff"): ON_THE_SECOND},
        "synced": dict(USERS),
        "known": sorted((fp, user_hash(u)) for u, fp in USERS),
        "held": (2, CHANGE) if version >= APPROVING else None,
        "waiting": ("ana", ON_THE_SECOND, CHANGE) if version >= APPROVING else None,
    }
    moments = {(i, aware(s), aware(f)) for i, s, f in runs}
    assert (run_id, (run_id, later.started_at, later.finished_at) in moments) == (3, True)
    assert sorted(synced) == [("t202", user_hash("t202")), ("t203", user_hash("t203"))]
    assert meta == [("schema_version", str(SCHEMA_VERSION))]
    _opened(new)
    assert _inspected(old) == _inspected(new)  # migrated to the very schema a new store has
    if old.kind == "sqlite":
        assert _texts(old.location) == [
            (1, "2026-12-01 19:07:56.123456", "2026-12-01 19:07:56.123456"),  # as SQLAlchemy's DateTime wrote
            (2, "2026-12-02 03:15:00.000000", "2026-12-02 03:15:00.000000"),
            (3, "2026-12-02 19:07:56.123456", "2026-12-03 03:15:00.000000"),  # as the store writes: the same
        ]


def _read(store: StateStore) -> dict[str, Any]:
    held, waiting = store.held("demo", "staff"), store.waiting("demo", "staff")
    known = store.known("demo", "staff")
    return {
        "history": [(r.outcome, r.started_at, r.finished_at) for r in store.history()],
        "last_starts": store.last_starts(),
        "synced": store.synced("demo", "staff"),
        "known": list(zip(known.fingerprints, known.hashes, strict=True)),
        "held": held,
        "waiting": None if waiting is None else (waiting.user, waiting.approved_at, waiting.change),
    }


def aware(moment: datetime) -> datetime:
    """SQLAlchemy reads SQLite's moments as naive ones (the store wrote them in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _texts(path: str) -> list[tuple[int, str, str]]:
    """The start and end of each run as the SQLite file holds them."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT id, started_at, finished_at FROM infiniti_sync_runs ORDER BY id"
        ).fetchall()
