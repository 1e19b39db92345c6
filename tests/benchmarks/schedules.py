"""The benchmark's figures for scheduled operation: planning `due` over many tenants.

A project of N tenants (each with two specs, a nightly schedule and one of a few time zones) and a SQLite
state holding `RUNS` runs of every job, the latest of them yesterday's or last year's (a job not run for a
year must cost no more than one run yesterday). Two figures:
- `due_plan_s`: in this process, reading the last start of every job (one query) and working out what is due,
  the project already loaded: the part of `run --all --due` that is new.
- `due_s`: `infiniti-sync due` as its own process (start-up, loading the 2N-job project, the state), its
  validation remembered from a first call, as on every run but the first after a change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert
from sqlalchemy.pool import NullPool

from runner import due, jobs, project
from runner.state import StateStore, now
from tests.support.oldschema import runs_table

ROOT = Path(__file__).resolve().parents[2]
RUNS = 10  # runs of each job in the state
ZONES = ("Australia/Sydney", "Pacific/Auckland", "Europe/London", "America/New_York")
TENANT = """\
  {name}:
    url: https://{name}.example.edu
    username: autosync
    password: {{env: INFINITI_DEMO_PASSWORD}}
    connections:
      export: {{files: sms-export}}
    vars: {{campus: North}}
    specs: [students, {{name: staff, schedule: "0 3 * * 0"}}]
    schedule: "15 2 * * *"
    timezone: {zone}
"""


def write(work: Path, count: int) -> Path:
    """The example project with `count` scheduled tenants, and its state with runs of every job."""
    folder = work / f"due-{count}"
    if folder.exists():
        return folder
    (folder / "specs").mkdir(parents=True)
    example = ROOT / "runner" / "example"
    for name in ("students", "staff"):
        (folder / "specs" / f"{name}.yaml").write_bytes((example / "specs" / f"{name}.yaml").read_bytes())
    (folder / "sms-export").mkdir()
    body = "".join(TENANT.format(name=f"t{n:05d}", zone=ZONES[n % len(ZONES)]) for n in range(count))
    (folder / "infiniti-sync.yaml").write_text("version: 1\ntenants:\n" + body, encoding="utf-8")
    _seed(folder, count)
    return folder


def _seed(folder: Path, count: int) -> None:
    path = folder / ".infiniti-sync" / "state.db"
    StateStore.open(os.fspath(path), environ={}).close()  # the schema, then the runs written from outside
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    latest = now() - timedelta(days=1)
    try:
        with engine.begin() as conn:
            for n in range(count):
                last = latest - timedelta(days=365 * (n % 2))  # half last ran yesterday, half a year ago
                rows = [
                    {
                        "tenant": f"t{n:05d}", "spec": spec, "started_at": last - timedelta(days=run),
                        "finished_at": last - timedelta(days=run), "outcome": "ok", "exit_code": 0,
                        "mode": "full",
                    }
                    for spec in ("students", "staff")
                    for run in range(RUNS)
                ]  # fmt: skip
                conn.execute(insert(runs_table), rows)
    finally:
        engine.dispose()


def due_planning(work: Path, count: int, repeat: int) -> dict[str, float]:
    """`due_plan_s` and `due_s` (see the module's docstring) for `count` tenants, medians of `repeat`."""
    folder = write(work, count)
    env = {**os.environ, "INFINITI_DEMO_PASSWORD": "unused"}
    command = [sys.executable, "-m", "runner", "due", "--format", "json", "--project", os.fspath(folder)]
    subprocess.run(command, check=True, capture_output=True, env=env)  # validates once, remembered
    proj = project.load(folder / "infiniti-sync.yaml")
    selected = jobs.select(proj)
    plans, commands = [], []
    for _ in range(repeat):
        clock = time.perf_counter()
        state = StateStore.open_existing(proj.state, environ={})
        assert state is not None
        try:
            due.due(proj, selected, state.last_starts(), now())
        finally:
            state.close()
        plans.append(time.perf_counter() - clock)
        clock = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        commands.append(time.perf_counter() - clock)
    plans.sort()
    commands.sort()
    n = f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)
    return {f"due_plan_s@{n}": plans[len(plans) // 2], f"due_s@{n}": commands[len(commands) // 2]}
