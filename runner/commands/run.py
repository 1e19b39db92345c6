"""`infiniti-sync run (--tenant T... | --all) [--due] [--shard I/N]`: plan, send, check the answer, record
the run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from runner import jobs, project, report
from runner.client import Client
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.jobs import Job
from runner.report.run import RunReport, log_job
from runner.run import JobResult, Options, Runner
from runner.spec import Project
from runner.state import StateStore, now

if TYPE_CHECKING:  # imported only when a run asks for metrics or notifications, or for workers
    from runner import workers
    from runner.metrics import Publisher
    from runner.notify import Notifier


def execute(args: argparse.Namespace, console: Console) -> int:
    """Run the selected jobs (with --due, those due) and report; the exit code is the worst of them."""
    if not args.all and not args.tenant:
        raise UsageError("name the tenants to run with --tenant T (repeatable), or pass --all")
    if args.all and args.tenant:
        raise UsageError("give --tenant or --all, not both")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    shard = None
    if args.shard:
        from runner import due  # runner.due only for --shard or --due

        shard = due.shard(args.shard)
    pool = _workers(args)
    try:
        return _execute(args, console, shard, pool)
    finally:
        if pool is not None:
            pool.close()


def _workers(args: argparse.Namespace) -> workers.Pool | None:
    """With --jobs N over more than one tenant, N worker processes, started before the project is loaded
    so that they start up meanwhile (runner/workers.py); None when the run has a single process."""
    if args.jobs < 2 or not (args.all or len(set(args.tenant)) > 1):
        return None
    from runner import workers

    return workers.start(args.jobs)


def _execute(
    args: argparse.Namespace, console: Console, shard: tuple[int, int] | None, started: workers.Pool | None
) -> int:
    """execute() once the workers, if any, are starting."""
    import urllib3

    proj = project.load(project.find(explicit=args.project))
    selected = jobs.select(proj, [] if args.all else args.tenant, args.spec)
    if shard is not None:
        from runner import due

        selected = due.in_shard(selected, *shard)
    publisher = _publisher(proj, args.metrics_file, shard)
    state = StateStore.open(proj.state, environ=os.environ)
    pool = urllib3.PoolManager(num_pools=max(10, args.jobs * 2), maxsize=args.jobs)
    try:
        chosen = _due(proj, selected, state) if args.due else selected
        notices = _notifier(proj, console)
        if notices is not None:
            notices.begin(chosen, state)
        options = Options(force=args.force, full=args.full, wait=args.wait, due=args.due)
        runner = Runner(proj, Client(pool), state, environ=os.environ, console=console, options=options)
        if started is not None and len({job.tenant.name for job in chosen}) > 1:
            from runner import workers

            setup = workers.Setup(proj.path, options, verbose=console.verbose, project=proj)
            results = workers.run_tenants(setup, chosen, args.jobs, lost=runner.finish, started=started)
        else:
            results = runner.run_all(chosen)
        if notices is not None:
            notices.end(results)
        reading = publisher.read(state) if publisher else None
    finally:
        pool.clear()
        state.close()
    ran = _ran(results, console)
    told = RunReport(
        ran,
        notices.undelivered if notices is not None else [],
        checked=selected,
        skipped=len(results) - len(ran),
        shard=shard,
        verbose=console.verbose,
        quiet=console.quiet,
    )
    _report(args, console, told)
    code = max((r.exit_code for r in ran), default=EXIT_OK)
    return max(code, publisher.publish(reading, console)) if publisher and reading else code


def _report(args: argparse.Namespace, console: Console, told: RunReport) -> None:
    """Each job's event in JSON logs, the report on standard output in the chosen format, and the JUnit
    file when one is asked for."""
    for result in told.ran:
        log_job(console, result)
    report.write(console, "run", args.format, told)
    if args.junit:
        report.write_file("run", "junit", args.junit, told)


def _due(proj: Project, selected: list[Job], state: StateStore) -> list[Job]:
    """The due ones of `selected`, from the last starts of every job, read in one query."""
    from runner import due

    return [d.job for d in due.due(proj, selected, state.last_starts(), now())]


def _publisher(proj: Project, file: Path | None, shard: tuple[int, int] | None) -> Publisher | None:
    """Where the run's metrics go; None, without importing runner/metrics.py, when none are asked for."""
    if file is None and proj.pushgateway is None:
        return None
    from runner import metrics

    return metrics.Publisher.prepare(proj, file, shard, os.environ)


def _notifier(proj: Project, console: Console) -> Notifier | None:
    """The run's notifier; None, without importing runner/notify.py, when nobody in the project hears."""
    if proj.notify is None and all(t.notify is None for t in proj.tenants.values()):
        return None
    from runner import notify

    return notify.Notifier(proj, environ=os.environ, console=console)


def _ran(results: list[JobResult], console: Console) -> list[JobResult]:
    """The results of the jobs that ran; those skipped under their lock (--due) are a note at -v."""
    if console.verbose:
        for result in results:
            if result.outcome == "skipped":
                console.message(f"{result.name}: skipped: {'; '.join(result.notes)}")
    return [r for r in results if r.outcome != "skipped"]
