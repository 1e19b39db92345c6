"""The reporters of validation findings (text, JSON and GitHub workflow commands), and those of failing spec
test cases as GitHub annotations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.errors import Problem
from runner.report.validate import problems_github, problems_json, problems_text
from tests.support.projects import run

ERROR = Problem("specs/a.yaml", 3, 5, "$.columns.username", "must be text, not 5", "error", "schema")
WARNING = Problem("specs/a.yaml", 4, 3, "$.columns.x", "column 'x' is not a user field", "warning", "column")


def test_text_lists_problems_then_a_verdict() -> None:
    assert problems_text([ERROR, WARNING], 2) == (
        "specs/a.yaml:3:5: $.columns.username: must be text, not 5\n"
        "specs/a.yaml:4:3: $.columns.x: warning: column 'x' is not a user field\n"
        "1 error, 1 warning in 2 files"
    )
    assert problems_text([], 1) == "1 file valid"
    assert problems_text([WARNING, WARNING], 3) == "\n".join(
        [str(WARNING)] * 2 + ["0 errors, 2 warnings in 3 files"]
    )


def test_json_holds_every_field() -> None:
    assert json.loads(problems_json([WARNING], ["specs/a.yaml"], True)) == {
        "valid": True,
        "files": ["specs/a.yaml"],
        "problems": [
            {
                "file": "specs/a.yaml",
                "line": 4,
                "column": 3,
                "path": "$.columns.x",
                "severity": "warning",
                "rule": "column",
                "message": "column 'x' is not a user field",
            }
        ],
    }


def test_github_annotations_escape_as_github_requires() -> None:
    """Data escapes %, CR and LF; properties also escape : and , (actions/toolkit's command.ts)."""
    odd = Problem("dir,x/a:b.yaml", 1, 2, "$.t['a,b:c']", "50% done\r\nnext: line", "error", "schema")
    assert problems_github([odd, WARNING]) == (
        "::error file=dir%2Cx/a%3Ab.yaml,line=1,col=2,title=$.t['a%2Cb%3Ac']::50%25 done%0D%0Anext: line\n"
        "::warning file=specs/a.yaml,line=4,col=3,title=$.columns.x::column 'x' is not a user field"
    )


def test_failing_spec_tests_are_annotations_on_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`test --format github`: one error per failing case, on its line, with what differs (the passing
    cases say nothing); all passing, nothing at all."""
    shutil.copytree(Path(__file__).parent.parent / "runner" / "example", tmp_path / "example")
    monkeypatch.chdir(tmp_path / "example")
    passed = run(["test", "--format", "github"])
    assert (passed.code, passed.out, passed.err) == (0, "", "")
    spec = tmp_path / "example" / "specs" / "staff.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace('staffMember: "TRUE"}', 'staffMember: "YES"}'),
        encoding="utf-8",
    )
    failed = run(["test", "--format", "github"])
    assert (failed.code, failed.err) == (1, "")
    table = [
        "line 1 differs:",
        "     column         expected                actual",
        "     username       't201'                  't201'",
        "     library-group  'Staff'                 'Staff'",
        "     system-group   'Staff'                 'Staff'",
        "     emailAddress   's.obrien@example.edu'  's.obrien@example.edu'",
        "     givenName      'Siobhán'               'Siobhán'",
        '     surname        "O\'Brien"               "O\'Brien"',
        "  !  staffMember    'YES'                   'TRUE'",
    ]
    title = "staff%3A a teacher is a staff member in the Staff groups"
    assert failed.out == f"::error file=specs/staff.yaml,line=33,title={title}::{'%0A'.join(table)}\n"
