"""`infiniti-sync test`: the example's cases pass; a broken case fails with expected and actual side by
side; --junit writes a report CI dashboards read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.support.projects import run

EXAMPLE = Path(__file__).parent.parent / "runner" / "example"
PASSED = """\
ok   guardians: a guardian's mobile takes texts and overdue notices (specs/guardians.yaml:56)
ok   guardians: an e-mail is lower-cased; a guardian may take no notices (specs/guardians.yaml:64)
ok   guardians: a bad e-mail leaves the student out, with all its lines (specs/guardians.yaml:71)
ok   staff: a teacher is a staff member in the Staff groups (specs/staff.yaml:33)
ok   students: a year 7 student goes into Year 7 (specs/students.yaml:39)
ok   students: the preferred name wins, and a year outside the lookup is skipped (specs/students.yaml:47)
ok   students: a malformed email address keeps the row out of the file (specs/students.yaml:57)
7 passed, 0 failed
"""
GUARDIANS = "".join(line + "\n" for line in PASSED.splitlines()[:3])  # the contacts spec's cases


@pytest.fixture(name="example")
def example_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project to break, as the working folder."""
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy, symlinks=False)
    monkeypatch.chdir(copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_example_passes(example: Path) -> None:
    ran = run(["test"])
    assert (ran.code, ran.out, ran.err) == (0, PASSED, "")


def test_a_broken_case_fails_with_expected_and_actual_side_by_side(example: Path) -> None:
    _edit(example / "specs" / "students.yaml", "givenName: Tāne, surname", "givenName: Tane, surname")
    _edit(example / "specs" / "students.yaml", "{row: 1, check: email}", "{row: 1, check: group}")
    ran = run(["test"])
    assert (ran.code, ran.err) == (1, "")
    assert ran.out == (
        f"{GUARDIANS}"
        "ok   staff: a teacher is a staff member in the Staff groups (specs/staff.yaml:33)\n"
        "FAIL students: a year 7 student goes into Year 7 (specs/students.yaml:39)\n"
        "     line 1 differs:\n"
        "          column         expected              actual\n"
        "          username       's001'                's001'\n"
        "          library-group  'Year 7'              'Year 7'\n"
        "          system-group   'Students'            'Students'\n"
        "          emailAddress   'tane.h@example.edu'  'tane.h@example.edu'\n"
        "       !  givenName      'Tane'                'Tāne'\n"
        "          surname        'Horomona'            'Horomona'\n"
        "          formClass      '07A'                 '07A'\n"
        "          staffMember    'FALSE'               'FALSE'\n"
        "ok   students: the preferred name wins, and a year outside the lookup is skipped "
        "(specs/students.yaml:47)\n"
        "FAIL students: a malformed email address keeps the row out of the file (specs/students.yaml:57)\n"
        "     findings differ:\n"
        "       expected      actual\n"
        "       row 1: group  row 1: email: emailAddress 'ana.lee@' is not a well-formed email address\n"
        "5 passed, 2 failed\n"
    )


def test_a_missing_or_extra_line_is_shown(example: Path) -> None:
    _edit(
        example / "specs" / "staff.yaml",
        'staffMember: "TRUE"}',
        'staffMember: "TRUE"}\n      - {username: t999}',
    )
    ran = run(["test", "specs/staff.yaml"])
    assert (ran.code, ran.out) == (
        1,
        "FAIL staff: a teacher is a staff member in the Staff groups (specs/staff.yaml:33)\n"
        "     expected 2 line(s) in the file, got 1\n"
        "     line 2 differs:\n"
        "          column    expected  actual\n"
        "       !  username  't999'    (none)\n"
        "0 passed, 1 failed\n",
    )


def test_a_case_that_cannot_run_says_why(example: Path) -> None:
    _edit(example / "specs" / "staff.yaml", "{staff_code: T201, ", "{code: T201, ")
    ran = run(["test", "specs/staff.yaml"])
    assert (ran.code, ran.out) == (
        1,
        "FAIL staff: a teacher is a staff member in the Staff groups (specs/staff.yaml:33)\n"
        "     the case could not run: tenant test, spec staff, connection export: the template of username "
        "reads row.staff_code, but the test rows have no such column\n"
        "     hint: the test rows have: code, given_name, family_name, email, role\n"
        "0 passed, 1 failed\n",
    )
    quiet = run(["test", "-q", "specs/staff.yaml"])
    hint = "hint: the test rows have: code, given_name, family_name, email, role"
    assert quiet.out.endswith(f"the test rows have no such column; {hint}\n")


def test_a_line_left_out_by_a_pre_check_shows_the_finding(example: Path) -> None:
    _edit(example / "specs" / "students.yaml", 'email: " Tane.H@Example.edu "', 'email: " Tane.H@ "')
    _edit(example / "specs" / "students.yaml", 'year_level: "08"', 'year_level: "13"')
    ran = run(["test", "specs/students.yaml"])
    assert (ran.code, ran.err) == (1, "")
    assert ran.out.splitlines()[:4] == [
        "FAIL students: a year 7 student goes into Year 7 (specs/students.yaml:39)",
        "     expected 1 line(s) in the file, got 0",
        "     left out: row 1 (student_code=S001): email: emailAddress 'tane.h@' is not a well-formed email "
        "address",
        "     line 1 differs:",
    ]
    # the second case's year 08 is now 13, which the lookup its where reads does not hold (nor its 06)
    assert "     expected 1 line(s) in the file, got 0\n     skipped by where: 2 rows\n" in ran.out


def test_junit_report_counts_the_cases(example: Path) -> None:
    _edit(example / "specs" / "students.yaml", "givenName: Tāne, surname", "givenName: Tane, surname")
    ran = run(["test", "--junit", "reports/spec-tests.xml"])
    assert ran.code == 1
    root = ET.parse(example / "reports" / "spec-tests.xml").getroot()  # noqa: S314 - our own file
    suite = root.find("testsuite")
    assert suite is not None
    assert (root.tag, root.attrib) == ("testsuites", {"tests": "7", "failures": "1", "errors": "0"})
    assert {k: suite.attrib[k] for k in ("name", "tests", "failures", "errors")} == {
        "name": "infiniti-sync test",
        "tests": "7",
        "failures": "1",
        "errors": "0",
    }
    cases = [(c.attrib["classname"], c.attrib["file"], c.attrib["line"]) for c in suite.iter("testcase")]
    assert cases == [
        ("guardians", "specs/guardians.yaml", "56"),
        ("guardians", "specs/guardians.yaml", "64"),
        ("guardians", "specs/guardians.yaml", "71"),
        ("staff", "specs/staff.yaml", "33"),
        ("students", "specs/students.yaml", "39"),
        ("students", "specs/students.yaml", "47"),
        ("students", "specs/students.yaml", "57"),
    ]
    failures = [(f.attrib["message"], f.text or "") for f in suite.iter("failure")]
    assert len(failures) == 1
    assert failures[0][0] == "line 1 differs:"
    assert "!  givenName      'Tane'                'Tāne'" in failures[0][1]


def test_json_report(example: Path) -> None:
    """Paths as `validate --format json` gives them: relative to the working folder inside it."""
    checked = json.loads(run(["validate", "--format", "json", "specs/staff.yaml"]).out)
    assert "specs/staff.yaml" in checked["files"]
    ran = run(["test", "--format", "json", "specs/staff.yaml"])
    assert ran.code == 0
    assert ran.out == (
        "{\n"
        '  "passed": true,\n'
        '  "cases": [\n'
        "    {\n"
        '      "spec": "staff",\n'
        '      "name": "a teacher is a staff member in the Staff groups",\n'
        '      "file": "specs/staff.yaml",\n'
        '      "line": 33,\n'
        '      "passed": true,\n'
        '      "differences": []\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )
