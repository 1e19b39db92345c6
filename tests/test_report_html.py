"""`infiniti-sync report --html DIR`, from the state of real runs against a sandbox process, in a SQLite
file and in the machine's PostgreSQL: one tenant (in Pacific/Auckland) with an ok job (library), a failed
one (staff: its library group is not defined in Infiniti, a username holds HTML) and a held one (students:
most of them gone, more than max_change allows). The pages are read back with the standard library's
html.parser; the store and the archive are the same before and after; what goes wrong has its message and
exit code.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from runner.state import RunRecord, StateStore
from tests.support import stores
from tests.support.project import DEMO_ENV, Done, Site, edit_project
from tests.support.stores import StateUnderTest
from tests.support.windows import posix_modes

state_store = stores.state_store_fixture
site = stores.site_fixture
ZONE = "Pacific/Auckland"
ODD = 't9<b>&amp;"quoted"</b>'  # a username is data: it must come out as this text, never as markup
REASON = "Library group (Teachers) is not defined."


# --- a small tree of the parsed HTML --------------------------------------------------------------


@dataclass
class Node:
    """An element: its tag, attributes, children and text, as html.parser saw them."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str | Node] = field(default_factory=list)

    def text(self) -> str:
        """Its text and its descendants', whitespace collapsed."""
        words = "".join(p if isinstance(p, str) else p.text() for p in self.parts)
        return " ".join(words.split())

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.iter()

    def all(self, tag: str, **attrs: str) -> list[Node]:
        """Its descendants of `tag` with these attributes (class_: one of its classes)."""
        wanted = {k.rstrip("_"): v for k, v in attrs.items()}
        return [
            n
            for n in self.iter()
            if n.tag == tag
            and all(
                v in n.attrs.get(k, "").split() if k == "class" else n.attrs.get(k) == v
                for k, v in wanted.items()
            )
        ]

    def one(self, tag: str, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


VOID = {"meta", "input", "br", "img", "link", "hr"}  # HTML's; SVG's empty elements are written <path/>


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(path: Path) -> Node:
    """The page at `path` as a tree; every element it opens is closed."""
    tree = _Tree()
    tree.feed(path.read_text(encoding="utf-8"))
    tree.close()
    assert tree.stack == [tree.root]
    return tree.root


def table(node: Node) -> list[list[str]]:
    """A table's header row, then its body rows, as cell texts."""
    head = [c.text() for c in node.one("thead").one("tr").children]
    body = [[c.text() for c in row.children] for row in node.one("tbody").all("tr")]
    return [head, *body]


# --- the runs ---------------------------------------------------------------------------------------


def _do(site: Site, store: StateUnderTest, *args: str) -> Done:
    return site.invoke(list(args), {**DEMO_ENV, **store.env})


def make_runs(site: Site, store: StateUnderTest) -> None:
    """Two runs of three jobs of tenant demo: all ok, then library ok, staff failed, students held."""
    root = site.root
    staff = (root / "specs" / "staff.yaml").read_text(encoding="utf-8")
    (root / "specs" / "library.yaml").write_text(staff, encoding="utf-8")
    # The example's guardians job is left out: these tests want an ok, a failed and a held job.
    specs = "specs: [students, staff, library]"
    edit_project(site, "specs: [students, staff, guardians]", f"{specs}\n    timezone: {ZONE}")
    assert _do(site, store, "run", "--tenant", "demo").code == 0
    failing = staff.replace("library-group: Staff", "library-group: Teachers").replace(
        "library: [Staff]", "library: [Teachers]"
    )
    (root / "specs" / "staff.yaml").write_text(failing, encoding="utf-8")
    with (root / "sms-export" / "staff.csv").open("a", encoding="utf-8", newline="") as export:
        csv.writer(export).writerow(
            [ODD.upper(), "Mx", "Odd", "Name", "odd@example.edu", "Teacher", "Current", "North"]
        )
    students = root / "sms-export" / "students.csv"
    lines = students.read_text(encoding="utf-8").splitlines(keepends=True)
    students.write_text("".join(lines[:13]), encoding="utf-8")  # 12 of 29 left: more than 25% gone
    assert _do(site, store, "run", "--tenant", "demo").code == 1


def report(site: Site, store: StateUnderTest, out: Path, *more: str) -> Done:
    return _do(site, store, "report", "--html", os.fspath(out), *more)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, float]]:
    """Every file under `folder`: its bytes, mode and modification time."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(name="written")
def written_fixture(site: Site, state_store: StateUnderTest, tmp_path: Path) -> Path:
    """The report of the two runs, in tmp_path/report; the state and the archive untouched by it."""
    make_runs(site, state_store)
    tables, archive = state_store.tables(), snapshot(site.root / ".infiniti-sync" / "runs")
    out = tmp_path / "report"
    done = report(site, state_store, out)
    assert (done.code, done.err) == (0, "")
    assert done.out.startswith(f"wrote {out / 'index.html'} and 3 job pages (")
    assert state_store.tables() == tables
    assert snapshot(site.root / ".infiniti-sync" / "runs") == archive
    return out


# --- what the pages say -------------------------------------------------------------------------------


def test_the_overview_has_a_row_per_job_worst_first(written: Path) -> None:
    page = parse(written / "index.html")
    jobs = page.one("table", id="jobs")
    rows = table(jobs)
    assert rows[0] == [
        "Job", "Outcome", "Last run", "Last ok run", "Sent", "Created", "Updated", "Failed", "Recent runs"
    ]  # fmt: skip
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("demo/staff", "failed"),
        ("demo/students", "held"),
        ("demo/library", "ok"),
    ]
    assert [r[4:8] for r in rows[1:]] == [["7", "0", "0", "7"], ["0", "", "", ""], ["7", "1", "6", "0"]]
    body = jobs.one("tbody")
    for row in body.all("tr"):
        outcome = row.attrs["data-outcome"]
        badge = row.one("span", class_="badge")
        assert badge.text() == outcome and outcome in badge.attrs["class"].split()  # a word and a colour
        assert f"o-{outcome}" in row.attrs["class"].split()
        assert row.one("th").attrs["scope"] == "row"
        trend = row.one("svg", class_="trend")
        assert trend.attrs["role"] == "img" and "the last 2 runs" in trend.one("title").text()
    assert all(th.attrs["scope"] == "col" for th in jobs.one("thead").all("th"))
    assert [row.one("a").attrs["href"] for row in body.all("tr")] == [
        "jobs/demo/staff.html",
        "jobs/demo/students.html",
        "jobs/demo/library.html",
    ]
    labels = {label.attrs["for"]: label.text() for label in page.all("label")}
    assert labels["outcome-failed"] == "failed (1)" and labels["outcome-held"] == "held (1)"
    assert labels["age-3d"] == "not synced for 3 days (0)"
    assert {i.attrs["id"] for i in page.all("input", type="radio")} >= {"outcome-failed", "age-3d"}


def test_times_are_in_the_tenants_zone(written: Path) -> None:
    page = parse(written / "jobs" / "demo" / "library.html")
    times = page.one("table", id="runs").all("time")
    assert len(times) == 2
    for shown in times:
        moment = datetime.fromisoformat(shown.attrs["datetime"]).astimezone(ZoneInfo(ZONE))
        assert shown.text() == f"{moment:%Y-%m-%d %H:%M %Z}"
        assert moment.tzname() in ("NZDT", "NZST")


def test_the_failed_jobs_page_lists_its_failed_rows_escaped(written: Path, site: Site) -> None:
    path = written / "jobs" / "demo" / "staff.html"
    page = parse(path)
    assert page.one("h1").text() == "demo/staff failed"
    failed = table(page.one("table", id="failed-rows"))
    assert failed[0] == ["Line", "Username", "Source row", "Infiniti's reason"]
    assert failed[1:] == [
        [str(line), username, str(line), REASON]
        for line, username in enumerate(["t201", "t202", "t203", "t204", "t207", "t208", ODD], 1)
    ]
    assert not page.all("b")  # the username's <b> is text, not an element
    assert [li.text() for li in page.one("ul", class_="unmet").all("li")] == [
        "success: expected true, got false",
        "failed: expected 0, got 7",
    ]
    runs = table(page.one("table", id="runs"))
    assert [r[1] for r in runs[1:]] == ["failed", "ok"]
    assert runs[1][8] == "success: expected true, got false; failed: expected 0, got 7"
    chart = page.one("svg", class_="chart")
    assert chart.attrs["role"] == "img"
    bars = {
        kind: [r for r in chart.all("rect", class_=kind) if "mark" not in r.attrs["class"]]
        for kind in ("created", "updated", "failed")
    }
    assert [len(b) for b in bars.values()] == [2, 2, 2]
    columns = [g.one("title").text().split(": ", 1)[1] for g in chart.all("g")]
    assert columns == ["ok; 6 created, 0 updated, 0 failed", "failed; 0 created, 0 updated, 7 failed"]
    marks = chart.all("rect", class_="mark")
    assert [m.attrs["class"] for m in marks] == ["mark ok", "mark failed"]
    newest = site.runs("demo", "staff")[-1]
    links = {a.text(): a.attrs["href"] for a in page.one("ul", class_="files").all("a")}
    assert list(links) == ["sent.csv", "answer-1.json", "report.json", "the run's folder"]
    for name, target in links.items():
        assert (path.parent / unquote(target)).resolve() == (
            newest if name == "the run's folder" else newest / name
        ).resolve()
    assert page.one("a", href="../../index.html").text() == "← every job"


def test_the_held_jobs_page_gives_the_approve_command(written: Path, site: Site) -> None:
    page = parse(written / "jobs" / "demo" / "students.html")
    held = page.one("section", class_="held-box")
    command = held.one("code", class_="approve").text()
    project = os.fspath(site.project_file)
    assert command == f"infiniti-sync approve --tenant demo --spec students --project {project}"
    assert "more than checks.max_change allows" in held.one("ul").text()
    assert page.one("h1").text() == "demo/students held"
    assert not held.all("p", class_="waiting")


def test_an_approval_waiting_is_shown(site: Site, state_store: StateUnderTest, written: Path) -> None:
    approved = site.invoke(
        ["approve", "--tenant", "demo", "--spec", "students"],
        {**DEMO_ENV, **state_store.env, "LOGNAME": "alice"},
    )
    assert approved.code == 0
    assert report(site, state_store, written).code == 0  # again, over the pages of the last one
    held = parse(written / "jobs" / "demo" / "students.html").one("section", class_="held-box")
    waiting = held.one("p", class_="waiting").text()
    assert waiting.startswith(f"An approval by alice@{socket.gethostname()} (until ")
    assert waiting.endswith(") is waiting: the next run sends this change if it finds it, or part of it.")


def test_the_pages_need_nothing_from_the_network(written: Path) -> None:
    for path in [written / "index.html", *sorted((written / "jobs").rglob("*.html"))]:
        page = parse(path)
        policy = page.one("meta", **{"http-equiv": "Content-Security-Policy"}).attrs["content"]
        assert policy.startswith("default-src 'none'; style-src 'sha256-")
        for node in page.iter():
            for name in ("src", "href"):
                assert "//" not in node.attrs.get(name, ""), (path, node.tag, node.attrs)
        assert not page.all("link") and all("src" not in s.attrs for s in page.all("script"))
        assert "@media print" in page.one("style").text()


@posix_modes
def test_the_pages_are_readable_by_their_owner_only(written: Path) -> None:
    for path in [written, *written.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_the_window_and_a_job_only_the_store_knows(
    site: Site, state_store: StateUnderTest, tmp_path: Path
) -> None:
    make_runs(site, state_store)
    old = datetime.now(UTC) - timedelta(days=40)
    store = StateStore.open(state_store.location, environ={})
    try:  # an ok run of demo/library 40 days ago, and one of a job the project no longer has
        for spec in ("library", "gone"):
            store.record(RunRecord("demo", spec, old, old, "ok", 0, "full", 3, 3, 3, 3, 0, 0))
    finally:
        store.close()

    def runs(out: str, spec: str) -> list[str]:
        page = parse(tmp_path / out / "jobs" / "demo" / f"{spec}.html")
        return [row[1] for row in table(page.one("table", id="runs"))[1:]]

    assert report(site, state_store, tmp_path / "month").code == 0  # 30 days
    assert runs("month", "library") == ["ok", "ok"]
    index = table(parse(tmp_path / "month" / "index.html").one("table", id="jobs"))
    assert [row[:2] for row in index[-2:]] == [  # ok, the one not synced for longest first
        ["demo/gone (not in the project now)", "ok"],
        ["demo/library", "ok"],
    ]
    assert index[-2][3].endswith("(40 days ago)")
    gone = parse(tmp_path / "month" / "jobs" / "demo" / "gone.html")
    assert not gone.all("table", id="runs") and "No run in the last 30 days." in gone.text()
    assert report(site, state_store, tmp_path / "more", "--since", "60d").code == 0
    assert runs("more", "library") == ["ok", "ok", "ok"]
    quiet = report(site, state_store, tmp_path / "demo", "--tenant", "demo", "-q")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")  # -q: nothing when all is well
    assert not (tmp_path / "demo" / "jobs" / "demo" / "gone.html").exists()  # not of the project


@pytest.mark.parametrize("state_store", ["sqlite"], indirect=True)
def test_a_job_never_run_and_an_archive_pruned(
    site: Site, state_store: StateUnderTest, tmp_path: Path
) -> None:
    make_runs(site, state_store)
    edit_project(site, "specs: [students, staff, library]", "specs: [students, staff, library, newcomer]")
    staff = site.root / "specs" / "library.yaml"
    (site.root / "specs" / "newcomer.yaml").write_text(staff.read_text(encoding="utf-8"), encoding="utf-8")
    shutil.rmtree(site.runs("demo", "library")[-1])  # as keep_runs prunes it
    report_json = site.runs("demo", "staff")[-1] / "report.json"
    report_json.write_text("{not json", encoding="utf-8")
    assert report(site, state_store, tmp_path / "out").code == 0

    rows = table(parse(tmp_path / "out" / "index.html").one("table", id="jobs"))
    newcomer = [row for row in rows if row[0] == "demo/newcomer"]
    assert newcomer == [
        ["demo/newcomer", "never run", "never", "never", "", "", "", "", "no runs in the window"]
    ]
    page = parse(tmp_path / "out" / "index.html")
    labels = {label.attrs["for"]: label.text() for label in page.all("label")}
    assert labels["outcome-never"] == "never run (1)"
    assert labels["age-7d"] == "not synced for 7 days (1)"  # never synced is not synced for 7 days
    never = page.one("tr", **{"data-outcome": "never run"})
    assert {"s-1d", "s-3d", "s-7d", "o-never"} <= set(never.attrs["class"].split())

    library = parse(tmp_path / "out" / "jobs" / "demo" / "library.html")
    assert library.one("p", class_="missing").text() == (
        "this run's archive folder is gone (pruned by keep_runs, or moved)."
    )
    assert not library.all("ul", class_="files")
    assert [row[9] for row in table(library.one("table", id="runs"))[1:]] == ["", "folder"]  # pruned: no link
    broken = parse(tmp_path / "out" / "jobs" / "demo" / "staff.html")
    assert broken.one("p", class_="missing").text() == "this run's report.json cannot be read."
    assert not broken.all("table", id="failed-rows")
    assert table(broken.one("table", id="runs"))[1][7] == "7"  # the state's counts all the same
    fresh = parse(tmp_path / "out" / "jobs" / "demo" / "newcomer.html")
    assert fresh.one("h1").text() == "demo/newcomer never run"
    assert "No run in the last 30 days." in fresh.text()


# --- what goes wrong ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state_store", ["sqlite"], indirect=True)
def test_no_state_yet(site: Site, state_store: StateUnderTest, tmp_path: Path) -> None:
    done = report(site, state_store, tmp_path / "out")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        "no report written: no run is recorded yet (the state store has not been created)\n"
        "  hint: the report shows the runs `infiniti-sync run` records; run a job first\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("state_store", ["sqlite"], indirect=True)
def test_what_the_command_line_gets_wrong(site: Site, state_store: StateUnderTest, tmp_path: Path) -> None:
    assert _do(site, state_store, "run", "--tenant", "demo").code == 0
    unknown = report(site, state_store, tmp_path / "out", "--tenant", "dmeo")
    assert (unknown.code, unknown.err) == (
        2,
        "error: no tenant named 'dmeo'; did you mean 'demo'?\n  hint: tenants: demo\n",
    )
    since = report(site, state_store, tmp_path / "out", "--since", "a week")
    assert (since.code, since.err) == (
        2,
        "error: --since 'a week' is not a duration\n"
        "  hint: give a number and a unit: 30m, 12h, 2d (s, m, h or d; more than 0)\n",
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    unwritable = report(site, state_store, blocker)
    assert unwritable.code == 2
    assert unwritable.err.startswith(f"error: cannot write the report to {blocker}: ")
    assert unwritable.err.endswith(
        "\n  hint: give --html a folder this account may write (it is made if it does not exist)\n"
    )
    assert blocker.read_text(encoding="utf-8") == "not a folder"
    assert not (tmp_path / "out").exists()
