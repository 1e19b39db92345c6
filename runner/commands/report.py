"""`infiniti-sync report --html DIR [--tenant T]... [--since DURATION]`: a static site of every job's health
and recent runs, from the state store and the archive, which it never changes (runner.htmlreport)."""

from __future__ import annotations

import argparse
import os
from datetime import timedelta

from runner import approve, jobs, project
from runner.console import Console
from runner.errors import EXIT_CHECK, EXIT_OK, UsageError
from runner.htmlreport import data, site
from runner.numbers import plural
from runner.state import StateStore, now


def since(text: str) -> timedelta:
    """--since: `30d`, `12h` (as approve's --for reads it)."""
    try:
        return approve.duration(text)
    except UsageError as err:
        raise UsageError(f"--since {text!r} is not a duration", hint=err.hint) from err


def execute(args: argparse.Namespace, console: Console) -> int:
    """Write the site; exit 1 when no run is recorded yet (the state store has not been created)."""
    window = since(args.since)
    proj = project.load(project.find(explicit=args.project))
    chosen = jobs.select(proj, args.tenant)
    state = StateStore.open_existing(proj.state, environ=os.environ)
    if state is None:
        console.error(
            "no report written: no run is recorded yet (the state store has not been created)\n"
            "  hint: the report shows the runs `infiniti-sync run` records; run a job first"
        )
        return EXIT_CHECK
    at = now()
    try:
        views = data.jobs_of(state, proj, chosen, at - window, every=not args.tenant)
    finally:
        state.close()
    written = site.write(views, args.html, project_file=proj.path, at=at, since=window)
    pages = written.jobs
    if not console.quiet:  # -q: nothing when all is well, as after `run -q` in a schedule
        console.print(
            f"wrote {written.folder / 'index.html'} and {plural(pages, 'job page')} ({_size(written.size)})"
        )
    return EXIT_OK


def _size(size: int) -> str:
    """`840 kB`, `5.6 MB`."""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} kB"
