"""`--log-format json`: every line on standard error is one JSON object with the same keys, for container log
collectors; standard output is what it is without it; `-q` keeps only warnings and errors."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Fault
from tests.support.project import Site, edit_project, example_site_fixture, invoke, several_tenants_fixture

KEYS = ["time", "level", "event", "tenant", "spec", "outcome", "counts", "duration", "message"]

site = example_site_fixture


several = several_tenants_fixture


def events(err: str) -> list[dict[str, Any]]:
    """Every line of `err` as a JSON object with exactly the keys of a log line, in their order."""
    found = [json.loads(line) for line in err.splitlines()]
    for event in found:
        assert list(event) == KEYS
        assert event["level"] in ("debug", "info", "warning", "error")
        assert event["time"].endswith("Z")
        assert datetime.fromisoformat(event["time"]).utcoffset() is not None
    return found


def test_a_run_logs_one_job_event_per_job_and_its_report_is_unchanged(site: Site) -> None:
    done = site.invoke(["run", "--tenant", "demo", "--log-format", "json"])
    assert done.code == 0
    assert done.out.splitlines()[0] == (
        "demo/students: ok: 29 read; 29 sent; 29 created, 0 updated, 0 failed; expectations met"
    )
    found = events(done.err)
    assert [(e["level"], e["event"], e["tenant"], e["spec"], e["outcome"]) for e in found] == [
        ("info", "job.finished", "demo", "students", "ok"),
        ("info", "job.finished", "demo", "staff", "ok"),
        ("info", "job.finished", "demo", "guardians", "ok"),
    ]
    assert [e["message"] for e in found] == done.out.splitlines()
    assert all(isinstance(e["duration"], float) and e["duration"] > 0 for e in found)
    text = site.invoke(["run", "--tenant", "demo"])
    assert (text.code, text.err) == (0, "")  # in text, nothing new on standard error


def test_a_first_run_logs_the_counts_of_the_answer(site: Site) -> None:
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff", "--log-format", "json"])
    assert done.code == 0
    [event] = events(done.err)
    assert event["counts"] == {"read": 6, "sent": 6, "processed": 6, "created": 6, "updated": 0, "failed": 0}


def test_a_failing_run_logs_each_job_at_its_level(several: Site) -> None:
    several.sandbox.inject("west", Fault(status=500))
    done = several.invoke(["run", "--all", "--log-format", "json"])
    assert done.code == 3
    assert done.out.startswith("north/staff: ok: ")
    found = events(done.err)
    assert [(e["level"], e["event"], e["tenant"], e["outcome"]) for e in found] == [
        ("info", "job.finished", "north", "ok"),
        ("error", "job.failed", "south", "failed"),
        ("error", "job.error", "west", "error"),
    ]
    assert found[1]["counts"] == {
        "read": 6,
        "sent": 6,
        "processed": 6,
        "created": 0,
        "updated": 0,
        "failed": 6,
    }
    assert found[2]["message"].startswith("west/staff: error: Infiniti at https://127.0.0.1:")


def test_quiet_json_logs_keep_only_what_needs_a_person(several: Site) -> None:
    several.sandbox.inject("west", Fault(status=500))
    done = several.invoke(["run", "--all", "-q", "--log-format", "json"])
    assert done.code == 3
    assert [(e["event"], e["tenant"]) for e in events(done.err)] == [
        ("job.failed", "south"),
        ("job.error", "west"),
    ]
    ok = several.invoke(["run", "--tenant", "north", "-q", "--log-format", "json"])
    assert (ok.code, ok.out, ok.err) == (0, "", "")


def test_an_invalid_project_is_one_problem_event_per_problem(site: Site) -> None:
    edit_project(site, "specs: [students, staff, guardians]", "specs: [stafff]")
    done = site.invoke(["--log-format", "json", "plan"])
    assert (done.code, done.out) == (2, "")
    found = events(done.err)
    assert [(e["level"], e["event"]) for e in found] == [("error", "problem"), ("error", "error")]
    assert found[0]["message"] == (
        "infiniti-sync.yaml:20:13: $.tenants.demo.specs[0]: no spec named 'stafff'; did you mean 'staff'?"
    )
    assert found[1]["message"] == "1 problem; fix them and run again"
    validate = site.invoke(["validate", "--log-format", "json"])
    assert (validate.code, validate.err) == (2, "")  # validate's problems are its results, on standard output
    assert validate.out.startswith("infiniti-sync.yaml:20:13: ")


def test_an_error_names_its_tenant_and_keeps_its_hint(site: Site) -> None:
    done = site.invoke(
        ["run", "--tenant", "demo", "--log-format", "json"], env={"INFINITI_DEMO_PASSWORD": None}
    )
    assert done.code == 2
    found = events(done.err)
    assert [e["event"] for e in found] == ["job.error", "job.error", "job.error"]
    assert found[0]["message"] == (
        "demo/students: error: tenant demo: password (infiniti-sync.yaml:15): environment variable "
        "INFINITI_DEMO_PASSWORD is not set; hint: set INFINITI_DEMO_PASSWORD in the environment the sync "
        "runs in, or write {file: PATH} (a secret file) or {keyring: SERVICE/USERNAME} in its place"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--frob", "--log-format", "json"],
        ["--log-format=json", "run", "--jobs", "many"],
        ["--log-format", "json", "nosuchcommand"],
    ],
)
def test_a_usage_error_is_a_json_line(tmp_path: Path, args: list[str]) -> None:
    done = invoke(tmp_path, args)
    assert (done.code, done.out) == (2, "")
    [event] = events(done.err)
    assert (event["level"], event["event"]) == ("error", "usage")
    assert event["message"].startswith("infiniti-sync")
    assert ": error: " in event["message"]


def test_a_usage_error_in_text_is_argparse_s_usage_and_complaint(tmp_path: Path) -> None:
    done = invoke(tmp_path, ["run", "--jobs", "many"])
    assert (done.code, done.out) == (2, "")
    assert done.err.startswith("usage: infiniti-sync run [-h]")
    assert done.err.endswith("infiniti-sync run: error: argument --jobs: invalid int value: 'many'\n")


def test_a_bug_is_an_internal_error_event(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import runner.report.history

    def history_with_a_bug(*args: Any) -> str:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(runner.report.history, "history_text", history_with_a_bug)
    done = site.invoke(["history", "--log-format", "json"])
    assert (done.code, done.out) == (4, "")
    [event] = events(done.err)
    assert (event["level"], event["event"]) == ("error", "internal-error")
    assert event["message"] == (
        "internal error: ZeroDivisionError: division by zero\n"
        "this is a bug in infiniti-sync; run again with -v for the traceback"
    )
    verbose = site.invoke(["history", "--log-format", "json", "-v"])
    traceback, error = events(verbose.err)
    assert (traceback["level"], traceback["event"]) == ("debug", "traceback")
    assert traceback["message"].startswith("Traceback (most recent call last):")
    assert error["message"] == "internal error: ZeroDivisionError: division by zero"


def test_secrets_are_masked_in_json_lines(site: Site) -> None:
    text = site.project_file.read_text(encoding="utf-8")
    site.project_file.write_text(text.replace("username: autosync", "username: nobody"), encoding="utf-8")
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff", "--log-format", "json"])
    assert done.code == 3
    assert "change-me" not in done.err
    [event] = events(done.err)
    assert event["event"] == "job.error"
