"""The plan of one job, in one place for `plan` and `run`: open the job's source, and write, classify and
guard its file in one pass against what the state knows (runner.plan.build).

    what the state knows (Known) + the source -> plan (render, checks, changes, guards) -> Planned (frozen)

What comes after (sending, reading the answer, recording) reads the result and never changes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from runner.changes import Known
from runner.console import Console, Progress
from runner.errors import Where
from runner.jobs import Job
from runner.numbers import plural
from runner.plan import Planned, build
from runner.source import open_source


def plan_job(
    job: Job,
    path: Path,
    known: Known,
    *,
    environ: Mapping[str, str],
    root: Path,
    console: Console,
    full: bool = False,
) -> Planned:
    """Plan `job` into `path` against `known`: incremental (unchanged lines left out of the file) when
    the spec says so and not `full`."""
    tenant, spec = job.tenant, job.spec
    where = Where(tenant=tenant.name, spec=spec.name, connection=spec.source.connection)
    connection = tenant.connections[spec.source.connection]
    progress = Progress(console)
    source = open_source(
        connection,
        environ=environ,
        root=root,
        where=where,
        loading=lambda name, n: _loading(progress, job, name, n),
    )
    try:
        return build(
            spec,
            tenant,
            source,
            path,
            known=known,
            incremental=spec.mode == "incremental" and not full,
            progress=lambda n: _reading(progress, job, n),
        )
    finally:
        progress.done()


def _loading(progress: Progress, job: Job, name: str, records: int) -> None:
    """The status while a CSV file of the source loads (a phase of its own as each file starts)."""
    if records:
        progress.update(f"{job.name}: loading {name}: {plural(records, 'row')}")
    else:
        progress.update(f"{job.name}: loading {name}", force=True)


def _reading(progress: Progress, job: Job, rows: int) -> None:
    """The status while the query's rows are rendered and checked (a phase of its own as they start)."""
    if rows:
        progress.update(f"{job.name}: {plural(rows, 'row')} read")
    else:
        progress.update(f"{job.name}: reading the rows", force=True)
