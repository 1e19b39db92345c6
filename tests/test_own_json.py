"""Each result knows how to become JSON (its own `to_json`, as JobResult and CaseResult do), without any
reporter: the JSON reporters print what the values give, and making a value's JSON imports no reporter."""

from __future__ import annotations

import json
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runner.approve import Approval, Change
from runner.changes import Changes
from runner.errors import Problem
from runner.plan import Planned
from runner.precheck import Finding
from runner.report.approve import approved_json
from runner.report.history import history_json
from runner.report.plan import plans_json
from runner.report.validate import Validation, json_report
from runner.state import RunRecord
from tests.support.probe import printed

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
USED = Approval(1, "demo", "staff", 7, "alice", "sync-1", AT, AT + timedelta(hours=2), "used", used_by=9)
WAITING = Approval(2, "demo", "staff", 8, "bob", "sync-2", AT, AT + timedelta(hours=1))
RUNS = [
    RunRecord("demo", "staff", AT, AT + timedelta(seconds=3), "ok", 0, "full", 10, 10, 10, 5, 5, 0, id=9),
    RunRecord("demo", "staff", AT, AT, "held", 1, "incremental", message="held: too many", id=8),
]


def test_making_a_values_json_imports_no_reporter() -> None:
    probe = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from runner.approve import Approval
from runner.errors import Problem
from runner.plan import Planned
from runner.state import RunRecord
at = datetime(2026, 12, 1, tzinfo=UTC)
Problem("a.yaml", 1, 1, "$", "bad").to_json()
Approval(1, "t", "s", 1, "u", "h", at, at).to_json()
RunRecord("t", "s", at, at, "ok", 0, "full").to_json()
Planned("t", "s", Path("t/s.csv"), ("username",)).to_json()
print(sorted(m for m in sys.modules if m.startswith("runner.report")))
"""
    assert printed(probe) == "[]"


def test_validate_json_gives_each_problems_own() -> None:
    problems = [
        Problem("specs/a.yaml", 3, 4, "$.columns", 'bad "x"', "warning", "lint"),
        Problem("b", 1, 1, "$", "e"),
    ]
    doc = json.loads(json_report(Validation(problems, ["specs/a.yaml", "b"], valid=False)))
    assert doc["problems"] == [p.to_json() for p in problems]
    assert problems[0].to_json() == {
        "file": "specs/a.yaml",
        "line": 3,
        "column": 4,
        "path": "$.columns",
        "severity": "warning",
        "rule": "lint",
        "message": 'bad "x"',
    }


def test_history_and_approve_json_give_each_runs_and_approvals_own() -> None:
    doc = json.loads(history_json(RUNS, [USED, WAITING]))
    assert doc == {
        "runs": [RUNS[0].to_json(approved_by="alice@sync-1"), RUNS[1].to_json()],
        "approvals": [USED.to_json(), WAITING.to_json()],
    }
    assert doc["runs"][0]["started_at"] == "2026-12-01T10:00:00+00:00"
    assert doc["runs"][1]["approved_by"] is None
    assert (
        USED.to_json()["used_by_run"] == 9 and WAITING.to_json()["expires_at"] == "2026-12-01T11:00:00+00:00"
    )
    change = Change(array("q", [1, 2]), array("q", [3]), new=1, changed=1, vanished=1)
    approved = json.loads(approved_json((WAITING, change), [USED]))
    assert approved["approval"] == {**WAITING.to_json(), "change": {"new": 1, "changed": 1, "vanished": 1}}
    assert approved["replaced"] == [{**USED.to_json(), "status": "replaced"}]


def test_plan_json_gives_each_planned_files_own(tmp_path: Path) -> None:
    changes = Changes(True, new=1, examples={"new": ["a"], "changed": [], "unchanged": [], "vanished": []})
    planned = Planned(
        "demo",
        "staff",
        tmp_path / "staff.csv",
        ("username",),
        rows_read=2,
        findings=[Finding(2, "username", "empty", "id=2")],
        preview=(("a",),),
        changes=changes,
    )
    [shown] = json.loads(plans_json([planned], tmp_path, {"demo/staff": "waiting"}))["plans"]
    assert shown == planned.to_json("waiting", lists=True)
    assert shown["rows"] == {"read": 2, "skipped": 0, "in_file": 0, "left_out": 1, "dropped": 0}
    assert shown["changes"]["lists"] == {"new": [], "changed": [], "unchanged": [], "vanished": []}
    assert "lists" not in planned.to_json()["changes"]
