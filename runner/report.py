"""Reporters: the same results as text for people, JSON for machines, JUnit for CI dashboards, and
GitHub annotations. The core never prints; commands hand their results to one of these."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import due, zones
from runner.answer import hint, reason
from runner.changes import Changes
from runner.console import Console, Fields, Level, one_line
from runner.due import Due
from runner.errors import Problem, SyncError
from runner.jobs import Job
from runner.numbers import number, plural
from runner.plan import Planned
from runner.precheck import Finding
from runner.spec import COUNTS, Project
from runner.tables import table
from runner.yamlfile import display_path

if TYPE_CHECKING:
    from runner.approve import Approval, Change
    from runner.run import JobResult
    from runner.spectest import CaseResult
    from runner.state import RunRecord


def problems_text(problems: Sequence[Problem], files: int, *, quiet: bool = False) -> str | None:
    """Validation findings, one per line, then a one-line verdict (with `quiet`, the findings alone, and
    None when there are none)."""
    lines = [str(p) for p in problems]
    if quiet:
        return "\n".join(lines) or None
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors or warnings:
        lines.append(f"{plural(errors, 'error')}, {plural(warnings, 'warning')} in {plural(files, 'file')}")
    else:
        lines.append(f"{plural(files, 'file')} valid")
    return "\n".join(lines)


def problems_json(problems: Sequence[Problem], files: Sequence[str], valid: bool) -> str:
    """Validation findings as one JSON document."""
    doc: dict[str, Any] = {
        "valid": valid,
        "files": list(files),
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "column": p.col,
                "path": p.path,
                "severity": p.severity,
                "rule": p.rule,
                "message": p.message,
            }
            for p in problems
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def problems_github(problems: Sequence[Problem]) -> str:
    """Validation findings as GitHub Actions workflow commands (annotations on the changed lines)."""
    lines = []
    for p in problems:
        props = ",".join(
            [
                f"file={_escape_property(p.file)}",
                f"line={p.line}",
                f"col={p.col}",
                f"title={_escape_property(p.path)}",
            ]
        )
        lines.append(f"::{p.severity} {props}::{_escape_data(p.message)}")
    return "\n".join(lines)


# --- plan ----------------------------------------------------------------------------------------


def _finding_text(f: Finding) -> str:
    return f"{f.where}: {f.check}: {f.message}"


DUPLICATES_HINT = (
    "rows that repeat a line's key (its username; for contacts, its username, type and contact) are all left "
    "out (a query that joins a table with several rows per user repeats it): make the query return each line "
    "once, or set checks.duplicates: first or last to send one of them"
)


def _findings_hints(findings: Sequence[Finding], indent: str) -> list[str]:
    """The hint after the findings, when some have one: duplicates left out point to checks.duplicates."""
    return [f"{indent}hint: {DUPLICATES_HINT}"] if any(f.check == "duplicate" for f in findings) else []


def plan_text(p: Planned, approval: str | None = None) -> list[str]:
    """The text report of one planned file (and what the approval waiting for its job would do)."""
    left_out = len({f.row for f in p.findings})
    lines = [
        f"{p.tenant}/{p.spec}: {plural(p.rows_out, 'row')} in the file "
        f"({number(p.rows_read)} read, {number(p.rows_skipped)} skipped by where, {number(left_out)} left out"
        + (f", {plural(len(p.dropped), 'duplicate')} dropped" if p.dropped else "")
        + ")",
        f"  file: {p.path}",
    ]
    if p.preview:
        shown = (
            f"first {number(len(p.preview))} of {number(p.rows_out)}"
            if p.rows_out > len(p.preview)
            else "all"
        )
        lines.append(f"  preview ({shown}):")
        lines += table(p.header, p.preview)
    if p.findings:
        lines.append(f"  left out ({number(left_out)}):")
        lines += [f"    {_finding_text(f)}" for f in p.findings]
        lines += _findings_hints(p.findings, "    ")
    if p.dropped:
        lines.append(f"  duplicates dropped ({number(len(p.dropped))}):")
        lines += [f"    {_finding_text(f)}" for f in p.dropped]
    lines += changes_text(p.changes)
    lines += [f"  held: {h}" for h in p.holds]
    lines += [f"  approval: {approval}"] if approval else []
    lines += [f"  failed: {f}" for f in p.failures]
    return lines


def changes_text(changes: Changes | None) -> list[str]:
    """What changed since the last accepted run, with a few usernames of each kind."""
    if changes is None:
        return []
    if changes.first_run:
        return ["  changes: none accepted yet for this tenant and spec; every user is new"]
    lines = [f"  changes since the last accepted run: {_changes_counts(changes)}"]
    for kind, label in (
        ("new", "new"),
        ("changed", "changed"),
        ("unchanged", "unchanged"),
        ("vanished", "gone"),
    ):
        examples = changes.examples[kind]
        if examples:
            more = getattr(changes, kind) - len(examples)
            lines.append(
                f"    {label}: {', '.join(examples)}" + (f" and {number(more)} more" if more else "")
            )
    return lines


def _changes_counts(changes: Changes) -> str:
    """`0 new, 1 changed, 5 unchanged, 0 gone`."""
    counts = (changes.new, changes.changed, changes.unchanged, changes.vanished)
    return ", ".join(
        f"{number(n)} {label}"
        for n, label in zip(counts, ("new", "changed", "unchanged", "gone"), strict=True)
    )


def changes_json(changes: Changes | None) -> dict[str, Any] | None:
    """Changes as a JSON object: counts, examples, and the full lists when they were kept."""
    return None if changes is None else changes.to_json()


def repeated(errors: Sequence[tuple[str, SyncError | None]]) -> dict[int, str]:
    """By position in `errors` (job name, its error), the job that stopped with the same error before: a
    password that is not set stops every job of its tenant, and a text report says so once."""
    first: dict[tuple[object, ...], str] = {}
    found: dict[int, str] = {}
    for i, (name, err) in enumerate(errors):
        if err is None:
            continue
        key = (type(err), err.message, err.hint, err.where.tenant, err.where.connection)
        if key in first:
            found[i] = first[key]
        else:
            first[key] = name
    return found


def plans_text(
    results: Sequence[Planned | tuple[Job, SyncError]], out: Path, approvals: Mapping[str, str] | None = None
) -> str:
    """The text report of `plan`; `approvals` says, by `tenant/spec`, what a waiting approval would do."""
    lines: list[str] = []
    same = repeated([(r[0].name, r[1]) if isinstance(r, tuple) else ("", None) for r in results])
    for i, result in enumerate(results):
        if isinstance(result, Planned):
            lines += plan_text(result, (approvals or {}).get(f"{result.tenant}/{result.spec}"))
        else:
            job, err = result
            lines.append(f"{job.name}: error: " + (f"the same as {same[i]}" if i in same else str(err)))
    written = any(isinstance(r, Planned) for r in results)
    lines.append(f"files written to {out}" if written else "no file written")
    return "\n".join(lines)


def plan_json(p: Planned, approval: str | None = None) -> dict[str, Any]:
    """One planned file as a JSON object (with what the approval waiting for its job would do)."""
    return {
        "tenant": p.tenant,
        "spec": p.spec,
        "ok": p.ok,
        "file": str(p.path),
        "header": list(p.header),
        "rows": {
            "read": p.rows_read,
            "skipped": p.rows_skipped,
            "in_file": p.rows_out,
            "left_out": len({f.row for f in p.findings}),
            "dropped": len(p.dropped),
        },
        "findings": [f.to_json() for f in p.findings],
        "dropped": [f.to_json() for f in p.dropped],
        "preview": [dict(zip(p.header, row, strict=True)) for row in p.preview],
        "changes": changes_json(p.changes),
        "holds": p.holds,
        **({"approval": approval} if approval else {}),  # an approval waits for the job
        "failures": p.failures,
    }


def error_json(job: Job, err: SyncError) -> dict[str, Any]:
    """A job that stopped with an error, as a JSON object."""
    return {
        "tenant": job.tenant.name,
        "spec": job.spec.name,
        "ok": False,
        "exit_code": err.exit_code,
        "error": err.to_json(),
    }


def plans_json(
    results: Sequence[Planned | tuple[Job, SyncError]], out: Path, approvals: Mapping[str, str] | None = None
) -> str:
    """The JSON report of `plan`."""
    shown = approvals or {}
    doc = {
        "out": str(out),
        "plans": [
            plan_json(r, shown.get(f"{r.tenant}/{r.spec}")) if isinstance(r, Planned) else error_json(*r)
            for r in results
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


# --- JUnit ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JUnitCase:
    """One test case of a JUnit report."""

    classname: str
    name: str
    failure: str | None = None
    error: str | None = None
    output: str = ""
    file: str | None = None
    line: int | None = None
    seconds: float = 0.0


def junit(suite: str, cases: Sequence[JUnitCase]) -> str:
    """A JUnit XML report, as CI dashboards read it."""
    from xml.etree import ElementTree as ET

    failures = sum(c.failure is not None for c in cases)
    errors = sum(c.error is not None for c in cases)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures), errors=str(errors))
    node = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors=str(errors)
    )
    for case in cases:
        attrs = {"classname": case.classname, "name": case.name, "time": f"{case.seconds:.3f}"}
        if case.file:
            attrs["file"] = case.file
        if case.line:
            attrs["line"] = str(case.line)
        element = ET.SubElement(node, "testcase", attrs)
        for kind, text in (("failure", case.failure), ("error", case.error)):
            if text is not None:
                ET.SubElement(element, kind, message=text.splitlines()[0] if text else kind).text = text
        if case.output:
            ET.SubElement(element, "system-out").text = case.output
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_private(path: Path, text: str) -> None:
    """Write a report file (readable only by its owner: reports can hold personal data)."""
    from runner.archive import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


# --- run -----------------------------------------------------------------------------------------

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
        parts.append(f"changes: {_changes_counts(result.changes)}")
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
        lines += [f"  left out: {_finding_text(f)}" for f in result.planned.findings]
        lines += _findings_hints(result.planned.findings, "  ")
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


# --- due -----------------------------------------------------------------------------------------


def _where(shard: tuple[int, int] | None) -> str:
    return f" in shard {shard[0]}/{shard[1]}" if shard else ""


def _unscheduled(checked: Sequence[Job]) -> str:
    count = sum(not due.scheduled(job) for job in checked)
    return f" ({number(count)} without a schedule)" if count else ""


def nothing_run_text(checked: Sequence[Job], skipped: int, shard: tuple[int, int] | None) -> str:
    """The one line of `run --due` when nothing ran, or of a shard that holds none of the tenants."""
    if not checked:
        return f"nothing to run: none of the chosen tenants falls{_where(shard)}"
    jobs = f"{plural(len(checked), 'job')} checked{_where(shard)}{_unscheduled(checked)}"
    if skipped:
        return f"nothing ran: {jobs}, {number(skipped)} due but taken by another runner (-v says which)"
    return f"nothing is due: {jobs}, none has a slot since its last run"


def _local(moment: datetime | None, job: Job, project: Project, missing: str) -> str:
    if moment is None:
        return missing
    zone = zones.zone(job.tenant.timezone or project.timezone)
    return moment.astimezone(zone).isoformat(sep=" ", timespec="minutes")


def due_text(
    found: Sequence[Due],
    checked: Sequence[Job],
    project: Project,
    at: datetime,
    shard: tuple[int, int] | None,
) -> str:
    """The text report of `due`: a line per due job (its slot and last run in its own zone), then a count."""
    when = at.isoformat(timespec="seconds")
    jobs = plural(len(checked), "job")
    if not found:
        return f"nothing is due at {when}: {jobs} checked{_where(shard)}{_unscheduled(checked)}"
    rows = [
        (
            d.job.name,
            _local(d.slot, d.job, project, "none yet"),
            _local(d.last_run, d.job, project, "never"),
        )
        for d in found
    ]
    lines = table(("job", "slot", "last run started"), rows, indent="", width=None)
    lines.append(
        f"{number(len(found))} of {plural(len(checked), 'job')} due at {when}"
        f"{_where(shard)}{_unscheduled(checked)}"
    )
    return "\n".join(lines)


def due_json(found: Sequence[Due]) -> str:
    """The JSON report of `due`."""
    return json.dumps({"due": [d.to_json() for d in found]}, indent=2, ensure_ascii=False)


# --- approve -------------------------------------------------------------------------------------


def approved_text(
    job: str, approval: Approval, change: Change, held: str, replaced: Sequence[Approval]
) -> str:
    """What `approve` says: the approval recorded, and any it replaced."""
    lines = [
        f"replaced the approval of {job} by {old.by} (until {old.until()}), which was still waiting"
        for old in replaced
    ]
    lines.append(
        f"approved {job}: the change its run held at {held} found ({change.describe()}), "
        f"by {approval.by}, until {approval.until()}"
    )
    lines.append("  the next run sends it if it finds this change or part of it; a larger one is held again")
    return "\n".join(lines)


def approved_json(
    approved: tuple[Approval, Change] | None, replaced: Sequence[Approval] = (), nothing: str | None = None
) -> str:
    """The JSON report of `approve`: the approval recorded (as history shows it) with the counts of the
    change it lets through, and those it replaced; or, none recorded, why there was nothing to approve."""
    approval: dict[str, object] | None = None
    if approved is not None:
        change = approved[1]
        counts = {"new": change.new, "changed": change.changed, "vanished": change.vanished}
        approval = {**approval_json(approved[0]), "change": counts}
    doc = {
        "approval": approval,
        "replaced": [approval_json(dataclasses.replace(old, status="replaced")) for old in replaced],
        "nothing_to_approve": nothing,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def approval_text(approval: Approval, refused: str | None, held: bool) -> str:
    """What `plan` says of the approval waiting for a job: whether it lets the held change through."""
    head = f"an approval by {approval.by} (until {approval.until()}) is waiting"
    if not held:
        return head
    return f"{head}; {refused}: a run holds" if refused else f"{head}; it covers this change: a run sends it"


# --- history ------------------------------------------------------------------------------------


def _shown(n: int | None) -> str:
    return "" if n is None else str(n)


def _approval_status(a: Approval, at: datetime) -> str:
    """`approved (waiting)`: waiting, expired, used or replaced."""
    return f"approved ({'expired' if a.status == 'waiting' and a.expired(at) else a.status})"


def _run_outcome(r: RunRecord, approved_by: str | None) -> str:
    """`ok (approved by alice@sync-1)`, `error (exit 3)`: the outcome, with who approved the run or, for an
    error, its exit code (held and failed are always 1)."""
    if approved_by is not None:
        return f"{r.outcome} (approved by {approved_by})"
    return f"{r.outcome} (exit {r.exit_code})" if r.outcome == "error" else r.outcome


def _reason_lines(r: RunRecord) -> list[str]:
    """The lines under a run that was not ok: why (the error, the holds, the unmet expectations)."""
    if r.outcome == "ok" or not r.message:
        return []
    first, *more = r.message.splitlines()
    return [f"  reason: {first}", *(f"  {line}" for line in more)]


def history_text(
    records: Sequence[RunRecord],
    approvals: Sequence[Approval] = (),
    at: datetime | None = None,
    limit: int | None = None,
) -> str:
    """The text report of `history`: one line per run and per approval (its state at `at`, who approved
    and until when in the last column), newest first, at most `limit`; a run sent by an approval names
    who approved it, an error its exit code, and a run that was not ok says why on the lines under it."""
    if not records and not approvals:
        return "no runs recorded yet"
    used: dict[int | None, str] = {a.used_by: a.by for a in approvals if a.used_by is not None}
    rows = [
        (
            r.finished_at,
            (
                r.finished_at.strftime("%Y-%m-%d %H:%M:%SZ"),
                f"{r.tenant}/{r.spec}",
                _run_outcome(r, used.get(r.id)),
                r.mode,
                _shown(r.rows_sent),
                _shown(r.created),
                _shown(r.updated),
                _shown(r.failed),
                r.archive or "",
            ),
            _reason_lines(r),
        )
        for r in records
    ]
    rows += [
        (
            a.approved_at,
            (a.approved_at.strftime("%Y-%m-%d %H:%M:%SZ"), f"{a.tenant}/{a.spec}", _approval_status(a, at))
            + ("",) * 5
            + (f"by {a.by}, until {a.until()}",),
            [],
        )
        for a in approvals
        if at is not None
    ]
    rows.sort(key=lambda row: row[0], reverse=True)
    shown = rows[:limit]
    header = ("finished (UTC)", "job", "outcome", "mode", "sent", "created", "updated", "failed", "archive")
    head, *lines = table(header, [cells for _, cells, _ in shown], indent="", width=None)
    return "\n".join(
        [head] + [text for line, (_, _, why) in zip(lines, shown, strict=True) for text in [line, *why]]
    )


def history_json(records: Sequence[RunRecord], approvals: Sequence[Approval] = ()) -> str:
    """The JSON report of `history`: the runs (each with who approved it, if an approval sent it) and the
    approvals."""
    used: dict[int | None, str] = {a.used_by: a.by for a in approvals if a.used_by is not None}

    def one(r: RunRecord) -> dict[str, object]:
        data = dict(r.__dict__)
        data["started_at"] = r.started_at.isoformat()
        data["finished_at"] = r.finished_at.isoformat()
        data["approved_by"] = used.get(r.id)
        return data

    doc = {"runs": [one(r) for r in records], "approvals": [approval_json(a) for a in approvals]}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def approval_json(a: Approval) -> dict[str, object]:
    """An approval as `history --format json` and `approve --format json` show it."""
    return {
        "tenant": a.tenant,
        "spec": a.spec,
        "held_run": a.run_id,
        "user": a.user,
        "host": a.host,
        "approved_at": a.approved_at.isoformat(),
        "expires_at": a.expires.isoformat(),
        "status": a.status,
        "used_by_run": a.used_by,
    }


# --- test ---------------------------------------------------------------------------------------


def tests_text(results: Sequence[tuple[CaseResult, float]]) -> str:
    """The text report of `test`: a line per case, its differences, and the count."""
    lines = []
    for result, _ in results:
        mark = "ok  " if result.passed else "FAIL"
        lines.append(f"{mark} {result.spec.name}: {result.case.name} ({result.where})")
        lines += [f"     {d}" for d in result.differences]
    failed = sum(not r.passed for r, _ in results)
    lines.append(f"{number(len(results) - failed)} passed, {number(failed)} failed")
    return "\n".join(lines)


def tests_quiet(results: Sequence[tuple[CaseResult, float]]) -> str | None:
    """The report of `test -q`: a line per failing case, with what differs (the tables under it are in
    `test`'s own report); None when all pass."""
    lines = [
        one_line(
            f"FAIL {r.spec.name}: {r.case.name} ({r.where}): "
            + "; ".join(d.rstrip(":") for d in r.differences if d and not d[0].isspace())
        )
        for r, _ in results
        if not r.passed
    ]
    return "\n".join(lines) if lines else None


def tests_json(results: Sequence[tuple[CaseResult, float]]) -> str:
    """The JSON report of `test`."""
    return json.dumps(
        {
            "passed": all(r.passed for r, _ in results),
            "cases": [
                {
                    "spec": r.spec.name,
                    "name": r.case.name,
                    "file": display_path(r.spec.path),
                    "line": r.case.line,
                    "passed": r.passed,
                    "differences": r.differences,
                }
                for r, _ in results
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def tests_junit(results: Sequence[tuple[CaseResult, float]]) -> str:
    """The JUnit report of `test`: one test case per spec test."""
    cases = [
        JUnitCase(
            r.spec.name,
            r.case.name,
            failure="\n".join(r.differences) or None,
            file=display_path(r.spec.path),
            line=r.case.line,
            seconds=s,
        )
        for r, s in results
    ]
    return junit("infiniti-sync test", cases)
