"""The state store's connections (runner.state.connections) against the machine's PostgreSQL: a connection
its server dropped while it waited in the pool (a long send, a `--wait`) is never used again, the store
reads on a new one. And opening a store that is up to date only reads, so it never waits for a writer (a
run recording meanwhile): only a store to create or migrate is written, in a transaction of its own."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from runner.state import StateStore, sqlite
from runner.state.connections import Connections
from tests.support import stores
from tests.support.statements import counted
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
postgres_store = stores.postgres_store_fixture


def _backend_pid(store: StateStore) -> int:
    with store.connections.session() as session:
        row = session.first("SELECT pg_backend_pid()")
    assert row is not None
    return int(row[0])


def _terminate(state: StateUnderTest, pid: int) -> None:
    admin = state.engine()
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_dropped_meanwhile_is_replaced(postgres_store: StateUnderTest) -> None:
    store = StateStore.open(postgres_store.location, environ={})
    try:
        dropped = _backend_pid(store)  # the one connection the pool keeps
        _terminate(postgres_store, dropped)
        assert store.history() == []
        assert _backend_pid(store) != dropped
    finally:
        store.close()


def test_opening_a_store_that_is_up_to_date_writes_nothing(state_store: StateUnderTest) -> None:
    StateStore.open(state_store.location, environ={}).close()  # created
    with counted() as seen:
        StateStore.open(state_store.location, environ={}).close()
    assert Connections.watch is None
    assert {s.split()[0] for s in seen.statements} == {"SELECT"}
    assert seen.engines == 1


def test_a_sqlite_store_is_written_in_wal_mode_and_synced_at_every_commit(tmp_path: Path) -> None:
    # synchronous=FULL: a run recorded is on the disk when its commit returns, even if the machine then
    # loses power. NORMAL would save a sync a commit (1 to 2.5 ms here), and could lose the last runs'
    # history and give a used approval back after a crash; the state is the record a school audits.
    store = StateStore.open(os.fspath(tmp_path / "state.db"), environ={})
    try:
        with store.connections.session() as session:
            assert session.first("PRAGMA journal_mode") == ("wal",)
            assert session.first("PRAGMA synchronous") == (2,)  # FULL (NORMAL is 1)
    finally:
        store.close()


def test_a_sqlite_writer_waits_for_anothers_lock_and_then_begins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    waiter = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    tried = threading.Event()
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:  # the waiter found the lock taken and waits: let it go
        tried.set()
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)  # the module's, which sqlite._begin calls
    begun = threading.Thread(target=sqlite._begin, args=(waiter,))
    begun.start()
    assert tried.wait(30)
    holder.execute("COMMIT")
    begun.join(30)
    assert not begun.is_alive()
    assert waiter.in_transaction  # it holds the write lock now
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (60_000,)  # the busy handler is back
    waiter.execute("COMMIT")

    # a lock held past the busy timeout fails as SQLite's own wait did, and sets the handler back
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(sqlite, "_BUSY_SECONDS", 0)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        sqlite._begin(waiter)
    assert not waiter.in_transaction
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (sqlite._BUSY_SECONDS * 1000,)
    holder.execute("COMMIT")
    holder.close()
    waiter.close()
