"""`run --jobs N`'s worker processes: when they cannot even start, each task of theirs comes back as an error
result naming why (and is handed to the caller to record), never as a hang or a crash of the parent; they
run the project the parent loaded; a worker that dies with a tenant waiting behind the one it runs fails
only the one it ran."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runner import jobs, project
from runner.run import JobResult, Options
from runner.sandbox import Fault
from runner.workers import Setup, run_tenants
from tests.support import processes
from tests.support.project import DEMO_ENV, Site, copy_project, several_tenants_fixture

several = several_tenants_fixture

TWO_TENANTS = """\
  other:
    url: https://127.0.0.1:8443
    tenant_id: other
    username: autosync
    password: {env: INFINITI_DEMO_PASSWORD}
    connections:
      export: {files: sms-export}
    vars: {campus: North}
    specs: [staff]
"""


def test_workers_that_cannot_load_the_project_fail_each_job_with_the_reason(tmp_path: Path) -> None:
    project_file = copy_project(tmp_path / "project")
    with project_file.open("a", encoding="utf-8") as text:
        text.write(TWO_TENANTS)
    selected = jobs.select(project.load(project_file))
    broken = tmp_path / "broken" / "infiniti-sync.yaml"  # what the workers load: the file is gone
    lost: list[JobResult] = []
    results = run_tenants(Setup(broken, Options()), selected, 2, lost=lost.append)
    assert [r.job.name for r in results] == ["demo/students", "demo/staff", "demo/guardians", "other/staff"]
    assert sorted(r.job.name for r in lost) == sorted(r.job.name for r in results)
    assert {(r.outcome, r.exit_code, str(r.error)) for r in results} == {
        ("error", 2, f"{broken}:1:1: $: cannot read: No such file or directory")
    }


def test_workers_run_the_project_the_parent_loaded_not_its_file(
    several: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers are sent the project as the parent loaded it: they run it although its file is gone."""
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    loaded = project.load(several.project_file)
    several.project_file.unlink()
    lost: list[JobResult] = []
    setup = Setup(several.project_file, Options(), project=loaded)
    results = run_tenants(setup, jobs.select(loaded), 2, lost=lost.append)
    assert [(r.job.name, r.outcome) for r in results] == [
        ("north/staff", "ok"),
        ("south/staff", "failed"),  # the sandbox's south has no Staff group
        ("west/staff", "ok"),
    ]
    assert lost == []


@processes.with_proc
def test_a_worker_killed_with_a_tenant_waiting_fails_only_the_one_it_ran(
    several: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker for three tenants holds the next tenant while it runs the first (it need not wait for the
    parent to send it). Killed while north waits for Infiniti, it fails north only: south, which was
    waiting behind, and west run in the worker that replaces it, in the order of the project."""
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    several.sandbox.inject("north", Fault(delay=3.0))
    port = urlsplit(several.sandbox.url).port or 443
    killer = processes.Killer(port)
    killer.start()
    loaded = project.load(several.project_file)
    lost: list[JobResult] = []
    results = run_tenants(Setup(several.project_file, Options()), jobs.select(loaded), 1, lost=lost.append)
    killer.join()
    assert len(killer.killed) == 1
    assert [(r.job.name, r.outcome) for r in results] == [
        ("north/staff", "error"),
        ("south/staff", "failed"),
        ("west/staff", "ok"),
    ]
    assert [r.job.name for r in lost] == ["north/staff"]
    assert "the worker process running this tenant was killed by signal 9" in str(results[0].error)
