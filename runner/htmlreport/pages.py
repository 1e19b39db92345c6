"""The report's pages: the overview and one page per job, rendered by Jinja2 with autoescaping from the
templates shipped beside this module, their charts inline SVG drawn from numbers computed here.

Every page is self-contained: its style and its one small script are inline, allowed by the page's
Content-Security-Policy through their SHA-256 hashes, which allows nothing else (no network, no other
script), so that it reads the same from file:// as from a web server, with the script off too (filters are
CSS radio buttons; only sorting needs the script).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runner import zones
from runner.answer import reason
from runner.htmlreport.data import JobView
from runner.numbers import plural
from runner.records import record
from runner.state import RunRecord

OUTCOMES = ("error", "failed", "held", "never run", "ok")  # worst first: the overview's default order
AGES = (1, 3, 7)  # days: "not synced for N days" filters
TREND = 20  # runs in an overview row's trend
_CLASS = {"ok": "ok", "failed": "failed", "held": "held", "error": "error", "never run": "never"}


@record
class Bar:
    """One bar of a chart, in SVG user units, and what it shows (its class)."""

    x: float
    y: float
    width: float
    height: float
    kind: str


@record
class Column:
    """One run in a chart: its created, updated and failed bars, the mark of its outcome under them, and
    what it says (a tooltip, and what a screen reader reads)."""

    title: str
    bars: tuple[Bar, ...]
    mark: Bar


@record
class Chart:
    """A job page's chart: a column of bars per run, with a y scale."""

    width: int
    height: int
    columns: tuple[Column, ...]
    ticks: tuple[tuple[float, str], ...]  # y, label
    first: str
    last: str
    label: str


@record
class Trend:
    """An overview row's trend: one path per outcome (every bar of that outcome), and what it says."""

    width: int
    paths: tuple[tuple[str, str], ...]  # css class, path data
    label: str


@record
class Row:
    """A job as the overview shows it: its cells, and the keys its columns sort and filter by."""

    view: JobView
    href: str
    css: str
    rank: int
    last_run: str
    last_run_key: float
    last_ok: str
    ago: str
    age_key: int
    stale: tuple[int, ...]
    trend: Trend


def css_class(outcome: str) -> str:
    """The class (and colour) of an outcome; unknown ones look like errors."""
    return _CLASS.get(outcome, "error")


def rank(outcome: str) -> int:
    """Where an outcome sorts: worst first."""
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else 0


def local(moment: datetime | None, zone: tzinfo, missing: str = "never") -> str:
    """A time in the job's zone, to the minute: `2026-12-01 16:20 NZDT`."""
    if moment is None:
        return missing
    shown = moment.astimezone(zone)
    return f"{shown:%Y-%m-%d %H:%M} {shown.tzname() or zones.name_of(zone)}"


def ago(moment: datetime | None, at: datetime) -> str:
    """How long before `at`: `3 days ago`, `5 hours ago`, `12 minutes ago`, `just now`; `never` for None."""
    if moment is None:
        return "never"
    seconds = max(0, int((at - moment).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{plural(count, unit)} ago"
    return "just now"


def stale(moment: datetime | None, at: datetime) -> list[int]:
    """The `not synced for N days` filters a last ok run at `moment` falls in (never: every one)."""
    return [days for days in AGES if moment is None or at - moment >= timedelta(days=days)]


def count(n: int | None) -> str:
    """A count as a table shows it: blank when the answer gave none."""
    return "" if n is None else f"{n:,}"


def page_name(view: JobView) -> str:
    """The job page's path under the report's folder, made of names only (`jobs/TENANT/SPEC.html`)."""
    return f"jobs/{_safe(view.tenant)}/{_safe(view.spec)}.html"


def href(path: str) -> str:
    """A relative path as a link."""
    return quote(path)


def _safe(name: str) -> str:
    """A name as one file name: nothing but letters, digits, `-`, `_` and `.` (not first) kept."""
    quoted = quote(name, safe="-_.")
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


def trend(runs: Sequence[RunRecord]) -> Trend:
    """The last TREND runs (oldest on the left), each a bar as high as its rows sent are of the most
    sent, coloured by outcome; held and error runs send nothing and are drawn full height."""
    shown = list(reversed(runs[:TREND]))
    most = max((r.rows_sent or 0 for r in shown), default=0) or 1
    paths: dict[str, list[str]] = {}
    for i, run in enumerate(shown):
        sent = run.rows_sent or 0
        height = 16 if run.outcome in ("held", "error") or not sent else max(3, round(16 * sent / most))
        paths.setdefault(css_class(run.outcome), []).append(f"M{i * 5} 18v-{height}h4v{height}z")
    tally = {o: sum(r.outcome == o for r in shown) for o in dict.fromkeys(r.outcome for r in shown)}
    said = ", ".join(f"{n} {o}" for o, n in tally.items())
    label = f"the last {len(shown)} runs, oldest first: {said}" if shown else "no runs in the window"
    return Trend(max(5 * len(shown), 5), tuple((k, "".join(v)) for k, v in paths.items()), label)


def chart(runs: Sequence[RunRecord], zone: tzinfo) -> Chart:
    """Created, updated and failed of each run (oldest on the left) as grouped bars, with a y scale."""
    shown = list(reversed(runs))
    height, left, top, bottom = 260, 56, 12, 40
    most = _nice(max((max(r.created or 0, r.updated or 0, r.failed or 0) for r in shown), default=0))
    slot = min(40.0, 696 / max(len(shown), 1))  # at most 760 wide
    width = max(360, round(left + 8 + slot * len(shown)))
    bar = max(1.0, min(14.0, (slot - 2) / 3))
    plot = height - top - bottom
    columns = []
    for i, run in enumerate(shown):
        x0 = left + i * slot + (slot - 3 * bar) / 2
        values = [(kind, getattr(run, kind) or 0) for kind in ("created", "updated", "failed")]
        bars = tuple(
            _bar(x0 + j * bar, top + plot * (1 - value / most), bar, plot * value / most, kind)
            for j, (kind, value) in enumerate(values)
        )
        mark = _bar(left + i * slot + 1, height - bottom + 6, max(slot - 2, 1), 8, css_class(run.outcome))
        said = ", ".join(f"{value:,} {kind}" for kind, value in values)
        columns.append(Column(f"{local(run.started_at, zone)}: {run.outcome}; {said}", bars, mark))
    ticks = tuple((round(top + plot - plot * k / 4, 1), f"{most * k // 4:,}") for k in range(5))
    first = local(shown[0].started_at, zone) if shown else ""
    last = local(shown[-1].started_at, zone) if shown else ""
    label = f"created, updated and failed rows of the last {len(shown)} runs, oldest first"
    return Chart(width, height, tuple(columns), ticks, first, last, label)


def _bar(x: float, y: float, width: float, height: float, kind: str) -> Bar:
    return Bar(round(x, 1), round(y, 1), round(width, 1), round(height, 1), kind)


def _nice(value: int) -> int:
    """A round top for a scale of four steps, at least `value`."""
    if value <= 4:
        return 4
    step = int(10 ** (len(str(value)) - 1))
    for multiple in (1, 2, 4, 5, 8, 10):
        if multiple * step >= value and (multiple * step) % 4 == 0:
            return multiple * step
    return 10 * step


def approve_command(view: JobView, project_file: Path) -> str:
    """The exact command that lets the held change through."""
    args = ["infiniti-sync", "approve", "--tenant", view.tenant, "--spec", view.spec]
    args += ["--project", os.fspath(project_file)]
    return " ".join(shlex.quote(a) for a in args) if os.name != "nt" else _windows(args)


def _windows(args: Sequence[str]) -> str:
    import subprocess

    return subprocess.list2cmdline(list(args))


def link(target: Path, page_folder: Path) -> str:
    """A link from a page in `page_folder` to a file of the archive: relative when they share a drive,
    else a file: URL."""
    try:
        return quote(Path(os.path.relpath(target, page_folder)).as_posix())
    except ValueError:  # Windows: another drive
        return target.resolve().as_uri()


@cache
def asset(name: str) -> str:
    """A file shipped beside the templates (the style sheet, the script)."""
    from importlib import resources

    return resources.files("runner.htmlreport").joinpath("templates", name).read_text(encoding="utf-8")


def policy(script: bool) -> str:
    """The page's Content-Security-Policy: its own inline style and script (by hash) and nothing else."""
    sources = ["default-src 'none'", f"style-src '{_hash(asset('site.css'))}'"]
    if script:
        sources.append(f"script-src '{_hash(asset('sort.js'))}'")
    return "; ".join(sources)


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def context(**values: Any) -> dict[str, Any]:
    """What every template gets besides its own values."""
    return {
        "css": asset("site.css"),
        "local": local,
        "count": count,
        "css_class": css_class,
        "reason": reason,
        **values,
    }
