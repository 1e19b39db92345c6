"""`infiniti-sync history`: recent runs with outcome and counts, from the state store."""

from __future__ import annotations

import argparse
import os

from runner import project, report
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.state import RunRecord, StateStore


def execute(args: argparse.Namespace, console: Console) -> int:
    """Print the most recent runs, newest first."""
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    proj = project.load(project.find(explicit=args.project))
    state = StateStore.open_existing(proj.state, environ=os.environ)
    records: list[RunRecord] = []
    if state is not None:
        try:
            records = state.history(args.tenant, args.spec, args.limit)
        finally:
            state.close()
    console.print(report.history_json(records) if args.format == "json" else report.history_text(records))
    return EXIT_OK
