"""Writing the report's folder: `index.html` (every job) and `jobs/TENANT/SPEC.html` (one job each).

Each file is written whole (runner.atomic: a reader finds the old page or the new one) and readable only by
its owner (0600; the folders 0700, as the archive's), since the pages hold usernames; on Windows the
folder's ACL keeps them private. Nothing is deleted: a job page of an earlier report stays until it is
replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import __version__, zones
from runner.atomic import replace_file
from runner.errors import UsageError
from runner.htmlreport import pages
from runner.htmlreport.data import RUNS, JobView
from runner.numbers import plural
from runner.records import record

if TYPE_CHECKING:
    from jinja2 import Environment

MODE = 0o600


@record
class Written:
    """What a report wrote: its folder, how many job pages (beside the overview), and their bytes."""

    folder: Path
    jobs: int
    size: int


def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("runner.htmlreport", "templates"),
        autoescape=True,  # everything: usernames, messages and names are data
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write(
    views: Sequence[JobView], folder: Path, *, project_file: Path, at: datetime, since: timedelta
) -> Written:
    """Write the overview and a page per job into `folder` (made if missing); UsageError when it cannot
    be written."""
    env = _environment()
    common = {
        "generated": at,
        "utc": UTC,
        "version": __version__,
        "window": _window(since),
        "runs_read": RUNS,
    }
    jobs = folder / "jobs"
    size = 0
    try:
        _private_dir(folder)
        _private_dir(jobs)
        for view in views:
            page = folder / pages.page_name(view)
            _private_dir(page.parent)
            text = env.get_template("job.html.j2").render(_job(view, page, project_file, at, common))
            size += _put(page, text)
        index = env.get_template("index.html.j2").render(_index(views, at, common))
        size += _put(folder / "index.html", index)
    except OSError as err:
        raise UsageError(
            f"cannot write the report to {folder}: {err.strerror or err}"
            + (f" ({err.filename})" if err.filename and str(err.filename) != str(folder) else ""),
            hint="give --html a folder this account may write (it is made if it does not exist)",
        ) from err
    return Written(folder, len(views), size)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _put(path: Path, text: str) -> int:
    data = text.encode("utf-8")
    replace_file(path, data, mode=MODE)
    return len(data)


def _window(since: timedelta) -> str:
    days, seconds = since.days, since.seconds
    if seconds == 0:
        return plural(days, "day")
    hours = since.total_seconds() / 3600
    return f"{hours:g} hours"


def _row(view: JobView, at: datetime) -> pages.Row:
    last, ok = view.last, view.last_ok
    return pages.Row(
        view=view,
        href=pages.href(pages.page_name(view)),
        css=pages.css_class(view.outcome),
        rank=pages.rank(view.outcome),
        last_run=pages.local(last.started_at if last else None, view.zone),
        last_run_key=last.started_at.timestamp() if last else 0.0,
        last_ok=pages.local(ok, view.zone),
        ago=pages.ago(ok, at),
        age_key=int((at - ok).total_seconds()) if ok else 10**12,  # never ok: the oldest of all
        stale=tuple(pages.stale(ok, at)),
        trend=pages.trend(view.runs),
    )


def _index(views: Sequence[JobView], at: datetime, common: dict[str, Any]) -> dict[str, Any]:
    rows = sorted((_row(v, at) for v in views), key=lambda r: (r.rank, -r.age_key, r.view.name))
    tally = {o: sum(v.outcome == o for v in views) for o in pages.OUTCOMES}
    stale = {days: sum(days in r.stale for r in rows) for days in pages.AGES}
    return pages.context(
        **common,
        rows=rows,
        tally=tally,
        stale=stale,
        ages=pages.AGES,
        outcomes=pages.OUTCOMES,
        policy=pages.policy(script=True),
        script=pages.asset("sort.js"),
    )


def _job(
    view: JobView, page: Path, project_file: Path, at: datetime, common: dict[str, Any]
) -> dict[str, Any]:
    latest = view.latest
    up = "../../"
    return pages.context(
        **common,
        view=view,
        up=up,
        row=_row(view, at),
        chart=pages.chart(view.runs, view.zone),
        approve=pages.approve_command(view, project_file) if view.outcome == "held" else None,
        files=[(f.name, pages.link(f, page.parent)) for f in latest.files],
        folder_link=pages.link(latest.folder, page.parent) if latest.folder else None,
        run_links={  # the runs the archive still keeps (keep_runs prunes the older ones)
            r.id: pages.link(Path(r.archive), page.parent)
            for r in view.runs
            if r.archive is not None and Path(r.archive).is_dir()
        },
        zone_name=zones.name_of(view.zone),
        policy=pages.policy(script=False),
    )
