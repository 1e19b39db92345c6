"""The state store between real processes, in a SQLite file and in the machine's PostgreSQL (required on
CI): two runs started at once never both send, `--wait` queues the second, a runner killed with SIGKILL
while rendering, sending or recording leaves the store exactly as it was and its lock free, two projects
share one PostgreSQL store, and runners starting at once on a new store all get it.

Runs here are `python -m runner run` child processes against a sandbox process. A test waits for what it
can see (a file appearing, a connection to the sandbox, the state hook's marker), never for a time.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runner.sandbox import Fault
from runner.state import SCHEMA_VERSION, StateStore
from tests.support import stores
from tests.support.processes import KILLED, with_proc
from tests.support.processes import connected as _connected
from tests.support.project import DEMO_ENV, Done, Site, copy_project, invoke, point_at
from tests.support.roster import (
    MOVED,
    NEW,
    SENT_HEADER,
    STAFF,
    incremental,
    sent_line,
    users,
    write_staff,
)
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
site = stores.site_fixture
postgres_store = stores.postgres_store_fixture
STAFF_RUN = ("run", "--tenant", "demo", "--spec", "staff")
WAIT_LIMIT = 60.0  # only ever reached when something is broken
REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """The runner processes a test starts; any still running at its end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _spawn(
    children: list[subprocess.Popen[str]],
    root: Path,
    store: StateUnderTest,
    *args: str,
    env: Mapping[str, str] | None = None,
    pause: Path | None = None,
) -> subprocess.Popen[str]:
    """`python -m runner ARGS --project ROOT` as a child process; with `pause`, the runner pauses inside
    its state transaction (tests/support/paused.py)."""
    command = ["-m", "runner"] if pause is None else ["-m", "tests.support.paused", os.fspath(pause)]
    path = os.pathsep.join(p for p in (os.fspath(REPOSITORY), os.environ.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [sys.executable, *command, *args, "--project", os.fspath(root)],
        cwd=root,
        env={**os.environ, **DEMO_ENV, **store.env, **(env or {}), "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
    )
    children.append(process)
    return process


def _finish(process: subprocess.Popen[str]) -> Done:
    out, err = process.communicate(timeout=WAIT_LIMIT)
    return Done(process.returncode, out, err)


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Wait until `condition` holds while `process` still runs."""
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the runner ended (exit {process.returncode}) before {what}:\n{out}{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"the runner did not reach {what}")
        time.sleep(0.01)


def _has_data(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _held_by(pid: int) -> str:
    """The report of a run that found the lock held by process `pid` of this host."""
    return (
        "demo/staff: error: another run holds this tenant and spec: "
        f"host {re.escape(socket.gethostname())}, process {pid}, "
        r"running since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
        "\n  hint: wait for it to finish, or pass --wait SECONDS\n"
    )


def _last_sent(site: Site) -> str:
    return (site.runs("demo", "staff")[-1] / "sent.csv").read_bytes().decode("utf-8")


def _lock_is_free(store: StateUnderTest) -> None:
    """Take the lock of demo/staff (PostgreSQL lets go of a dead client's lock as soon as it notices)."""
    opened = StateStore.open(store.location, environ={})
    try:
        with opened.lock("demo", "staff", wait=WAIT_LIMIT):
            pass
    finally:
        opened.close()


# --- two runs at once ---------------------------------------------------------------------------


def test_two_runs_started_at_once_never_both_send(
    site: Site, state_store: StateUnderTest, children: list[subprocess.Popen[str]]
) -> None:
    # keep_runs 1: the run that finds the lock held must not prune the archive of the one holding it.
    text = site.project_file.read_text(encoding="utf-8")
    site.project_file.write_text(text.replace("keep_runs: 30", "keep_runs: 1"), encoding="utf-8")
    site.sandbox.inject("demo", Fault(delay=3.0), count=2)  # the answer comes late: the lock is held
    first, second = (_spawn(children, site.root, state_store, *STAFF_RUN) for _ in range(2))
    done = {first.pid: _finish(first), second.pid: _finish(second)}
    [(winner, sent)] = [(pid, d) for pid, d in done.items() if d.code == 0]
    [(_, refused)] = [(pid, d) for pid, d in done.items() if d.code != 0]
    assert (sent.out, sent.err) == (
        "demo/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met\n",
        "",
    )
    assert (refused.code, refused.err) == (3, "")
    assert re.fullmatch(_held_by(winner), refused.out)
    assert site.imports() == ["200"]
    assert site.sandbox.users("demo") == users(STAFF)
    [archived] = site.runs("demo", "staff")  # the refused run leaves no folder
    assert sorted(p.name for p in archived.iterdir()) == ["answer-1.json", "report.json", "sent.csv"]
    history = invoke(site.root, ["history"], state_store.env).out.splitlines()
    runs = [line for line in history[1:] if not line.startswith(" ")]  # under each run not ok: its reason
    assert [line.split()[3:5] for line in runs] == [["ok", "full"], ["error", "(exit"]]
    assert history[3].startswith("  reason: tenant demo, spec staff: ")


def test_with_wait_the_second_run_waits_and_then_runs(
    site: Site, state_store: StateUnderTest, children: list[subprocess.Popen[str]]
) -> None:
    incremental(site.root)
    site.sandbox.inject("demo", Fault(delay=2.0))  # the first run's answer comes late
    started = [_spawn(children, site.root, state_store, *STAFF_RUN, "--wait", "60") for _ in range(2)]
    done = sorted((_finish(p) for p in started), key=lambda d: d.out)
    assert done == [  # the second sees what the first recorded: nothing left to send
        Done(
            0,
            "demo/staff: ok: 6 read; 0 sent; 0 created, 0 updated, 0 failed; "
            "changes: 0 new, 0 changed, 6 unchanged, 0 gone; expectations met\n",
            "",
        ),
        Done(0, "demo/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met\n", ""),
    ]
    assert site.imports() == ["200", "200"]
    assert _last_sent(site) == SENT_HEADER


# --- kill -9 --------------------------------------------------------------------------------------

BIG = 200_000  # extra staff rows: rendering them takes long enough to be caught at it
CHANGED = {**STAFF, "T202": MOVED, "T209": NEW}


@pytest.mark.parametrize(
    ("point", "counts"),
    [
        pytest.param("rendering", "1 created, 1 updated", id="rendering"),
        pytest.param("sending", "1 created, 1 updated", id="sending", marks=with_proc),
        # Infiniti had imported the rows; the state did not learn it, so they are sent again.
        pytest.param("recording", "0 created, 2 updated", id="recording"),
    ],
)
def test_a_run_killed_leaves_the_store_as_it_was(
    site: Site,
    state_store: StateUnderTest,
    children: list[subprocess.Popen[str]],
    tmp_path: Path,
    *,
    point: str,
    counts: str,
) -> None:
    incremental(site.root)
    assert invoke(site.root, list(STAFF_RUN), {**DEMO_ENV, **state_store.env}).code == 0
    write_staff(site.root, CHANGED)
    if point == "rendering":
        with (site.root / "sms-export" / "staff.csv").open("a", encoding="utf-8") as export:
            export.writelines(
                f"X{n:06d},Mx,G{n},F{n},x{n}@example.edu,Teacher,Current,North\n" for n in range(BIG)
            )
    if point == "sending":
        site.sandbox.inject("demo", Fault(delay=2.0, status=500))  # answered late, never imported
    marker = tmp_path / "recording"
    before, archived = state_store.tables(), set(site.runs("demo", "staff"))
    process = _spawn(children, site.root, state_store, *STAFF_RUN, pause=marker)

    _wait_for(lambda: len(site.runs("demo", "staff")) > len(archived), process, "its archive folder")
    [folder] = set(site.runs("demo", "staff")) - archived
    port = urlsplit(site.sandbox.url).port or 443
    reached = {
        "rendering": lambda: _has_data(folder / "sent.csv.part"),  # lines written, the file not done
        "sending": lambda: _connected(process.pid, port),
        "recording": marker.exists,
    }[point]
    _wait_for(reached, process, point)
    if point == "sending":
        time.sleep(0.3)  # for the request to reach the sandbox whole (checked below)
    process.kill()
    assert _finish(process).code == KILLED

    if point == "rendering":  # killed before its file was complete, so before sending
        assert (folder / "sent.csv").exists() is False
        assert site.imports() == ["200"]
        write_staff(site.root, CHANGED)
    if point == "sending":  # the sandbox had the request and was answering it
        cleared = site.sandbox.client.clear_faults("demo").json()["summary"]
        assert cleared == "0 faults cleared; 0 pending."
    if point == "recording":  # Infiniti answered; the run died inside its state transaction
        assert (folder / "answer-1.json").exists()
    assert state_store.tables() == before
    _lock_is_free(state_store)

    again = invoke(site.root, list(STAFF_RUN), {**DEMO_ENV, **state_store.env})
    assert (again.code, again.out) == (
        0,
        f"demo/staff: ok: 7 read; 2 sent; {counts}, 0 failed; "
        "changes: 1 new, 1 changed, 5 unchanged, 0 gone; expectations met\n",
    )
    assert _last_sent(site) == SENT_HEADER + sent_line("T202", MOVED) + sent_line("T209", NEW)
    assert site.sandbox.users("demo") == users(CHANGED)
    assert invoke(site.root, list(STAFF_RUN), {**DEMO_ENV, **state_store.env}).code == 0
    assert _last_sent(site) == SENT_HEADER


# --- one PostgreSQL store, many runners -------------------------------------------------------------


@pytest.mark.postgres
@with_proc
def test_two_projects_share_one_postgresql_store(
    tmp_path: Path, postgres_store: StateUnderTest, children: list[subprocess.Popen[str]]
) -> None:
    site = Site.start(tmp_path / "project")
    try:
        # Another machine's copy of the project: its own folder and process, the same store and Infiniti.
        other = copy_project(tmp_path / "other").parent
        point_at(other / "infiniti-sync.yaml", site.sandbox.url)
        ca = site.root / ".infiniti-sync" / "sandbox" / "ca.pem"
        text = (other / "infiniti-sync.yaml").read_text(encoding="utf-8")
        (other / "infiniti-sync.yaml").write_text(
            text.replace(".infiniti-sync/sandbox/ca.pem", os.fspath(ca)), encoding="utf-8"
        )
        for root in (site.root, other):
            postgres_store.use(root / "infiniti-sync.yaml")
            incremental(root)
        env = {**DEMO_ENV, **postgres_store.env}

        first = _finish(_spawn(children, site.root, postgres_store, *STAFF_RUN))
        assert (first.code, first.out) == (
            0,
            "demo/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met\n",
        )
        seen = invoke(other, list(STAFF_RUN), env)  # the other runner knows what the first sent
        assert (seen.code, seen.out) == (
            0,
            "demo/staff: ok: 6 read; 0 sent; 0 created, 0 updated, 0 failed; "
            "changes: 0 new, 0 changed, 6 unchanged, 0 gone; expectations met\n",
        )

        # While the first project's runner holds the run (paused in its record transaction, after
        # sending, until the marker goes), the other's run of the same tenant and spec is refused.
        for root in (site.root, other):
            write_staff(root, CHANGED)
        marker = tmp_path / "recording"
        sending = _spawn(children, site.root, postgres_store, *STAFF_RUN, pause=marker)
        _wait_for(marker.exists, sending, "recording")
        refused = invoke(other, list(STAFF_RUN), env)
        assert (refused.code, refused.err) == (3, "")
        assert re.fullmatch(_held_by(sending.pid), refused.out)
        marker.unlink()
        assert _finish(sending).code == 0
        after = invoke(other, list(STAFF_RUN), env)
        assert (after.code, after.out.split("; ")[1]) == (0, "0 sent")
        assert site.sandbox.users("demo") == users(CHANGED)
    finally:
        site.stop()


# --- a new store ----------------------------------------------------------------------------------

OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from runner.state import StateStore
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
StateStore.open(sys.argv[1], environ={}).close()
print("opened")
"""


RUNNERS = 8


def test_runners_starting_at_once_on_a_new_store_all_open_it(
    tmp_path: Path, state_store: StateUnderTest
) -> None:
    (tmp_path / "project" / ".infiniti-sync").mkdir(parents=True)
    go = tmp_path / "go"
    env = {**os.environ, **state_store.env}
    runners = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_WHEN_TOLD, state_store.location, os.fspath(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
        )
        for _ in range(RUNNERS)
    ]
    try:
        time.sleep(0.5)  # most of them are importing by now; all of them start creating together
        go.touch()
        outputs = [p.communicate(timeout=WAIT_LIMIT)[0] for p in runners]
    finally:
        for p in runners:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert [o.strip().splitlines()[-1] for o in outputs] == ["opened"] * RUNNERS
    assert state_store.tables()["infiniti_sync_meta"] == [("schema_version", str(SCHEMA_VERSION))]


def test_many_jobs_hold_their_locks_at_once(state_store: StateUnderTest, tmp_path: Path) -> None:
    # As `run --all --jobs 24` does: every job holds its lock while it reads and records.
    (tmp_path / "project" / ".infiniti-sync").mkdir(parents=True)
    opened = StateStore.open(state_store.location, environ={})
    jobs = 24
    everyone_locked = threading.Barrier(jobs, timeout=WAIT_LIMIT)
    read: dict[str, dict[str, int]] = {}

    def job(tenant: str) -> None:
        with opened.lock(tenant, "staff"):
            everyone_locked.wait()
            read[tenant] = opened.synced(tenant, "staff")

    threads = [threading.Thread(target=job, args=(f"school{n}",)) for n in range(jobs)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_LIMIT)
    finally:
        opened.close()
    assert read == {f"school{n}": {} for n in range(jobs)}
