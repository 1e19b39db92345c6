"""The reports of `run`: each job as text (or a line per job that needs a person, with -q), as JSON (the
result's own, runner.run.JobResult.to_json), as GitHub annotations on the specs of the jobs that were not ok,
and as JUnit; and the job's event in JSON logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runner.answer import hint, reason
from runner.console import Console, Fields, Level, one_line
from runner.jobs import Job
from runner.numbers import number, plural
from runner.records import record
from runner.report.github import annotation
from runner.report.plan import changes_counts, finding_text, findings_hints, repeated
from runner.spec import COUNTS
from runner.yamlfile import display_path

if TYPE_CHECKING:
    from runner.run import JobResult


@record
class RunReport:
    """What `run` reports: the jobs that ran, in order; the notifications that could not be delivered;
    and, for when none ran, the jobs checked, how many were skipped under another runner's lock, the
    shard. `verbose` lists every failed row and note, `quiet` only what needs a person."""

    ran: Sequence[JobResult]
    undelivered: Sequence[str] = ()
    checked: Sequence[Job] = ()
    skipped: int = 0
    shard: tuple[int, int] | None = None
    verbose: bool = False
    quiet: bool = False


def text_report(r: RunReport) -> str | None:
    """Each job (or why none ran), then the notifications not delivered; with -q, only the jobs that
    need a person, and nothing when all is well (standard error has told of the notifications)."""
    if r.quiet:
        return runs_quiet(r.ran)
    told = runs_text(r.ran, verbose=r.verbose) if r.ran else nothing_run_text(r.checked, r.skipped, r.shard)
    undelivered = undelivered_text(r.undelivered)
    return told if undelivered is None else f"{told}\n{undelivered}"


def json_report(r: RunReport) -> str:
    """Each job's own JSON, and the notifications not delivered when there are some."""
    return runs_json(r.ran, r.undelivered)


def github_report(r: RunReport) -> str | None:
    """A GitHub annotation per job that was not ok; nothing when all are."""
    return runs_github(r.ran)


def junit_report(r: RunReport) -> str:
    """A JUnit test case per tenant and spec."""
    return runs_junit(r.ran)


FAILED_ROWS_SHOWN = 20


def _counts_text(result: JobResult) -> str:
    answer = result.answer
    if answer is None:
        return ""
    c = answer.counts

    def show(n: int | None) -> str:
        return "?" if n is None else number(n)

    return f"{show(c.created)} created, {show(c.updated)} updated, {show(c.failed)} failed"


def run_line(result: JobResult) -> str:
    """The one-line summary of a job."""
    head = f"{result.name}: {result.outcome}"
    if result.error is not None:
        hint = f"\n  hint: {result.error.hint}" if result.error.hint else ""
        return f"{head}: {result.error.message}{hint}"
    parts = []
    if result.planned is not None:
        parts.append(f"{number(result.planned.rows_read)} read")
    if result.outcome == "held":
        parts.append("nothing sent")
    else:
        batches = f" in {plural(result.batches, 'batch', 'batches')}" if result.batches > 1 else ""
        parts.append(f"{number(result.rows_sent)} sent{batches}")
        if result.answer is not None:
            parts.append(_counts_text(result))
    if result.changes is not None and not result.changes.first_run:
        parts.append(f"changes: {changes_counts(result.changes)}")
    if result.answer is not None:
        parts.append(
            "expectations met" if not result.unmet else f"{plural(len(result.unmet), 'expectation')} unmet"
        )
    return f"{head}: " + "; ".join(parts)


def run_text(result: JobResult, verbose: bool = False) -> list[str]:
    """The text report of one job: its line, then holds, unmet expectations and failed rows."""
    lines = [run_line(result)]
    if result.outcome == "held":
        lines += [f"  held: {h}" for h in result.holds]
    else:
        why = "--force" if result.approval is None else f"approved by {result.approval.by}"
        lines += [f"  sent despite a hold ({why}): {h}" for h in result.holds]
    if result.planned is not None:
        lines += [f"  left out: {finding_text(f)}" for f in result.planned.findings]
        lines += findings_hints(result.planned.findings, "  ")
        lines += [f"  failed: {f}" for f in result.planned.failures]
    lines += [f"  unmet: {u}" for u in result.unmet]
    done = result.batches_imported
    if result.error is not None and 0 < done < result.batches:
        which = (
            f"batch 1 of {result.batches} was"
            if done == 1
            else f"batches 1 to {done} of {result.batches} were"
        )
        rows = "its" if done == 1 else "their"
        lines.append(
            f"  {which} imported before this error; the next run sends {rows} rows again "
            "(safe: the import is an upsert keyed by username)"
        )
    shown = result.failed_rows if verbose else result.failed_rows[:FAILED_ROWS_SHOWN]
    for row in shown:
        source = f", source row {row.source_row}" if row.source_row else ""
        tolerated = " (tolerated)" if row.tolerated else ""
        user = row.username if row.username is not None else "no such line in the file"
        lines.append(f"  row {row.line} ({user}{source}){tolerated}: {reason(row.outcome)}")
    if len(shown) < len(result.failed_rows):
        more = len(result.failed_rows) - len(shown)
        lines.append(
            f"  {plural(more, 'more failed row')}: -v lists them all, as does the archive's report.json"
        )
    failing = (hint(row.outcome) for row in result.failed_rows if not row.tolerated)
    lines += [f"  hint: {h}" for h in dict.fromkeys(h for h in failing if h is not None)]
    if verbose:
        lines += [f"  note: {n}" for n in result.all_notes]
        if result.archive is not None:
            lines.append(f"  archive: {result.archive}")
    return lines


def runs_text(results: Sequence[JobResult], verbose: bool = False) -> str:
    """The text report of `run` (an error met again is told once: the later jobs name the first)."""
    same = repeated([(r.name, r.error) for r in results])
    lines: list[str] = []
    for i, result in enumerate(results):
        told = run_text(result, verbose)
        if i in same:
            told[0] = f"{result.name}: {result.outcome}: the same as {same[i]}"
        lines += told
    return "\n".join(lines)


def problem_line(result: JobResult, same_as: str | None = None) -> str | None:
    """What `run -q` says of a job: nothing when it is ok, else one line with why (or the job that stopped
    with the same error before it) and where its archive is."""
    if result.outcome == "ok":
        return None
    if same_as is not None:
        why = [f"the same as {same_as}"]
    elif result.error is not None:
        why = [result.error.message] + ([f"hint: {result.error.hint}"] if result.error.hint else [])
    else:
        failures = result.planned.failures if result.planned is not None else []
        why = [*result.holds, *result.unmet, *failures]
    archive = f" (archive: {result.archive})" if result.archive is not None else ""
    return one_line(f"{result.name}: {result.outcome}: " + "; ".join(why)) + archive


def runs_quiet(results: Sequence[JobResult]) -> str | None:
    """The report of `run -q`: a line per job that needs a person; None when every job is ok."""
    same = repeated([(r.name, r.error) for r in results])
    lines = [line for i, r in enumerate(results) if (line := problem_line(r, same.get(i))) is not None]
    return "\n".join(lines) if lines else None


_JOB_LEVEL: dict[str, Level] = {"ok": "info", "held": "warning"}


def log_job(console: Console, result: JobResult) -> None:
    """Log a finished job as an event of its own (`job.finished`, or `job.held`, `job.failed`, `job.error`)
    with its counts and duration; only JSON logs carry it, text messages already say it in the report."""
    if console.log_format != "json":
        return
    answer, planned = result.answer, result.planned
    counts: dict[str, int | None] = {
        "read": planned.rows_read if planned is not None else None,
        "sent": result.rows_sent,
        **{name: getattr(answer.counts, name) if answer else None for name in COUNTS},
    }
    duration = (result.finished - result.started).total_seconds() if result.finished else None
    event = "job.finished" if result.outcome == "ok" else f"job.{result.outcome}"
    about = Fields(result.job.tenant.name, result.job.spec.name, result.outcome, counts, duration)
    console.log(_JOB_LEVEL.get(result.outcome, "error"), event, one_line(run_line(result)), about)


def runs_json(results: Sequence[JobResult], undelivered: Sequence[str] = ()) -> str:
    """The JSON report of `run`; `undelivered` (the notifications that could not be delivered) only when
    there are some."""
    report: dict[str, Any] = {"runs": [r.to_json() for r in results]}
    if undelivered:
        report["notifications_undelivered"] = list(undelivered)
    return json.dumps(report, indent=2, ensure_ascii=False)


def undelivered_text(undelivered: Sequence[str]) -> str | None:
    """The lines of the text report on the notifications that could not be delivered, or None."""
    if not undelivered:
        return None
    return "\n".join(f"notify: {line}" for line in undelivered)


def runs_junit(results: Sequence[JobResult]) -> str:
    """The JUnit report of `run`: one test case per tenant and spec."""
    from runner.report.junit import JUnitCase, junit  # only for --junit FILE

    cases = []
    for r in results:
        detail = "\n".join(run_text(r, verbose=True))
        seconds = (r.finished - r.started).total_seconds() if r.finished else 0.0
        cases.append(
            JUnitCase(
                classname=r.job.tenant.name,
                name=r.job.spec.name,
                failure=detail if r.outcome in ("failed", "held") else None,
                error=detail if r.outcome == "error" else None,
                output=detail,
                seconds=seconds,
            )
        )
    return junit("infiniti-sync run", cases)


# The level of a job's annotation by outcome: a hold waits for a person, the rest failed.
_ANNOTATION_LEVEL = {"held": "warning"}


def runs_github(results: Sequence[JobResult]) -> str | None:
    """The jobs of `run` that were not ok (held, failed, stopped by an error) as GitHub Actions
    annotations on their spec's file, with what the text report says of them; None when all were ok."""
    lines = [
        annotation(
            _ANNOTATION_LEVEL.get(r.outcome, "error"),
            display_path(r.job.spec.path),
            1,
            f"{r.name}: {r.outcome}",
            "\n".join(run_text(r)),
        )
        for r in results
        if r.outcome != "ok"
    ]
    return "\n".join(lines) if lines else None


def nothing_run_text(checked: Sequence[Job], skipped: int, shard: tuple[int, int] | None) -> str:
    """The one line of `run --due` when nothing ran, or of a shard that holds none of the tenants."""
    from runner.report.due import shard_text, unscheduled_text  # runner.due: only for --due or --shard

    if not checked:
        return f"nothing to run: none of the chosen tenants falls{shard_text(shard)}"
    jobs = f"{plural(len(checked), 'job')} checked{shard_text(shard)}{unscheduled_text(checked)}"
    if skipped:
        return f"nothing ran: {jobs}, {number(skipped)} due but taken by another runner (-v says which)"
    return f"nothing is due: {jobs}, none has a slot since its last run"
