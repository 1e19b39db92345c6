"""The reporters `validate --junit FILE` (a JUnit test case per file checked) and `run --format github` (a
GitHub Actions annotation per job that was not ok, on its spec's file), each from the registry."""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree as ET

from tests.support.project import Site, example_site_fixture, several_tenants_fixture

site = example_site_fixture
several = several_tenants_fixture


def _cases(path: Path) -> dict[str, ET.Element]:
    suite = ET.parse(path).getroot().find("testsuite")  # noqa: S314 - our own report
    assert suite is not None and suite.get("name") == "infiniti-sync validate"
    return {case.get("name", ""): case for case in suite.iter("testcase")}


def test_validate_junit_has_a_case_per_file_failed_by_its_errors(site: Site, tmp_path: Path) -> None:
    report = tmp_path / "reports" / "validate.xml"
    valid = site.invoke(["validate", "--junit", os.fspath(report)])
    assert valid.code == 0, valid.err
    cases = _cases(report)
    assert "infiniti-sync.yaml" in cases and "specs/staff.yaml" in cases
    assert all(case.find("failure") is None for case in cases.values())
    spec = site.root / "specs" / "staff.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("min_rows: 1", "min_rows: many"), encoding="utf-8"
    )
    invalid = site.invoke(["validate", "--junit", os.fspath(report), "--format", "json"])
    assert invalid.code == 2 and invalid.out.startswith("{")  # standard output keeps its own format
    cases = _cases(report)
    failure = cases["specs/staff.yaml"].find("failure")
    assert failure is not None and "specs/staff.yaml:26:" in (failure.text or "")
    assert "$.checks.min_rows" in failure.get("message", "")
    assert cases["specs/staff.yaml"].get("file") == "specs/staff.yaml"
    assert cases["specs/staff.yaml"].get("line") == "26"
    assert [name for name, case in cases.items() if case.find("failure") is not None] == ["specs/staff.yaml"]


def test_run_github_annotates_each_job_that_was_not_ok_on_its_spec(several: Site) -> None:
    from runner.sandbox import Fault

    several.sandbox.inject("west", Fault(status=500))
    done = several.invoke(["run", "--all", "--format", "github"])
    assert done.code == 3, done.err
    lines = done.out.splitlines()
    assert [line.split("::")[1] for line in lines] == [
        "error file=specs/staff.yaml,line=1,title=south/staff%3A failed",
        "error file=specs/staff.yaml,line=1,title=west/staff%3A error",
    ]
    assert "failed: expected 0, got 6" in lines[0] and "%0A" in lines[0]  # the text report's lines
    assert "answered HTTP 500" in lines[1]
    spec = several.root / "specs" / "staff.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("min_rows: 1", "min_rows: 1000"), encoding="utf-8"
    )
    held = several.invoke(["run", "--tenant", "north", "--format", "github"])
    assert held.code == 1, held.err
    [line] = held.out.splitlines()
    assert line.startswith("::warning file=specs/staff.yaml,line=1,title=north/staff%3A held::")
    assert "fewer than checks.min_rows (1,000)" in line
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("min_rows: 1000", "min_rows: 1"), encoding="utf-8"
    )
    ok = several.invoke(["run", "--tenant", "north", "--format", "github"])
    assert (ok.code, ok.out) == (0, "")  # all ok: no annotation at all
