"""Approving a held run (`infiniti-sync approve`), in a SQLite file and in the machine's PostgreSQL: a run
max_change holds, approved, is sent by the next plain run, which uses the approval up; a larger change is
held again; an expired approval does not apply; `plan` and `history` say so; an older store is migrated.

Each test runs the example project's staff spec (incremental, max_change 50%) against a sandbox process.
"""

from __future__ import annotations

import json
import re
import socket
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from runner.approve import Approval, Change
from runner.state import SCHEMA_VERSION, RunRecord, StateStore
from tests.support import stores
from tests.support.oldschema import runs_table
from tests.support.project import DEMO_ENV, Done, Site, edit_project
from tests.support.roster import STAFF, incremental, write_staff
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
site = stores.site_fixture
JOB = ["--tenant", "demo", "--spec", "staff"]
HOST = socket.gethostname()
LET_THROUGH = "check the source, then let it through with infiniti-sync approve (or run again with --force)"


def _guarded(site: Site) -> None:
    """The staff spec incremental, holding a change of more than half its users."""
    incremental(site.root)
    spec = site.root / "specs" / "staff.yaml"
    text_ = spec.read_text(encoding="utf-8").replace("  min_rows: 1\n", "  min_rows: 1\n  max_change: 50%\n")
    spec.write_text(text_, encoding="utf-8")


def _do(site: Site, store: StateUnderTest, *args: str) -> Done:
    """A command as alice (getpass reads LOGNAME first), times and the host written as TIME and HOST."""
    done = site.invoke(list(args), {**DEMO_ENV, **store.env, "LOGNAME": "alice"})
    return Done(done.code, _plain(site, done.out), _plain(site, done.err))


def _plain(site: Site, out: str) -> str:
    out = site.normalise(out).replace(f"alice@{HOST}", "alice@HOST")
    out = re.sub(r"/tmp/infiniti-sync-plan-\w+|\S+infiniti-sync-plan-\w+", "OUT", out)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "TIME", out)


def _only(site: Site, *codes: str) -> None:
    write_staff(site.root, {code: STAFF[code] for code in codes})


def _hold(gone: int, known: int = 6, new: int = 0) -> str:
    allowed = known // 2
    return (
        f"{new + gone} users changed since the last accepted run ({new} new, 0 changed, {gone} gone), more "
        f"than checks.max_change allows (50% of the {known} last accepted: {allowed}); {LET_THROUGH}"
    )


def _held(read: int, unchanged: int, gone: int, *more: str) -> str:
    lines = [
        f"demo/staff: held: {read} read; nothing sent; changes: 0 new, 0 changed, {unchanged} unchanged, "
        f"{gone} gone",
        f"  held: {_hold(gone)}",
        *(f"  held: {m}" for m in more),
    ]
    return "\n".join(lines) + "\n"


APPROVED = (
    "approved demo/staff: the change its run held at TIME found (0 new, 0 changed, {gone} gone), by "
    "alice@HOST, until TIME\n"
    "  the next run sends it if it finds this change or part of it; a larger one is held again\n"
)


def _history(site: Site, store: StateUnderTest) -> list[list[str]]:
    """The cells of `history`'s lines (its header first; the reason lines under a run left out)."""
    lines = _do(site, store, "history").out.splitlines()
    return [re.split(r" {2,}", line) for line in lines if not line.startswith(" ")]


def _waiting(store: StateUnderTest) -> tuple[datetime, datetime]:
    """When the approval waiting for demo/staff was made and when it expires, read from the store."""
    opened = StateStore.open(store.location, environ={})
    try:
        approval = opened.waiting("demo", "staff")
    finally:
        opened.close()
    assert approval is not None
    return approval.approved_at, approval.expires


def test_an_approved_change_is_sent_once(site: Site, state_store: StateUnderTest) -> None:
    _guarded(site)
    assert _do(site, state_store, "run", *JOB).code == 0
    _only(site, "T201")  # the export collapses: five of six gone
    held = _do(site, state_store, "run", *JOB)
    assert (held.code, held.out) == (1, _held(1, 1, 5))
    approved = _do(site, state_store, "approve", *JOB)
    assert (approved.code, approved.out, approved.err) == (0, APPROVED.format(gone=5), "")
    approved_at, expires = _waiting(state_store)
    assert expires - approved_at == timedelta(hours=24)

    # Part of the approved change (T202 is back): plan says the approval lets it through, and exits 0.
    _only(site, "T201", "T202")
    plan = _do(site, state_store, "plan", "--spec", "staff")
    assert plan.code == 0
    assert (
        "  approval: an approval by alice@HOST (until TIME) is waiting; it covers this change: a run sends "
        "it\n" in plan.out
    )
    sent = _do(site, state_store, "run", *JOB)
    assert (sent.code, sent.out) == (
        0,
        "demo/staff: ok: 2 read; 0 sent; 0 created, 0 updated, 0 failed; changes: 0 new, 0 changed, "
        "2 unchanged, 4 gone; expectations met\n"
        f"  sent despite a hold (approved by alice@HOST): {_hold(4)}\n",
    )
    assert site.imports() == ["200", "200"]

    # Used up: the next large change (the four come back, four new of two) is held, the approval unnamed.
    write_staff(site.root, STAFF)
    again = _do(site, state_store, "run", *JOB)
    assert (again.code, again.out) == (
        1,
        "demo/staff: held: 6 read; nothing sent; changes: 4 new, 0 changed, 2 unchanged, 0 gone\n"
        f"  held: {_hold(0, known=2, new=4)}\n",
    )
    assert site.imports() == ["200", "200"]
    rows = _history(site, state_store)
    assert [row[2] for row in rows] == [
        "outcome",
        "held",
        "ok (approved by alice@HOST)",
        "approved (used)",
        "held",
        "ok",
    ]
    assert rows[3][3] == "by alice@HOST, until TIME"
    # A held run says why on the line under it.
    lines = _do(site, state_store, "history").out.splitlines()
    assert lines[2] == f"  reason: {_hold(0, known=2, new=4)}"
    runs = json.loads(site.invoke(["history", "--format", "json"], {**DEMO_ENV, **state_store.env}).out)
    assert [(r["outcome"], r["approved_by"]) for r in runs["runs"]] == [
        ("held", None),
        ("ok", f"alice@{HOST}"),
        ("held", None),
        ("ok", None),
    ]
    [approval] = runs["approvals"]
    assert (approval["user"], approval["host"], approval["status"]) == ("alice", HOST, "used")
    assert (approval["held_run"], approval["used_by_run"]) == (runs["runs"][2]["id"], runs["runs"][1]["id"])


def test_a_larger_change_than_approved_is_held(site: Site, state_store: StateUnderTest) -> None:
    _guarded(site)
    assert _do(site, state_store, "run", *JOB).code == 0
    _only(site, "T201", "T202")
    assert _do(site, state_store, "run", *JOB).code == 1
    assert _do(site, state_store, "approve", *JOB).out == APPROVED.format(gone=4)
    _only(site, "T201")  # one more gone than approved
    larger = _do(site, state_store, "run", *JOB)
    outside = (
        "the approval by alice@HOST (until TIME) does not apply: it does not cover this change: 1 of its 5 "
        "users are not in the approved one; check the source, then approve again to send"
    )
    assert (larger.code, larger.out) == (1, _held(1, 1, 5, outside))
    plan = _do(site, state_store, "plan", "--spec", "staff")
    assert plan.code == 1
    assert (
        "  approval: an approval by alice@HOST (until TIME) is waiting; it does not cover this change: "
        "1 of its 5 users are not in the approved one: a run holds\n" in plan.out
    )
    # Approving again replaces the waiting approval, and says so; the larger change is then sent.
    replaced = _do(site, state_store, "approve", *JOB, "--for", "2d")
    assert (replaced.code, replaced.out) == (
        0,
        "replaced the approval of demo/staff by alice@HOST (until TIME), which was still waiting\n"
        + APPROVED.format(gone=5),
    )
    approved_at, expires = _waiting(state_store)
    assert expires - approved_at == timedelta(days=2)
    assert _do(site, state_store, "run", *JOB).code == 0
    assert [row[2] for row in _history(site, state_store)] == [
        "outcome",
        "ok (approved by alice@HOST)",
        "approved (used)",
        "held",
        "approved (replaced)",
        "held",
        "ok",
    ]


def test_an_expired_approval_does_not_apply(site: Site, state_store: StateUnderTest) -> None:
    _guarded(site)
    assert _do(site, state_store, "run", *JOB).code == 0
    _only(site, "T201")
    assert _do(site, state_store, "run", *JOB).code == 1
    assert _do(site, state_store, "approve", *JOB, "--for", "1s").code == 0
    approved_at, expires = _waiting(state_store)
    assert expires - approved_at == timedelta(seconds=1)
    while datetime.now(UTC) <= expires:  # at most a second
        time.sleep(0.05)
    plan = _do(site, state_store, "plan", "--spec", "staff")
    assert plan.code == 1
    assert (
        "  approval: an approval by alice@HOST (until TIME) is waiting; it expired at TIME: a run holds\n"
        in plan.out
    )
    expired = _do(site, state_store, "run", *JOB)
    why = (
        "the approval by alice@HOST (until TIME) does not apply: it expired at TIME; check the source, then "
        "approve again to send"
    )
    assert (expired.code, expired.out) == (1, _held(1, 1, 5, why))
    assert site.imports() == ["200"]
    assert [row[2] for row in _history(site, state_store)] == [
        "outcome",
        "held",
        "approved (expired)",
        "held",
        "ok",
    ]


def test_approve_says_when_there_is_nothing_to_approve(site: Site, state_store: StateUnderTest) -> None:
    _guarded(site)
    none = _do(site, state_store, "approve", *JOB)
    assert (none.code, none.out, none.err) == (
        1,
        "",
        "nothing to approve: no run of demo/staff is recorded: the state store has not been created yet\n",
    )
    assert not state_store.exists()
    assert _do(site, state_store, "run", *JOB).code == 0
    ok = _do(site, state_store, "approve", *JOB)
    assert (ok.code, ok.err) == (
        1,
        "nothing to approve: the last run of demo/staff (TIME) was ok, not held\n",
    )
    bad = _do(site, state_store, "approve", *JOB, "--for", "soon")
    assert bad.code == 2
    assert bad.err == (
        "error: --for 'soon' is not a duration\n"
        "  hint: give a number and a unit: 30m, 12h, 2d (s, m, h or d; more than 0)\n"
    )
    unknown = _do(site, state_store, "approve", "--tenant", "nowhere", "--spec", "staff")
    assert unknown.code == 2
    missing = _do(site, state_store, "approve", "--tenant", "demo")
    assert missing.code == 2


def _store(store: StateUnderTest) -> StateStore:
    """The store opened (created) as `run` opens it; a SQLite one's folder made first."""
    if store.kind == "sqlite":
        Path(store.location).parent.mkdir(parents=True, exist_ok=True)
    return StateStore.open(store.location, environ={})


def _run_record(outcome: str) -> RunRecord:
    """A run of demo/staff that has just finished with `outcome`."""
    moment = datetime.now(UTC)
    return RunRecord("demo", "staff", moment, moment, outcome, 0 if outcome == "ok" else 1, "incremental")


def test_one_approval_is_used_by_one_run_only(state_store: StateUnderTest) -> None:
    opened = _store(state_store)
    try:
        change = Change(array("q", [3, 7]), array("q", [-5]), new=1, changed=1, vanished=1)
        held = opened.record(_run_record("held"), held=change)
        assert opened.held("demo", "staff") == (held, change)
        at = datetime.now(UTC)
        opened.approve(
            Approval(0, "demo", "staff", held, "alice", "host", at, at + timedelta(hours=1)), change
        )
        waiting = opened.waiting("demo", "staff")
        assert waiting is not None and waiting.change == change
        first = opened.record(_run_record("ok"), used=waiting.id)
        second = opened.record(_run_record("ok"), used=waiting.id)  # a second use changes nothing
        assert opened.waiting("demo", "staff") is None
        [used] = opened.approvals(["demo"], ["staff"])
        assert (used.status, used.used_by, used.change) == ("used", first, None)
        assert second != first
    finally:
        opened.close()


def test_a_change_is_covered_by_itself_and_its_parts_only() -> None:
    approved = Change(array("q", [1, 2, 3]), array("q", [10, 20]))
    assert approved.outside(approved) == 0
    assert approved.outside(Change(array("q", [2]), array("q", [20]))) == 0
    assert approved.outside(Change(array("q", [2, 4]), array("q", [20, 30, 40]))) == 3
    assert Change.from_bytes(*approved.to_bytes(), 0, 0, 0) == approved


def test_a_version_2_store_is_read_as_it_is_and_migrated_by_approve(
    site: Site, state_store: StateUnderTest
) -> None:
    _guarded(site)
    opened = _store(state_store)
    try:
        opened.record(_run_record("held"))  # as a runner of version 2 recorded it: no change kept
    finally:
        opened.close()
    engine = state_store.engine()
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE infiniti_sync_approvals"))
            conn.execute(text("DROP TABLE infiniti_sync_held"))
            conn.execute(text("UPDATE infiniti_sync_meta SET value = '2' WHERE key = 'schema_version'"))
    finally:
        engine.dispose()
    before = state_store.tables()
    history = _do(site, state_store, "history")
    plan = _do(site, state_store, "plan", "--spec", "staff")
    assert (history.code, [row[2] for row in _history(site, state_store)]) == (0, ["outcome", "held"])
    assert (plan.code, "approval" in plan.out) == (0, False)
    assert state_store.tables() == before  # read-only: not migrated

    old = _do(site, state_store, "approve", *JOB)
    assert (old.code, old.err) == (
        1,
        "nothing to approve: the held run of demo/staff (TIME) kept no change to approve (an older "
        "infiniti-sync recorded it); run it again, then approve the run that holds\n",
    )
    tables = state_store.tables()
    assert tables["infiniti_sync_meta"] == [("schema_version", str(SCHEMA_VERSION))]
    assert (tables["infiniti_sync_held"], tables["infiniti_sync_approvals"]) == ([], [])


def test_approve_waits_for_no_run_holding_the_jobs_lock(site: Site, state_store: StateUnderTest) -> None:
    _guarded(site)
    assert _do(site, state_store, "run", *JOB).code == 0
    _only(site, "T201")
    assert _do(site, state_store, "run", *JOB).code == 1
    opened = _store(state_store)
    try:
        with opened.lock("demo", "staff"):  # a run of the job under way
            busy = _do(site, state_store, "approve", *JOB)
    finally:
        opened.close()
    assert busy.code == 3
    assert busy.err.startswith("error: tenant demo, spec staff: ")
    assert "approved" not in _do(site, state_store, "history").out  # nothing recorded


def test_approve_in_json_speaks_history_s_vocabulary(site: Site, state_store: StateUnderTest) -> None:
    _guarded(site)
    env = {**DEMO_ENV, **state_store.env, "LOGNAME": "alice"}
    nothing = site.invoke(["approve", *JOB, "--format", "json"], env)
    assert (nothing.code, nothing.err) == (1, "")
    assert json.loads(nothing.out) == {
        "approval": None,
        "replaced": [],
        "nothing_to_approve": "no run of demo/staff is recorded: the state store has not been created yet",
    }
    assert _do(site, state_store, "run", *JOB).code == 0
    _only(site, "T201", "T202")
    assert _do(site, state_store, "run", *JOB).code == 1
    first = site.invoke(["approve", *JOB, "--format", "json"], env)
    assert (first.code, first.err) == (0, "")
    second = site.invoke(["approve", *JOB, "--format", "json", "--for", "2h"], env)
    approved, again = json.loads(first.out), json.loads(second.out)
    history = json.loads(site.invoke(["history", "--format", "json"], env).out)
    newest, older = history["approvals"]
    held = history["runs"][0]
    assert held["outcome"] == "held"
    assert approved["replaced"] == [] and approved["nothing_to_approve"] is None
    assert approved["approval"] == {
        **older,
        "status": "waiting",
        "change": {"new": 0, "changed": 0, "vanished": 4},
    }
    assert (older["status"], older["held_run"], older["user"], older["host"]) == (
        "replaced",
        held["id"],
        "alice",
        HOST,
    )
    assert again["approval"] == {**newest, "change": {"new": 0, "changed": 0, "vanished": 4}}
    assert again["replaced"] == [older]  # as history shows it now: replaced
    assert datetime.fromisoformat(newest["expires_at"]) - datetime.fromisoformat(
        newest["approved_at"]
    ) == timedelta(hours=2)
    assert _do(site, state_store, "run", *JOB).code == 0  # sent by the approval
    used = site.invoke(["approve", *JOB, "--format", "json"], env)
    assert used.code == 1
    assert json.loads(used.out)["nothing_to_approve"].startswith("the last run of demo/staff (")
    assert json.loads(used.out)["nothing_to_approve"].endswith(") was ok, not held")


def _a_year_passes(store: StateUnderTest) -> None:
    """Move every recorded run of the store 400 days back, as if the runs had been a year ago: a yearly
    schedule then has a slot after each of them (the approvals keep their times: they are today's)."""
    engine = store.engine()
    try:
        with engine.begin() as conn:
            for row in conn.execute(
                select(runs_table.c.id, runs_table.c.started_at, runs_table.c.finished_at)
            ):
                moved = {"started_at": row.started_at - YEAR, "finished_at": row.finished_at - YEAR}
                conn.execute(update(runs_table).where(runs_table.c.id == row.id).values(**moved))
    finally:
        engine.dispose()


YEAR = timedelta(days=400)
DUE = ["run", "--due", *JOB]


def test_a_scheduled_run_sends_an_approved_change_without_force(
    site: Site, state_store: StateUnderTest
) -> None:
    """`run --due`, as cron runs it: the held job, approved, is sent by its next scheduled run, which uses
    the approval up; the next collapse is held again by the run after."""
    _guarded(site)
    edit_project(site, 'schedule: "15 * * * *"', "schedule: '@yearly'")  # no slot while the test runs
    assert _do(site, state_store, *DUE).code == 0  # never run: due
    _only(site, "T201")
    _a_year_passes(state_store)
    held = _do(site, state_store, *DUE)
    assert (held.code, held.out) == (1, _held(1, 1, 5))
    assert (
        _do(site, state_store, *DUE).out
        == "nothing is due: 1 job checked, none has a slot since its last run\n"
    )
    assert _do(site, state_store, "approve", *JOB).code == 0

    _a_year_passes(state_store)
    sent = _do(site, state_store, *DUE)
    assert (sent.code, sent.out) == (
        0,
        "demo/staff: ok: 1 read; 0 sent; 0 created, 0 updated, 0 failed; changes: 0 new, 0 changed, "
        "1 unchanged, 5 gone; expectations met\n"
        f"  sent despite a hold (approved by alice@HOST): {_hold(5)}\n",
    )
    assert site.imports() == ["200", "200"]
    runs = json.loads(site.invoke(["history", "--format", "json"], {**DEMO_ENV, **state_store.env}).out)
    [approval] = runs["approvals"]
    assert (approval["status"], approval["used_by_run"]) == ("used", runs["runs"][0]["id"])
    assert runs["runs"][0]["approved_by"] == f"alice@{HOST}"

    write_staff(site.root, STAFF)  # the next collapse: four new of one, more than half
    _a_year_passes(state_store)
    again = _do(site, state_store, *DUE)
    assert (again.code, again.out) == (
        1,
        "demo/staff: held: 6 read; nothing sent; changes: 5 new, 0 changed, 1 unchanged, 0 gone\n"
        f"  held: {_hold(0, known=1, new=5)}\n",
    )
    assert site.imports() == ["200", "200"]
