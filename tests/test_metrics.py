"""Prometheus metrics of the runs, end to end against a sandbox process: `run --metrics-file PATH` parsed
back with prometheus-client's own parser (every job's last run, from the state, whatever this invocation
ran), replaced atomically, with `--jobs`, `--due` and `--shard`; a Pushgateway (`metrics: {pushgateway:
URL}`) played by a real HTTP server on a loopback port that keeps what it was sent; and what goes wrong:
a missing library, a folder that does not exist, a file that cannot be written, a Pushgateway that refuses."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.due import shard_of
from runner.sandbox import Fault
from runner.sandbox.tls import ensure
from runner.state import RunRecord, StateStore
from tests.support import stores
from tests.support.project import DEMO_ENV, Site, edit_project, example_site_fixture, several_tenants_fixture
from tests.support.receivers import Webhook
from tests.support.statements import counted
from tests.support.stores import StateUnderTest
from tests.support.windows import posix_modes

WEST_ERROR = (
    "west/staff: error: Infiniti at https://127.0.0.1:8443 answered HTTP 500: Internal Server Error "
    "(a fault injected into the sandbox)."
)

site = example_site_fixture
SANDBOX_CA = ".infiniti-sync/sandbox/ca.pem"
state_store = stores.state_store_fixture

Samples = dict[str, dict[tuple[str, ...], float]]


def samples(text: str) -> Samples:
    """Metric name -> {(tenant, spec) or (tenant, spec, outcome): value}, read by prometheus-client."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sample.labels[k] for k in ("tenant", "spec", "outcome") if k in sample.labels)
            found.setdefault(sample.name, {})[key] = sample.value
    return found


def history(site: Site) -> dict[tuple[str, str], dict[str, object]]:
    """The last recorded run of each job, as `history --format json` shows it."""
    runs = json.loads(site.invoke(["history", "--format", "json"]).out)["runs"]
    last: dict[tuple[str, str], dict[str, object]] = {}
    for run in runs:  # newest first
        last.setdefault((run["tenant"], run["spec"]), run)
    return last


def started(run: dict[str, object]) -> float:
    return datetime.fromisoformat(str(run["started_at"])).timestamp()


def outcomes(found: Samples) -> dict[tuple[str, ...], str]:
    """Each job's outcome: the one of its outcome series that is 1."""
    chosen = {key[:2]: key[2] for key, value in found["infiniti_sync_last_run_outcome"].items() if value == 1}
    assert len(found["infiniti_sync_last_run_outcome"]) == 4 * len(chosen)  # ok, held, failed, error each
    return chosen


several = several_tenants_fixture


_edit = edit_project


def test_the_file_holds_every_jobs_last_run(several: Site, tmp_path: Path) -> None:
    folder = tmp_path / "textfile"
    folder.mkdir()
    metrics = folder / "infiniti-sync.prom"
    several.sandbox.inject("west", Fault(status=500))
    done = several.invoke(["run", "--all", "--metrics-file", os.fspath(metrics)])
    assert done.code == 3
    found, last = samples(metrics.read_text(encoding="utf-8")), history(several)
    jobs = [("north", "staff"), ("south", "staff"), ("west", "staff")]
    assert outcomes(found) == {jobs[0]: "ok", jobs[1]: "failed", jobs[2]: "error"}
    assert found["infiniti_sync_last_run_exit_code"] == {jobs[0]: 0, jobs[1]: 1, jobs[2]: 3}
    assert found["infiniti_sync_last_run_timestamp_seconds"] == {job: started(last[job]) for job in jobs}
    assert found["infiniti_sync_last_run_duration_seconds"] == {
        job: (
            datetime.fromisoformat(str(last[job]["finished_at"]))
            - datetime.fromisoformat(str(last[job]["started_at"]))
        ).total_seconds()
        for job in jobs
    }
    assert found["infiniti_sync_last_success_timestamp_seconds"] == {
        jobs[0]: started(last[jobs[0]]),
        jobs[1]: 0,
        jobs[2]: 0,
    }
    assert found["infiniti_sync_last_run_rows_read"] == dict.fromkeys(jobs, 6)
    assert found["infiniti_sync_last_run_rows_sent"] == {jobs[0]: 6, jobs[1]: 6, jobs[2]: 0}
    # west's answer was an error page: Infiniti gave no counts, so there are none
    assert found["infiniti_sync_last_run_users_created"] == {jobs[0]: 6, jobs[1]: 0}
    assert found["infiniti_sync_last_run_users_updated"] == {jobs[0]: 0, jobs[1]: 0}
    assert found["infiniti_sync_last_run_users_failed"] == {jobs[0]: 0, jobs[1]: 6}
    first = metrics.stat()

    done = several.invoke(["run", "--tenant", "north", "--metrics-file", os.fspath(metrics)])
    assert done.code == 0
    again = samples(metrics.read_text(encoding="utf-8"))
    assert os.listdir(folder) == ["infiniti-sync.prom"]  # replaced, no temporary file left beside it
    assert metrics.stat().st_ino != first.st_ino  # a new file renamed over the old one, not rewritten
    assert outcomes(again) == outcomes(found)  # south and west: their last runs, from the state
    assert again["infiniti_sync_last_run_users_updated"][jobs[0]] == 6
    north = again["infiniti_sync_last_run_timestamp_seconds"][jobs[0]]
    assert north > found["infiniti_sync_last_run_timestamp_seconds"][jobs[0]]
    assert again["infiniti_sync_last_success_timestamp_seconds"][jobs[0]] == north
    for job in jobs[1:]:
        for name in ("infiniti_sync_last_run_timestamp_seconds", "infiniti_sync_last_run_exit_code"):
            assert again[name][job] == found[name][job]


def test_the_last_success_of_a_job_whose_last_run_failed(site: Site, tmp_path: Path) -> None:
    metrics = tmp_path / "sync.prom"
    args = ["run", "--tenant", "demo", "--spec", "staff", "--metrics-file", os.fspath(metrics)]
    assert site.invoke(args).code == 0
    ok = samples(metrics.read_text(encoding="utf-8"))
    site.sandbox.inject("demo", Fault(status=500))
    assert site.invoke(args).code == 3
    found = samples(metrics.read_text(encoding="utf-8"))
    job = ("demo", "staff")
    assert outcomes(found) == {job: "error"}
    success = found["infiniti_sync_last_success_timestamp_seconds"][job]
    assert success == ok["infiniti_sync_last_run_timestamp_seconds"][job]
    assert success < found["infiniti_sync_last_run_timestamp_seconds"][job]


@posix_modes
def test_the_file_is_readable_by_the_collector_s_own_user(site: Site, tmp_path: Path) -> None:
    metrics = tmp_path / "sync.prom"
    assert (
        site.invoke(["run", "--tenant", "demo", "--spec", "staff", "--metrics-file", os.fspath(metrics)]).code
        == 0
    )
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o644


def test_tenants_run_at_once_are_all_counted(several: Site, tmp_path: Path) -> None:
    metrics = tmp_path / "sync.prom"
    done = several.invoke(["run", "--all", "--jobs", "3", "--metrics-file", os.fspath(metrics)])
    assert done.code == 1
    found, last = samples(metrics.read_text(encoding="utf-8")), history(several)
    assert outcomes(found) == {
        ("north", "staff"): "ok",
        ("south", "staff"): "failed",
        ("west", "staff"): "ok",
    }
    assert found["infiniti_sync_last_run_timestamp_seconds"] == {
        job: started(run) for job, run in last.items()
    }


def test_with_due_the_file_keeps_the_whole_picture_when_nothing_is_due(site: Site, tmp_path: Path) -> None:
    _edit(site, 'schedule: "15 * * * *"', "schedule: '@yearly'")  # due once: never run
    metrics = tmp_path / "sync.prom"
    args = ["run", "--all", "--due", "--metrics-file", os.fspath(metrics)]
    assert site.invoke(args).code == 0
    ran = metrics.read_text(encoding="utf-8")
    assert outcomes(samples(ran)) == {
        ("demo", "students"): "ok",
        ("demo", "staff"): "ok",
        ("demo", "guardians"): "ok",
    }
    metrics.unlink()
    done = site.invoke(args)
    assert (done.code, done.out) == (
        0,
        "nothing is due: 3 jobs checked, none has a slot since its last run\n",
    )
    assert metrics.read_text(encoding="utf-8") == ran


def test_a_shard_writes_and_pushes_its_own_jobs(several: Site, tmp_path: Path) -> None:
    with Webhook.start() as receiver:
        _edit(several, "version: 1\n", f"version: 1\nmetrics: {{pushgateway: '{receiver.url}'}}\n")
        metrics = tmp_path / "sync.prom"
        done = several.invoke(["run", "--all", "--shard", "0/2", "--metrics-file", os.fspath(metrics)])
    mine = {(t, "staff") for t in ("north", "south", "west") if shard_of(t, 2) == 0}
    assert 0 < len(mine) < 3  # the test shows something only if the shard holds some tenants, not all
    assert done.code == (1 if ("south", "staff") in mine else 0)
    found = samples(metrics.read_text(encoding="utf-8"))
    assert set(outcomes(found)) == mine
    [pushed] = receiver.requests
    shard = base64.urlsafe_b64encode(b"0/2").decode()
    assert (pushed.method, pushed.path) == ("PUT", f"/metrics/job/infiniti-sync/shard@base64/{shard}")
    assert samples(pushed.body.decode("utf-8")) == found


def test_the_pushgateway_gets_the_file_s_metrics_with_basic_auth_from_a_secret(
    site: Site, tmp_path: Path
) -> None:
    _edit(site, "version: 1\n", "version: 1\nmetrics:\n  pushgateway: {env: PUSHGATEWAY_URL}\n")
    metrics = tmp_path / "sync.prom"
    with Webhook.start() as receiver:
        url = receiver.url.replace("http://", "http://sync-bot:Push-s3cret@")
        env = {**DEMO_ENV, "PUSHGATEWAY_URL": url}
        done = site.invoke(["run", "--all", "-v", "--metrics-file", os.fspath(metrics)], env=env)
    assert done.code == 0
    [pushed] = receiver.requests
    assert (pushed.method, pushed.path) == ("PUT", "/metrics/job/infiniti-sync")
    token = base64.b64encode(b"sync-bot:Push-s3cret").decode()
    assert pushed.headers["Authorization"] == f"Basic {token}"
    assert samples(pushed.body.decode("utf-8")) == samples(metrics.read_text(encoding="utf-8"))
    assert set(outcomes(samples(pushed.body.decode("utf-8")))) == {
        ("demo", "students"),
        ("demo", "staff"),
        ("demo", "guardians"),
    }
    assert "Push-s3cret" not in done.out + done.err


def _closed_port() -> int:
    """A loopback port nobody listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_pushgateway_that_answers_an_error_is_reported_and_leaves_the_exit_code(site: Site) -> None:
    with Webhook.start(status=500) as receiver:
        _edit(site, "version: 1\n", f"version: 1\nmetrics: {{pushgateway: '{receiver.url}/'}}\n")
        done = site.invoke(["run", "--tenant", "demo", "-q"])
    assert len(receiver.requests) == 1
    assert (done.code, done.out, done.err) == (
        0,
        "",
        f"error: the Pushgateway at {receiver.url}/ did not take the metrics: HTTP 500 Internal Server "
        "Error; hint: the runs are recorded and the exit code is theirs; the next run pushes again\n",
    )


def test_a_pushgateway_nobody_listens_on_is_reported_and_leaves_the_exit_code(several: Site) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    _edit(several, "version: 1\n", f"version: 1\nmetrics: {{pushgateway: '{url}'}}\n")
    done = several.invoke(["run", "--all", "-q", "--log-format", "json"])
    assert done.code == 1  # south's failed rows: the push changes nothing
    [line] = [json.loads(line) for line in done.err.splitlines() if '"metrics"' in line]
    assert (line["level"], line["event"]) == ("error", "metrics")
    assert line["message"].startswith(f"error: the Pushgateway at {url} did not take the metrics: ")
    assert "refused" in line["message"].lower()  # the system's own words for it


def test_a_folder_that_does_not_exist_stops_the_run_before_it_starts(site: Site, tmp_path: Path) -> None:
    metrics = tmp_path / "missing" / "sync.prom"
    done = site.invoke(["run", "--all", "--metrics-file", os.fspath(metrics)])
    assert (done.code, done.out, done.err) == (
        2,
        "",
        f"error: --metrics-file {metrics}: the folder {metrics.parent} does not exist\n"
        "  hint: name a file in a folder that exists: node_exporter's --collector.textfile.directory\n",
    )
    assert site.imports() == []


def test_a_file_that_cannot_be_written_is_an_outside_failure_after_the_run(
    site: Site, tmp_path: Path
) -> None:
    metrics = tmp_path / "textfile" / "sync.prom"
    metrics.mkdir(parents=True)  # a folder where the file should be: renaming over it fails
    done = site.invoke(
        ["run", "--tenant", "demo", "--spec", "staff", "-q", "--metrics-file", os.fspath(metrics)]
    )
    assert done.code == 3
    assert done.out == ""  # the run was ok
    assert done.err.startswith(f"error: cannot write the metrics file {metrics}: ")
    assert done.err.endswith(
        "; hint: name a file this account may write, in a folder of its own; the runs are recorded\n"
    )
    assert history(site)[("demo", "staff")]["outcome"] == "ok"
    assert os.listdir(metrics.parent) == ["sync.prom"] and os.listdir(metrics) == []  # no temporary file


@pytest.mark.parametrize("asked", ["--metrics-file", "metrics.pushgateway in the project file"])
def test_without_the_library_the_message_names_the_extra(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str
) -> None:
    args = ["run", "--all"]
    if asked == "--metrics-file":
        args += ["--metrics-file", os.fspath(tmp_path / "sync.prom")]
    else:
        _edit(site, "version: 1\n", "version: 1\nmetrics: {pushgateway: 'http://127.0.0.1:9'}\n")
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as on an install without the extra
    done = site.invoke(args)
    assert (done.code, done.out, done.err) == (
        2,
        "",
        f"error: {asked} needs the prometheus-client library, which is not installed\n"
        "  hint: install it with: pip install 'infiniti-sync[metrics]'\n",
    )
    assert site.imports() == []


def test_a_pushgateway_secret_that_is_not_set_stops_the_run_before_it_starts(site: Site) -> None:
    _edit(site, "version: 1\n", "version: 1\nmetrics: {pushgateway: {env: PUSHGATEWAY_URL}}\n")
    done = site.invoke(["run", "--all"], env={**DEMO_ENV, "PUSHGATEWAY_URL": None})
    assert (done.code, done.err) == (
        2,
        "error: metrics.pushgateway (infiniti-sync.yaml:6): environment variable PUSHGATEWAY_URL is not set\n"
        "  hint: set PUSHGATEWAY_URL in the environment the sync runs in, or write {file: PATH} "
        "(a secret file) or {keyring: SERVICE/USERNAME} in its place\n",
    )
    assert site.imports() == []


def test_the_last_runs_of_every_job_in_one_query(tmp_path: Path, state_store: StateUnderTest) -> None:
    at = datetime(2026, 12, 1, 2, 15, tzinfo=UTC)
    runs = [  # tenant, spec, minutes after `at`, outcome
        ("north", "staff", 0, "ok"),
        ("north", "staff", 10, "failed"),
        ("north", "staff", 20, "error"),
        ("north", "students", 5, "ok"),
        ("south", "staff", 1, "held"),
    ]
    store = StateStore.open(state_store.location, environ={})
    try:
        for tenant, spec, minutes, outcome in runs:
            start = at + timedelta(minutes=minutes)
            code = {"ok": 0, "error": 3}.get(outcome, 1)
            record = RunRecord(tenant, spec, start, start + timedelta(seconds=3), outcome, code, "full")
            store.record(record)
        found = store.last_runs()
    finally:
        store.close()
    assert {job: (r.started_at, r.outcome, ok) for job, (r, ok) in found.items()} == {
        ("north", "staff"): (at + timedelta(minutes=20), "error", at),
        ("north", "students"): (at + timedelta(minutes=5), "ok", at + timedelta(minutes=5)),
        ("south", "staff"): (at + timedelta(minutes=1), "held", None),
    }


def test_the_metrics_are_read_from_the_store_the_run_has_open(site: Site, tmp_path: Path) -> None:
    """`--metrics-file` opens the state store once (the first connect of each store's pool, counted) and
    reads it once for the metrics, the last success of a job whose last run failed included."""
    metrics = tmp_path / "sync.prom"
    args = ["run", "--tenant", "demo", "--spec", "staff"]
    assert site.invoke(args).code == 0
    with counted() as plain:
        assert site.invoke(args).code == 0
    site.sandbox.inject("demo", Fault(status=500))
    with counted() as seen:
        assert site.invoke([*args, "--metrics-file", os.fspath(metrics)]).code == 3
    assert (plain.engines, seen.engines) == (1, 1)
    assert len(seen.reading("infiniti_sync_runs")) == len(plain.reading("infiniti_sync_runs")) + 1
    found, runs = samples(metrics.read_text(encoding="utf-8")), site.invoke(["history", "--format", "json"])
    ok, failed = json.loads(runs.out)["runs"][1::-1]
    job = ("demo", "staff")
    assert outcomes(found) == {job: "error"}  # students never ran: no series
    assert found["infiniti_sync_last_run_timestamp_seconds"][job] == started(failed)
    assert found["infiniti_sync_last_success_timestamp_seconds"][job] == started(ok)


# --- an https:// Pushgateway ----------------------------------------------------------------------------


def test_an_https_pushgateway_is_verified_with_its_ca_bundle(site: Site) -> None:
    """A real HTTPS receiver on loopback, its certificate from the sandbox's CA: trusted through
    `metrics.ca_bundle`, refused (and said so) without it, whatever the runs' exit code."""
    tls = ensure(site.root / ".infiniti-sync" / "sandbox")
    with Webhook.start(tls=tls) as receiver:
        setting = f"version: 1\nmetrics: {{pushgateway: '{receiver.url}', ca_bundle: {SANDBOX_CA}}}\n"
        _edit(site, "version: 1\n", setting)
        trusted = site.invoke(["run", "--tenant", "demo", "-q"])
        assert (trusted.code, trusted.err) == (0, "")
        [pushed] = receiver.requests
        assert (pushed.method, pushed.path) == ("PUT", "/metrics/job/infiniti-sync")
        assert set(outcomes(samples(pushed.body.decode("utf-8")))) == {
            ("demo", "students"),
            ("demo", "staff"),
            ("demo", "guardians"),
        }

        _edit(site, f", ca_bundle: {SANDBOX_CA}", "")  # the system's CAs do not know the sandbox's
        refused = site.invoke(["run", "--tenant", "demo", "-q"])
    assert len(receiver.requests) == 1  # the handshake failed: no request reached it
    assert (refused.code, refused.out) == (0, "")
    assert refused.err == (
        f"error: the Pushgateway at {receiver.url} did not take the metrics: TLS: the Pushgateway's "
        "certificate was not verified (unable to get local issuer certificate); a certificate from a private "
        "CA goes in metrics.ca_bundle; hint: the runs are recorded and the exit code is theirs; the next run "
        "pushes again\n"
    )


def test_a_pushgateway_ca_bundle_that_does_not_exist_stops_the_run_before_it_starts(site: Site) -> None:
    _edit(
        site, "version: 1\n", "version: 1\nmetrics: {pushgateway: 'https://127.0.0.1:9', ca_bundle: no.pem}\n"
    )
    done = site.invoke(["run", "--all"])
    assert (done.code, done.out) == (2, "")
    assert done.err == (
        f"error: metrics.ca_bundle {site.root / 'no.pem'} does not exist\n"
        "  hint: give the PEM file of the CA that signed the Pushgateway's certificate, relative to the "
        "project file\n"
    )
    assert site.imports() == []
    assert site.invoke(["validate"]).code == 0  # the setting itself is valid
