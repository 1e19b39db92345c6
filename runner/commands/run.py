"""`infiniti-sync run (--tenant T... | --all)`: plan, send, check the answer, record the run."""

from __future__ import annotations

import argparse
import os

from runner import jobs, project, report
from runner.client import Client
from runner.console import Console
from runner.errors import EXIT_OK, UsageError
from runner.run import Options, Runner
from runner.state import StateStore


def execute(args: argparse.Namespace, console: Console) -> int:
    """Run the selected jobs and report; the exit code is the worst of them."""
    if not args.all and not args.tenant:
        raise UsageError("name the tenants to run with --tenant T (repeatable), or pass --all")
    if args.all and args.tenant:
        raise UsageError("give --tenant or --all, not both")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    import urllib3

    proj = project.load(project.find(explicit=args.project))
    selected = jobs.select(proj, [] if args.all else args.tenant, args.spec)
    state = StateStore.open(proj.state, environ=os.environ)
    pool = urllib3.PoolManager(num_pools=max(10, args.jobs * 2), maxsize=args.jobs)
    try:
        options = Options(force=args.force, full=args.full, wait=args.wait)
        runner = Runner(proj, Client(pool), state, environ=os.environ, console=console, options=options)
        if args.jobs > 1 and len({job.tenant.name for job in selected}) > 1:
            from runner import workers

            setup = workers.Setup(proj.path, options, verbose=console.verbose)
            results = workers.run_tenants(setup, selected, args.jobs, lost=runner.finish)
        else:
            results = runner.run_all(selected)
    finally:
        pool.clear()
        state.close()
    for result in results:
        report.log_job(console, result)
    if args.format == "json":
        console.print(report.runs_json(results))
    elif not console.quiet:
        console.print(report.runs_text(results, verbose=console.verbose))
    elif (problems := report.runs_quiet(results)) is not None:
        console.print(problems)
    if args.junit:
        report.write_private(args.junit, report.runs_junit(results))
    return max((r.exit_code for r in results), default=EXIT_OK)
