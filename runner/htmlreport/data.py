"""What the report shows, read once from the state store and the archive, never written to either.

Two reads of the store serve every job at once, however many there are: each job's last run and last ok
run (`StateStore.last_runs`), and its newest `RUNS` runs since the window's start
(`StateStore.recent_runs`: one query, numbered per job by the database); a third asks, for each held job
only, for the approval waiting for it. From the archive only the newest run's `report.json` of each job is
read (its failed rows, unmet expectations and holds) and the names of that run's files listed; a run that
was pruned, or an archive turned off, just leaves those parts out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from runner import zones
from runner.approve import Approval
from runner.expect import FailedRow
from runner.jobs import Job
from runner.records import record
from runner.spec import Project
from runner.state import RunRecord, StateStore

RUNS = 50  # the newest runs of a job read and charted
FAILED_ROWS = 1000  # the failed rows of the latest run shown on its page; report.json has them all


@record
class Latest:
    """What the archive keeps of a job's newest run: its report's failed rows, unmet expectations and
    holds, and the files of its folder (`missing` says why there is nothing: pruned, no archive)."""

    folder: Path | None = None
    files: tuple[Path, ...] = ()
    failed_rows: tuple[FailedRow, ...] = ()
    failed_total: int = 0
    unmet: tuple[str, ...] = ()
    holds: tuple[str, ...] = ()
    missing: str | None = None


@record
class JobView:
    """One tenant and spec as the report shows it: its newest runs (newest first), its last ok run, the
    approval waiting for it, and what the archive keeps of its newest run."""

    tenant: str
    spec: str
    zone: tzinfo
    runs: tuple[RunRecord, ...]
    last: RunRecord | None
    last_ok: datetime | None
    in_project: bool = True
    waiting: Approval | None = None
    latest: Latest = Latest()

    @property
    def name(self) -> str:
        """`tenant/spec`."""
        return f"{self.tenant}/{self.spec}"

    @property
    def outcome(self) -> str:
        """The last run's outcome (ok, failed, held, error), or `never run`."""
        return self.last.outcome if self.last is not None else "never run"


def jobs_of(
    state: StateStore, project: Project, chosen: Sequence[Job], since: datetime, *, every: bool
) -> list[JobView]:
    """The report's jobs: the chosen ones of the project, and (with `every`: no tenant was named) the jobs
    the store has runs of that the project no longer has."""
    last = state.last_runs()
    recent = _recent(state, since, None if every else {(j.tenant.name, j.spec.name) for j in chosen})
    known = {(j.tenant.name, j.spec.name): _zone(j.tenant.timezone or project.timezone) for j in chosen}
    gone = sorted(key for key in last if key not in known) if every else []
    views = [_view(key, zone, recent.get(key, ()), last.get(key), True) for key, zone in known.items()] + [
        _view(key, _zone(project.timezone), recent.get(key, ()), last[key], False) for key in gone
    ]
    return [_with_archive(state, v) for v in views]


def _zone(name: str | None) -> tzinfo:
    """The zone named, else the host's; UTC where the host's has no name (Windows without TZ), since a
    report, unlike a schedule, can say which zone its times are in."""
    if name is None and zones.host() is None:
        return UTC
    return zones.zone(name)


def _view(
    key: tuple[str, str],
    zone: tzinfo,
    runs: Sequence[RunRecord],
    last: tuple[RunRecord, datetime | None] | None,
    in_project: bool,
) -> JobView:
    record, last_ok = last if last is not None else (None, None)
    return JobView(key[0], key[1], zone, tuple(runs), record, last_ok, in_project)


def _recent(
    state: StateStore, since: datetime, keys: set[tuple[str, str]] | None
) -> dict[tuple[str, str], list[RunRecord]]:
    """The newest RUNS runs started since `since` of each job (of `keys`; None: every job), newest first,
    in one query."""
    tenants = None if keys is None else {tenant for tenant, _ in keys}
    found = state.recent_runs(since, RUNS, tenants)
    return found if keys is None else {key: runs for key, runs in found.items() if key in keys}


def _with_archive(state: StateStore, view: JobView) -> JobView:
    waiting = state.waiting(view.tenant, view.spec) if view.outcome == "held" else None
    return dataclasses.replace(view, waiting=waiting, latest=latest_of(view.last))


def latest_of(run: RunRecord | None) -> Latest:
    """What the archive keeps of `run` (read only: nothing in the archive is touched)."""
    if run is None:
        return Latest(missing="no run recorded")
    if run.archive is None:
        return Latest(missing="this run was not archived (archive: false)")
    folder = Path(run.archive)
    try:
        files = tuple(sorted((p for p in folder.iterdir() if p.is_file()), key=_file_order))
    except OSError:
        return Latest(folder, missing="this run's archive folder is gone (pruned by keep_runs, or moved)")
    report = _report(folder / "report.json")
    if report is None:
        return Latest(folder, files, missing="this run's report.json cannot be read")
    rows = [_failed_row(r) for r in _list(report.get("failed_rows"))]
    return Latest(
        folder,
        files,
        failed_rows=tuple(r for r in rows[:FAILED_ROWS] if r is not None),
        failed_total=len(rows),
        unmet=tuple(str(u) for u in _list(report.get("unmet"))),
        holds=tuple(str(h) for h in _list(report.get("holds"))),
    )


def _file_order(path: Path) -> tuple[int, str]:
    """sent.csv, then the answers, then report.json, then anything else."""
    order = {"sent.csv": 0, "report.json": 2}
    return order.get(path.name, 1 if path.name.startswith("answer") else 3), path.name


def _report(path: Path) -> Mapping[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()


def _failed_row(row: Any) -> FailedRow | None:
    """A failed row of report.json, or None when it is not one (a report edited by hand)."""
    if not isinstance(row, dict) or not isinstance(row.get("line"), int):
        return None
    username, source = row.get("username"), row.get("source_row")
    return FailedRow(
        line=row["line"],
        source_row=source if isinstance(source, int) else None,
        username=username if isinstance(username, str) else None,
        outcome=str(row.get("outcome", "")),
        tolerated=row.get("tolerated") is True,
    )
