"""What a process of `run` pays once, however many tenants it runs: the modules it imports (only those the
command and the project need), each spec's templates compiled once, and a project that passed validation
not validated again. The benchmark measures the seconds (`run_tenant/python_startup`); these tests hold the
causes, by counting, never by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runner import render
from tests.support.project import DEMO_ENV, Site, edit_project, example_site_fixture, several_tenants_fixture

site = example_site_fixture
several = several_tenants_fixture

ROOT = Path(__file__).resolve().parents[1]
PROBE = """\
import json, sys
from runner.cli import main
code = main(sys.argv[2:])
watched = sys.argv[1].split(",")
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.split(".")[0] in watched)}))
"""
# Never needed by a run on a SQLite state whose project passed validation before, with no notification,
# metrics or keyring secret: the schemas and their validator, the database drivers of other stores and
# sources, the Prometheus library, mail.
NOT_NEEDED = ["jsonschema", "referencing", "psycopg", "pymysql", "prometheus_client", "smtplib", "keyring"]
NEEDED = ["sqlite3", "urllib3", "jinja2", "yaml"]  # the probe sees imports: these a run always makes


def _modules_of_a_run(site: Site, *args: str) -> tuple[int, list[str]]:
    """The exit code of `infiniti-sync ARGS` in a process of its own, and which of the packages of
    NOT_NEEDED, NEEDED and `runner.validate` it imported."""
    watched = ",".join([*NOT_NEEDED, *NEEDED, "runner"])
    done = subprocess.run(
        [sys.executable, "-c", PROBE, watched, *args, "--project", os.fspath(site.root)],
        cwd=site.root,
        env={**os.environ, **DEMO_ENV, "PYTHONPATH": os.fspath(ROOT)},
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    found = json.loads(done.stdout.splitlines()[-1])
    return found["code"], [
        m for m in found["modules"] if not m.startswith("runner.") or m == "runner.validate"
    ]


def test_a_run_imports_only_what_the_command_and_the_project_need(site: Site) -> None:
    # A second tenant whose CA bundle is missing on this machine: a warning, which used to make every run
    # validate the whole project again (runner/checked.py).
    block = site.project_file.read_text(encoding="utf-8").split("tenants:\n", 1)[1]
    second = block.replace("  demo:", "  other:", 1).replace(
        ".infiniti-sync/sandbox/ca.pem", "missing-ca.pem"
    )
    edit_project(site, "tenants:\n", "tenants:\n" + second)
    assert site.invoke(["validate"]).code == 0  # warnings only
    first = _modules_of_a_run(site, "run", "--tenant", "demo", "--spec", "staff", "-q")
    assert first[0] == 0 and "runner.validate" in first[1] and "jsonschema" in first[1]  # validated once
    code, modules = _modules_of_a_run(site, "run", "--tenant", "demo", "--spec", "staff", "-q")
    assert code == 0
    assert [m for m in NEEDED if m not in modules] == []
    assert [m for m in modules if m.split(".")[0] in NOT_NEEDED or m == "runner.validate"] == []


def test_a_specs_templates_compile_once_for_all_tenants(several: Site) -> None:
    render.forget_compiled()
    several.invoke(["run", "--tenant", "north"])
    one = render.compilations()
    assert one > 0
    render.forget_compiled()
    several.invoke(["run", "--all"])  # north, south and west, the same staff spec
    assert render.compilations() == one
