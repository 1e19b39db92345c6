"""What a process of `run` pays once, however many tenants it runs: the modules it imports (only those the
command and the project need), each spec's templates compiled once, and a project that passed validation
not validated again. The benchmark measures the seconds (`run_tenant/python_startup`); these tests hold the
causes, by counting, never by timing."""

from __future__ import annotations

import sys

from yaml.reader import Reader

from runner import render, yamlfile
from tests.support.probe import imported
from tests.support.project import Site, edit_project, example_site_fixture, several_tenants_fixture

site = example_site_fixture
several = several_tenants_fixture

# Never needed by a run on a SQLite state whose project passed validation before, with no notification,
# metrics, keyring secret, --due or held change: the schemas and their validator, the database drivers of
# other stores and sources, the Prometheus library and the metrics module, mail and the notifications, the
# schedule engines, cron and the zone data, approvals (and the account name they record), urllib's own
# HTTP client, certifi (the tenant gives its ca_bundle), the html module (its table of every named
# entity; runner.secrets escapes a secret's HTML forms itself), the schedules of --due and --shard
# (runner.due and its reporter) and the JUnit reporter (--junit). A name stands for its submodules too.
NOT_NEEDED = [
    *["jsonschema", "referencing", "psycopg", "pymysql", "prometheus_client", "smtplib", "keyring"],
    *["runner.metrics", "runner.notify", "runner.schedules", "runner.cron", "zoneinfo", "runner.approve"],
    *["getpass", "urllib.request", "certifi", "html"],
    *["runner.due", "runner.report.due", "runner.report.junit"],
]
NEEDED = ["sqlite3", "urllib3", "jinja2", "yaml"]  # the probe sees imports: these a run always makes


def _modules_of_a_run(site: Site, *args: str) -> tuple[int, list[str]]:
    """The exit code of `infiniti-sync ARGS` in a process of its own, and the modules it imported (those
    of the interpreter's own start aside) that are among NOT_NEEDED and NEEDED, or `runner.validate`."""
    found = imported(site, *args)
    return found["code"], [m for m in found["modules"] if _watched(m)]


def _watched(module: str) -> bool:
    return module == "runner.validate" or any(_within(module, name) for name in [*NOT_NEEDED, *NEEDED])


def _within(module: str, name: str) -> bool:
    """Whether `module` is the module `name` or one of its submodules."""
    return module == name or module.startswith(name + ".")


def _not_needed(modules: list[str]) -> list[str]:
    return [m for m in modules if m == "runner.validate" or any(_within(m, n) for n in NOT_NEEDED)]


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
    assert _not_needed(modules) == []


def test_a_plan_imports_only_what_the_command_and_the_project_need(site: Site) -> None:
    assert _modules_of_a_run(site, "plan", "--tenant", "demo", "--spec", "staff", "-q")[0] == 0  # validates
    found = imported(site, "plan", "--tenant", "demo", "--spec", "staff", "-q")
    assert found["code"] == 0
    assert "jinja2" in found["modules"] and "yaml" in found["modules"]
    assert _not_needed(found["modules"]) == []
    sends = ["urllib3", "http.client", "email", "socket"]  # a plan sends nothing, and takes no lock
    assert [m for m in found["modules"] if any(_within(m, name) for name in sends)] == []


def test_what_start_up_made_is_never_walked_by_a_full_collection(site: Site) -> None:
    # The modules' objects live until the process ends; cli.main sets them aside (gc.freeze) once the
    # command is imported, so that a small run's cycle collections never walk them all again.
    first = imported(site, "run", "--tenant", "demo", "--spec", "staff", "-q")  # validates the project too
    second = imported(site, "run", "--tenant", "demo", "--spec", "staff", "-q")
    assert (first["code"], second["code"]) == (0, 0)
    assert (first["full_collections"], second["full_collections"]) == (0, 0)


def test_yamls_forbidden_characters_are_the_set_pyyaml_forbids() -> None:
    # runner/yamlfile.py names them one by one (the complement, as PyYAML writes it, takes 4 ms to compile).
    every = "".join(chr(c) for c in range(sys.maxunicode + 1))
    assert yamlfile._NON_PRINTABLE.findall(every) == Reader.NON_PRINTABLE.findall(every)


def test_a_specs_templates_compile_once_for_all_tenants(several: Site) -> None:
    # the templates, the pre-checks and the plan loop: each tenant's first run, so the same loop
    render.forget_compiled()
    several.invoke(["run", "--tenant", "north"])
    one = render.compilations()
    assert one > 0
    render.forget_compiled()
    several.invoke(["run", "--tenant", "south", "--tenant", "west"])  # the same staff spec
    assert render.compilations() == one
    # second runs (south's rows failed: it has no state yet): a loop that compares with the state
    render.forget_compiled()
    several.invoke(["run", "--tenant", "north"])
    again = render.compilations()
    render.forget_compiled()
    several.invoke(["run", "--tenant", "north", "--tenant", "west"])
    assert render.compilations() == again
