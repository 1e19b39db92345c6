"""How `run --jobs N` starts its workers: before the parent loads the project, so that their start-up
overlaps the loading. Where the system can fork, a fork server (started then, importing the runner while
the project loads) forks each worker; elsewhere (Windows, and the Windows test mode, which has no
`os.fork`) each worker is spawned then. Proved from what the processes of this machine are when the parent
begins to load the project, and from the runs' records of which process ran each tenant, not from a clock.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner import project, workers
from tests.support import processes
from tests.support.project import Site, several_tenants_fixture

several = several_tenants_fixture
FORKS = hasattr(os, "fork") and sys.platform != "darwin"  # as runner/workers.py chooses


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # ended meanwhile
        return ""


def _watching_the_load(monkeypatch: pytest.MonkeyPatch) -> list[dict[int, str]]:
    """What processes descend from this one each time a project begins to load (pid: command line)."""
    seen: list[dict[int, str]] = []
    load: Callable[..., Any] = project.load

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append({pid: _cmdline(pid) for pid in processes.descendants(os.getpid())})
        return load(*args, **kwargs)

    monkeypatch.setattr(project, "load", watched)
    return seen


@processes.with_proc
def test_the_workers_start_before_the_project_is_loaded(
    several: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _watching_the_load(monkeypatch)
    done = several.invoke(["run", "--all", "--jobs", "2"])
    assert done.code == 1  # south fails its rows, as with --jobs 1
    assert len(seen) == 1  # the parent loads the project once; the workers are sent it
    runs = json.loads(several.invoke(["history", "--format", "json"]).out)["runs"]
    ran = {run["pid"] for run in runs}
    assert len(runs) == 3 and os.getpid() not in ran
    before = seen[0]
    if FORKS:  # the fork server is running (and importing) already; the workers are forked from it later
        assert [cmd for cmd in before.values() if "multiprocessing.forkserver" in cmd]
        assert not ran & set(before)
    else:  # the very processes that ran the tenants were started before the project began to load
        assert ran <= set(before)


@processes.with_proc
def test_a_project_that_does_not_load_stops_the_workers_started_for_it(
    several: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _watching_the_load(monkeypatch)
    several.project_file.write_text("version: 1\ntenants: [\n", encoding="utf-8")
    done = several.invoke(["run", "--all", "--jobs", "2"])
    assert done.code == 2
    assert len(seen) == 1
    assert multiprocessing.active_children() == []  # each worker started was told to stop, and waited for


def test_more_workers_than_tenants_run_each_tenant_once(several: Site) -> None:
    """`--jobs 5` over three tenants: the workers beyond the tenants are stopped unused, and each tenant runs
    once, reported in the order of the project."""
    done = several.invoke(["run", "--all", "--jobs", "5"])
    assert done.code == 1
    assert [line.split(":")[:2] for line in done.out.splitlines() if not line.startswith(" ")] == [
        ["north/staff", " ok"],
        ["south/staff", " failed"],  # the sandbox's south has no Staff group
        ["west/staff", " ok"],
    ]
    runs = json.loads(several.invoke(["history", "--format", "json"]).out)["runs"]
    assert sorted(run["tenant"] for run in runs) == ["north", "south", "west"]
    assert len({run["pid"] for run in runs}) <= 3 and os.getpid() not in {run["pid"] for run in runs}
    assert multiprocessing.active_children() == []


def test_a_worker_starts_with_the_runner_imported_where_it_is_forked_from_the_fork_server() -> None:
    """The fork server imports the runner once, before it forks any worker: a worker begins with it (and
    what its first tenant would import) in sys.modules; a spawned worker imports it itself."""
    imported = "sorted(name for name in __import__('sys').modules if name.startswith('runner'))"
    with workers._context().Pool(1) as pool:  # as runner/workers.py starts its workers
        found = pool.apply(
            eval, (imported,)
        )  # evaluated in the worker: no module of the tests imported there
    expected = {"runner.workers", "runner.run", "runner.client", "runner.state", "runner.deadline"}
    if FORKS:
        assert expected <= set(found)
    else:
        assert not expected & set(found)
