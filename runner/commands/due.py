"""`infiniti-sync due`: the jobs a `run --due` would run now (or at --at TIME), and why. Changes nothing: a
state store that does not exist is not created."""

from __future__ import annotations

import argparse
import os
from datetime import datetime

from runner import due, jobs, project, report
from runner.console import Console
from runner.errors import EXIT_OK
from runner.report.due import DueReport
from runner.spec import Project
from runner.state import StateStore, now


def execute(args: argparse.Namespace, console: Console) -> int:
    """List the due jobs of the selected tenants and specs, in the project's order."""
    shard = due.shard(args.shard) if args.shard else None
    at = due.moment(args.at) if args.at else now()
    proj = project.load(project.find(explicit=args.project))
    selected = jobs.select(proj, args.tenant, args.spec)
    if shard is not None:
        selected = due.in_shard(selected, *shard)
    found = due.due(proj, selected, _last_starts(proj), at)
    report.write(console, "due", args.format, DueReport(found, selected, proj, at, shard))
    return EXIT_OK


def _last_starts(proj: Project) -> dict[tuple[str, str], datetime]:
    """The last start of every job run before, read only (no store yet: none has run)."""
    state = StateStore.open_existing(proj.state, environ=os.environ)
    if state is None:
        return {}
    try:
        return state.last_starts()
    finally:
        state.close()
