"""`run --jobs N`: tenants in N worker processes, so that N cores are used.

    parent: load the project, select the jobs -> one task per tenant -> N workers -> results, in job order
    worker: take the parent's project, open the state and a connection pool once -> run each tenant given

A worker runs one tenant's specs one after another, exactly as a single process does (same lock, state,
archive and report per job), and sends back the job results. The workers start before the parent loads the
project (`start`), so that their start-up overlaps its loading; each is then sent the project as the parent
loaded it (reading and validating a project of 1,000 tenants again would cost each worker 0.4 s, and could
find a file edited since), with the parent's environment and folder; given only the project file, a worker
loads it itself.

How a worker starts (`_context`): where the system has fork (Linux and the other POSIX systems but macOS),
from a fork server, a process started once that has imported the runner and forks each worker from it: a
worker then costs a fork instead of a Python start-up and 0.15 s of imports, and the workers are ready at
once. Not a fork of the parent itself: the parent has its state store's connections open, and SQLite's
locks do not survive a fork (a connection must not be carried into a child). Elsewhere (Windows, macOS,
whose system libraries may not survive a fork either) each worker is a new Python process (`spawn`).

One tenant's crash never stops the others: a worker that dies (killed, out of memory) fails only the jobs of
the tenant it was running, which the parent records as errors, and a new worker takes the rest. The secret
values a worker read come back with its results (each once), so that everything the parent prints is masked
as well.
"""

from __future__ import annotations

import collections
import contextlib
import copyreg
import io
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import MappingProxyType
from typing import Any

from runner.errors import EXIT_OUTSIDE, SyncError, Where
from runner.jobs import Job
from runner.records import record
from runner.run import JobResult, Options
from runner.secrets import known_values, remember
from runner.spec import Project
from runner.state import now


@record
class Setup:
    """What a worker needs to build its own runner: the project (as the parent loaded it, else its file,
    for the worker to load) and the command line's options."""

    project_file: Path
    options: Options
    verbose: bool = False
    project: Project | None = None


Task = tuple[str, tuple[str, ...]]  # tenant, spec names in order
AHEAD = 2  # the tasks a worker holds at most: the one it runs, and the next
# what the fork server imports once for every worker: the main module (as multiprocessing does), what a
# worker imports, and what its first tenant would otherwise import in each worker (the client's deadlines,
# the IDNA codec a host name is encoded with)
PRELOAD = [
    "__main__",
    "runner.workers",
    "runner.run",
    "runner.client",
    "runner.console",
    "runner.state",
    "runner.deadline",
    "encodings.idna",
]


def start(workers: int) -> Pool:
    """`workers` processes, started now: before the parent loads the project, so that they start up (a
    Python start-up and the runner's imports where they are spawned) while it loads; `run_tenants` gives
    them the project and their tasks."""
    return Pool(workers)


def run_tenants(
    setup: Setup,
    jobs: Sequence[Job],
    workers: int,
    *,
    lost: Callable[[JobResult], None],
    started: Pool | None = None,
) -> list[JobResult]:
    """Run `jobs` grouped by tenant in up to `workers` processes (those `started`, if given, else new ones);
    results in the order of `jobs`. The workers are told to stop after; new ones are waited for here, those
    `started` where their caller closes them (so that they end while it reports).

    `lost` is called with the error result of each job whose worker died, for the caller to record."""
    by_tenant: dict[str, list[str]] = {}
    for job in jobs:
        by_tenant.setdefault(job.tenant.name, []).append(job.spec.name)
    tasks = [(tenant, tuple(specs)) for tenant, specs in by_tenant.items()]
    results: dict[tuple[str, str], JobResult] = {}
    pool = started or Pool(min(workers, len(tasks)))
    try:
        pool.begin(setup, len(tasks))
        for job_result in pool.run(tasks, {job.name: job for job in jobs}, lost):
            results[(job_result.job.tenant.name, job_result.job.spec.name)] = job_result
    finally:
        if started is None:
            pool.close()
        else:
            pool.stop()
    return [results[(job.tenant.name, job.spec.name)] for job in jobs]


def _context() -> Any:
    """The way workers start: from a fork server where the system can fork safely, else spawned (see the
    module's docstring)."""
    if hasattr(os, "fork") and sys.platform != "darwin":
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


class _Worker:
    """One worker process and its end of the pipe, with the tasks given to it: the first is running, the
    next waits in the pipe."""

    def __init__(self, context: Any):
        here, there = context.Pipe()
        self.conn: Connection = here
        self.process = context.Process(target=_serve, args=(there,), daemon=True)
        self.process.start()
        there.close()
        self.tasks: collections.deque[Task] = collections.deque()
        self.stopped = False

    def begin(self, setup: bytes) -> None:
        """Send the worker what it runs with (a worker that died meanwhile is found by its sentinel)."""
        with contextlib.suppress(OSError):
            self.conn.send_bytes(setup)


class Pool:
    """The workers, each given its next task before it finishes the one it runs: a worker never waits for
    the parent to read its results and answer with more work (a round trip through a busy machine's
    scheduler, a sixth of a small tenant's time). Only while more tasks wait than there are workers, so
    that near the end no task waits behind another while a worker is free for it."""

    def __init__(self, size: int):
        self.context = _context()
        self.size = size
        self.workers: list[_Worker] = []
        self.idle: list[_Worker] = []  # those stopped for want of tenants
        self.setup = b""
        if self.context.get_start_method() == "forkserver":
            # the server starts now and imports the runner while the parent loads the project; the workers
            # are forked from it in `begin`, in a few milliseconds each (asking for one now would wait for
            # those imports, which `ensure_running` does not)
            from multiprocessing import forkserver  # POSIX only

            forkserver.ensure_running()
        else:  # spawned now, each starts Python and imports the runner while the parent loads the project
            self.workers = [_Worker(self.context) for _ in range(size)]

    def begin(self, setup: Setup, tasks: int) -> None:
        """Send every worker `setup`, pickled once for all (and for any that replaces one), with this
        process's environment and folder (a fork server's are those it started with); workers beyond
        `tasks` are stopped."""
        size = max(1, min(self.size, tasks))
        self.idle, self.workers = self.workers[size:], self.workers[:size]
        self.workers += [_Worker(self.context) for _ in range(size - len(self.workers))]
        self.setup = _packed(setup)
        for worker in self.workers:
            worker.begin(self.setup)

    def run(self, tasks: list[Task], jobs: dict[str, Job], lost: Callable[[JobResult], None]) -> Any:
        """Hand out `tasks`, yielding each job result as its worker sends it."""
        pending = list(reversed(tasks))
        self._fill(pending)
        while busy := [w for w in self.workers if w.tasks]:
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    yield from self._collect(worker, jobs, lost, pending)
            self._fill(pending)

    def _collect(
        self, worker: _Worker, jobs: dict[str, Job], lost: Callable[[JobResult], None], pending: list[Task]
    ) -> Any:
        """The results of the task `worker` was running, or, when it died with the task, its error results
        (its tasks still waiting go back to the others)."""
        try:
            answer = worker.conn.recv()
        except (EOFError, OSError):  # the worker died with the task
            yield from self._died(worker, jobs, lost, pending)
            return
        shipped, secrets = answer
        for value in secrets:
            remember(value)
        tenant, specs = worker.tasks.popleft()
        if isinstance(shipped, _StartFailed):  # the worker could not start: the project, the state
            for spec in specs:
                result = _refused(jobs[f"{tenant}/{spec}"], shipped.error())
                lost(result)
                yield result
        else:
            yield from (JobResult(job=jobs[name], **fields) for name, fields in shipped)

    def _died(
        self, worker: _Worker, jobs: dict[str, Job], lost: Callable[[JobResult], None], pending: list[Task]
    ) -> Any:
        """The error results of the task a dead worker was running; a new worker takes its place while
        tasks are left (those it had waiting go back first: it never started them)."""
        tenant, specs = worker.tasks.popleft()
        worker.process.join()
        code = worker.process.exitcode
        for spec in specs:
            result = _lost(jobs[f"{tenant}/{spec}"], code)
            lost(result)
            yield result
        worker.conn.close()
        pending.extend(reversed(worker.tasks))
        index = self.workers.index(worker)
        if pending:
            self.workers[index] = _Worker(self.context)
            self.workers[index].begin(self.setup)
        else:
            del self.workers[index]

    def _fill(self, pending: list[Task]) -> None:
        """Give each worker without a task one, then one more to wait behind it while more tasks wait than
        there are workers."""
        for worker in self.workers:
            if not worker.tasks and pending:
                self._give(worker, pending)
        for worker in self.workers:
            if len(worker.tasks) < AHEAD and len(pending) > len(self.workers):
                self._give(worker, pending)

    @staticmethod
    def _give(worker: _Worker, pending: list[Task]) -> None:
        task = pending.pop()
        worker.tasks.append(task)
        # a worker that died meanwhile cannot take it: its sentinel says so, and the task is lost
        with contextlib.suppress(OSError):
            worker.conn.send(task)

    def stop(self) -> None:
        """Tell every worker to stop (each closes its state store and ends meanwhile), once."""
        for worker in self.workers + self.idle:
            if not worker.stopped:
                worker.stopped = True
                with contextlib.suppress(OSError):
                    worker.conn.send(None)

    def close(self) -> None:
        """Tell every worker to stop, and wait for it (a worker that will not stop is ended); once."""
        self.stop()
        everyone, self.workers, self.idle = self.workers + self.idle, [], []
        for worker in everyone:
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


@record
class _StartFailed:
    """Why a worker could not start, as plain values."""

    message: str
    exit_code: int

    def error(self) -> SyncError:
        err = SyncError(self.message)
        err.exit_code = self.exit_code
        return err


def _packed(setup: Setup) -> bytes:
    """`setup` pickled for the workers, with this process's environment and folder; a project's mappings
    are read-only views (MappingProxyType), which pickle cannot take, so they travel as the dicts they show
    and become views again (`_view`)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _as_view}
    pickler.dump((setup, dict(os.environ), os.getcwd()))
    return buffer.getvalue()


def _as_view(mapping: MappingProxyType[Any, Any]) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    return _view, (dict(mapping),)


def _view(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view again, in the worker (module level: pickle finds it by name)."""
    return MappingProxyType(items)


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the worker process
    """A worker's life: wait for the parent's setup, build a runner once, then run each tenant it is sent
    until told to stop."""
    import gc

    import urllib3

    from runner import jobs, project
    from runner.client import Client
    from runner.console import Console
    from runner.run import Runner
    from runner.state import StateStore

    try:
        given = conn.recv()  # the parent's own bytes, from _packed
    except (KeyboardInterrupt, EOFError, OSError):  # the parent ended before it had a project to give
        return
    if given is None:  # told to stop before any setup: the project did not load, or too few tenants
        return
    setup: Setup
    setup, environ, folder = given
    os.chdir(folder)
    os.environ.clear()
    os.environ.update(environ)
    try:
        proj = setup.project or project.load(setup.project_file)
        state = StateStore.open(proj.state, environ=os.environ)
    except SyncError as err:  # the project or the state changed under the run: say so for each task
        failed = _StartFailed(str(err), err.exit_code)  # plain values: any error's text crosses the pipe
        while conn.recv() is not None:
            conn.send((failed, sorted(known_values())))
        return
    # the project and the imported modules live as long as the worker: out of the cycle collector's sight,
    # so that a full collection does not walk the objects of every tenant again (as the command does, cli.py)
    gc.freeze()
    console = Console(verbose=setup.verbose, progress=False, quiet=True)
    pool = urllib3.PoolManager()
    try:
        runner = Runner(proj, Client(pool), state, environ=os.environ, console=console, options=setup.options)
        told: set[str] = set()  # the secret values the parent has: each is sent once
        while (task := conn.recv()) is not None:
            tenant, specs = task
            results = [_shipped(runner.run(job)) for job in jobs.select(proj, [tenant], specs)]
            secrets = known_values() - told
            conn.send((results, sorted(secrets)))
            told |= secrets
    except (KeyboardInterrupt, EOFError, BrokenPipeError):  # Ctrl-C reaches every worker; the parent says so
        pass
    finally:
        pool.clear()
        state.close()
        conn.close()
