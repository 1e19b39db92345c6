"""The lock interface itself (runner.state.locks), on both kinds: the lock file of a SQLite store and the
advisory lock of a PostgreSQL store (a schema of its own per test). A lock is taken, a second take finds it
held and names its holder (this process: host, pid, when it started holding), releasing it frees it, and
the locks of other jobs (and, in PostgreSQL, of another store in the same database) are others.

The two runners here are two openings of the store in this process (or two threads), each with its own lock
connections or sessions; tests/test_state_processes.py takes the locks between real processes. A name left by
a holder that ended is not believed, and asking whether a process runs harms none.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import EXIT_OUTSIDE, LockHeld, Where
from runner.state import StateStore, filelock
from runner.state.locks import UNKNOWN, LockKind
from runner.state.processes import runs
from tests.support import stores
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
postgres_store = stores.postgres_store_fixture
WHERE = Where(tenant="demo", spec="staff")
SINCE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


@pytest.fixture
def two(state_store: StateUnderTest) -> Iterator[tuple[LockKind, LockKind]]:
    """The locks of one store as two runners see it: each opened the store on its own."""
    opened = [StateStore.open(state_store.location, environ={}) for _ in range(2)]
    try:
        yield _locks(opened[0]), _locks(opened[1])
    finally:
        for store in opened:
            store.close()


def _locks(store: StateStore) -> LockKind:
    return store.backend.locks


def _held_by(locks: LockKind, tenant: str = "demo", spec: str = "staff") -> LockHeld:
    """The error of a take that finds the lock held (the deadline is past: it tries once)."""
    with pytest.raises(LockHeld) as caught:
        locks.take(tenant, spec, time.monotonic(), WHERE)
    return caught.value


def test_a_lock_taken_is_held_naming_its_holder_until_released(two: tuple[LockKind, LockKind]) -> None:
    mine, theirs = two
    taken = mine.take("demo", "staff", time.monotonic(), WHERE)
    try:
        err = _held_by(theirs)
    finally:
        taken.release()
    host, pid = re.escape(socket.gethostname()), os.getpid()
    assert re.fullmatch(
        rf"another run holds this tenant and spec: host {host}, process {pid}, running since {SINCE}",
        err.message,
    ), err.message
    assert err.where == WHERE
    assert err.hint == "wait for it to finish, or pass --wait SECONDS"
    assert err.exit_code == EXIT_OUTSIDE
    again = theirs.take("demo", "staff", time.monotonic(), WHERE)  # released: free at once
    try:
        _held_by(mine)  # and now held by the other
    finally:
        again.release()


def test_each_tenant_and_spec_has_its_own_lock(two: tuple[LockKind, LockKind]) -> None:
    mine, theirs = two
    taken = mine.take("demo", "staff", time.monotonic(), WHERE)
    try:
        for tenant, spec in (("demo", "students"), ("north", "staff")):
            theirs.take(tenant, spec, time.monotonic(), WHERE).release()
        _held_by(theirs)
    finally:
        taken.release()


def test_a_lock_file_names_its_holder_and_is_emptied_on_release(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    opened = StateStore.open(os.fspath(path), environ={})
    try:
        taken = _locks(opened).take("demo", "staff", time.monotonic(), WHERE)
        side = path.parent / "locks" / "demo--staff.holder"
        assert f'"pid": {os.getpid()}' in side.read_text(encoding="utf-8")
        taken.release()
        assert side.read_text(encoding="utf-8") == ""
    finally:
        opened.close()


def test_a_lock_files_name_keeps_letters_digits_dots_and_dashes_and_replaces_the_rest() -> None:
    # One regular expression (\w is what str.isalnum() takes, and "_"), for every code point, as the loop
    # over the characters it replaced named them.
    every = "".join(chr(c) for c in range(sys.maxunicode + 1))
    expected = "".join(c if c.isalnum() or c in "._-" else "_" for c in every)
    assert filelock._safe(every) == expected


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    opened = StateStore.open(os.fspath(tmp_path / "state.db"), environ={})
    refused: list[LockHeld] = []

    def second_job() -> None:
        with pytest.raises(LockHeld) as caught, opened.lock("demo", "staff"):
            pass
        refused.append(caught.value)

    try:
        with opened.lock("demo", "staff"):
            thread = threading.Thread(target=second_job)
            thread.start()
            thread.join()
        with opened.lock("demo", "staff"):  # released: free again
            pass
    finally:
        opened.close()
    [err] = refused
    assert f"process {os.getpid()}, running since" in err.message


@pytest.mark.parametrize("alive", [True, False], ids=["alive", "ended"])
def test_a_name_left_by_a_process_that_ended_is_not_believed(tmp_path: Path, *, alive: bool) -> None:
    # The lock is held by a connection that has not written its name yet (as just after taking it); the
    # side file still names an earlier holder of this host: this process, or one that has ended.
    pid = os.getpid() if alive else _ended_pid()
    path = tmp_path / "state.db"
    opened = StateStore.open(os.fspath(path), environ={})
    locks = path.parent / "locks"
    holding = sqlite3.connect(locks / "demo--staff.lock.sqlite", timeout=0, isolation_level=None)
    try:
        holding.execute("BEGIN EXCLUSIVE")
        earlier = {"host": socket.gethostname(), "pid": pid, "since": "2026-12-01T02:15:00+00:00"}
        (locks / "demo--staff.holder").write_text(json.dumps(earlier), encoding="utf-8")
        err = _held_by(_locks(opened))
    finally:
        holding.close()
        opened.close()
    named = f"host {socket.gethostname()}, process {pid}, running since 2026-12-01T02:15:00+00:00"
    assert err.message == f"another run holds this tenant and spec: {named if alive else UNKNOWN}"


def _ended_pid() -> int:
    """The id of a child process that has ended and been reaped: no process has it (barring reuse)."""
    code = "import os; print(os.getpid())"
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, encoding="utf-8")
    return int(done.stdout)


def test_two_postgresql_stores_in_one_database_have_their_own_locks(
    postgres_store: StateUnderTest, tmp_path: Path
) -> None:
    second = stores.open_store("postgresql", tmp_path / "other")
    first_opened = StateStore.open(postgres_store.location, environ={})
    second_opened = StateStore.open(second.location, environ={})
    try:
        taken = _locks(first_opened).take("demo", "staff", time.monotonic(), WHERE)
        try:
            _locks(second_opened).take("demo", "staff", time.monotonic(), WHERE).release()
            _held_by(_locks(first_opened))
        finally:
            taken.release()
    finally:
        first_opened.close()
        second_opened.close()
        second.drop()


def test_whether_a_process_runs_is_asked_without_harming_it() -> None:
    assert runs(os.getpid())
    assert runs(os.getpid())  # still here: asking sent nothing
    assert not runs(_ended_pid())
