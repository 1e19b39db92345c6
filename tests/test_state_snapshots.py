"""Each job's snapshot in the store (runner.state.snapshot): after every run it holds exactly the job's rows,
in fingerprint order; `plan` and `run` compare with it; one that does not hold the rows is never used, and
the next run makes it again; a version 3 store gets its snapshots from the runs after its migration.
SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from runner.state import SCHEMA_VERSION, RunRecord, StateStore, snapshot
from tests.support import stores
from tests.support.project import DEMO_ENV, Done, Site
from tests.support.roster import MOVED, NEW, STAFF, incremental, write_staff
from tests.support.statements import counted
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
site = stores.site_fixture
STAFF_RUN = ["run", "--tenant", "demo", "--spec", "staff"]
STAFF_PLAN = ["plan", "--tenant", "demo", "--spec", "staff"]
JOB = {"tenant": "demo", "spec": "staff"}
# What reads or aggregates a job's rows in order: making a snapshot again, or comparing without one.
IN_ORDER = "ORDER BY fingerprint, user_hash"
_NOW = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)


def _do(site: Site, store: StateUnderTest, *args: str) -> Done:
    return site.invoke(list(args), {**DEMO_ENV, **store.env})


def _execute(store: StateUnderTest, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = store.engine()
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _snapshot(store: StateUnderTest) -> tuple[int, list[tuple[int, int]]] | None:
    """The job's snapshot as (users, [(fingerprint, username hash), ...]), or None."""
    found = _execute(
        store,
        "SELECT users, fingerprints, hashes FROM infiniti_sync_snapshots "
        "WHERE tenant = :tenant AND spec = :spec",
        **JOB,
    )
    if not found:
        return None
    users, prints, hashes = found[0]
    pairs = list(zip(snapshot.unpack(bytes(prints)), snapshot.unpack(bytes(hashes)), strict=True))
    return users, pairs


def _rows(store: StateUnderTest) -> tuple[int, list[tuple[int, int]]]:
    """The job's rows as a snapshot holds them."""
    rows = _execute(
        store,
        "SELECT fingerprint, user_hash FROM infiniti_sync_synced WHERE tenant = :tenant AND spec = :spec",
        **JOB,
    )
    return len(rows), sorted(rows)


def test_after_every_run_the_snapshot_holds_exactly_the_jobs_rows(
    site: Site, state_store: StateUnderTest
) -> None:
    incremental(site.root)
    assert _do(site, state_store, *STAFF_RUN).code == 0  # a first run: made from the rows
    assert _snapshot(state_store) == _rows(state_store) != (0, [])

    write_staff(site.root, {**{c: p for c, p in STAFF.items() if c != "T203"}, "T202": MOVED, "T209": NEW})
    second = _do(site, state_store, *STAFF_RUN)  # few changed: updated from the snapshot before
    assert "1 new, 1 changed, 4 unchanged, 1 gone" in second.out
    assert _snapshot(state_store) == _rows(state_store)
    assert _snapshot(state_store)[0] == 6  # type: ignore[index]  # T203 forgotten, T209 added

    assert _do(site, state_store, *STAFF_RUN, "--full").code == 0  # every row sent again, none changed
    assert _snapshot(state_store) == _rows(state_store)
    unchanged = _do(site, state_store, *STAFF_PLAN)
    assert "0 new, 0 changed, 6 unchanged, 0 gone" in unchanged.out


def test_plan_reads_the_snapshot_alone_and_the_store_gives_it_as_its_rows(
    site: Site, state_store: StateUnderTest
) -> None:
    # A snapshot read that failed (PostgreSQL's bytea, SQLite's blob I/O) and fell back to the rows would
    # still classify every line right: what the plan asked of the store tells the two apart.
    incremental(site.root)
    assert _do(site, state_store, *STAFF_RUN).code == 0
    with counted() as seen:
        plan = _do(site, state_store, *STAFF_PLAN)
    assert "0 new, 0 changed, 6 unchanged, 0 gone" in plan.out
    rows_read = [s for s in seen.reading("infiniti_sync_synced") if "COUNT(*)" not in s]
    assert (rows_read, len(seen.reading("infiniti_sync_snapshots")) > 0) == ([], True)
    store = StateStore.open_existing(state_store.location, environ={})
    assert store is not None
    try:
        with counted() as asked:
            known = store.known("demo", "staff")
    finally:
        store.close()
    assert [s for s in asked.statements if IN_ORDER in s] == []
    assert (len(known), list(zip(known.fingerprints, known.hashes, strict=True))) == _rows(state_store)


def test_plan_compares_with_the_snapshot_and_only_with_one_that_holds_the_rows(
    site: Site, state_store: StateUnderTest
) -> None:
    incremental(site.root)
    assert _do(site, state_store, *STAFF_RUN).code == 0
    # A fingerprint changed by hand in the rows alone: SQLite's count does not see it, and plan compares with
    # the snapshot, which says unchanged; PostgreSQL counts the hand edit, and plan reads the rows.
    _execute(
        state_store,
        "UPDATE infiniti_sync_synced SET fingerprint = 7 WHERE tenant = :tenant AND spec = :spec "
        "AND username = 't201'",
        **JOB,
    )
    seen = (
        "0 new, 1 changed, 5 unchanged"
        if state_store.kind == "postgresql"
        else "0 new, 0 changed, 6 unchanged"
    )
    assert f"{seen}, 0 gone" in _do(site, state_store, *STAFF_PLAN).out

    # A row deleted by hand: the snapshot no longer holds the job's rows, so the rows are read instead.
    _execute(
        state_store,
        "DELETE FROM infiniti_sync_synced WHERE tenant = :tenant AND spec = :spec AND username = 't202'",
        **JOB,
    )
    assert "1 new, 1 changed, 4 unchanged, 0 gone" in _do(site, state_store, *STAFF_PLAN).out
    assert "1 new, 1 changed, 4 unchanged, 0 gone" in _do(site, state_store, *STAFF_RUN).out
    assert _snapshot(state_store) == _rows(state_store)  # made again by the run
    assert "0 new, 0 changed, 6 unchanged, 0 gone" in _do(site, state_store, *STAFF_PLAN).out


def test_a_version_3_store_is_read_from_its_rows_until_a_run_makes_the_snapshots(
    site: Site, state_store: StateUnderTest
) -> None:
    incremental(site.root)
    assert _do(site, state_store, *STAFF_RUN).code == 0
    _execute(state_store, "DROP TABLE infiniti_sync_snapshots")
    _execute(state_store, "UPDATE infiniti_sync_meta SET value = '3' WHERE key = 'schema_version'")
    before = state_store.tables()
    plan = _do(site, state_store, *STAFF_PLAN)
    assert "0 new, 0 changed, 6 unchanged, 0 gone" in plan.out
    assert state_store.tables() == before  # read-only: not migrated

    assert "0 new, 0 changed, 6 unchanged, 0 gone" in _do(site, state_store, *STAFF_RUN).out
    assert state_store.tables()["infiniti_sync_meta"] == [("schema_version", str(SCHEMA_VERSION))]
    assert _snapshot(state_store) == _rows(state_store) != (0, [])  # made though nothing changed


def test_a_run_that_adds_and_forgets_few_users_updates_the_snapshot_without_reading_the_rows(
    site: Site, state_store: StateUnderTest
) -> None:
    incremental(site.root)
    assert _do(site, state_store, *STAFF_RUN).code == 0
    write_staff(site.root, {**STAFF, "T209": NEW})  # one user more: the rows' count is not the snapshot's
    with counted() as seen:
        joined = _do(site, state_store, *STAFF_RUN)
    assert "1 new, 0 changed, 6 unchanged, 0 gone" in joined.out
    write_staff(site.root, {c: p for c, p in STAFF.items() if c != "T203"} | {"T209": NEW})  # one user fewer
    with counted() as seen_too:
        left = _do(site, state_store, *STAFF_RUN)
    assert "0 new, 0 changed, 6 unchanged, 1 gone" in left.out
    assert [s for s in seen.statements + seen_too.statements if IN_ORDER in s] == []
    assert _snapshot(state_store) == _rows(state_store)


HAND_EDITS = {  # a write of the rows not made by a runner, and what plan then finds, reading the rows
    "delete": (
        "DELETE FROM infiniti_sync_synced WHERE username = 't202'",
        "1 new, 0 changed, 5 unchanged, 0 gone",
    ),
    "update": (
        "UPDATE infiniti_sync_synced SET fingerprint = 7 WHERE username = 't201'",
        "0 new, 1 changed, 5 unchanged, 0 gone",
    ),
    "insert": (
        "INSERT INTO infiniti_sync_synced VALUES ('demo', 'staff', 't299', 7, 1, 99)",
        "0 new, 0 changed, 6 unchanged, 1 gone",
    ),
    "truncate": (
        "TRUNCATE infiniti_sync_synced",
        "none accepted yet for this tenant and spec; every user is new",
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("edit", list(HAND_EDITS))
def test_postgresql_counts_each_hand_edit_and_plan_then_reads_the_rows(tmp_path: Path, edit: str) -> None:
    store = stores.open_store("postgresql", tmp_path / "project")
    running = Site.start(tmp_path / "project")
    try:
        store.use(running.project_file)
        incremental(running.root)
        assert _do(running, store, *STAFF_RUN).code == 0
        assert [k for k, _ in store.tables()["infiniti_sync_meta"]] == ["schema_version"]  # runs: no count
        sql, found = HAND_EDITS[edit]
        _execute(store, sql)
        assert ("hand_edits", "1") in store.tables()["infiniti_sync_meta"]
        with counted() as seen:
            assert found in _do(running, store, *STAFF_PLAN).out
        assert [s for s in seen.statements if IN_ORDER in s] != []  # the rows, read in order
        if edit != "truncate":  # a run remakes the snapshot from the rows
            assert _do(running, store, *STAFF_RUN).code == 0
            assert _snapshot(store) == _rows(store)
            with counted() as again:
                _do(running, store, *STAFF_PLAN)
            assert [s for s in again.statements if IN_ORDER in s] == []  # trusted again
    finally:
        running.stop()
        store.drop()


@pytest.mark.postgres
def test_postgresql_runner_records_of_two_jobs_count_no_hand_edit(tmp_path: Path) -> None:
    under = stores.open_store("postgresql", tmp_path / "project")
    store = StateStore.open(under.location, environ={})
    try:
        for tenant in ("north", "south"):
            run = RunRecord(tenant, "staff", _NOW, _NOW, "ok", 0, "full")
            store.record(run, [("a", 1), ("b", 2)])
            store.record(run, [("c", 3)], forget=["a"])
            known = store.known(tenant, "staff")
            assert list(known.fingerprints) == [2, 3]
    finally:
        store.close()
        meta = under.tables()["infiniti_sync_meta"]
        under.drop()
    assert meta == [("schema_version", str(SCHEMA_VERSION))]


def test_a_version_4_store_migrates_and_its_snapshots_are_made_again(
    site: Site, state_store: StateUnderTest
) -> None:
    incremental(site.root)
    assert _do(site, state_store, *STAFF_RUN).code == 0
    _execute(state_store, "ALTER TABLE infiniti_sync_snapshots DROP COLUMN hand_edits")
    if state_store.kind == "postgresql":
        _execute(state_store, "DROP FUNCTION infiniti_sync_hand_edit() CASCADE")
    _execute(state_store, "UPDATE infiniti_sync_meta SET value = '4' WHERE key = 'schema_version'")
    assert "0 new, 0 changed, 6 unchanged, 0 gone" in _do(site, state_store, *STAFF_PLAN).out  # read-only
    assert "0 new, 0 changed, 6 unchanged, 0 gone" in _do(site, state_store, *STAFF_RUN).out
    assert state_store.tables()["infiniti_sync_meta"] == [("schema_version", str(SCHEMA_VERSION))]
    assert _snapshot(state_store) == _rows(state_store)
    edits = _execute(state_store, "SELECT hand_edits FROM infiniti_sync_snapshots")
    assert edits == [(0 if state_store.kind == "postgresql" else None,)]  # made again, with the count
