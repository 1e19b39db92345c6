"""A tenant's `url` from a secret (`url: {env: NAME}`): a sandbox on a port that changes needs no edit of
the project file. The address read is checked when the run starts as validate checks a written one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner import address, project, schema
from runner.schedules import Needs
from tests.support.project import DEMO_ENV, Site, copy_project, example_site_fixture

site = example_site_fixture
URL_FROM_ENV = "url: {env: INFINITI_DEMO_URL}"


def _url_from_env(project_file: Path) -> int:
    """Write the tenant's url as {env: INFINITI_DEMO_URL}; return the line it is on."""
    text = project_file.read_text(encoding="utf-8")
    text, count = re.subn(r"url: https://\S+", URL_FROM_ENV, text, count=1)
    assert count == 1
    project_file.write_text(text, encoding="utf-8")
    return next(n for n, line in enumerate(text.splitlines(), 1) if URL_FROM_ENV in line)


def test_a_sandbox_on_a_new_port_needs_only_a_new_value(site: Site) -> None:
    _url_from_env(site.project_file)
    written = site.project_file.read_bytes()
    first = site.invoke(["run", "--tenant", "demo"], {**DEMO_ENV, "INFINITI_DEMO_URL": site.sandbox.url})
    assert (first.code, first.err) == (0, "")
    old = site.sandbox.url
    site.restart_sandbox(None)
    assert site.sandbox.url != old
    again = site.invoke(
        ["run", "--tenant", "demo"], {**DEMO_ENV, "INFINITI_DEMO_URL": site.sandbox.url + "/"}
    )
    assert (again.code, again.err) == (0, "")
    assert site.normalise(again.out).startswith("demo/students: ok: ")
    assert site.project_file.read_bytes() == written
    assert len(site.imports()) == 6  # three specs, twice


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            None,
            "environment variable INFINITI_DEMO_URL is not set\n"
            "  hint: set INFINITI_DEMO_URL in the environment the sync runs in, or write {file: PATH} "
            "(a secret file) or {keyring: SERVICE/USERNAME} in its place",
        ),
        (
            "127.0.0.1:8443",
            "not an Infiniti address: one starts with https:// and has no spaces, query or fragment, for "
            "example https://stmarys.concordinfiniti.com\n  hint: correct the value the secret holds",
        ),
        (
            "http://infiniti.example.edu",
            "use https://: the password would cross the network in clear text (http:// is accepted only for "
            "a sandbox on this machine)\n  hint: correct the value the secret holds",
        ),
        (
            "https://autosync:Sh0uld-N0t-Show@infiniti.example.edu",
            "the address holds user information: give the address alone, the user in username: and the "
            "password in password:\n  hint: correct the value the secret holds",
        ),
    ],
)
def test_an_address_read_that_cannot_be_used_stops_the_run_naming_the_line(
    site: Site, value: str | None, said: str
) -> None:
    line = _url_from_env(site.project_file)
    done = site.invoke(
        ["run", "--tenant", "demo", "--spec", "staff"], {**DEMO_ENV, "INFINITI_DEMO_URL": value}
    )
    assert (done.code, done.out, done.err) == (
        2,
        f"demo/staff: error: tenant demo: url (infiniti-sync.yaml:{line}): {said}\n",
        "",
    )
    assert site.imports() == []


def test_plan_and_validate_need_no_value(site: Site) -> None:
    _url_from_env(site.project_file)
    env = {**DEMO_ENV, "INFINITI_DEMO_URL": None}
    assert site.invoke(["validate"], env).code == 0
    planned = site.invoke(["plan", "--spec", "staff"], env)
    assert (planned.code, planned.err) == (0, "")


def test_a_schedule_passes_the_url_variable_on(tmp_path: Path) -> None:
    project_file = copy_project(tmp_path / "project")
    _url_from_env(project_file)
    files = project.read(project_file)
    assert Needs.of(project.build(files), files).env == ("INFINITI_DEMO_PASSWORD", "INFINITI_DEMO_URL")


def test_the_address_read_is_checked_with_the_schemas_own_pattern() -> None:
    tenant = json.loads(schema.text("project"))["$defs"]["tenant"]
    [written, _] = tenant["properties"]["url"]["anyOf"]
    assert address.PATTERN.pattern == written["pattern"]
