"""A store in a SQLite file is read and written through the stdlib sqlite3 alone: a `run` of the example
project (a CSV export, a SQLite state), a second one over the store the first wrote, and `plan` and
`history` on it import no module of SQLAlchemy, which only database sources and PostgreSQL URLs need.
Each command runs in a process of its own, which then lists the modules it imported."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.probe import imported
from tests.support.project import Site, example_site_fixture

site = example_site_fixture


def _sqlalchemy_of(site: Site, *args: str) -> tuple[int, list[str]]:
    """The exit code of `infiniti-sync ARGS` in a process of its own, and the SQLAlchemy modules it
    imported."""
    found = imported(site, *args)
    return found["code"], [m for m in found["modules"] if m.split(".")[0] == "sqlalchemy"]


def test_a_run_on_a_sqlite_state_imports_no_sqlalchemy(site: Site) -> None:
    run = ["run", "--tenant", "demo", "--spec", "staff", "-q"]
    first = _sqlalchemy_of(site, *run)  # creates the store
    assert (site.root / ".infiniti-sync" / "state.db").is_file()
    again = _sqlalchemy_of(site, *run)  # reads what the first recorded, and records again
    assert (first, again) == ((0, []), (0, []))


def test_plan_and_history_on_a_sqlite_state_import_no_sqlalchemy(site: Site, tmp_path: Path) -> None:
    assert site.invoke(["run", "--tenant", "demo", "--spec", "staff"]).code == 0
    plan = _sqlalchemy_of(site, "plan", "--tenant", "demo", "--out", os.fspath(tmp_path / "out"))
    history = _sqlalchemy_of(site, "history")
    assert (plan, history) == ((0, []), (0, []))
