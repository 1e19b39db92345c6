"""Running a job: plan the file, hold it if a guard says so, send it, read the answer, hold it against the
spec's expectations, record what Infiniti accepted, and archive the run.

    lock -> plan (source -> render -> pre-checks -> changes since the last accepted run -> file
         -> guards: min_rows, max_change; one pass, a frozen result)
         -> held (its change kept), unless a waiting approval covers it (runner.approve)
         -> POST (in batches) -> answer
         -> expectations
         -> state (one transaction) -> archive (sent.csv, answers, report.json) -> prune

One job's failure is its own result; it never stops the other jobs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import address
from runner.answer import Answer, is_failure, merge, parse, unaccepted, unconfirmed
from runner.archive import Archive, write_bytes, write_text
from runner.changes import Changes, accepted_fingerprints
from runner.client import Client, Endpoint, Sent
from runner.console import Console, Progress
from runner.csvfile import dialect_writer, private_open, read_records
from runner.errors import EXIT_CHECK, EXIT_OK, InfinitiError, LockHeld, StateError, SyncError, Where
from runner.expect import FailedRow, unmet
from runner.jobs import Job
from runner.numbers import plural
from runner.pipeline import plan_job
from runner.plan import Planned
from runner.records import record
from runner.secrets import redact, redact_response, remember_basic, resolve
from runner.spec import COUNTS, Project, Spec, Tenant
from runner.state import RunRecord, StateStore, holder, now

if TYPE_CHECKING:  # runner.approve: only for a run its guards hold
    from runner import approve


@record
class Options:
    """What the command line says about sending."""

    force: bool = False
    full: bool = False
    wait: float = 0.0
    due: bool = False  # run --due: run a job only if it is still due under its lock (runner.due)


@dataclass
class JobResult:
    """Everything one job did, for reports, state and the archive."""

    job: Job
    started: datetime
    outcome: str = "error"
    exit_code: int = EXIT_OK
    planned: Planned | None = None
    changes: Changes | None = None
    holds: list[str] = field(default_factory=list)
    rows_sent: int = 0
    batches: int = 0
    batches_imported: int = 0
    answer: Answer | None = None
    failed_rows: list[FailedRow] = field(default_factory=list)
    unmet: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: SyncError | None = None
    archive: Path | None = None
    finished: datetime | None = None
    mode: str = "full"  # as sent: the spec's mode, or full with --full
    approval: approve.Approval | None = None  # the approval it was sent by, despite its holds

    @property
    def name(self) -> str:
        """`tenant/spec`."""
        return self.job.name

    @property
    def all_notes(self) -> list[str]:
        """The job's notes, then those of the error that stopped it (each attempt of a failed exchange)."""
        return [*self.notes, *(self.error.notes if isinstance(self.error, InfinitiError) else ())]

    def to_json(self) -> dict[str, Any]:
        """The job as a JSON object (the archive's report.json, and each run of `run --format json`)."""
        answer, planned = self.answer, self.planned
        return {
            "tenant": self.job.tenant.name,
            "spec": self.job.spec.name,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "started_at": self.started.isoformat(),
            "finished_at": self.finished.isoformat() if self.finished else None,
            "rows": None
            if planned is None
            else {
                "read": planned.rows_read,
                "skipped": planned.rows_skipped,
                "in_file": planned.rows_out,
                "left_out": len({f.row for f in planned.findings}),
                "sent": self.rows_sent,
            },
            "findings": [] if planned is None else [f.to_json() for f in planned.findings],
            "changes": None if self.changes is None else self.changes.to_json(),
            "holds": self.holds,
            **({} if self.approval is None else {"approved_by": self.approval.by}),  # sent by an approval
            "batches": self.batches,
            "batches_imported": self.batches_imported,
            "answer": None
            if answer is None
            else {
                "success": answer.success,
                "summary": answer.summary,
                "counts": {name: getattr(answer.counts, name) for name in COUNTS},
            },
            "failed_rows": [dataclasses.asdict(f) for f in self.failed_rows],
            "unmet": self.unmet,
            "notes": self.all_notes,
            "error": None if self.error is None else self.error.to_json(),
            "archive": str(self.archive) if self.archive else None,
        }


def endpoint_of(tenant: Tenant, environ: Mapping[str, str]) -> Endpoint:
    """The tenant's Infiniti endpoint, its password (and the url, when a secret holds it) read."""
    url = tenant.url
    if not isinstance(url, str):  # an address, not a secret to mask: messages name it
        what = f"tenant {tenant.name}: url"
        read = resolve(url, environ, what=what, mask=False)
        address.check(read, what=url.named(what))
        url = read.rstrip("/")
    password = resolve(tenant.password, environ, what=f"tenant {tenant.name}: password")
    remember_basic(tenant.username, password)
    return Endpoint(
        url=url,
        username=tenant.username,
        password=password,
        tenant_id=tenant.tenant_id,
        ca_bundle=tenant.ca_bundle,
        connect_timeout=tenant.connect_timeout,
        read_timeout=tenant.read_timeout,
        retry_attempts=tenant.retry_attempts,
        retry_max_time=tenant.retry_max_time,
    )


def split(path: Path, rows: int, size: int | None, folder: Path) -> list[tuple[Path, int]]:
    """The file of `rows` data lines as batches of at most `size` lines (each with the header),
    written beside it; the file itself when it needs no splitting."""
    if size is None or rows <= size:
        return [(path, rows)]
    records = read_records(path)
    header = next(records)
    batches: list[tuple[Path, int]] = []
    for number in itertools.count(1):
        chunk = list(itertools.islice(records, size))
        if not chunk and batches:
            break
        batch = folder / f"batch-{number}.csv"
        with private_open(batch) as handle:
            writer = dialect_writer(handle)
            writer.writerow(header)
            writer.writerows(chunk)
        batches.append((batch, len(chunk)))
        if len(chunk) < size:
            break
    return batches


class Runner:
    """Runs jobs of one project with the collaborators passed in."""

    def __init__(
        self,
        project: Project,
        client: Client,
        state: StateStore,
        *,
        environ: Mapping[str, str],
        console: Console,
        options: Options,
    ):
        self.project = project
        self.client = client
        self.state = state
        self.environ = environ
        self.console = console
        self.options = options
        self.archive = None if project.archive is None else Archive(project.archive, project.keep_runs)

    def run_all(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Run `jobs` one after another in this process (`run --jobs N` uses runner/workers.py)."""
        return [self.run(job) for job in jobs]

    def run(self, job: Job) -> JobResult:
        """Run one job; whatever happens, the result says so and the state records it, once.

        The archive folder is made, written and pruned only under the job's lock: a run that finds the
        lock held leaves no folder, and can never prune the folder of the run that holds it. The lock is
        released after the run is recorded and reported; a release that fails (a dropped PostgreSQL
        connection, which releases the lock by itself) is a note, never a second record of the run."""
        result = JobResult(job=job, started=now())
        result.mode = "full" if self.options.full else job.spec.mode
        where = Where(tenant=job.tenant.name, spec=job.spec.name)
        lock = contextlib.ExitStack()
        try:
            if not self._locked(lock, result, where):
                return result
            endpoint = endpoint_of(job.tenant, self.environ)
            self._plan_and_send(result, endpoint, self._folder(result, lock))
        except Exception as err:  # the lock held, a password not set, a source down, a bug
            _failed(result, err, where)
        result.finished = result.finished or now()
        self.finish(result)
        try:
            lock.close()
        except StateError as err:
            result.notes.append(f"the job's lock was not released cleanly: {err}")
        return result

    def _locked(self, lock: contextlib.ExitStack, result: JobResult, where: Where) -> bool:
        """Take the job's lock into `lock`. With --due, a job another runner holds, or one no longer due
        once its lock is taken (another runner has just run it), is skipped: False, the result says why
        (outcome "skipped": not recorded, not an error)."""
        tenant, spec = result.job.tenant.name, result.job.spec.name
        try:
            lock.enter_context(self.state.lock(tenant, spec, wait=self.options.wait, where=where))
        except LockHeld as err:
            if not self.options.due:
                raise
            result.outcome = "skipped"
            result.notes.append(f"{err.message}: that runner is doing this job")
            return False
        if self.options.due and self._done_meanwhile(result):
            lock.close()
            return False
        return True

    def _done_meanwhile(self, result: JobResult) -> bool:
        """Whether the job is no longer due, read again under its lock (then the result says so)."""
        from runner import due  # only for run --due

        job = result.job
        last = self.state.last_starts(job.tenant.name, job.spec.name).get((job.tenant.name, job.spec.name))
        if due.check(self.project, job, now(), last) is not None:
            return False
        result.outcome = "skipped"
        shown = last.isoformat(timespec="seconds") if last else "never"
        result.notes.append(f"no longer due: another runner ran it meanwhile (last run started {shown})")
        return True

    def _folder(self, result: JobResult, lock: contextlib.ExitStack) -> Path:
        """The run's folder: a new one in the archive, or with `archive: false` a temporary one under
        TMPDIR, removed (under the lock) when the run is over."""
        if self.archive is None:
            scratch = tempfile.TemporaryDirectory(prefix="infiniti-sync-run-", ignore_cleanup_errors=True)
            return Path(lock.enter_context(scratch))
        result.archive = self.archive.new_run(result.job.tenant.name, result.job.spec.name, now())
        return result.archive

    def _plan_and_send(self, result: JobResult, endpoint: Endpoint, folder: Path) -> None:
        """Plan (the file, its changes and its guards, in one pass) into `folder`, then send, check and
        record: each stage reads the plan's frozen result."""
        tenant, spec = result.job.tenant, result.job.spec
        known = self.state.known(tenant.name, spec.name)
        planned = plan_job(
            result.job,
            folder / "sent.csv",
            known,
            environ=self.environ,
            root=self.project.root,
            console=self.console,
            full=self.options.full,
        )
        # A run names no users in full (only `plan --format json` does): what would name the unchanged
        # ones (an int a known user, Known.unchanged_rows) goes now, not at the end of the job, so that it
        # is not held while the record updates the snapshot (3 to 5 MB more at the peak at 1M users).
        known.unchanged_rows = None
        result.planned, result.changes = planned, planned.changes
        result.holds = list(planned.holds)
        if result.holds and not self.options.force:
            from runner import approve

            change = approve.change_of(planned)
            result.approval = self._approval(result, change)
            if result.approval is None:
                result.outcome, result.exit_code = "held", EXIT_CHECK
                self._record(result, accepted=(), held=change)
                return
        answers = self._send(result, endpoint, planned, folder)
        answer = merge([a for a, _ in answers], [rows for _, rows in answers])
        result.rows_sent = planned.rows_out
        result.answer = answer
        result.failed_rows = _failed_rows(answer, planned, spec)
        result.unmet = unmet(spec.expect, answer, planned.rows_out, result.failed_rows) + unconfirmed(answers)
        clean = not result.unmet and not planned.failures
        result.outcome, result.exit_code = ("ok", EXIT_OK) if clean else ("failed", EXIT_CHECK)
        gone = planned.changes.gone if planned.changes is not None else []
        used = result.approval.id if result.approval is not None else None
        self._record(result, accepted=_accepted(answers, planned), forget=gone, used=used)

    def _approval(self, result: JobResult, change: approve.Change) -> approve.Approval | None:
        """The approval waiting for the job if it covers the held `change` (read under the job's lock, so
        no other run can use it meanwhile); else None, and the holds say why a waiting one does not apply."""
        job = result.job
        waiting = self.state.waiting(job.tenant.name, job.spec.name)
        if waiting is None or waiting.change is None:
            return None
        from runner import approve

        refused = approve.refusal(waiting, change, now())
        if refused is not None:
            result.holds.append(
                f"the approval by {waiting.by} (until {waiting.until()}) does not apply: {refused}; "
                "check the source, then approve again to send"
            )
            return None
        return waiting

    def _send(
        self, result: JobResult, endpoint: Endpoint, planned: Planned, folder: Path
    ) -> list[tuple[Answer, int]]:
        """Post the file (in batches of the tenant's batch_size, written in `folder`); each batch's answer
        and row count."""
        tenant, spec = result.job.tenant, result.job.spec
        where = Where(tenant=tenant.name, spec=spec.name)
        batches = split(planned.path, planned.rows_out, tenant.batch_size, folder)
        result.batches = len(batches)
        progress = Progress(self.console)
        answers: list[tuple[Answer, int]] = []
        try:
            for number, (path, rows) in enumerate(batches, 1):
                batch = f"batch {number}/{len(batches)}" if len(batches) > 1 else ""
                sent = _sending(progress, result.name, batch, rows)
                response = redact_response(
                    self.client.post(endpoint, spec.import_path, path, where=where, sent=sent)
                )
                write_bytes(folder / f"answer-{number}.json", response.body)
                result.notes += list(response.notes)
                answer = parse(response, where=where, user=endpoint.username, url=endpoint.url)
                answers.append((answer, rows))
                result.batches_imported = number
        finally:
            progress.done()
            for path, _ in batches:
                if path != planned.path:
                    path.unlink(missing_ok=True)
        return answers

    def _record(
        self,
        result: JobResult,
        accepted: Any,
        forget: Sequence[str] = (),
        *,
        held: approve.Change | None = None,
        used: int | None = None,
    ) -> None:
        result.finished = now()
        self.state.record(_run_record(result), accepted, forget, held=held, used=used)

    def finish(self, result: JobResult) -> None:
        """Record an error run (if the state can take it), write the report, prune the archive."""
        if result.outcome == "error":
            try:
                self.state.record(_run_record(result))
            except SyncError as err:
                result.notes.append(f"the run could not be recorded: {err}")
        if result.archive is not None and self.archive is not None:
            try:
                write_text(
                    result.archive / "report.json",
                    json.dumps(result.to_json(), indent=2, ensure_ascii=False),
                )
                self.archive.prune(result.job.tenant.name, result.job.spec.name)
            except OSError as err:
                result.notes.append(f"the archive could not be written: {err.strerror or err}")


def _failed(result: JobResult, err: Exception, where: Where) -> None:
    """Make `result` say how `err` stopped the job."""
    if isinstance(err, SyncError):
        result.error = err.at(where)
    elif isinstance(err, OSError):  # a local file that cannot be written: a full disk, a permission
        result.error = StateError(
            f"cannot use {err.filename or 'a local file'}: {err.strerror or err}", where=where
        )
    else:  # a bug stops this job only; the other tenants still run
        result.error = SyncError(
            f"internal error: {type(err).__name__}: {err}",
            where=where,
            hint="this is a bug in infiniti-sync; run again with -v for the traceback",
        )
        import traceback  # only for a bug

        result.notes.append(traceback.format_exc().rstrip())
    result.outcome, result.exit_code = "error", result.error.exit_code


def _failed_rows(answer: Answer, planned: Planned, spec: Spec) -> list[FailedRow]:
    failed = {row: outcome for row, outcome in answer.details.items() if is_failure(outcome)}
    if not failed:
        return []
    usernames = _usernames(planned, set(failed))
    allow = spec.expect.allow
    return [
        FailedRow(
            line=line,
            source_row=planned.source_rows[line - 1] if 0 < line <= len(planned.source_rows) else None,
            username=usernames.get(line),
            outcome=outcome,
            tolerated=bool(allow and allow.search(outcome)),
        )
        for line, outcome in sorted(failed.items())
    ]


def _usernames(planned: Planned, lines: set[int]) -> dict[int, str]:
    """The usernames on `lines` of the file: from the plan's new and changed lines when they are the whole
    file (an incremental run), else read from the file (a first run, or a full one)."""
    pending = planned.changes.pending if planned.changes is not None else None
    if pending is not None and len(pending) == planned.rows_out:
        return {line: username for line, username, _ in pending if line in lines}
    usernames: dict[int, str] = {}
    records = read_records(planned.path)
    user = next(records).index("username")
    for line, cells in enumerate(records, 1):
        if line in lines:
            usernames[line] = cells[user]
    return usernames


def _accepted(answers: Sequence[tuple[Answer, int]], planned: Planned) -> Any:
    """(username, fingerprint) of the new and changed lines Infiniti accepted, batch by batch: listed as
    created or updated, or, when a batch's answer lists no rows, all of that batch's lines if its summary
    confirms every one of them, and none otherwise. Unchanged lines are in the state already. A user of
    several lines (runner.imports: whole_user) is accepted only when every one of its lines is."""
    failed: set[int] = set()
    offset = 0
    for answer, rows in answers:
        failed |= {offset + line for line in unaccepted(answer, rows)}
        offset += rows
    pending = planned.changes.pending if planned.changes is not None else None
    if pending is None:  # a first run: every line is new
        return accepted_fingerprints(read_records(planned.path), failed)
    refused = {username for line, username, _ in pending if line in failed}
    return dict.fromkeys((username, fp) for _, username, fp in pending if username not in refused)


def _sending(progress: Progress, name: str, batch: str, rows: int) -> Sent:
    """The status while a file (or `batch` of it) goes to Infiniti, then while its answer is awaited:
    a phase of its own as each starts."""
    what = f"{name}: sending {batch + ', ' if batch else ''}{plural(rows, 'row')}"
    progress.update(what, force=True)

    def sent(done: int, length: int) -> None:
        if done < length:
            progress.update(f"{what}: {done * 100 // length}%")
        else:
            progress.update(
                f"{name}: {batch + ' ' if batch else ''}sent; waiting for Infiniti's answer", force=True
            )

    return sent


def _run_record(result: JobResult) -> RunRecord:
    answer, planned = result.answer, result.planned
    counts = answer.counts if answer else None
    message = str(result.error) if result.error else "; ".join(result.holds + result.unmet) or None
    message = redact(message) if message else None
    return RunRecord(
        tenant=result.job.tenant.name,
        spec=result.job.spec.name,
        started_at=result.started,
        finished_at=result.finished or now(),
        outcome=result.outcome,
        exit_code=result.exit_code,
        mode=result.mode,
        rows_read=planned.rows_read if planned else None,
        rows_sent=result.rows_sent,
        processed=counts.processed if counts else None,
        created=counts.created if counts else None,
        updated=counts.updated if counts else None,
        failed=counts.failed if counts else None,
        archive=str(result.archive) if result.archive else None,
        message=message,
        host=holder()["host"],
        pid=os.getpid(),
    )
