"""Notifications end to end: `run` against a sandbox process, with a real webhook receiver (HTTPS with the
sandbox's certificate) and a real SMTP server (aiosmtpd, STARTTLS) on loopback ports, started here; which
jobs recovered read in one query however many jobs ran (counted through the state store's watch), in a SQLite
file and in PostgreSQL; and a digest of a 5,000-job night bounded in bytes, its counts exact."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner import notify, project
from runner.console import Console
from runner.errors import InfinitiError
from runner.expect import FailedRow
from runner.jobs import Job
from runner.run import JobResult
from runner.sandbox import Fault
from runner.sandbox.tls import TlsFiles, ensure
from runner.spec import Email, Notify
from runner.state import StateStore
from tests.support import stores
from tests.support.project import (
    DEMO_ENV,
    Site,
    edit_project,
    example_site_fixture,
    several_tenants_fixture,
)
from tests.support.receivers import Mailbox, Webhook, dead_port
from tests.support.statements import counted
from tests.support.stores import StateUnderTest

site = example_site_fixture
state_store = stores.state_store_fixture
CA = ".infiniti-sync/sandbox/ca.pem"


several = several_tenants_fixture


def _tls(site: Site) -> TlsFiles:
    return ensure(site.root / ".infiniti-sync" / "sandbox")


def _notify(site: Site, yaml: str, tenant: str | None = None) -> None:
    """Add `notify:` (YAML flow text) to the project, or to `tenant`'s entry."""
    text = site.project_file.read_text(encoding="utf-8")
    if tenant is None:
        text = text.replace("\ntenants:\n", f"\nnotify: {yaml}\ntenants:\n", 1)
    else:
        text = text.replace(f"\n  {tenant}:\n", f"\n  {tenant}:\n    notify: {yaml}\n", 1)
    site.project_file.write_text(text, encoding="utf-8")


def _digests(hook: Webhook) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in hook.requests if r.path == "/hook"]


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]], ids=["one-process", "jobs-2"])
def test_one_digest_with_exactly_the_jobs_that_meet_on(several: Site, jobs: list[str]) -> None:
    several.sandbox.inject("west", Fault(status=500))
    with Webhook.start(tls=_tls(several)) as hook:
        _notify(
            several, f"{{ca_bundle: {CA}, webhook: {{url: {hook.url}/hook}}, ping: {{url: {hook.url}/ping}}}}"
        )
        done = several.invoke(["run", "--all", *jobs])
    assert (done.code, done.err) == (3, "")
    assert hook.paths() == ["/ping/start", "/hook", "/ping/fail"]
    [digest] = _digests(hook)
    runs = digest["runs"]
    assert isinstance(runs, list)
    assert [(r["tenant"], r["outcome"]) for r in runs] == [("south", "failed"), ("west", "error")]
    assert set(runs[0]) == set(
        json.loads(several.invoke(["run", "--all", "--format", "json"]).out)["runs"][0]
    )
    text = several.normalise(str(digest["text"]))
    assert text.splitlines()[:2] == ["infiniti-sync: 2 jobs need attention", ""]
    assert (
        "south/staff: failed: 6 read; 6 sent; 0 created, 0 updated, 6 failed; 2 expectations unmet\n" in text
    )
    assert "  unmet: failed: expected 0, got 6\n  failed rows: 6\n" in text
    assert "  archive: PROJECT/.infiniti-sync/runs/south/staff/STAMP\n" in text
    assert text.endswith(
        "west/staff: error: Infiniti at https://127.0.0.1:8443 answered HTTP 500: Internal Server Error "
        "(a fault injected into the sandbox).\n  archive: PROJECT/.infiniti-sync/runs/west/staff/STAMP"
    )


def test_recovered_after_a_failure_and_a_tenants_own_notify(several: Site) -> None:
    """The project's webhook hears every tenant; north's own hears north alone, and only `recovered`."""
    several.sandbox.inject("north", Fault(status=500))
    with Webhook.start() as hook, Webhook.start() as north:
        _notify(several, f"{{webhook: {{url: {hook.url}/hook}}}}")
        _notify(several, f"{{on: [recovered], webhook: {{url: {north.url}/hook}}}}", tenant="north")
        assert several.invoke(["run", "--all"]).code == 3
        assert several.invoke(["run", "--all"]).code == 1
    first, second = _digests(hook)
    assert [(r["tenant"], r["outcome"]) for r in first["runs"]] == [("north", "error"), ("south", "failed")]
    assert [(r["tenant"], r["outcome"]) for r in second["runs"]] == [("north", "ok"), ("south", "failed")]
    assert str(second["text"]).splitlines()[0] == "infiniti-sync: 1 job needs attention, 1 recovered"
    assert "\nnorth/staff: recovered (the run before was error): 6 read; 6 sent; 6 created" in str(
        second["text"]
    )
    [mine] = _digests(north)
    assert [r["tenant"] for r in mine["runs"]] == ["north"]
    assert str(mine["text"]).splitlines()[0] == "infiniti-sync: 1 job recovered"


def test_a_dead_receiver_changes_neither_outcome_nor_exit_code(several: Site) -> None:
    several.sandbox.inject("west", Fault(status=500))
    port = dead_port()
    _notify(several, f"{{webhook: {{url: {{env: HOOK_URL}}}}, ping: {{url: http://127.0.0.1:{port}/p}}}}")
    env = {**DEMO_ENV, "HOOK_URL": f"http://127.0.0.1:{port}/T0KEN-in-the-path"}
    done = several.invoke(["run", "--all", "--format", "json"], env=env)
    assert done.code == 3
    report = json.loads(done.out)
    assert [r["outcome"] for r in report["runs"]] == ["ok", "failed", "error"]
    refused = "not delivered after 2 attempts: cannot connect: the connection was refused"
    unchanged = "(the runs' outcomes and exit code are unchanged)"
    assert report["notifications_undelivered"] == [  # the run's report says so too
        f"the ping of the project was {refused}",
        f"the webhook of the project was {refused}",
        f"the ping of the project was {refused}",
    ]
    assert done.err.splitlines() == [
        f"notify: the ping of the project was {refused} {unchanged}",  # URL/start, before the jobs
        f"notify: the webhook of the project was {refused} {unchanged}",
        f"notify: the ping of the project was {refused} {unchanged}",  # URL/fail
    ]
    assert "T0KEN" not in done.err


def test_a_receiver_that_answers_an_error_is_reported(site: Site) -> None:
    site.sandbox.inject("demo", Fault(status=500))
    with Webhook.start(status=404) as hook:
        _notify(site, f"{{webhook: {{url: {hook.url}/hook}}}}")
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert done.code == 3
    assert hook.paths() == ["/hook", "/hook"]
    undelivered = (
        "the webhook of the project was not delivered after 2 attempts: the receiver answered HTTP 404"
    )
    assert done.err == f"notify: {undelivered} (the runs' outcomes and exit code are unchanged)\n"
    assert done.out.splitlines()[-1] == f"notify: {undelivered}"  # the last line of the run's report


def test_the_ping_of_an_ok_run_and_nothing_sent_when_no_job_meets_on(site: Site) -> None:
    with Webhook.start() as hook:
        _notify(site, f"{{webhook: {{url: {hook.url}/hook}}, ping: {{url: {hook.url}/ping/}}}}")
        done = site.invoke(["run", "--tenant", "demo"])
    assert (done.code, done.err) == (0, "")
    assert hook.paths() == ["/ping/start", "/ping"]


def test_a_skipped_job_is_not_notified_and_nothing_due_pings_success(site: Site) -> None:
    """`run --due` right after a run: nothing is due, nothing is told; the ping says the runner is alive."""
    assert site.invoke(["run", "--tenant", "demo"]).code == 0
    with Webhook.start() as hook:
        _notify(site, f"{{webhook: {{url: {hook.url}/hook}}, ping: {{url: {hook.url}/ping}}}}")
        done = site.invoke(["run", "--all", "--due"])
    assert done.code == 0
    assert hook.paths() == ["/ping/start", "/ping"]


def test_the_digest_by_e_mail_over_starttls(several: Site) -> None:
    several.sandbox.inject("west", Fault(status=500))
    with Mailbox.start(tls=_tls(several), login=("sync-bot", "s3cret-smtp")) as box:
        _notify(
            several,
            f"{{on: [error], ca_bundle: {CA}, email: {{host: localhost, port: {box.port}, "
            "username: sync-bot, password: {env: SMTP_PASSWORD}, from: infiniti-sync@example.edu, "
            "to: [it@example.edu, ops@example.edu]}}",
        )
        done = several.invoke(["run", "--all"], env={**DEMO_ENV, "SMTP_PASSWORD": "s3cret-smtp"})
    assert (done.code, done.err) == (3, "")
    assert box.logins == [("sync-bot", "s3cret-smtp")]
    [message] = box.messages
    assert message["Subject"] == "infiniti-sync: 1 job needs attention"
    assert (message["From"], message["To"]) == (
        "infiniti-sync@example.edu",
        "it@example.edu, ops@example.edu",
    )
    assert message.get_content_type() == "text/plain"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = several.normalise(payload.decode())
    assert body.replace("\r\n", "\n") == (
        "infiniti-sync: 1 job needs attention\n\n"
        "west/staff: error: Infiniti at https://127.0.0.1:8443 answered HTTP 500: Internal Server Error "
        "(a fault injected into the sandbox).\n  archive: PROJECT/.infiniti-sync/runs/west/staff/STAMP\n"
    )


def test_an_smtp_server_that_is_not_trusted_is_refused(site: Site) -> None:
    """The mail server's certificate is verified: without the sandbox's CA, STARTTLS fails, and says so."""
    site.sandbox.inject("demo", Fault(status=500))
    with Mailbox.start(tls=_tls(site)) as box:
        _notify(
            site,
            f"{{email: {{host: localhost, port: {box.port}, from: a@example.edu, to: [b@example.edu]}}}}",
        )
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert done.code == 3
    assert box.messages == []
    assert done.err == (
        "notify: the e-mail of the project was not delivered after 2 attempts: TLS: the server's "
        "certificate was not verified (unable to get local issuer certificate) "
        "(the runs' outcomes and exit code are unchanged)\n"
    )


def test_the_digest_by_e_mail_over_implicit_tls(site: Site) -> None:
    site.sandbox.inject("demo", Fault(status=500))
    with Mailbox.start(tls=_tls(site), implicit=True) as box:
        _notify(
            site,
            f"{{ca_bundle: {CA}, email: {{host: localhost, port: {box.port}, tls: true, "
            "from: sync@example.edu, to: [it@example.edu]}}",
        )
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert (done.code, done.err) == (3, "")
    [message] = box.messages
    assert message["Subject"] == "infiniti-sync: 1 job needs attention"


def test_a_held_run_is_told_with_its_reason_and_the_forced_one_as_recovered(tmp_path: Path) -> None:
    held = Site.start(tmp_path / "project", overlay=Path(__file__).parent / "run_cases" / "held-by-a-guard")
    try:
        with Webhook.start() as hook:
            _notify(held, f"{{webhook: {{url: {hook.url}/hook}}}}")
            assert held.invoke(["run", "--tenant", "demo", "--spec", "students"]).code == 1
            assert held.invoke(["run", "--tenant", "demo", "--spec", "students", "--force"]).code == 0
    finally:
        held.stop()
    first, second = (held.normalise(d["text"]) for d in _digests(hook))
    assert first == (
        "infiniti-sync: 1 job needs attention\n\n"
        "demo/students: held: 3 read; nothing sent\n"
        "  held: 3 rows is fewer than checks.min_rows (10); is the export complete? Nothing is sent until it "
        "is, or until infiniti-sync approve lets it through (or --force)\n"
        "  archive: PROJECT/.infiniti-sync/runs/demo/students/STAMP"
    )
    assert second.splitlines()[:3] == [
        "infiniti-sync: 1 job recovered",
        "",
        "demo/students: recovered (the run before was held): 3 read; 3 sent; 3 created, 0 updated, 0 failed; "
        "expectations met",
    ]


# --- recovered: one query for every job ---------------------------------------------------------------


def test_recovered_for_several_tenants_in_one_query_whatever_their_number(
    several: Site, state_store: StateUnderTest
) -> None:
    """Which jobs recovered is read in one statement per invocation, for one job as for three (the runs
    table is read once: the last run of every job), in a SQLite file and in PostgreSQL."""
    edit_project(several, "version: 1\n", "version: 1\nstate: .infiniti-sync/state.db\n")
    state_store.use(several.project_file)
    env = {**DEMO_ENV, **state_store.env}
    reads: list[int] = []

    def run(*args: str) -> list[tuple[str, str]]:
        before = len(hook.requests)
        with counted() as seen:
            several.invoke(["run", *args], env=env)
        reads.append(len(seen.reading("infiniti_sync_runs")))
        told = [json.loads(r.body) for r in hook.requests[before:]]
        return [(r["tenant"], r["outcome"]) for d in told for r in d["runs"]] + [
            ("text", line)
            for d in told
            for line in str(d["text"]).splitlines()
            if line.startswith("infiniti-sync:") or ": recovered (" in line
        ]

    with Webhook.start() as hook:
        _notify(several, f"{{webhook: {{url: {hook.url}/hook}}}}")
        for tenant in ("north", "west"):
            several.sandbox.inject(tenant, Fault(status=500))
        assert run("--all") == [
            ("north", "error"),
            ("south", "failed"),
            ("west", "error"),
            ("text", "infiniti-sync: 3 jobs need attention"),
        ]
        recovered = "recovered (the run before was error): 6 read; 6 sent"
        north = run("--tenant", "north")
        assert north[:2] == [("north", "ok"), ("text", "infiniti-sync: 1 job recovered")]
        assert north[2][1].startswith(f"north/staff: {recovered}")
        several.sandbox.inject("north", Fault(status=500))
        third = run("--all")
        assert third[:4] == [
            ("north", "error"),  # its run before was ok: not recovered, an error
            ("south", "failed"),
            ("west", "ok"),
            ("text", "infiniti-sync: 2 jobs need attention, 1 recovered"),
        ]
        assert third[4][1].startswith(f"west/staff: {recovered}; 6 created")
        fourth = run("--all")
        assert fourth[:3] == [
            ("north", "ok"),  # recovered; west was ok before, and ok: not told
            ("south", "failed"),
            ("text", "infiniti-sync: 1 job needs attention, 1 recovered"),
        ]
    assert reads == [1, 1, 1, 1]  # one job or three, two of them ok: one read of the runs


# --- a digest of a large night is bounded ---------------------------------------------------------------

NIGHT = 5000


def _night(site: Site, settings: Notify | None = None) -> tuple[notify.Notifier, list[JobResult]]:
    """5,000 jobs of as many tenants, none of them ok: 4,000 with 300 failed rows each, 1,000 stopped by an
    error; and the notifier of the project told to notify as `settings` say, begun on its state store."""
    proj = project.load(site.project_file)
    demo, staff = proj.tenants["demo"], proj.specs["staff"]
    started = datetime.now(UTC)
    results = []
    for n in range(NIGHT):
        job = Job(dataclasses.replace(demo, name=f"school{n:04d}"), staff)
        result = JobResult(job, started, finished=started, archive=site.root / "runs" / f"school{n:04d}")
        if n % 5 == 4:
            result.outcome, result.exit_code = "error", 3
            result.error = InfinitiError(
                "Infiniti at https://infiniti.example answered HTTP 502: Bad Gateway"
            )
        else:
            result.outcome, result.exit_code, result.rows_sent = "failed", 1, 300
            result.failed_rows = [FailedRow(line, line, f"s{line}", "No group Staff") for line in range(300)]
            result.unmet = ["failed: expected 0, got 300"]
        results.append(result)
    console = Console(out=io.StringIO(), err=io.StringIO())
    notifier = notify.Notifier(dataclasses.replace(proj, notify=settings), environ={}, console=console)
    (site.root / ".infiniti-sync").mkdir(exist_ok=True)
    state = StateStore.open(proj.state, environ={})
    try:
        notifier.begin([r.job for r in results], state)
    finally:
        state.close()
    return notifier, results


def test_a_digest_of_5000_failed_jobs_is_bounded_and_counts_them_all(site: Site) -> None:
    with Webhook.start() as hook, Mailbox.start(tls=_tls(site)) as box:
        mail = Email("localhost", box.port, "sync@example.edu", ("it@example.edu",))
        notifier, results = _night(
            site, Notify(webhook=f"{hook.url}/hook", email=mail, ca_bundle=site.root / CA)
        )
        notifier.end(results)
    assert notifier.undelivered == []
    [request] = hook.requests
    [message] = box.messages
    assert len(request.body) <= notify.BODY_BYTES
    digest = json.loads(request.body)
    text = str(digest["text"])
    assert len(text.encode()) <= notify.TEXT_BYTES
    listed = [r["tenant"] for r in digest["runs"]]
    assert 0 < len(listed) <= notify.LISTED
    assert listed == [f"school{n:04d}" for n in range(len(listed))]  # the first ones, in order
    assert digest["unlisted"] == NIGHT - len(listed)
    assert all(len(r["failed_rows"]) == notify.ENTRIES for r in digest["runs"] if r["outcome"] == "failed")
    lines = text.splitlines()
    assert lines[0] == "infiniti-sync: 5000 jobs need attention"
    failed = sum(r.outcome == "failed" for r in results[len(listed) :])
    assert lines[-1] == (
        f"and {NIGHT - len(listed)} more jobs not listed here: {failed} failed, "
        f"{NIGHT - len(listed) - failed} error; infiniti-sync history lists them"
    )
    assert sum(line.startswith("school") for line in lines) == len(listed)  # a paragraph each
    assert "  failed rows: 300" in lines
    assert message["Subject"] == "infiniti-sync: 5000 jobs need attention"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert len(body) <= notify.TEXT_BYTES + text.count("\n") + 1  # the mail's line ends are CRLF
    assert body.decode().replace("\r\n", "\n").rstrip("\n") == text


def test_a_job_too_long_to_tell_is_cut_and_the_next_still_listed(site: Site) -> None:
    _, results = _night(site)
    huge = results[4]  # an error whose message (an answer echoed) is 100 kB
    assert huge.error is not None
    huge.error = InfinitiError("Infiniti answered: " + "x" * 100_000)
    digest = notify.Digest.of([notify.Told(r, r.outcome) for r in results[:6]])
    paragraphs = digest.text.split("\nschool")
    assert len(paragraphs) == 7  # the subject, then all six jobs
    [cut] = [p for p in paragraphs if p.startswith("0004/staff")]
    assert len(cut.encode()) < notify.JOB_BYTES
    assert cut.endswith("  ... (cut here: the run's report.json in its archive has it all)")
    assert (digest.unlisted, len(digest.runs)) == (0, 6)
    message = digest.runs[4]["error"]["message"]
    assert message.endswith(notify.CUT) and len(message) < notify.JOB_BYTES


def test_receivers_that_never_answer_are_given_up_on_within_their_bounds(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook and a mail server that accept the connection (the kernel does) and never say a word: each
    attempt ends at its own deadline (made short here), and the run ends with its own exit code."""
    monkeypatch.setattr(notify, "ATTEMPT_TIMEOUT", 0.3)
    monkeypatch.setattr(notify, "PAUSE", 0.0)
    site.sandbox.inject("demo", Fault(status=500))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        _notify(
            site,
            f"{{webhook: {{url: http://127.0.0.1:{port}/hook}}, email: {{host: 127.0.0.1, port: {port}, "
            "from: a@example.edu, to: [b@example.edu]}}",
        )
        done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"])
    assert done.code == 3
    unchanged = "(the runs' outcomes and exit code are unchanged)"
    assert done.err.splitlines() == [
        f"notify: the webhook of the project was not delivered after 2 attempts: timed out {unchanged}",
        f"notify: the e-mail of the project was not delivered after 2 attempts: timed out {unchanged}",
    ]
