"""The report of `history`: the recorded runs and approvals, newest first, as a table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from runner.records import record
from runner.tables import table

if TYPE_CHECKING:
    from runner.approve import Approval
    from runner.state import RunRecord


@record
class HistoryReport:
    """What `history` reports: runs and approvals (newest first, at most `limit` of each), as they stand
    at `at`."""

    records: Sequence[RunRecord]
    approvals: Sequence[Approval]
    at: datetime
    limit: int


def text_report(r: HistoryReport) -> str:
    """A table of runs and approvals, newest first, at most `limit` lines."""
    return history_text(r.records, r.approvals, r.at, r.limit)


def json_report(r: HistoryReport) -> str:
    """The runs and approvals as JSON."""
    return history_json(r.records, r.approvals)


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
    doc = {
        "runs": [r.to_json(approved_by=used.get(r.id)) for r in records],
        "approvals": [a.to_json() for a in approvals],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
