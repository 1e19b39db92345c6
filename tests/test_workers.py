"""`run --jobs N`'s worker processes when they cannot even start: each task of theirs comes back as an error
result naming why (and is handed to the caller to record), never as a hang or a crash of the parent."""

from __future__ import annotations

from pathlib import Path

from runner import jobs, project
from runner.run import JobResult, Options
from runner.workers import Setup, run_tenants
from tests.support.project import copy_project

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
