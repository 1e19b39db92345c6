"""`infiniti-sync history`: recent runs with outcome and counts, and approvals of held runs, from the state
store."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from runner import project, report
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.report.history import HistoryReport
from runner.state import RunRecord, StateStore, now

if TYPE_CHECKING:
    from runner.approve import Approval


def execute(args: argparse.Namespace, console: Console) -> int:
    """Print the most recent runs and approvals, newest first."""
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    proj = project.load(project.find(explicit=args.project))
    state = StateStore.open_existing(proj.state, environ=os.environ)
    records: list[RunRecord] = []
    approvals: list[Approval] = []
    if state is not None:
        try:
            records = state.history(args.tenant, args.spec, args.limit)
            approvals = state.approvals(args.tenant, args.spec, args.limit)
        finally:
            state.close()
    report.write(console, "history", args.format, HistoryReport(records, approvals, now(), args.limit))
    return EXIT_OK
