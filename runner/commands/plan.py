"""`infiniti-sync plan`: write the files a run would send, and say what is in them. Sends nothing."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from runner import jobs, project, report
from runner.console import Console, Progress
from runner.errors import EXIT_CHECK, EXIT_OK, SyncError, Where
from runner.jobs import Job
from runner.plan import Planned, build
from runner.source import open_source


def plan_job(job: Job, root: Path, out: Path, console: Console) -> Planned:
    """Plan one job into `out/TENANT/SPEC.csv`; when it fails, no file of that name is left there."""
    tenant, spec = job.tenant, job.spec
    where = Where(tenant=tenant.name, spec=spec.name, connection=spec.source.connection)
    path = out / tenant.name / f"{spec.name}.csv"
    progress = Progress(console)
    try:
        connection = tenant.connections[spec.source.connection]
        source = open_source(connection, environ=os.environ, root=root, where=where)
        return build(
            spec, tenant, source, path, progress=lambda n: progress.update(f"{job.name}: {n:,} rows")
        )
    except SyncError:
        path.unlink(missing_ok=True)  # a file from an earlier plan must not pass for this one
        raise
    finally:
        progress.done()


def execute(args: argparse.Namespace, console: Console) -> int:
    """Plan every selected job; one job's failure does not stop the others."""
    proj = project.load(project.find(explicit=args.project))
    selected = jobs.select(proj, args.tenant, args.spec)
    out = args.out or Path(tempfile.mkdtemp(prefix="infiniti-sync-plan-"))
    results: list[Planned | tuple[Job, SyncError]] = []
    worst = EXIT_OK
    for job in selected:
        try:
            planned = plan_job(job, proj.root, out, console)
        except SyncError as err:
            results.append((job, err))
            worst = max(worst, err.exit_code)
            continue
        results.append(planned)
        if not planned.ok:
            worst = max(worst, EXIT_CHECK)
    if args.format == "json":
        console.print(report.plans_json(results, out))
    else:
        console.print(report.plans_text(results, out))
    return worst
