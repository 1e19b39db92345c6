"""The reports of `plan`: each planned file (or the error that stopped its job) as text or as JSON; the
helpers the run's report shares with it (findings, changes, an error told once)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.changes import KINDS, Changes
from runner.errors import SyncError
from runner.jobs import Job
from runner.numbers import number, plural
from runner.plan import Planned
from runner.precheck import Finding
from runner.records import record
from runner.tables import table

if TYPE_CHECKING:
    from runner.approve import Approval


@record
class PlanReport:
    """What `plan` reports: each job's planned file or the error that stopped it, in the jobs' order,
    the folder of the files, and (by `tenant/spec`) what the approval waiting for a job would do."""

    results: Sequence[Planned | tuple[Job, SyncError]]
    out: Path
    approvals: Mapping[str, str] = field(default_factory=dict)


def text_report(r: PlanReport) -> str:
    """Each planned file with its counts, preview, findings and changes; then where the files are."""
    return plans_text(r.results, r.out, r.approvals)


def json_report(r: PlanReport) -> str:
    """Each planned file as a JSON object, with the full lists of changed users."""
    return plans_json(r.results, r.out, r.approvals)


def finding_text(f: Finding) -> str:
    """`ROW 3 (ana): email: not an email address`: where, which check, what it found."""
    return f"{f.where}: {f.check}: {f.message}"


DUPLICATES_HINT = (
    "rows that repeat a line's key (its username; for contacts, its username, type and contact) are all left "
    "out (a query that joins a table with several rows per user repeats it): make the query return each line "
    "once, or set checks.duplicates: first or last to send one of them"
)


def findings_hints(findings: Sequence[Finding], indent: str) -> list[str]:
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
        lines += [f"    {finding_text(f)}" for f in p.findings]
        lines += findings_hints(p.findings, "    ")
    if p.dropped:
        lines.append(f"  duplicates dropped ({number(len(p.dropped))}):")
        lines += [f"    {finding_text(f)}" for f in p.dropped]
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
    lines = [f"  changes since the last accepted run: {changes_counts(changes)}"]
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


def changes_counts(changes: Changes) -> str:
    """`0 new, 1 changed, 5 unchanged, 0 gone`."""
    counts = (changes.new, changes.changed, changes.unchanged, changes.vanished)
    return ", ".join(
        f"{number(n)} {label}"
        for n, label in zip(counts, ("new", "changed", "unchanged", "gone"), strict=True)
    )


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
    """The JSON report of `plan`, with every username of each kind of change (Planned.to_json with its
    lists, as json.dumps would write it, but each list written as its names are derived: see `_Lists`)."""
    shown, lists = approvals or {}, _Lists()
    plans = []
    for r in results:
        if not isinstance(r, Planned):
            plans.append(error_json(*r))
            continue
        plan = r.to_json(shown.get(f"{r.tenant}/{r.spec}"))
        if r.changes is not None:
            plan["changes"]["lists"] = {kind: lists.place(r.changes, kind) for kind in KINDS}
        plans.append(plan)
    return lists.fill(json.dumps({"out": str(out), "plans": plans}, indent=2, ensure_ascii=False))


class _Lists:
    """The full lists of a JSON report, written in place of a mark each: json.dumps with an indent keeps
    a Python str for every item until it joins them all (some 80 bytes a name, 80 MB at a million, on
    top of the list itself); here the names stream from their source (runner.changes.Changes.names) and
    are joined 10,000 at a time, so that the report holds little more than its own text."""

    BATCH = 10_000

    def __init__(self) -> None:
        self.mark = f"lists-{secrets.token_hex(16)}-"  # in no other text of the report
        self.sources: list[tuple[Changes, str]] = []

    def place(self, changes: Changes, kind: str) -> str:
        """A mark for the list of `kind`'s names, to write where the list goes."""
        self.sources.append((changes, kind))
        return f"{self.mark}{len(self.sources) - 1}"

    def fill(self, text: str) -> str:
        """`text` with each mark (a JSON string on a line of its own, after its key) replaced by its list,
        indented as json.dumps indents a list there."""
        if not self.sources:
            return text
        parts: list[str] = []
        for i, piece in enumerate(re.split(f'"{self.mark}([0-9]+)"', text)):
            if i % 2 == 0:  # the text between two marks
                parts.append(piece)
                continue
            line = parts[-1][parts[-1].rfind("\n") + 1 :]  # the line of the list's key, up to the mark
            changes, kind = self.sources[int(piece)]
            parts.append(self._list(changes.names(kind), " " * (len(line) - len(line.lstrip(" ")))))
        return "".join(parts)

    def _list(self, names: Iterable[str], pad: str) -> str:
        between = f",\n{pad}  "
        batch: list[str] = []
        joined: list[str] = []
        for name in names:
            batch.append(encode_basestring(name))
            if len(batch) == self.BATCH:
                joined.append(between.join(batch))
                batch.clear()
        if batch:
            joined.append(between.join(batch))
        return f"[\n{pad}  {between.join(joined)}\n{pad}]" if joined else "[]"


def approval_text(approval: Approval, refused: str | None, held: bool) -> str:
    """What `plan` says of the approval waiting for a job: whether it lets the held change through."""
    head = f"an approval by {approval.by} (until {approval.until()}) is waiting"
    if not held:
        return head
    return f"{head}; {refused}: a run holds" if refused else f"{head}; it covers this change: a run sends it"
