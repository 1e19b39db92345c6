"""`infiniti-sync approve --tenant T --spec S [--for DURATION] [--format json]`: let the change the job's
last held run found through, once, without --force (runner.approve)."""

from __future__ import annotations

import argparse
import os
from functools import partial

from runner import approve, jobs, project, report
from runner.console import Console
from runner.errors import EXIT_CHECK, EXIT_OK, Where
from runner.report.approve import ApproveReport
from runner.state import StateStore, now


def execute(args: argparse.Namespace, console: Console) -> int:
    """Record an approval of the last held run's change; exit 1 when the job's last run is not a held one."""
    length = approve.duration(args.for_)
    proj = project.load(project.find(explicit=args.project))
    job = jobs.select(proj, [args.tenant], [args.spec])[0]
    nothing = partial(_nothing, console, args.format)
    existing = StateStore.open_existing(proj.state, environ=os.environ)
    if existing is None:
        return nothing(f"no run of {job.name} is recorded: the state store has not been created yet")
    existing.close()
    state = StateStore.open(proj.state, environ=os.environ)  # migrated: an older store has no approvals yet
    tenant, spec = job.tenant.name, job.spec.name
    try:
        with state.lock(tenant, spec, where=Where(tenant=tenant, spec=spec)):  # no run meanwhile
            last = next(iter(state.history([tenant], [spec], limit=1)), None)
            if last is None:
                return nothing(f"no run of {job.name} is recorded")
            when = approve.shown(last.finished_at)
            if last.outcome != "held":
                return nothing(f"the last run of {job.name} ({when}) was {last.outcome}, not held")
            held = state.held(tenant, spec)
            if held is None or held[0] != last.id:
                return nothing(
                    f"the held run of {job.name} ({when}) kept no change to approve (an older infiniti-sync "
                    "recorded it); run it again, then approve the run that holds",
                )
            user, host = approve.who()
            at = now()
            approval = approve.Approval(0, tenant, spec, last.id or 0, user, host, at, at + length)
            replaced = state.approve(approval, held[1])
    finally:
        state.close()
    recorded = ApproveReport(job.name, (approval, held[1]), when, replaced)
    report.write(console, "approve", args.format, recorded)
    return EXIT_OK


def _nothing(console: Console, format: str, why: str) -> int:
    """Say why there is nothing to approve: an error on standard error, but in JSON, where it is a key of
    the report on standard output; exit 1."""
    if format == "text":
        console.error(f"nothing to approve: {why}")
    else:
        report.write(console, "approve", format, ApproveReport(nothing=why))
    return EXIT_CHECK
