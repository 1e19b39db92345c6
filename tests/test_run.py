"""`infiniti-sync run` and `history` end to end against a sandbox process: the JSON report, the archive
and its modes, the state, `--junit`, TLS, unreachable hosts, locks, pruning and tenants run at once.
The scenarios that need only a project, a sandbox config and an expected text report are folders in
tests/run_cases/."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import socket
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest

from runner.cli import main
from runner.console import Console
from runner.sandbox import Fault
from runner.sandbox.tls import ensure
from runner.state import StateStore
from tests.support import processes, stores
from tests.support.project import (
    Site,
    copy_project,
    edit_project,
    example_site_fixture,
    invoke,
    several_tenants_fixture,
)
from tests.support.sandbox import start_sandbox_process
from tests.support.stores import StateUnderTest
from tests.support.windows import posix_modes

postgres_store = stores.postgres_store_fixture

STAFF_CSV = (
    "username,library-group,system-group,emailAddress,givenName,surname,staffMember\r\n"
    "t201,Staff,Staff,helen.carter@example.edu,Helen,Carter,TRUE\r\n"
    "t202,Staff,Staff,rangi.parata@example.edu,Rangi,Parata,TRUE\r\n"
    "t203,Staff,Staff,mei.chen@example.edu,Mei,Chen,TRUE\r\n"
    "t204,Staff,Staff,siobhan.obrien@example.edu,Siobhán,O'Brien,TRUE\r\n"
    "t207,Staff,Staff,tuhoe.rewi@example.edu,Tūhoe,Rewi,TRUE\r\n"
    "t208,Staff,Staff,kavya.iyer@example.edu,Kavya,Iyer,TRUE\r\n"
)
SIX_CREATED = "6 users processed. 6 users created. 0 users updated. 0 users failed."


site = example_site_fixture


several = several_tenants_fixture


_edit = edit_project


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _staff_users() -> list[dict[str, str]]:
    lines = STAFF_CSV.splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]


def test_a_run_reported_as_json_archived_and_held_by_the_sandbox(site: Site) -> None:
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff", "--format", "json"])
    assert (done.code, done.err) == (0, "")
    [run] = json.loads(done.out)["runs"]
    archive = Path(run.pop("archive"))
    assert archive.parent == site.root / ".infiniti-sync" / "runs" / "demo" / "staff"
    assert run.pop("started_at") < run.pop("finished_at")
    assert run == {
        "tenant": "demo",
        "spec": "staff",
        "outcome": "ok",
        "exit_code": 0,
        "rows": {"read": 6, "skipped": 0, "in_file": 6, "left_out": 0, "sent": 6},
        "findings": [],
        "changes": {
            "first_run": True,
            "new": 6,
            "changed": 0,
            "unchanged": 0,
            "vanished": 0,
            "examples": {
                "new": ["t201", "t202", "t203", "t204", "t207"],
                "changed": [],
                "unchanged": [],
                "vanished": [],
            },
        },
        "holds": [],
        "batches": 1,
        "batches_imported": 1,
        "answer": {
            "success": True,
            "summary": SIX_CREATED,
            "counts": {"processed": 6, "created": 6, "updated": 0, "failed": 0},
        },
        "failed_rows": [],
        "unmet": [],
        "notes": [],
        "error": None,
    }
    assert site.sandbox.users("demo") == _staff_users()
    # The archive: the file sent, the raw answer, the report (readable only by the owner: see below).
    assert sorted(p.name for p in archive.iterdir()) == ["answer-1.json", "report.json", "sent.csv"]
    assert (archive / "sent.csv").read_bytes() == STAFF_CSV.encode()
    assert json.loads((archive / "answer-1.json").read_bytes()) == {"success": True, "summary": SIX_CREATED}
    report = json.loads((archive / "report.json").read_bytes())
    assert {k: report[k] for k in run} == run
    # The request as the sandbox saw it: origin-form, credentials not in the URL.
    log = (site.root.parent / "project-sandbox.log").read_text(encoding="utf-8")
    assert '127.0.0.1 "POST /api/import/userGroups?tenantId=demo HTTP/1.1" 200 -' in log.splitlines()


@posix_modes
def test_the_archive_the_state_and_reports_are_readable_only_by_their_owner(site: Site) -> None:
    junit = site.root / "reports" / "run.xml"
    assert site.invoke(["run", "--tenant", "demo", "--spec", "staff", "--junit", os.fspath(junit)]).code == 0
    runs = site.root / ".infiniti-sync" / "runs"
    [archive] = site.runs("demo", "staff")
    assert [_mode(p) for p in (runs, runs / "demo", runs / "demo" / "staff", archive)] == [0o700] * 4
    assert [_mode(p) for p in sorted(archive.iterdir())] == [0o600] * 3
    assert _mode(site.root / ".infiniti-sync" / "state.db") == 0o600
    assert _mode(junit) == 0o600


def test_history_lists_runs_newest_first(site: Site) -> None:
    assert site.invoke(["run", "--tenant", "demo", "--spec", "staff"]).code == 0
    site.sandbox.inject("demo", Fault(status=500))
    assert site.invoke(["run", "--tenant", "demo", "--spec", "staff"]).code == 3
    done = site.invoke(["history"])
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "YYYY-MM-DD HH:MM:SSZ", site.normalise(done.out))
    assert (done.code, done.err) == (0, "")
    assert text == (
        "finished (UTC)        job         outcome         mode  sent  created  updated  failed  archive\n"
        "YYYY-MM-DD HH:MM:SSZ  demo/staff  error (exit 3)  full  0" + " " * 31 + ""
        "PROJECT/.infiniti-sync/runs/demo/staff/STAMP\n"
        "  reason: tenant demo, spec staff: Infiniti at https://127.0.0.1:8443 answered HTTP 500: "
        "Internal Server Error (a fault injected into the sandbox).\n"
        "YYYY-MM-DD HH:MM:SSZ  demo/staff  ok              full  6     6        0        0       "
        "PROJECT/.infiniti-sync/runs/demo/staff/STAMP\n"
    )
    records = json.loads(site.invoke(["history", "--format", "json", "--limit", "1"]).out)["runs"]
    assert [(r["outcome"], r["exit_code"], r["message"]) for r in records] == [
        (
            "error",
            3,
            f"tenant demo, spec staff: Infiniti at {site.sandbox.url} answered HTTP 500: "
            "Internal Server Error (a fault injected into the sandbox).",
        )
    ]


def test_history_before_any_run(site: Site) -> None:
    done = site.invoke(["history"])
    assert (done.code, done.out, done.err) == (0, "no runs recorded yet\n", "")


def test_junit_has_one_case_per_tenant_and_spec(several: Site, tmp_path: Path) -> None:
    several.sandbox.inject("west", Fault(status=500))
    junit = tmp_path / "reports" / "run.xml"
    done = several.invoke(["run", "--all", "--junit", os.fspath(junit)])
    assert done.code == 3
    root = ET.parse(junit).getroot()  # noqa: S314 - our own report
    assert (root.tag, root.attrib) == ("testsuites", {"tests": "3", "failures": "1", "errors": "1"})
    [suite] = root
    assert suite.attrib == {"name": "infiniti-sync run", "tests": "3", "failures": "1", "errors": "1"}
    cases = [(c.attrib["classname"], c.attrib["name"], [e.tag for e in c]) for c in suite]
    assert cases == [
        ("north", "staff", ["system-out"]),
        ("south", "staff", ["failure", "system-out"]),
        ("west", "staff", ["error", "system-out"]),
    ]
    south, west = suite[1].find("failure"), suite[2].find("error")
    assert south is not None and west is not None
    assert south.attrib["message"] == (
        "south/staff: failed: 6 read; 6 sent; 0 created, 0 updated, 6 failed; 2 expectations unmet"
    )
    assert (south.text or "").splitlines()[1:4] == [
        "  unmet: success: expected true, got false",
        "  unmet: failed: expected 0, got 6",
        "  row 1 (t201, source row 1): Library group (Staff) is not defined.",
    ]
    assert several.normalise(west.attrib["message"]) == (
        "west/staff: error: Infiniti at https://127.0.0.1:8443 answered HTTP 500: Internal Server Error "
        "(a fault injected into the sandbox)."
    )
    north_out = suite[0].find("system-out")
    assert north_out is not None
    assert several.normalise(north_out.text or "") == (
        "north/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met\n"
        "  archive: PROJECT/.infiniti-sync/runs/north/staff/STAMP"
    )


def test_tenants_run_at_once_with_jobs(several: Site) -> None:
    """`--jobs 3`: each tenant in a worker process of its own, at the same time (the runs' records say
    which process ran them and when), and the report in the order of the project."""
    for tenant in ("north", "south", "west"):
        several.sandbox.inject(tenant, Fault(delay=2.0))
    done = several.invoke(["run", "--all", "--jobs", "3"])
    assert done.code == 1
    assert [line.split(":")[0] for line in done.out.splitlines() if not line.startswith(" ")] == [
        "north/staff",
        "south/staff",
        "west/staff",
    ]
    runs = json.loads(several.invoke(["history", "--format", "json"]).out)["runs"]
    assert len(runs) == 3
    assert len({run["pid"] for run in runs}) == 3 and os.getpid() not in {run["pid"] for run in runs}
    spans = sorted((run["started_at"], run["finished_at"]) for run in runs)
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))  # they overlap


@processes.with_proc
def test_a_worker_killed_mid_run_fails_only_its_tenant(several: Site) -> None:
    """`--jobs 3`: one worker is killed (as the kernel's out-of-memory killer would) while its tenant
    waits for Infiniti; that tenant's job is an error, recorded as one, and the others run to the end."""
    for tenant in ("north", "south", "west"):
        several.sandbox.inject(tenant, Fault(delay=3.0))
    port = urlsplit(several.sandbox.url).port or 443
    killer = processes.Killer(port)
    killer.start()
    done = several.invoke(["run", "--all", "--jobs", "3"])
    killer.join()
    assert len(killer.killed) == 1
    assert done.code == 3
    lines = [line for line in done.out.splitlines() if not line.startswith(" ")]
    lost = [line for line in lines if "worker process" in line]
    assert lost == [
        f"{lost[0].split(':')[0]}: error: the worker process running this tenant was killed by signal 9 "
        "(exit code -9) before the job finished; what it sent, if anything, is not recorded, so the next "
        "run sends it again"
    ]
    expected = {"north/staff": "ok", "south/staff": "failed", "west/staff": "ok"}  # south: no Staff group
    expected[lost[0].split(":")[0]] = "error"
    assert [(line.split(":")[0], line.split(":")[1].strip()) for line in lines] == list(expected.items())
    runs = json.loads(several.invoke(["history", "--format", "json"]).out)["runs"]
    assert sorted((run["tenant"], run["outcome"]) for run in runs) == sorted(
        (line.split("/")[0], line.split(":")[1].strip()) for line in lines
    )
    assert killer.killed[0] not in {run["pid"] for run in runs}


def test_tls_with_another_sandboxs_ca(site: Site, tmp_path: Path) -> None:
    other = ensure(tmp_path / "other-sandbox")
    _edit(site, "ca_bundle: .infiniti-sync/sandbox/ca.pem", f"ca_bundle: {other.ca_file}")
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert (done.code, done.err) == (3, "")
    assert site.normalise(done.out) == (
        "demo/staff: error: Infiniti at https://127.0.0.1:8443: TLS verification failed: "
        "certificate verify failed: unable to get local issuer certificate\n"
        f"  hint: the tenant's ca_bundle ({other.ca_file}) does not hold the CA that signed this "
        "certificate: give the right CA's PEM file (verification cannot be turned off)\n"
    )
    assert site.imports() == []


def test_tls_without_ca_bundle_uses_the_system_store(site: Site) -> None:
    _edit(site, "ca_bundle: .infiniti-sync/sandbox/ca.pem", "")
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert (done.code, done.err) == (3, "")
    assert site.normalise(done.out) == (
        "demo/staff: error: Infiniti at https://127.0.0.1:8443: TLS verification failed: "
        "certificate verify failed: unable to get local issuer certificate\n"
        "  hint: if Infiniti's certificate comes from a private CA (the sandbox's does), give that CA's PEM "
        "file as the tenant's ca_bundle (verification cannot be turned off)\n"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "does not exist"), (b"not a certificate\n", "holds no PEM certificate")],
)
def test_a_ca_bundle_that_cannot_be_used(site: Site, content: bytes | None, problem: str) -> None:
    if content is not None:
        (site.root / "ca.pem").write_bytes(content)
    _edit(site, "ca_bundle: .infiniti-sync/sandbox/ca.pem", "ca_bundle: ca.pem")
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert (done.code, done.err) == (2, "")
    assert site.normalise(done.out) == (
        f"demo/staff: error: ca_bundle PROJECT/ca.pem {problem}\n"
        "  hint: give the PEM file of the CA that signed Infiniti's certificate "
        "(for the sandbox: its ca.pem)\n"
    )


def test_https_to_a_server_without_tls(site: Site, tmp_path: Path) -> None:
    plain = start_sandbox_process(tmp_path / "plain", "--no-tls")
    try:
        _edit(site, site.sandbox.url, plain.url.replace("http://", "https://"))
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    finally:
        plain.stop()
    assert (done.code, done.err) == (3, "")
    port = plain.url.rsplit(":", 1)[1]
    assert done.out.startswith(
        f"demo/staff: error: Infiniti at https://127.0.0.1:{port}: TLS failed: "
        "the server does not speak TLS there ("
    )
    assert done.out.endswith(
        "  hint: check the url's scheme and port; a certificate from a private CA goes in ca_bundle\n"
    )


def test_a_host_that_refuses_connections(site: Site) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _edit(site, site.sandbox.url, f"https://127.0.0.1:{port}")
    specs = "    specs: [students, staff, guardians]"
    _edit(site, specs, f"{specs}\n    retries: {{attempts: 0}}")
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert (done.code, done.err) == (3, "")
    assert done.out == (
        f"demo/staff: error: Infiniti at https://127.0.0.1:{port}: connection refused "
        "(no retries: retries.attempts is 0)\n"
        "  hint: check the tenant's url, and that this machine can reach it (firewall, proxy)\n"
    )


def test_a_second_run_of_the_same_tenant_and_spec_waits_for_the_lock(site: Site) -> None:
    store = StateStore.open(os.fspath(site.root / ".infiniti-sync" / "state.db"), environ={})
    try:
        with store.lock("demo", "staff"):
            done = site.invoke(["run", "--tenant", "demo"])
    finally:
        store.close()
    assert done.code == 3
    lines = done.out.splitlines()
    assert lines[0].startswith("demo/students: ok: ")
    host = re.escape(socket.gethostname())
    assert re.fullmatch(
        rf"demo/staff: error: another run holds this tenant and spec: host {host}, "
        rf"process {os.getpid()}, running since \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00",
        lines[1],
    )
    assert lines[2] == "  hint: wait for it to finish, or pass --wait SECONDS"
    assert (len(lines), lines[3].startswith("demo/guardians: ok: ")) == (4, True)


def test_the_archive_keeps_the_newest_keep_runs(site: Site) -> None:
    _edit(site, "keep_runs: 30", "keep_runs: 2")
    archives = []
    for _ in range(3):
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff", "--format", "json"])
        archives.append(Path(json.loads(done.out)["runs"][0]["archive"]))
    assert site.runs("demo", "staff") == archives[1:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run"], "error: name the tenants to run with --tenant T (repeatable), or pass --all\n"),
        (["run", "--all", "--tenant", "demo"], "error: give --tenant or --all, not both\n"),
        (
            ["run", "--tenant", "demos"],
            "error: no tenant named 'demos'; did you mean 'demo'?\n  hint: tenants: demo\n",
        ),
        (["run", "--all", "--jobs", "0"], "error: --jobs must be at least 1\n"),
    ],
)
def test_run_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    project = copy_project(tmp_path / "project")
    done = invoke(project.parent, args)
    assert (done.code, done.out, done.err) == (2, "", message)


def test_an_archive_that_cannot_be_written_is_an_outside_failure(site: Site) -> None:
    (site.root / "blocked").write_text("a file where the archive folder should be\n", encoding="utf-8")
    _edit(site, "archive: .infiniti-sync/runs", "archive: blocked")
    done = site.invoke(["run", "--tenant", "demo"])
    assert (done.code, done.err) == (3, "")
    with pytest.raises(FileExistsError) as exists:  # in the system's words ("File exists" on POSIX)
        (site.root / "blocked").mkdir()
    hint = "  hint: check the project's archive setting and that this user may write there\n"
    failed = f"error: archive PROJECT/blocked: cannot create a folder for the run: {exists.value.strerror}\n"
    again = "".join(f"demo/{spec}: error: the same as demo/students\n" for spec in ("staff", "guardians"))
    assert site.normalise(done.out) == "demo/students: " + failed + hint + again
    assert site.imports() == []


def test_a_bug_in_one_job_stops_only_that_job(several: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import runner.run
    from runner.expect import unmet

    def unmet_with_a_bug(expect: Any, answer: Any, sent: int, failed: Any) -> list[str]:
        if failed and failed[0].outcome.startswith("Library group (Staff)"):  # south's answer only
            raise ZeroDivisionError("division by zero")
        return unmet(expect, answer, sent, failed)

    monkeypatch.setattr(runner.run, "unmet", unmet_with_a_bug)
    done = several.invoke(["run", "--all"])
    assert (done.code, done.err) == (4, "")
    assert several.normalise(done.out) == (
        "north/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met\n"
        "south/staff: error: internal error: ZeroDivisionError: division by zero\n"
        "  hint: this is a bug in infiniti-sync; run again with -v for the traceback\n"
        + "".join(
            f"  row {n} ({user}, source row {n}): Library group (Staff) is not defined.\n"
            for n, user in enumerate(["t201", "t202", "t203", "t204", "t207", "t208"], 1)
        )
        + "  hint: the spec's groups.library lists 'Staff', which Infiniti does not define: create that "
        "library group in Infiniti (it imports users only into groups defined there), or take it out of "
        "groups.library so that the pre-checks leave such rows out\n"
        + "west/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met\n"
    )
    verbose = several.invoke(["run", "--tenant", "south", "-v"]).out
    assert "  note: Traceback (most recent call last):" in verbose
    assert "ZeroDivisionError: division by zero" in verbose


class _Terminal(io.StringIO):
    """Standard error as a terminal."""

    def isatty(self) -> bool:
        return True


STUDENTS_HEADER = (
    "student_code,given_name,family_name,preferred_name,year_level,form_class,email,status,campus"
)
# A status line without its counts: "demo/students: loading students.csv: 10,000 rows" is the phase
# "demo/students: loading students.csv"; "demo/students: 20,000 rows read" is "... reading the rows".
_COUNTS = re.compile(r"(: [\d,]+ rows|: \d+%)$")
_READ = re.compile(r"(?P<job>\S+): [\d,]+ rows? read$")


def _phases(err: str) -> list[str]:
    """The phases the status line went through, in order, each once (the lines of a phase differ only in
    their counts, and which of those are shown depends on the clock); the line is cleared at the end."""
    assert err.endswith("\r"), err[-200:]
    shown = [line.rstrip() for line in err.split("\r") if line.strip()]
    keys = [_READ.sub(r"\g<job>: reading the rows", _COUNTS.sub("", line)) for line in shown]
    return [key for n, key in enumerate(keys) if n == 0 or keys[n - 1] != key]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_progress_shows_every_phase_in_order_only_on_a_terminal_and_never_with_json(
    site: Site, fmt: str
) -> None:
    """Loading a large CSV source, reading its rows, sending each batch and waiting for Infiniti's answer
    each show on the status line, in that order; counts there and in the report are written one way."""
    specs = "    specs: [students, staff, guardians]"
    _edit(site, specs, f"{specs}\n    batch_size: 10000")
    rows = [
        f"S{n:06d},Given{n},Family{n},,{7 + n % 5:02d},07A,s{n}@students.example.edu,Active,North"
        for n in range(25_000)
    ]
    students = site.root / "sms-export" / "students.csv"
    students.write_text("\n".join([STUDENTS_HEADER, *rows]) + "\n", encoding="utf-8")
    out, err = io.StringIO(), _Terminal()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFINITI_DEMO_PASSWORD", "change-me")
        args = ["run", "--tenant", "demo", "--spec", "students", "--format", fmt]
        assert main([*args, "--project", os.fspath(site.root)], Console(out=out, err=err)) == 0
    if fmt == "json":
        assert err.getvalue() == ""
        return
    batches = [(1, "10,000"), (2, "10,000"), (3, "5,000")]
    assert _phases(err.getvalue()) == [
        "demo/students: loading students.csv",
        "demo/students: reading the rows",
        *(
            phase
            for n, count in batches
            for phase in (
                f"demo/students: sending batch {n}/3, {count} rows",
                f"demo/students: batch {n}/3 sent; waiting for Infiniti's answer",
            )
        ),
    ]
    assert out.getvalue() == (
        "demo/students: ok: 25,000 read; 25,000 sent in 3 batches; 25,000 created, 0 updated, 0 failed; "
        "expectations met\n"
    )


def test_a_user_gone_from_the_source_is_reported_once(site: Site) -> None:
    staff = ["run", "--tenant", "demo", "--spec", "staff"]
    assert site.invoke(staff).code == 0
    export = site.root / "sms-export" / "staff.csv"
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    export.write_text("".join(line for line in lines if not line.startswith("T203,")), encoding="utf-8")
    changes = [site.invoke(staff).out.split("; ")[3] for _ in range(2)]
    assert changes == [
        "changes: 0 new, 0 changed, 5 unchanged, 1 gone",
        "changes: 0 new, 0 changed, 5 unchanged, 0 gone",  # not counted against max_change forever
    ]
    assert [user["username"] for user in site.sandbox.users("demo")] == [
        "t201",
        "t202",
        "t203",
        "t204",
        "t207",
        "t208",
    ]  # reported, never deleted: the contract has no delete


@pytest.mark.postgres
def test_state_in_postgresql_with_tenants_at_once(several: Site, postgres_store: StateUnderTest) -> None:
    url = postgres_store.location  # a schema of this test's own
    text = several.project_file.read_text(encoding="utf-8")
    several.project_file.write_text("state: {env: STATE_URL}\n" + text, encoding="utf-8")
    env = {"INFINITI_DEMO_PASSWORD": "change-me", "STATE_URL": url}
    first = several.invoke(["run", "--all", "--jobs", "3"], env)
    again = several.invoke(["run", "--all", "--jobs", "3"], env)
    assert (first.code, again.code) == (1, 1)
    assert [line for line in again.out.splitlines() if "changes:" in line] == [  # south: none accepted yet
        "north/staff: ok: 6 read; 6 sent; 0 created, 6 updated, 0 failed; changes: 0 new, 0 changed, "
        "6 unchanged, 0 gone; expectations met",
        "west/staff: ok: 6 read; 6 sent; 0 created, 6 updated, 0 failed; changes: 0 new, 0 changed, "
        "6 unchanged, 0 gone; expectations met",
    ]
    history = several.invoke(["history", "--tenant", "west"], env).out.splitlines()
    assert [line.split()[3] for line in history[1:]] == ["ok", "ok"]
