"""A store in a SQLite file is read and written through the stdlib sqlite3 alone: a `run` of the example
project (a CSV export, a SQLite state), a second one over the store the first wrote, and `plan` and
`history` on it import no module of SQLAlchemy, which only database sources and PostgreSQL URLs need.
Each command runs in a process of its own, which then lists the modules it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.project import DEMO_ENV, Site, example_site_fixture

site = example_site_fixture

ROOT = Path(__file__).resolve().parents[1]
PROBE = """\
import json, sys
from runner.cli import main
code = main(sys.argv[1:])
found = sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy")
print(json.dumps({"code": code, "modules": found}))
"""


def _sqlalchemy_of(site: Site, *args: str) -> tuple[int, list[str]]:
    """The exit code of `infiniti-sync ARGS` in a process of its own, and the SQLAlchemy modules it
    imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "--project", os.fspath(site.root)],
        cwd=site.root,
        env={**os.environ, **DEMO_ENV, "PYTHONPATH": os.fspath(ROOT)},
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    found = json.loads(done.stdout.splitlines()[-1])
    return found["code"], found["modules"]


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
