"""`infiniti-sync plan`: write the files a run would send, and say what is in them. Sends nothing."""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from runner import jobs, pipeline, project, report
from runner.changes import Known
from runner.console import Console
from runner.dburl import unwritten_sqlite
from runner.errors import EXIT_CHECK, EXIT_OK, SyncError
from runner.jobs import Job
from runner.plan import Planned
from runner.records import record
from runner.report.plan import PlanReport, approval_text
from runner.spec import Secret

if TYPE_CHECKING:
    from runner.state import StateStore


def _open_state(state: str | Secret) -> StateStore | None:
    from runner.state import StateStore  # SQLAlchemy: only when there is a store to read

    return StateStore.open_existing(state, environ=os.environ)


@record
class _Setting:
    root: Path
    out: Path
    state: StateStore | None
    full: bool
    # what each plan was compared with, kept until the report when it names every user (its changes
    # refer to it weakly); None: let each go once planned
    compared: list[Known] | None


def plan_job(job: Job, setting: _Setting, console: Console) -> Planned:
    """Plan one job into `out/TENANT/SPEC.csv` against what Infiniti last accepted (runner.pipeline);
    when it fails, no file of that name is left there."""
    tenant, spec = job.tenant, job.spec
    path = setting.out / tenant.name / f"{spec.name}.csv"
    try:
        known = setting.state.known(tenant.name, spec.name) if setting.state else Known.of({})
        if setting.compared is not None:
            setting.compared.append(known)
        return pipeline.plan_job(
            job,
            path,
            known,
            environ=os.environ,
            root=setting.root,
            console=console,
            full=setting.full,
        )
    except SyncError:
        path.unlink(missing_ok=True)  # a file from an earlier plan must not pass for this one
        raise


def _approval(state: StateStore | None, planned: Planned) -> tuple[str | None, bool]:
    """What the approval waiting for the planned job would do, and whether it lets the held plan through."""
    waiting = state.waiting(planned.tenant, planned.spec) if state is not None else None
    if waiting is None or waiting.change is None:
        return None, False
    if not planned.holds:
        return approval_text(waiting, None, held=False), False
    from runner import approve  # only for a held plan with an approval waiting

    refused = approve.refusal(waiting, approve.change_of(planned), datetime.now(UTC))
    return approval_text(waiting, refused, held=True), refused is None


def execute(args: argparse.Namespace, console: Console) -> int:
    """Plan every selected job; one job's failure does not stop the others."""
    proj = project.load(project.find(explicit=args.project))
    selected = jobs.select(proj, args.tenant, args.spec)
    out = args.out or Path(tempfile.mkdtemp(prefix="infiniti-sync-plan-"))
    state = None if unwritten_sqlite(proj.state) else _open_state(proj.state)
    names = report.names_users("plan", args.format)
    setting = _Setting(proj.root, out, state, full=args.full, compared=[] if names else None)
    results: list[Planned | tuple[Job, SyncError]] = []
    approvals: dict[str, str] = {}
    worst = EXIT_OK
    try:
        for job in selected:
            try:
                planned = plan_job(job, setting, console)
            except SyncError as err:
                results.append((job, err))
                worst = max(worst, err.exit_code)
                continue
            results.append(planned)
            shown, covered = _approval(state, planned)
            if shown is not None:
                approvals[job.name] = shown
            if planned.failures or (planned.holds and not covered):  # a run would hold it, or fail
                worst = max(worst, EXIT_CHECK)
        # before the store closes: a report that names every user of each kind asks it for names
        report.write(console, "plan", args.format, PlanReport(results, out, approvals))
    finally:
        if state is not None:
            state.close()
    return worst
