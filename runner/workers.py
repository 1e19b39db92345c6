"""`run --jobs N`: tenants in N worker processes, so that N cores are used.

    parent: load the project, select the jobs -> one task per tenant -> N workers -> results, in job order
    worker: load the project once, open the state and a connection pool once -> run each tenant it is given

A worker runs one tenant's specs one after another, exactly as a single process does (same lock, state,
archive and report per job), and sends back the job results. Workers start with the `spawn` method on every
system, so Linux, macOS and Windows behave alike; each loads the project itself, once.

One tenant's crash never stops the others: a worker that dies (killed, out of memory) fails only the jobs of
the tenant it was running, which the parent records as errors, and a new worker takes the rest. The secret
values a worker read come back with its results, so that everything the parent prints is masked as well.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from runner.errors import EXIT_OUTSIDE, SyncError, Where
from runner.jobs import Job
from runner.run import JobResult, Options
from runner.secrets import known_values, remember
from runner.state import now


@dataclass(frozen=True)
class Setup:
    """What a worker needs to build its own runner: the project file and the command line's options."""

    project_file: Path
    options: Options
    verbose: bool = False


Task = tuple[str, tuple[str, ...]]  # tenant, spec names in order


def run_tenants(
    setup: Setup,
    jobs: Sequence[Job],
    workers: int,
    *,
    lost: Callable[[JobResult], None],
) -> list[JobResult]:
    """Run `jobs` grouped by tenant in up to `workers` processes; results in the order of `jobs`.

    `lost` is called with the error result of each job whose worker died, for the caller to record."""
    by_tenant: dict[str, list[str]] = {}
    for job in jobs:
        by_tenant.setdefault(job.tenant.name, []).append(job.spec.name)
    tasks = [(tenant, tuple(specs)) for tenant, specs in by_tenant.items()]
    results: dict[tuple[str, str], JobResult] = {}
    pool = _Pool(setup, min(workers, len(tasks)))
    try:
        for job_result in pool.run(tasks, {job.name: job for job in jobs}, lost):
            results[(job_result.job.tenant.name, job_result.job.spec.name)] = job_result
    finally:
        pool.close()
    return [results[(job.tenant.name, job.spec.name)] for job in jobs]


class _Worker:
    """One worker process and its end of the pipe, with the task it is running."""

    def __init__(self, context: Any, setup: Setup):
        here, there = context.Pipe()
        self.conn: Connection = here
        self.process = context.Process(target=_serve, args=(there, setup), daemon=True)
        self.process.start()
        there.close()
        self.task: Task | None = None


class _Pool:
    def __init__(self, setup: Setup, size: int):
        self.setup = setup
        self.context = multiprocessing.get_context("spawn")
        self.workers = [_Worker(self.context, setup) for _ in range(size)]

    def run(self, tasks: list[Task], jobs: dict[str, Job], lost: Callable[[JobResult], None]) -> Any:
        """Hand out `tasks`, yielding each job result as its worker sends it."""
        pending = list(reversed(tasks))
        for worker in self.workers:
            self._give(worker, pending)
        while any(w.task is not None for w in self.workers):
            busy = [w for w in self.workers if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    yield from self._collect(worker, jobs, lost, pending)

    def _collect(
        self, worker: _Worker, jobs: dict[str, Job], lost: Callable[[JobResult], None], pending: list[Task]
    ) -> Any:
        assert worker.task is not None
        try:
            answer = worker.conn.recv()
        except (EOFError, OSError):  # the worker died with the task
            tenant, specs = worker.task
            worker.process.join()
            code = worker.process.exitcode
            for spec in specs:
                result = _lost(jobs[f"{tenant}/{spec}"], code)
                lost(result)
                yield result
            worker.conn.close()
            worker.task = None
            if pending:  # a new worker takes the tasks still to run
                self.workers[self.workers.index(worker)] = replacement = _Worker(self.context, self.setup)
                self._give(replacement, pending)
            return
        shipped, secrets = answer
        for value in secrets:
            remember(value)
        tenant, specs = worker.task
        if isinstance(shipped, _StartFailed):  # the worker could not start: the project, the state
            for spec in specs:
                result = _refused(jobs[f"{tenant}/{spec}"], shipped.error())
                lost(result)
                yield result
        else:
            yield from (JobResult(job=jobs[name], **fields) for name, fields in shipped)
        worker.task = None
        self._give(worker, pending)

    @staticmethod
    def _give(worker: _Worker, pending: list[Task]) -> None:
        if pending:
            worker.task = pending.pop()
            # a worker that died meanwhile cannot take it: its sentinel says so, and the task is lost
            with contextlib.suppress(OSError):
                worker.conn.send(worker.task)

    def close(self) -> None:
        """Tell every worker to stop, and wait for it (a worker that will not stop is ended)."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def _lost(job: Job, exit_code: int | None) -> JobResult:
    """The result of a job whose worker process died before it could say how the job went."""
    how = f"was killed by signal {-exit_code}" if exit_code is not None and exit_code < 0 else "ended"
    result = JobResult(job=job, started=now(), mode=job.spec.mode)
    result.error = _WorkerLost(
        f"the worker process running this tenant {how} (exit code {exit_code}) before the job finished; "
        "what it sent, if anything, is not recorded, so the next run sends it again",
        where=Where(tenant=job.tenant.name, spec=job.spec.name),
        hint="look for the operating system's reason (memory, a kill); the other tenants were not affected",
    )
    result.exit_code = result.error.exit_code
    result.finished = now()
    return result


def _shipped(result: JobResult) -> tuple[str, dict[str, Any]]:
    """A job result as a worker sends it: its job by name (the parent has the same job), the rest as is."""
    return result.name, {name: value for name, value in vars(result).items() if name != "job"}


def _refused(job: Job, err: SyncError) -> JobResult:
    """The result of a job that a worker could not even start on."""
    result = JobResult(job=job, started=now(), mode=job.spec.mode, error=err)
    result.exit_code = err.exit_code
    result.finished = now()
    return result


class _WorkerLost(SyncError):
    exit_code = EXIT_OUTSIDE


@dataclass(frozen=True)
class _StartFailed:
    """Why a worker could not start, as plain values."""

    message: str
    exit_code: int

    def error(self) -> SyncError:
        err = SyncError(self.message)
        err.exit_code = self.exit_code
        return err


def _serve(conn: Connection, setup: Setup) -> None:  # pragma: no cover - runs in the worker process
    """A worker's life: build a runner once, then run each tenant it is sent until told to stop."""
    import urllib3

    from runner import jobs, project
    from runner.client import Client
    from runner.console import Console
    from runner.run import Runner
    from runner.state import StateStore

    try:
        proj = project.load(setup.project_file)
        state = StateStore.open(proj.state, environ=os.environ)
    except SyncError as err:  # the project or the state changed under the run: say so for each task
        failed = _StartFailed(str(err), err.exit_code)  # plain values: any error's text crosses the pipe
        while conn.recv() is not None:
            conn.send((failed, sorted(known_values())))
        return
    console = Console(verbose=setup.verbose, progress=False, quiet=True)
    pool = urllib3.PoolManager()
    try:
        runner = Runner(proj, Client(pool), state, environ=os.environ, console=console, options=setup.options)
        while (task := conn.recv()) is not None:
            tenant, specs = task
            results = [_shipped(runner.run(job)) for job in jobs.select(proj, [tenant], specs)]
            conn.send((results, sorted(known_values())))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):  # Ctrl-C reaches every worker; the parent says so
        pass
    finally:
        pool.clear()
        state.close()
        conn.close()
