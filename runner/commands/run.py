"""`infiniti-sync run (--tenant T... | --all) [--due] [--shard I/N]`: plan, send, check the answer, record
the run."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from runner import due, jobs, metrics, notify, project, report
from runner.client import Client
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.jobs import Job
from runner.run import JobResult, Options, Runner
from runner.spec import Project
from runner.state import StateStore, now


def execute(args: argparse.Namespace, console: Console) -> int:
    """Run the selected jobs (with --due, those due) and report; the exit code is the worst of them."""
    if not args.all and not args.tenant:
        raise UsageError("name the tenants to run with --tenant T (repeatable), or pass --all")
    if args.all and args.tenant:
        raise UsageError("give --tenant or --all, not both")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    shard = due.shard(args.shard) if args.shard else None
    import urllib3

    proj = project.load(project.find(explicit=args.project))
    selected = jobs.select(proj, [] if args.all else args.tenant, args.spec)
    if shard is not None:
        selected = due.in_shard(selected, *shard)
    publisher = metrics.Publisher.prepare(proj, args.metrics_file, shard, os.environ)
    state = StateStore.open(proj.state, environ=os.environ)
    pool = urllib3.PoolManager(num_pools=max(10, args.jobs * 2), maxsize=args.jobs)
    try:
        chosen = _due(proj, selected, state) if args.due else selected
        notices = notify.Notifier(proj, environ=os.environ, console=console)
        notices.begin(chosen, state)
        options = Options(force=args.force, full=args.full, wait=args.wait, due=args.due)
        runner = Runner(proj, Client(pool), state, environ=os.environ, console=console, options=options)
        if args.jobs > 1 and len({job.tenant.name for job in chosen}) > 1:
            from runner import workers

            setup = workers.Setup(proj.path, options, verbose=console.verbose, project=proj)
            results = workers.run_tenants(setup, chosen, args.jobs, lost=runner.finish)
        else:
            results = runner.run_all(chosen)
        notices.end(results)
        reading = publisher.read(state) if publisher else None
    finally:
        pool.clear()
        state.close()
    ran = _ran(results, console)
    _report(
        args,
        console,
        ran,
        nothing=lambda: report.nothing_run_text(selected, len(results) - len(ran), shard),
        undelivered=notices.undelivered,
    )
    if args.junit:
        report.write_private(args.junit, report.runs_junit(ran))
    code = max((r.exit_code for r in ran), default=EXIT_OK)
    return max(code, publisher.publish(reading, console)) if publisher and reading else code


def _report(
    args: argparse.Namespace,
    console: Console,
    ran: list[JobResult],
    *,
    nothing: Callable[[], str],
    undelivered: list[str],
) -> None:
    """The report on standard output: JSON, the problems only (-q), the runs, or why nothing ran; then
    (but in JSON, where it is a key) the notifications that could not be delivered, which standard error
    has told already and -q leaves there."""
    for result in ran:
        report.log_job(console, result)
    if args.format == "json":
        console.print(report.runs_json(ran, undelivered))
        return
    if console.quiet:
        if (problems := report.runs_quiet(ran)) is not None:
            console.print(problems)
        return
    console.print(report.runs_text(ran, verbose=console.verbose) if ran else nothing())
    if (lines := report.undelivered_text(undelivered)) is not None:
        console.print(lines)


def _due(proj: Project, selected: list[Job], state: StateStore) -> list[Job]:
    """The due ones of `selected`, from the last starts of every job, read in one query."""
    return [d.job for d in due.due(proj, selected, state.last_starts(), now())]


def _ran(results: list[JobResult], console: Console) -> list[JobResult]:
    """The results of the jobs that ran; those skipped under their lock (--due) are a note at -v."""
    if console.verbose:
        for result in results:
            if result.outcome == "skipped":
                console.message(f"{result.name}: skipped: {'; '.join(result.notes)}")
    return [r for r in results if r.outcome != "skipped"]
