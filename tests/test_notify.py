"""Notifications end to end: `run` against a sandbox process, with a real webhook receiver (HTTPS with the
sandbox's certificate) and a real SMTP server (aiosmtpd, STARTTLS) on loopback ports, started here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Fault
from runner.sandbox.tls import TlsFiles, ensure
from tests.support.project import DEMO_ENV, Site, example_site_fixture, several_tenants_fixture
from tests.support.receivers import Mailbox, Webhook, dead_port

site = example_site_fixture
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
