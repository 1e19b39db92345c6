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
from runner.numbers import number
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
    keep_lists: bool = False,
) -> Planned:
    """Plan `job` into `path` against `known`: incremental (unchanged lines left out of the file) when
    the spec says so and not `full`; every username of each kind kept with `keep_lists`."""
    tenant, spec = job.tenant, job.spec
    where = Where(tenant=tenant.name, spec=spec.name, connection=spec.source.connection)
    connection = tenant.connections[spec.source.connection]
    source = open_source(connection, environ=environ, root=root, where=where)
    progress = Progress(console)
    try:
        return build(
            spec,
            tenant,
            source,
            path,
            known=known,
            incremental=spec.mode == "incremental" and not full,
            keep_lists=keep_lists,
            progress=lambda n: progress.update(f"{job.name}: {number(n)} rows read"),
        )
    finally:
        progress.done()
