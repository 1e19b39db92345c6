"""The report of `approve`: the approval recorded and those it replaced, or why there was nothing to
approve (an approval's JSON is its own: runner.approve.Approval.to_json)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from runner.approve import Approval, Change
from runner.records import record


@record
class ApproveReport:
    """What `approve` reports: for `job`, the approval recorded with the change it lets through (held at
    `held`) and the waiting ones it replaced; or, none recorded, why there was `nothing` to approve."""

    job: str = ""
    approved: tuple[Approval, Change] | None = None
    held: str = ""
    replaced: Sequence[Approval] = ()
    nothing: str | None = None


def text_report(r: ApproveReport) -> str | None:
    """The approval recorded and any it replaced (nothing to approve is an error on standard error,
    which the command writes)."""
    if r.approved is None:
        return None
    approval, change = r.approved
    return approved_text(r.job, approval, change, r.held, r.replaced)


def json_report(r: ApproveReport) -> str:
    """The approval recorded, those it replaced, or why nothing was approved, as JSON."""
    return approved_json(r.approved, r.replaced, r.nothing)


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
        approval = {**approved[0].to_json(), "change": counts}
    doc = {
        "approval": approval,
        "replaced": [dataclasses.replace(old, status="replaced").to_json() for old in replaced],
        "nothing_to_approve": nothing,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
