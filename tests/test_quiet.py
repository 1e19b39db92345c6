"""`-q`, as cron needs it: nothing at all on standard output and standard error when every job is ok, and one
line per job that needs a person when one is not (its outcome, why, and where its archive is)."""

from __future__ import annotations

import pytest

from runner.sandbox import Fault
from tests.support.project import Site, edit_project, example_site_fixture, several_tenants_fixture

site = example_site_fixture


several = several_tenants_fixture


def test_a_quiet_run_that_goes_well_says_nothing_at_all(site: Site) -> None:
    done = site.invoke(["run", "--tenant", "demo", "-q"])
    assert (done.code, done.out, done.err) == (0, "", "")
    assert len(site.sandbox.users("demo")) > 0  # it did run


@pytest.mark.parametrize("where", [["-q", "run"], ["run", "-q"]])
def test_quiet_is_a_global_option_before_or_after_the_command(site: Site, where: list[str]) -> None:
    done = site.invoke([*where, "--tenant", "demo", "--spec", "staff"])
    assert (done.code, done.out, done.err) == (0, "", "")


def test_a_quiet_run_says_one_line_per_job_that_needs_a_person(several: Site) -> None:
    several.sandbox.inject("west", Fault(status=500))
    done = several.invoke(["run", "--all", "-q"])
    assert (done.code, done.err) == (3, "")
    lines = several.normalise(done.out).splitlines()
    archive = "PROJECT/.infiniti-sync/runs/{}/staff/STAMP"
    assert lines == [
        "south/staff: failed: success: expected true, got false; failed: expected 0, got 6"
        f" (archive: {archive.format('south')})",
        "west/staff: error: Infiniti at https://127.0.0.1:8443 answered HTTP 500: Internal Server Error"
        f" (a fault injected into the sandbox). (archive: {archive.format('west')})",
    ]


def test_a_quiet_error_before_any_job_is_one_line_with_its_hint(site: Site) -> None:
    done = site.invoke(["run", "--tenant", "nosuch", "-q"])
    assert (done.code, done.out) == (2, "")
    assert done.err == "error: no tenant named 'nosuch'; hint: tenants: demo\n"


def test_a_quiet_run_of_an_invalid_project_lists_only_the_problems(site: Site) -> None:
    edit_project(site, "specs: [students, staff, guardians]", "specs: [stafff]")
    done = site.invoke(["run", "--all", "-q"])
    assert (done.code, done.out) == (2, "")
    assert done.err == (
        "infiniti-sync.yaml:20:13: $.tenants.demo.specs[0]: no spec named 'stafff'; did you mean 'staff'?\n"
    )


def test_a_quiet_run_with_a_json_report_still_writes_the_report(site: Site) -> None:
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff", "-q", "--format", "json"])
    assert (done.code, done.err) == (0, "")
    assert '"outcome": "ok"' in done.out  # a machine asked for it


def test_quiet_test_and_validate_say_nothing_when_all_passes(site: Site) -> None:
    for command in (["test"], ["validate"]):
        done = site.invoke([*command, "-q"])
        assert (done.code, done.out, done.err) == (0, "", "")
        assert site.invoke(command).out != ""  # without -q they do report


def test_quiet_test_says_one_line_per_failing_case(site: Site) -> None:
    spec = site.root / "specs" / "staff.yaml"
    text = spec.read_text(encoding="utf-8")
    assert "{username: t201," in text
    spec.write_text(text.replace("{username: t201,", "{username: t999,", 1), encoding="utf-8")
    done = site.invoke(["test", "-q"])
    assert (done.code, done.err) == (1, "")
    assert done.out == (
        "FAIL staff: a teacher is a staff member in the Staff groups (specs/staff.yaml:33): line 1 differs\n"
    )


def test_quiet_plan_and_history_still_show_what_was_asked_for(site: Site) -> None:
    assert site.invoke(["run", "--tenant", "demo", "--spec", "staff", "-q"]).code == 0
    history = site.invoke(["history", "-q"])
    assert (history.code, history.err) == (0, "")
    assert "demo/staff" in history.out
    plan = site.invoke(["plan", "--tenant", "demo", "--spec", "staff", "-q", "--out", str(site.root / "out")])
    assert (plan.code, plan.err) == (0, "")
    assert plan.out.startswith("demo/staff: ")
