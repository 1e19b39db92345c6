"""What is due, and which tenants a shard holds.

A job (tenant and spec) is due at a time `at` when a slot of its schedule (the spec's own within the tenant,
else the tenant's; read in the tenant's timezone, else the project's, else the host's) lies after the start
of its last recorded run, whatever that run's outcome, and at or before `at`. A job never run is due. Slots
missed while no runner ran are caught up by one run. A job without a schedule is never due.

`run --due` asks this twice: when it chooses the jobs (one query for the last starts of every job), and again
for each job under its lock (runner.run), so that two runners started together never both run a job for the
same slot: the second finds the first one's run recorded, started after the slot.

A shard (`--shard I/N`) holds the tenants whose name's SHA-256, read as a number, leaves I when divided by N:
the same on every machine and Python version, and every tenant in exactly one of the N shards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from runner.errors import UsageError
from runner.jobs import Job
from runner.records import record
from runner.spec import Project

if TYPE_CHECKING:  # the schedules' rules and the zone data: only when a schedule is read
    from runner import cron

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@record
class Due:
    """A due job: the latest slot at or before the time asked (None for a job never run whose schedule has
    had no slot yet), and the start of its last recorded run (None: never run)."""

    job: Job
    slot: datetime | None
    last_run: datetime | None

    def to_json(self) -> dict[str, str | None]:
        """The job as `due --format json` lists it."""
        return {
            "tenant": self.job.tenant.name,
            "spec": self.job.spec.name,
            "slot": self.slot.isoformat() if self.slot else None,
            "last_run": self.last_run.isoformat() if self.last_run else None,
        }


@lru_cache(maxsize=1024)
def _schedule(expression: str) -> cron.Schedule:
    from runner import cron

    return cron.Schedule.parse(expression)


def scheduled(job: Job) -> bool:
    """Whether the job has a schedule at all (a job without one is never due)."""
    return job.tenant.schedule_of(job.spec.name) is not None


def check(project: Project, job: Job, at: datetime, last_run: datetime | None) -> Due | None:
    """The job as due at `at`, given the start of its last run; None when it is not due."""
    expression = job.tenant.schedule_of(job.spec.name)
    if expression is None:
        return None
    from runner import zones

    zone = zones.zone(job.tenant.timezone or project.timezone)
    slot = _schedule(expression).latest(zone, at, last_run)
    if slot is None and last_run is not None:
        return None
    return Due(job, slot, last_run)


def due(
    project: Project, jobs: Sequence[Job], last_runs: Mapping[tuple[str, str], datetime], at: datetime
) -> list[Due]:
    """The due jobs of `jobs` at `at`, in their order, given the last start of each job run before."""
    found = (check(project, job, at, last_runs.get((job.tenant.name, job.spec.name))) for job in jobs)
    return [d for d in found if d is not None]


def shard(text: str) -> tuple[int, int]:
    """`I/N` as (I, N), 0 <= I < N; UsageError otherwise."""
    match = _SHARD.match(text)
    if match is None:
        raise UsageError(f"--shard {text!r} is not I/N", hint="for example --shard 0/4 (shards 0 to 3 of 4)")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise UsageError(
            f"--shard {text!r}: the shard must be 0 to {count - 1} of {count}"
            if count
            else f"--shard {text!r}: there must be at least one shard",
            hint="for example --shard 0/4 (shards 0 to 3 of 4)",
        )
    return index, count


def shard_of(tenant: str, count: int) -> int:
    """The shard of `count` holding the tenant named `tenant`."""
    return int.from_bytes(hashlib.sha256(tenant.encode("utf-8")).digest(), "big") % count


def in_shard(jobs: Sequence[Job], index: int, count: int) -> list[Job]:
    """The jobs of the tenants that shard `index` of `count` holds."""
    return [job for job in jobs if shard_of(job.tenant.name, count) == index]


def moment(text: str) -> datetime:
    """An ISO 8601 time with its offset (`2026-12-01T15:16:00Z`); UsageError for one without."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as err:
        raise UsageError(
            f"--at {text!r} is not an ISO 8601 time", hint="for example --at 2026-12-01T15:16:00Z"
        ) from err
    if when.tzinfo is None or when.utcoffset() is None:
        raise UsageError(
            f"--at {text!r} has no offset, so it could be any of the world's times",
            hint=f"add one: {text}Z for UTC, or {text}+11:00",
        )
    return when
