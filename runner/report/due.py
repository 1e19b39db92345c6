"""The report of `due`: the jobs a `run --due` would run, as text (slots and last runs in each job's zone)
or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from runner import due, zones
from runner.due import Due
from runner.jobs import Job
from runner.numbers import number, plural
from runner.records import record
from runner.spec import Project
from runner.tables import table


@record
class DueReport:
    """What `due` reports: the due jobs of those checked, at a moment, in a shard (or all)."""

    found: Sequence[Due]
    checked: Sequence[Job]
    project: Project
    at: datetime
    shard: tuple[int, int] | None = None


def text_report(r: DueReport) -> str:
    """A line per due job, then a count."""
    return due_text(r.found, r.checked, r.project, r.at, r.shard)


def json_report(r: DueReport) -> str:
    """The due jobs as JSON."""
    return due_json(r.found)


def shard_text(shard: tuple[int, int] | None) -> str:
    """` in shard 1/4`, or "" without a shard."""
    return f" in shard {shard[0]}/{shard[1]}" if shard else ""


def unscheduled_text(checked: Sequence[Job]) -> str:
    """` (3 jobs without a schedule)`, or "" when every job has one."""
    count = sum(not due.scheduled(job) for job in checked)
    return f" ({number(count)} without a schedule)" if count else ""


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
        return f"nothing is due at {when}: {jobs} checked{shard_text(shard)}{unscheduled_text(checked)}"
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
        f"{shard_text(shard)}{unscheduled_text(checked)}"
    )
    return "\n".join(lines)


def due_json(found: Sequence[Due]) -> str:
    """The JSON report of `due`."""
    return json.dumps({"due": [d.to_json() for d in found]}, indent=2, ensure_ascii=False)
