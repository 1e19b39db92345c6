"""No secret in anything the runner writes: every command, run with a known unusual password through
successes, failed rows and every fault, then everything it wrote is searched for the password and for
the forms it could take (the Basic-auth header value, URL and JSON escapes)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from runner.sandbox import Fault
from runner.sandbox.tls import ensure
from tests.support.project import Done, Site

PASSWORD = "Kq7$canary-Пароль 91"
USER = "importer"
SANDBOX = f"""\
tenants:
  demo:
    users:
      autosync: {{password: change-me, admin: true}}
      {USER}: {{password: "{PASSWORD}", admin: true}}
    library_groups: [Year 7, Year 8, Year 9, Year 10, Year 11, Staff]   # no Year 12: those rows fail
    system_groups: [Students, Staff]
"""
PROJECT = """\
version: 1
tenants:
  demo:
    url: https://127.0.0.1:8443
    tenant_id: demo
    username: importer
    password: {{env: INFINITI_DEMO_PASSWORD}}
    ca_bundle: .infiniti-sync/sandbox/ca.pem
    connections:
      export: {{files: sms-export}}
    vars: {{campus: North}}
    specs: [students, staff]
    retries: {{attempts: 2, max_time: 5}}
  fromfile:
    url: https://127.0.0.1:8443
    tenant_id: demo
    username: importer
    password: {{file: {secret}}}
    ca_bundle: {ca_bundle}
    connections:
      export: {{files: sms-export}}
    vars: {{campus: North}}
    specs: [staff]
"""
ENV = {"INFINITI_DEMO_PASSWORD": PASSWORD}


def forms(password: str, user: str) -> list[bytes]:
    """The password as bytes, and as the Basic-auth value, URL and JSON escapes would write it."""
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [
        password.encode(),
        basic.encode(),
        quote(password).encode(),
        quote(password, safe="").encode(),
        json.dumps(password)[1:-1].encode(),
    ]


def leaks(data: bytes, password: str, user: str) -> list[bytes]:
    """The forms of `password` found in `data`."""
    return [form for form in forms(password, user) if form in data]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The example project for user `importer`, whose password is PASSWORD (from the environment for
    tenant demo, from a secret file outside the project for tenant fromfile)."""
    config = tmp_path / "sandbox.yaml"
    config.write_text(SANDBOX, encoding="utf-8")
    running = Site.start(tmp_path / "project", config=config)
    secret = tmp_path / "secrets" / "infiniti-password"
    secret.parent.mkdir()
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    text = PROJECT.format(secret=secret, ca_bundle=running.root / ".infiniti-sync" / "sandbox" / "ca.pem")
    running.project_file.write_text(
        text.replace("https://127.0.0.1:8443", running.sandbox.url), encoding="utf-8"
    )
    try:
        yield running
    finally:
        running.stop()


def _commands(site: Site, tmp_path: Path) -> Iterator[Done]:
    """Every command, through successes, failed rows and failures of every kind."""
    staff = ["run", "--tenant", "demo", "--spec", "staff"]
    yield site.invoke(["validate"], ENV)
    yield site.invoke(["plan", "--tenant", "demo", "--out", "plans"], ENV)
    yield site.invoke(["run", "--all", "-v"], ENV)
    yield site.invoke(["run", "--all", "--format", "json", "--junit", "reports/junit.xml"], ENV)
    unauthorised = json.dumps({"success": False, "summary": "Unauthorised. Check credentials."})
    faults = [  # each run twice: as text with -v (notes, archive), as JSON with a JUnit file
        (Fault(status=500), 1),
        (Fault(status=401, content_type="application/json", body=unauthorised), 1),
        (Fault(status=200, content_type="text/html", body="<html>Sign in</html>"), 1),
        (Fault(status=503, retry_after=0), 3),  # outlasts retries.attempts (2)
        (Fault(drop=True), 1),  # retried, then imported
    ]
    for fault, count in faults:
        for how in (["-v"], ["--format", "json", "--junit", "reports/faults.xml"]):
            site.sandbox.inject("demo", fault, count)
            yield site.invoke([*staff, *how], ENV)
    yield site.invoke([*staff, "-v"], {"INFINITI_DEMO_PASSWORD": "wrong" + PASSWORD})
    other = ensure(tmp_path / "other-ca")
    text = site.project_file.read_text(encoding="utf-8")
    site.project_file.write_text(
        text.replace(".infiniti-sync/sandbox/ca.pem", os.fspath(other.ca_file)), encoding="utf-8"
    )
    yield site.invoke([*staff, "-v"], ENV)
    yield site.invoke(["history"], ENV)
    yield site.invoke(["history", "--format", "json"], ENV)


def test_no_command_writes_the_password_anywhere(
    site: Site, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    codes = []
    for done in _commands(site, tmp_path):
        outputs += [done.out, done.err]
        codes.append(done.code)
    captured = capfd.readouterr()
    assert codes == [0, 0, 1, 1, *[3] * 8, 0, 0, 3, 3, 0, 0]
    written = [
        p for p in site.root.rglob("*") if p.is_file() and ".infiniti-sync/sandbox" not in p.as_posix()
    ]
    names = {p.relative_to(site.root).as_posix().split("/")[0] for p in written}
    assert {"plans", "reports", ".infiniti-sync"} <= names
    assert any(p.name == "state.db" for p in written)
    assert sum(p.name == "report.json" for p in written) == 2 * 3 + 5 * 2 + 2  # every run archived
    found = {
        name: leaks(data, PASSWORD, USER)
        for name, data in [
            ("stdout and stderr", "".join([*outputs, captured.out, captured.err]).encode()),
            *[(os.fspath(p), p.read_bytes()) for p in written],
        ]
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_search_finds_a_password_where_there_is_one() -> None:
    header = "Authorization: Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert leaks(header.encode(), PASSWORD, USER) == [forms(PASSWORD, USER)[1]]
    assert leaks(json.dumps({"p": PASSWORD}).encode(), PASSWORD, USER) == [forms(PASSWORD, USER)[4]]
    assert leaks(PASSWORD.encode("utf-8"), PASSWORD, USER)[0] == PASSWORD.encode()
