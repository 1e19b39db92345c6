"""`infiniti-sync due` and `run --due` against a sandbox process and a real SQLite state: what is due and why,
a run that records what it ran so that the next finds nothing due, a spec's own schedule, a tenant without
one, a job another runner holds or has just run (skipped, never recorded), `--jobs 2`, and `--shard`.

The project is tests/data/due-project: its schedules (yearly, 29 February) have no slot while a test runs,
so what is due follows from the runs alone. Two runners at once on one PostgreSQL store:
tests/test_due_processes.py."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from runner import due, jobs, project
from runner.client import Client
from runner.console import Console
from runner.run import Options, Runner
from runner.state import RunRecord, StateStore
from tests.support.project import Site

DUE_PROJECT = Path(__file__).parent / "data" / "due-project"
AT = "2026-12-01T15:16:00Z"
NEVER_RUN = [
    {"tenant": "demo", "spec": "students", "slot": "2026-01-01T00:00:00+11:00", "last_run": None},
    {"tenant": "demo", "spec": "staff", "slot": "2024-02-29T03:00:00+11:00", "last_run": None},
    {"tenant": "east", "spec": "staff", "slot": "2026-01-01T00:00:00-05:00", "last_run": None},
]
SHARD_HINT = "\n  hint: for example --shard 0/4 (shards 0 to 3 of 4)\n"
NOTHING_DUE = "nothing is due: 4 jobs checked (1 without a schedule), none has a slot since its last run\n"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    running = Site.start(tmp_path / "project", overlay=DUE_PROJECT)
    try:
        yield running
    finally:
        running.stop()


def _due(site: Site, *args: str) -> list[dict[str, Any]]:
    done = site.invoke(["due", "--format", "json", *args])
    assert (done.code, done.err) == (0, "")
    found: list[dict[str, Any]] = json.loads(done.out)["due"]
    return found


def _runs(site: Site) -> list[tuple[str, str, str]]:
    """(tenant, spec, outcome) of every recorded run, oldest first."""
    state = StateStore.open_existing(os.fspath(site.root / ".infiniti-sync" / "state.db"), environ={})
    if state is None:
        return []
    try:
        return [(r.tenant, r.spec, r.outcome) for r in reversed(state.history(limit=100))]
    finally:
        state.close()


def _ran(out: str) -> list[str]:
    return [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")]


def test_due_lists_the_jobs_never_run_and_creates_no_store(site: Site) -> None:
    assert _due(site, "--at", AT) == NEVER_RUN
    assert _due(site, "--at", AT, "--tenant", "east") == NEVER_RUN[2:]
    assert _due(site, "--at", AT, "--spec", "students") == NEVER_RUN[:1]
    done = site.invoke(["due", "--at", AT])
    assert (done.code, done.err) == (0, "")
    assert done.out == (
        "job            slot                    last run started\n"
        "demo/students  2026-01-01 00:00+11:00  never\n"
        "demo/staff     2024-02-29 03:00+11:00  never\n"
        "east/staff     2026-01-01 00:00-05:00  never\n"
        "3 of 4 jobs due at 2026-12-01T15:16:00+00:00 (1 without a schedule)\n"
    )
    assert not (site.root / ".infiniti-sync" / "state.db").exists()


def test_run_due_runs_what_is_due_once_and_then_nothing(site: Site) -> None:
    first = site.invoke(["run", "--all", "--due"])
    assert (first.code, first.err) == (0, "")
    assert _ran(first.out) == ["demo/students", "demo/staff", "east/staff"]  # manual has no schedule
    second = site.invoke(["run", "--all", "--due"])
    assert (second.code, second.out, second.err) == (0, NOTHING_DUE, "")
    assert _runs(site) == [("demo", "students", "ok"), ("demo", "staff", "ok"), ("east", "staff", "ok")]
    assert _due(site) == []
    # a year on, each is due again, with the start of its run as its last run
    later = _due(site, "--at", "2027-06-01T00:00:00Z")
    assert [(d["tenant"], d["spec"], d["slot"]) for d in later] == [
        ("demo", "students", "2027-01-01T00:00:00+11:00"),
        ("east", "staff", "2027-01-01T00:00:00-05:00"),
    ]
    started = {(r.tenant, r.spec): r.started_at for r in _history(site)}
    assert [datetime.fromisoformat(d["last_run"]) for d in later] == [
        started[("demo", "students")],
        started[("east", "staff")],
    ]
    # without --due, a tenant without a schedule still runs, by name or with --all
    assert _ran(site.invoke(["run", "--tenant", "manual"]).out) == ["manual/staff"]


def _history(site: Site) -> list[RunRecord]:
    state = StateStore.open(os.fspath(site.root / ".infiniti-sync" / "state.db"), environ={})
    try:
        return state.history(limit=100)
    finally:
        state.close()


def test_run_due_with_two_workers(site: Site) -> None:
    first = site.invoke(["run", "--all", "--due", "--jobs", "2"])
    assert (first.code, first.err) == (0, "")
    assert _ran(first.out) == ["demo/students", "demo/staff", "east/staff"]
    second = site.invoke(["run", "--all", "--due", "--jobs", "2", "--format", "json"])
    assert (second.code, json.loads(second.out)) == (0, {"runs": []})
    assert len(_runs(site)) == 3


def test_a_job_another_runner_holds_is_left_to_it_quietly(site: Site) -> None:
    state = StateStore.open(os.fspath(site.root / ".infiniti-sync" / "state.db"), environ={})
    try:
        with state.lock("demo", "staff"):
            quiet = site.invoke(["run", "--tenant", "demo", "--due"])
            told = site.invoke(["run", "--tenant", "demo", "--due", "-v"])
    finally:
        state.close()
    assert (quiet.code, _ran(quiet.out), quiet.err) == (0, ["demo/students"], "")
    assert (told.code, told.out) == (
        0,
        "nothing ran: 2 jobs checked, 1 due but taken by another runner (-v says which)\n",
    )
    holder = rf"host {re.escape(socket.gethostname())}, process {os.getpid()}, running since \S+"
    assert re.fullmatch(
        rf"demo/staff: skipped: another run holds this tenant and spec: {holder}: "
        r"that runner is doing this job\n",
        told.err,
    )
    assert _runs(site) == [("demo", "students", "ok")]  # the skipped job is not recorded
    assert not (site.root / ".infiniti-sync" / "runs" / "demo" / "staff").exists()


def test_a_job_run_meanwhile_is_not_run_again_under_its_lock(site: Site) -> None:
    """A runner that chose a job as due, and takes its lock after another runner ran it, skips it."""
    proj = project.load(site.project_file)
    [job] = jobs.select(proj, ["east"])
    state = StateStore.open(proj.state, environ={})
    try:
        started = datetime.now(UTC)
        state.record(RunRecord("east", "staff", started, started, "ok", 0, "full"))
        client = Client(urllib3.PoolManager())
        runner = Runner(proj, client, state, environ={}, console=Console(), options=Options(due=True))
        result = runner.run(job)
    finally:
        state.close()
    assert result.outcome == "skipped"
    assert result.notes == [
        "no longer due: another runner ran it meanwhile "
        f"(last run started {started.isoformat(timespec='seconds')})"
    ]
    assert _runs(site) == [("east", "staff", "ok")]  # the other runner's run only
    assert result.archive is None
    assert not (site.root / ".infiniti-sync" / "runs" / "east").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["due", "--at", "2026-12-01T15:16:00"],
            "error: --at '2026-12-01T15:16:00' has no offset, so it could be any of the world's times\n"
            "  hint: add one: 2026-12-01T15:16:00Z for UTC, or 2026-12-01T15:16:00+11:00\n",
        ),
        (
            ["due", "--at", "tomorrow"],
            "error: --at 'tomorrow' is not an ISO 8601 time\n  hint: for example --at 2026-12-01T15:16:00Z\n",
        ),
        (
            ["due", "--shard", "3/3"],
            "error: --shard '3/3': the shard must be 0 to 2 of 3" + SHARD_HINT,
        ),
        (
            ["due", "--shard", "0/0"],
            "error: --shard '0/0': there must be at least one shard" + SHARD_HINT,
        ),
        (
            ["run", "--all", "--due", "--shard=-1/2"],
            "error: --shard '-1/2' is not I/N" + SHARD_HINT,
        ),
        (
            ["run", "--all", "--shard", "one"],
            "error: --shard 'one' is not I/N" + SHARD_HINT,
        ),
    ],
)
def test_bad_times_and_shards_are_usage_errors(site: Site, args: list[str], message: str) -> None:
    done = site.invoke(args)
    assert (done.code, done.out, done.err) == (2, "", message)
    assert not (site.root / ".infiniti-sync" / "state.db").exists()


def test_the_shards_share_the_tenants_out(site: Site) -> None:
    shards = [_due(site, "--at", AT, "--shard", f"{i}/3") for i in range(3)]
    assert sorted((d["tenant"], d["spec"]) for found in shards for d in found) == sorted(
        (d["tenant"], d["spec"]) for d in NEVER_RUN
    )
    assert [len(found) for found in shards] == [0, 1, 2]  # east in 1, demo in 2 (manual, in 0, is never due)
    empty = site.invoke(["run", "--all", "--due", "--shard", "0/3"])
    assert (empty.code, empty.out) == (
        0,
        "nothing is due: 1 job checked in shard 0/3 (1 without a schedule), "
        "none has a slot since its last run\n",
    )
    ran = site.invoke(["run", "--all", "--due", "--shard", "1/3"])
    assert (ran.code, _ran(ran.out)) == (0, ["east/staff"])


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=40, unique=True), st.integers(1, 12))
def test_every_tenant_is_in_exactly_one_shard(names: list[str], count: int) -> None:
    holding = [[n for n in names if due.shard_of(n, count) == i] for i in range(count)]
    assert sorted(n for shard in holding for n in shard) == sorted(names)


@pytest.mark.parametrize(
    ("name", "count", "shard"),
    [("demo", 3, 2), ("east", 3, 1), ("manual", 3, 0), ("stmarys", 8, 4), ("Ōtaki-College", 100, 41)],
)
def test_a_tenant_shard_is_the_same_everywhere(name: str, count: int, shard: int) -> None:
    """The shard is SHA-256 of the UTF-8 name: the same figures on every machine and Python version."""
    assert due.shard_of(name, count) == shard


def test_without_a_timezone_schedules_are_read_in_the_hosts_zone(site: Site) -> None:
    text = site.project_file.read_text(encoding="utf-8")
    site.project_file.write_text(text.replace("timezone: Australia/Sydney\n", "", 1), encoding="utf-8")
    auckland = site.invoke(
        ["due", "--format", "json", "--at", AT, "--tenant", "demo"], env={"TZ": "Pacific/Auckland"}
    )
    assert [d["slot"] for d in json.loads(auckland.out)["due"]] == [
        "2026-01-01T00:00:00+13:00",
        "2024-02-29T03:00:00+13:00",
    ]
    london = site.invoke(
        ["due", "--format", "json", "--at", AT, "--tenant", "demo"], env={"TZ": ":Europe/London"}
    )
    assert [d["slot"] for d in json.loads(london.out)["due"]] == [
        "2026-01-01T00:00:00+00:00",
        "2024-02-29T03:00:00+00:00",
    ]
