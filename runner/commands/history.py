"""`infiniti-sync history`: recent runs with outcome and counts, from the state store."""

from __future__ import annotations

import argparse
import json
import os

from runner import project
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.report import table
from runner.state import RunRecord, StateStore


def _show(n: int | None) -> str:
    return "" if n is None else str(n)


def _text(records: list[RunRecord]) -> str:
    if not records:
        return "no runs recorded yet"
    rows = [
        (
            r.finished_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            f"{r.tenant}/{r.spec}",
            r.outcome,
            r.mode,
            _show(r.rows_sent),
            _show(r.created),
            _show(r.updated),
            _show(r.failed),
            r.archive or "",
        )
        for r in records
    ]
    header = ("finished (UTC)", "job", "outcome", "mode", "sent", "created", "updated", "failed", "archive")
    return "\n".join(table(header, rows, indent="", width=None))


def _json(records: list[RunRecord]) -> str:
    def one(r: RunRecord) -> dict[str, object]:
        data = dict(r.__dict__)
        data["started_at"] = r.started_at.isoformat()
        data["finished_at"] = r.finished_at.isoformat()
        return data

    return json.dumps({"runs": [one(r) for r in records]}, indent=2, ensure_ascii=False)


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
    console.print(_json(records) if args.format == "json" else _text(records))
    return EXIT_OK
