"""The state across runs, in a SQLite file and in the machine's PostgreSQL (required on CI): incremental runs
send exactly the new and changed rows, rows Infiniti failed are sent again, `plan` shows the changes and
never writes the state, `history` filters, and a store of a newer runner is refused untouched.

Each test runs the example project (`infiniti-sync` in this process) against a sandbox process; what was
sent is read back from the run's archive (sent.csv) and from what the sandbox holds. Guards that hold a run
are cases in tests/run_cases/; processes run at once and killed ones are in test_state_processes.py.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from runner.changes import Classifier, fingerprint, user_hash
from runner.csvfile import read_records
from runner.state import SCHEMA_VERSION, RunRecord, StateStore
from tests.support import stores
from tests.support.oldschema import runs_table
from tests.support.project import DEMO_ENV, Done, Site, copy_project, invoke
from tests.support.roster import (
    MOVED,
    NEW,
    SENT_HEADER,
    STAFF,
    incremental,
    sent_csv,
    sent_line,
    user,
    users,
    write_staff,
)
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
site = stores.site_fixture
STAFF_RUN = ["run", "--tenant", "demo", "--spec", "staff"]
RELIEF_SANDBOX = """\
tenants:
  demo:
    users:
      autosync: {password: change-me, admin: true}
    library_groups: [Staff, Relief]
    system_groups: [Staff]
"""


def _run(site: Site, store: StateUnderTest, *extra: str, env: dict[str, str] | None = None) -> Done:
    return site.invoke([*STAFF_RUN, *extra], {**DEMO_ENV, **store.env, **(env or {})})


def _last_sent(site: Site) -> str:
    """The file the last run of demo/staff sent, from its archive."""
    return (site.runs("demo", "staff")[-1] / "sent.csv").read_bytes().decode("utf-8")


def _synced(store: StateUnderTest) -> list[str]:
    """The usernames the store holds as accepted for demo/staff."""
    opened = StateStore.open(store.location, environ={})
    try:
        return sorted(opened.synced("demo", "staff"))
    finally:
        opened.close()


def _ok(sent: int, counts: str, changes: str, read: int = 6) -> str:
    head = f"demo/staff: ok: {read} read; {sent} sent; {counts}, 0 failed"
    return f"{head}; changes: {changes}; expectations met\n"


def test_incremental_runs_send_only_new_and_changed_rows(site: Site, state_store: StateUnderTest) -> None:
    incremental(site.root)
    first = _run(site, state_store)
    assert (first.code, first.out) == (
        0,
        "demo/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met\n",
    )
    assert _last_sent(site) == sent_csv(STAFF)

    # T202 moves to a new address, T203 leaves, T209 joins: only T202 and T209 are sent.
    now = {**{c: p for c, p in STAFF.items() if c != "T203"}, "T202": MOVED, "T209": NEW}
    write_staff(site.root, now)
    second = _run(site, state_store)
    assert (second.code, second.out) == (
        0,
        _ok(2, "1 created, 1 updated", "1 new, 1 changed, 4 unchanged, 1 gone"),
    )
    assert _last_sent(site) == SENT_HEADER + sent_line("T202", MOVED) + sent_line("T209", NEW)
    held = {**STAFF, "T202": MOVED, "T209": NEW}  # T203 is reported gone, never deleted
    assert site.sandbox.users("demo") == users(held)
    assert _synced(state_store) == ["t201", "t202", "t204", "t207", "t208", "t209"]

    # Nothing changed: the header alone is sent, so the credentials are still checked.
    third = _run(site, state_store)
    assert (third.code, third.out) == (
        0,
        _ok(0, "0 created, 0 updated", "0 new, 0 changed, 6 unchanged, 0 gone"),
    )
    assert _last_sent(site) == SENT_HEADER
    assert site.imports() == ["200", "200", "200"]
    refused = _run(site, state_store, env={"INFINITI_DEMO_PASSWORD": "not-the-password"})
    assert refused.code == 3
    assert site.imports()[-1] == "401"

    # --full sends every row once; the next run is incremental again.
    full = _run(site, state_store, "--full")
    assert (full.code, full.out) == (
        0,
        _ok(6, "0 created, 6 updated", "0 new, 0 changed, 6 unchanged, 0 gone"),
    )
    assert _last_sent(site) == sent_csv(now)
    after = _run(site, state_store)
    assert (after.code, _last_sent(site)) == (0, SENT_HEADER)
    assert site.sandbox.users("demo") == users(held)
    modes = json.loads(site.invoke(["history", "--format", "json"], {**DEMO_ENV, **state_store.env}).out)
    assert [(r["mode"], r["outcome"], r["rows_sent"]) for r in modes["runs"]] == [
        ("incremental", "ok", 0),
        ("full", "ok", 6),
        ("incremental", "error", 0),
        ("incremental", "ok", 0),
        ("incremental", "ok", 2),
        ("incremental", "ok", 6),
    ]


def test_rows_infiniti_failed_are_sent_again(site: Site, state_store: StateUnderTest, tmp_path: Path) -> None:
    # T209 is relief staff, in a Relief group the spec declares but the sandbox's tenant lacks.
    incremental(site.root)
    spec = site.root / "specs" / "staff.yaml"
    text_ = spec.read_text(encoding="utf-8")
    text_ = text_.replace(
        "  library-group: Staff\n",
        "  library-group: \"{{ 'Relief' if row.role == 'Relief' else 'Staff' }}\"\n",
    )
    spec.write_text(text_.replace("  library: [Staff]\n", "  library: [Staff, Relief]\n"), encoding="utf-8")
    write_staff(site.root, {**STAFF, "T209": NEW}, roles={"T209": "Relief"})
    relief = sent_line("T209", NEW, group="Relief")
    failing = (
        "  unmet: success: expected true, got false\n"
        "  unmet: failed: expected 0, got 1\n"
        "  row {line} (t209, source row 7): Library group (Relief) is not defined.\n"
        "  hint: the spec's groups.library lists 'Relief', which Infiniti does not define: create that "
        "library group in Infiniti (it imports users only into groups defined there), or take it out of "
        "groups.library so that the pre-checks leave such rows out\n"
    )

    first = _run(site, state_store)
    assert (first.code, first.out) == (
        1,
        "demo/staff: failed: 7 read; 7 sent; 6 created, 0 updated, 1 failed; 2 expectations unmet\n"
        + failing.format(line=7),
    )
    assert _synced(state_store) == ["t201", "t202", "t203", "t204", "t207", "t208"]

    # Nothing changed in the source: the failed row, and only it, is sent again.
    second = _run(site, state_store)
    assert (second.code, second.out) == (
        1,
        "demo/staff: failed: 7 read; 1 sent; 0 created, 0 updated, 1 failed; "
        "changes: 1 new, 0 changed, 6 unchanged, 0 gone; 2 expectations unmet\n" + failing.format(line=1),
    )
    assert _last_sent(site) == SENT_HEADER + relief

    # The cause fixed (Infiniti gets the group), the row is sent again and accepted; then nothing is.
    config = tmp_path / "relief.yaml"
    config.write_text(RELIEF_SANDBOX, encoding="utf-8")
    site.restart_sandbox(config)
    third = _run(site, state_store)
    assert (third.code, third.out) == (
        0,
        _ok(1, "1 created, 0 updated", "1 new, 0 changed, 6 unchanged, 0 gone", read=7),
    )
    assert _last_sent(site) == SENT_HEADER + relief
    assert site.sandbox.users("demo") == [*users(STAFF), user("T209", NEW, group="Relief")]
    fourth = _run(site, state_store)
    assert (fourth.code, _last_sent(site)) == (0, SENT_HEADER)
    assert _synced(state_store) == ["t201", "t202", "t203", "t204", "t207", "t208", "t209"]


def test_a_user_left_out_by_the_pre_checks_has_not_gone(site: Site, state_store: StateUnderTest) -> None:
    incremental(site.root)
    assert _run(site, state_store).code == 0
    now = {code: person for code, person in STAFF.items() if code != "T203"}  # T203 leaves
    write_staff(site.root, {**now, "T202": ("Rangi", "Parata", "rangi.parata@")})  # a broken address
    broken = _run(site, state_store)
    assert (broken.code, broken.out) == (
        1,
        "demo/staff: failed: 5 read; 0 sent; 0 created, 0 updated, 0 failed; "
        "changes: 0 new, 0 changed, 4 unchanged, 1 gone; expectations met\n"
        "  left out: row 2 (staff_code=T202): email: emailAddress 'rangi.parata@' is not a well-formed "
        "email address\n"
        "  failed: 1 row failed the pre-checks and was left out; checks.max_invalid allows 0\n",
    )
    assert _synced(state_store) == ["t201", "t202", "t204", "t207", "t208"]  # Infiniti still has t202
    write_staff(site.root, now)  # the address put right again: Infiniti already has that line
    fixed = _run(site, state_store)
    assert (fixed.code, fixed.out) == (
        0,
        _ok(0, "0 created, 0 updated", "0 new, 0 changed, 5 unchanged, 0 gone", read=5),
    )


def _state_files(site: Site) -> dict[str, bytes]:
    """The files of the project's .infiniti-sync folder, but the archive and the sandbox's own."""
    folder = site.root / ".infiniti-sync"
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] not in ("runs", "sandbox")
    }


def test_a_store_is_created_by_the_first_run_at_the_current_version(
    site: Site, state_store: StateUnderTest, tmp_path: Path
) -> None:
    env = {**DEMO_ENV, **state_store.env}
    plan = site.invoke(["plan", "--spec", "staff", "--out", os.fspath(tmp_path / "out")], env)
    history = site.invoke(["history"], env)
    assert (plan.code, history.code, history.out) == (0, 0, "no runs recorded yet\n")
    assert "  changes: none accepted yet for this tenant and spec; every user is new\n" in plan.out
    assert not state_store.exists()  # plan and history read a store; they never create one
    assert _state_files(site) == {}
    assert _run(site, state_store).code == 0
    tables = state_store.tables()
    assert sorted(tables) == [
        "infiniti_sync_approvals",
        "infiniti_sync_held",
        "infiniti_sync_meta",
        "infiniti_sync_runs",
        "infiniti_sync_snapshots",
        "infiniti_sync_synced",
    ]
    assert tables["infiniti_sync_meta"] == [("schema_version", str(SCHEMA_VERSION))]


def test_plan_and_history_leave_an_empty_store_file_as_it_is(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project").parent
    store = root / ".infiniti-sync" / "state.db"
    store.parent.mkdir()
    store.touch()  # what a runner killed before it created the schema leaves
    plan = invoke(root, ["plan", "--spec", "staff", "--out", os.fspath(tmp_path / "out")])
    history = invoke(root, ["history"])
    assert (plan.code, history.code, history.out) == (0, 0, "no runs recorded yet\n")
    assert "  changes: none accepted yet for this tenant and spec; every user is new\n" in plan.out
    assert [(p.name, p.stat().st_size) for p in store.parent.iterdir()] == [("state.db", 0)]


def test_plan_shows_the_changes_and_never_writes_the_state(
    site: Site, state_store: StateUnderTest, tmp_path: Path
) -> None:
    incremental(site.root)
    assert _run(site, state_store).code == 0
    now = {**{c: p for c, p in STAFF.items() if c not in ("T203", "T204")}, "T202": MOVED}
    now.update({f"T3{i:02d}": (f"Given{i}", f"Family{i}", f"p{i}@example.edu") for i in range(7)})
    write_staff(site.root, now)
    before, files = state_store.tables(), _state_files(site)
    out = tmp_path / "out"
    env = {**DEMO_ENV, **state_store.env}

    shown = site.invoke(["plan", "--spec", "staff", "--out", os.fspath(out)], env)
    assert (shown.code, shown.err) == (0, "")
    assert shown.out == (
        "demo/staff: 8 rows in the file (11 read, 0 skipped by where, 0 left out)\n"
        f"  file: {out}/demo/staff.csv\n"
        "  preview (first 5 of 8):\n"
        "    username  library-group  system-group  emailAddress              givenName  surname  "
        "staffMember\n"
        "    t202      Staff          Staff         rangi.parata@south.exam…  Rangi      Parata   TRUE\n"
        "    t300      Staff          Staff         p0@example.edu            Given0     Family0  TRUE\n"
        "    t301      Staff          Staff         p1@example.edu            Given1     Family1  TRUE\n"
        "    t302      Staff          Staff         p2@example.edu            Given2     Family2  TRUE\n"
        "    t303      Staff          Staff         p3@example.edu            Given3     Family3  TRUE\n"
        "  changes since the last accepted run: 7 new, 1 changed, 3 unchanged, 2 gone\n"
        "    new: t300, t301, t302, t303, t304 and 2 more\n"
        "    changed: t202\n"
        "    unchanged: t201, t207, t208\n"
        "    gone: t203, t204\n"
        f"files written to {out}\n"
    )
    assert (out / "demo" / "staff.csv").read_bytes().decode() == SENT_HEADER + sent_line(
        "T202", MOVED
    ) + "".join(sent_line(f"T3{i:02d}", now[f"T3{i:02d}"]) for i in range(7))

    listed = site.invoke(["plan", "--spec", "staff", "--out", os.fspath(out), "--format", "json"], env)
    [doc] = json.loads(listed.out)["plans"]
    assert doc["changes"] == {
        "first_run": False,
        "new": 7,
        "changed": 1,
        "unchanged": 3,
        "vanished": 2,
        "examples": {
            "new": ["t300", "t301", "t302", "t303", "t304"],
            "changed": ["t202"],
            "unchanged": ["t201", "t207", "t208"],
            "vanished": ["t203", "t204"],
        },
        "lists": {
            "new": ["t300", "t301", "t302", "t303", "t304", "t305", "t306"],
            "changed": ["t202"],
            "unchanged": ["t201", "t207", "t208"],
            "vanished": ["t203", "t204"],
        },
    }
    full = site.invoke(["plan", "--spec", "staff", "--out", os.fspath(out), "--full"], env)
    assert "11 rows in the file" in full.out.splitlines()[0]
    assert (out / "demo" / "staff.csv").read_bytes().decode() == sent_csv(now)
    assert state_store.tables() == before
    assert _state_files(site) == files  # not a byte of the store changed, no lock file made
    assert site.imports() == ["200"]


# --- history ------------------------------------------------------------------------------------

HISTORY = [  # tenant, spec, minute it finished, outcome, exit code, rows sent
    ("demo", "staff", 1, "ok", 0, 6),
    ("demo", "students", 2, "held", 1, 0),
    ("north", "staff", 3, "failed", 1, 6),
    ("demo", "staff", 4, "error", 3, 0),
    ("north", "students", 5, "ok", 0, 29),
]


def _record(store: StateUnderTest) -> None:
    opened = StateStore.open(store.location, environ={})
    try:
        for tenant, spec, minute, outcome, code, sent in HISTORY:
            counts = {"processed": sent, "created": sent, "updated": 0, "failed": 0} if sent else {}
            opened.record(
                RunRecord(
                    tenant=tenant,
                    spec=spec,
                    started_at=datetime(2026, 3, 2, 2, minute, 0, tzinfo=UTC),
                    finished_at=datetime(2026, 3, 2, 2, minute, 30, tzinfo=UTC),
                    outcome=outcome,
                    exit_code=code,
                    mode="full",
                    rows_read=sent,
                    rows_sent=sent,
                    archive=f"/srv/runs/{tenant}/{spec}/{minute}",
                    message=None if outcome == "ok" else f"{outcome} at minute {minute}",
                    host="cron-1",
                    pid=1000 + minute,
                    **counts,
                )
            )
    finally:
        opened.close()


@pytest.mark.parametrize(
    ("args", "minutes"),
    [
        ([], [5, 4, 3, 2, 1]),
        (["--tenant", "north"], [5, 3]),
        (["--spec", "staff"], [4, 3, 1]),
        (["--tenant", "demo", "--spec", "staff"], [4, 1]),
        (["--tenant", "demo", "--tenant", "north", "--spec", "students"], [5, 2]),
        (["--limit", "2"], [5, 4]),
        (["--tenant", "demo", "--limit", "1"], [4]),
        (["--tenant", "south"], []),
    ],
)
def test_history_filters(
    tmp_path: Path, state_store: StateUnderTest, args: list[str], minutes: list[int]
) -> None:
    root = copy_project(tmp_path / "project").parent
    state_store.use(root / "infiniti-sync.yaml")
    _record(state_store)
    done = invoke(root, ["history", "--format", "json", *args], state_store.env)
    assert (done.code, done.err) == (0, "")
    assert json.loads(done.out) == {"runs": [_as_json(minute) for minute in minutes], "approvals": []}


def _as_json(minute: int) -> dict[str, object]:
    """The JSON `history` gives for the run of HISTORY that finished at `minute` (its id, too)."""
    tenant, spec, _, outcome, code, sent = HISTORY[minute - 1]
    return {
        "id": minute,
        "tenant": tenant,
        "spec": spec,
        "started_at": f"2026-03-02T02:0{minute}:00+00:00",
        "finished_at": f"2026-03-02T02:0{minute}:30+00:00",
        "outcome": outcome,
        "exit_code": code,
        "mode": "full",
        "rows_read": sent,
        "rows_sent": sent,
        "processed": sent or None,
        "created": sent or None,
        "updated": 0 if sent else None,
        "failed": 0 if sent else None,
        "archive": f"/srv/runs/{tenant}/{spec}/{minute}",
        "message": None if outcome == "ok" else f"{outcome} at minute {minute}",
        "host": "cron-1",
        "pid": 1000 + minute,
        "approved_by": None,
    }


def test_history_as_text(tmp_path: Path, state_store: StateUnderTest) -> None:
    root = copy_project(tmp_path / "project").parent
    state_store.use(root / "infiniti-sync.yaml")
    _record(state_store)
    done = invoke(root, ["history", "--spec", "staff", "--limit", "2"], state_store.env)
    assert (done.code, done.err) == (0, "")
    assert done.out == (
        "finished (UTC)        job          outcome         mode  sent  created  updated  failed  archive\n"
        "2026-03-02 02:04:30Z  demo/staff   error (exit 3)  full  0" + " " * 31 + "/srv/runs/demo/staff/4\n"
        "  reason: error at minute 4\n"
        "2026-03-02 02:03:30Z  north/staff  failed          full  6     6        0        0       "
        "/srv/runs/north/staff/3\n"
        "  reason: failed at minute 3\n"
    )
    refused = invoke(root, ["history", "--limit", "0"], state_store.env)
    assert (refused.code, refused.out, refused.err) == (2, "", "error: --limit must be at least 1\n")


# --- schema versions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [STAFF_RUN, ["plan", "--spec", "staff"], ["history"]],
    ids=["run", "plan", "history"],
)
def test_a_store_of_a_newer_runner_is_refused_untouched(
    tmp_path: Path, state_store: StateUnderTest, command: list[str]
) -> None:
    root = copy_project(tmp_path / "project").parent
    state_store.use(root / "infiniti-sync.yaml")
    newer = SCHEMA_VERSION + 1
    (root / ".infiniti-sync").mkdir()  # where a SQLite store lives
    engine = state_store.engine()
    try:
        with engine.begin() as conn:  # a store as a newer runner might leave it: other tables
            conn.execute(text("CREATE TABLE infiniti_sync_meta (key VARCHAR(64) PRIMARY KEY, value TEXT)"))
            conn.execute(text(f"INSERT INTO infiniti_sync_meta VALUES ('schema_version', '{newer}')"))
            conn.execute(text("CREATE TABLE infiniti_sync_jobs (tenant VARCHAR(200), spec VARCHAR(200))"))
            conn.execute(text("INSERT INTO infiniti_sync_jobs VALUES ('demo', 'staff')"))
    finally:
        engine.dispose()
    before = state_store.tables()
    out = ["--out", os.fspath(tmp_path / "out")] if command[0] == "plan" else []
    done = invoke(root, [*command, *out], {**DEMO_ENV, **state_store.env})
    shown = state_store.location
    if state_store.kind == "postgresql":
        shown = re.sub(r"^postgresql\+psycopg://", "postgresql+psycopg://", shown)
    assert (done.code, done.out, done.err) == (
        3,
        "",
        f"error: state store {shown} was written by a newer infiniti-sync (schema version {newer}; "
        f"this runner knows up to {SCHEMA_VERSION})\n"
        "  hint: upgrade infiniti-sync here; an older runner must not change a newer store\n",
    )
    assert state_store.tables() == before
    assert not (tmp_path / "out").exists()


@pytest.mark.postgres
def test_a_lock_that_cannot_be_released_leaves_the_run_recorded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL session holding the job's lock dies while the run records itself: the run stays what
    it was (ok, recorded once), and the failed release is a note, never a second record or an exit 4."""
    store = stores.open_store("postgresql", tmp_path / "project")
    running = Site.start(tmp_path / "project")
    try:
        store.use(running.project_file)
        ours = f"infiniti-sync {os.getpid()} %"

        def end_the_lock_session() -> None:
            admin = store.engine()
            try:
                with admin.connect() as conn:
                    ended = conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name LIKE :ours AND pid <> pg_backend_pid()"
                        ),
                        {"ours": ours},
                    ).all()
                assert ended == [(True,)]
            finally:
                admin.dispose()

        monkeypatch.setattr(StateStore, "before_commit", end_the_lock_session)
        done = _run(running, store, "-v")
        assert (done.code, done.err) == (0, "")
        assert done.out.startswith("demo/staff: ok: 6 read; 6 sent; 6 created")
        assert "the job's lock was not released cleanly: state store" in done.out
        runs = store.tables()["infiniti_sync_runs"]
        assert [(run[1], run[2], run[5]) for run in runs] == [("demo", "staff", "ok")]
    finally:
        running.stop()
        store.drop()


# A version 1 store as the runner made it before usernames were hashed: the synced table's old DDL.
V1_SYNCED = (
    "CREATE TABLE infiniti_sync_synced (tenant VARCHAR(200) NOT NULL, spec VARCHAR(200) NOT NULL, "
    "username VARCHAR(255) NOT NULL, fingerprint BIGINT NOT NULL, run_id INTEGER NOT NULL, "
    "PRIMARY KEY (tenant, spec, username))"
)
V1_META = "CREATE TABLE infiniti_sync_meta (key VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT NOT NULL)"


def _v1_store(store: StateUnderTest, people: dict[str, tuple[str, str, str]], *, half: bool = False) -> None:
    """A version 1 store holding `people` as accepted for demo/staff (the runs table is the same in both
    versions); `half`: as a migration killed after its ALTER TABLE leaves it, the hash of one user written."""
    engine = store.engine()
    try:
        with engine.begin() as conn:
            conn.execute(text(V1_META))
            conn.execute(text("INSERT INTO infiniti_sync_meta VALUES ('schema_version', '1')"))
            conn.execute(text(V1_SYNCED))
            runs_table.create(conn)
            for code, person in people.items():
                cells = next(csv.reader([sent_line(code, person).rstrip("\r\n")]))
                conn.execute(
                    text("INSERT INTO infiniti_sync_synced VALUES ('demo', 'staff', :u, :fp, 1)"),
                    {"u": cells[0], "fp": fingerprint(cells)},
                )
            if half:
                conn.execute(text("ALTER TABLE infiniti_sync_synced ADD COLUMN user_hash BIGINT"))
                conn.execute(
                    text("UPDATE infiniti_sync_synced SET user_hash = :h WHERE username = 't201'"),
                    {"h": user_hash("t201")},
                )
    finally:
        engine.dispose()


@pytest.mark.parametrize("half", [False, True], ids=["version-1", "half-migrated"])
def test_a_version_1_store_is_read_by_plan_and_migrated_by_run(
    site: Site, state_store: StateUnderTest, tmp_path: Path, half: bool
) -> None:
    incremental(site.root)
    (site.root / ".infiniti-sync").mkdir(exist_ok=True)
    _v1_store(state_store, STAFF, half=half)
    now = {**{c: p for c, p in STAFF.items() if c != "T203"}, "T202": MOVED, "T209": NEW}
    write_staff(site.root, now)
    before = state_store.tables()
    env = {**DEMO_ENV, **state_store.env}
    out = os.fspath(tmp_path / "out")
    plan = site.invoke(["plan", "--spec", "staff", "--format", "json", "--out", out], env)
    history = site.invoke(["history"], env)
    assert (plan.code, history.code, history.out) == (0, 0, "no runs recorded yet\n")
    assert json.loads(plan.out)["plans"][0]["changes"]["lists"] == {
        "new": ["t209"],
        "changed": ["t202"],
        "unchanged": ["t201", "t204", "t207", "t208"],
        "vanished": ["t203"],
    }
    assert state_store.tables() == before  # read-only: not migrated

    done = _run(site, state_store)
    assert (done.code, done.out) == (
        0,
        _ok(2, "2 created, 0 updated", "1 new, 1 changed, 4 unchanged, 1 gone"),
    )
    assert _last_sent(site) == SENT_HEADER + sent_line("T202", MOVED) + sent_line("T209", NEW)
    tables = state_store.tables()
    assert tables["infiniti_sync_meta"] == [("schema_version", str(SCHEMA_VERSION))]
    synced = {row[2]: row for row in tables["infiniti_sync_synced"]}
    assert sorted(synced) == ["t201", "t202", "t204", "t207", "t208", "t209"]
    assert [name for name, row in synced.items() if row[5] != user_hash(name)] == []
    again = _run(site, state_store)  # the upgraded store compares as one made at this version
    assert (again.code, again.out) == (
        0,
        _ok(0, "0 created, 0 updated", "0 new, 0 changed, 6 unchanged, 0 gone"),
    )


# --- what the store knows, at scale -------------------------------------------------------------

NAMES = ["tāne.ngata", "o'brien, jr", 'bob "bobby"', "李伟", "tab\there", "back\\slash", "new\nline", ""]


def _accepted(count: int, version: int = 0) -> list[tuple[str, int]]:
    """`count` usernames of every awkward kind, and a fingerprint for each (another per `version`)."""
    return [(f"{NAMES[i % len(NAMES)]}{i}", fingerprint([str(i), str(version)])) for i in range(count)]


def _record_users(store: StateStore, accepted: list[tuple[str, int]], forget: Sequence[str] = ()) -> None:
    started = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    store.record(RunRecord("demo", "staff", started, started, "ok", 0, "incremental"), accepted, forget)


def _synced_rows(store: StateUnderTest) -> list[tuple[object, ...]]:
    return store.tables()["infiniti_sync_synced"]


def test_postgresql_records_by_copy_exactly_what_sqlite_records(tmp_path: Path) -> None:
    kinds = {kind: stores.open_store(kind, tmp_path / kind) for kind in stores.KINDS}
    try:
        for under_test in kinds.values():
            store = StateStore.open(under_test.location, environ={})
            try:
                first = _accepted(3000)
                _record_users(store, first)
                # The second run: a third of them changed, some new, some gone; then a run accepting none.
                changed = [(u, fp) for u, fp in _accepted(1000, version=1)] + _accepted(3500)[3000:]
                _record_users(store, changed, forget=[u for u, _ in first[2000:2100]])
                _record_users(store, [])
            finally:
                store.close()
        sqlite, postgres = (_synced_rows(kinds[kind]) for kind in stores.KINDS)
    finally:
        for under_test in kinds.values():
            under_test.drop()
    assert len(sqlite) == 3400
    assert postgres == sqlite  # usernames, fingerprints, run ids and hashes alike
    assert [row for row in sqlite if row[5] != user_hash(str(row[2]))] == []
    assert sorted(str(row[2]) for row in sqlite) == sorted(
        {u for u, _ in _accepted(3500)} - {u for u, _ in first[2000:2100]}
    )


@pytest.mark.parametrize("unseen", [3, 2500], ids=["asked-by-fingerprint", "every-name-read"])
def test_the_users_a_file_no_longer_has_are_named(
    state_store: StateUnderTest, tmp_path: Path, unseen: int
) -> None:
    (tmp_path / "project" / ".infiniti-sync").mkdir(parents=True)
    accepted = _accepted(6000)
    store = StateStore.open(state_store.location, environ={})
    try:
        _record_users(store, accepted)
        known = store.known("demo", "staff")
        assert len(known) == len(accepted)
        gone = sorted(u for u, _ in accepted[:unseen])
        for _username, fp in accepted[unseen:]:
            assert known.unchanged(fp)
        assert not known.unchanged(fingerprint(["not", "known"]))
        assert known.unseen() == gone
    finally:
        store.close()


def test_comparing_holds_no_python_object_per_known_user(tmp_path: Path) -> None:
    """What the state knows costs 17 bytes a user (two 64-bit arrays and a flag), and classifying the lines
    as the planner writes them 4 more (the source row of each unchanged line, not written), not the 250
    and more a dict of usernames takes; the lines stream. Memory is counted, time never is."""
    users = 200_000
    store = StateStore.open(os.fspath(tmp_path / "state.db"), environ={})
    header = ("username", "library-group", "system-group", "emailAddress")
    lines = [(f"user{i:06d}", "Staff", "Staff", f"user{i}@example.edu") for i in range(users)]
    path = tmp_path / "staff.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([header, *lines])
    try:
        _record_users(store, [(line[0], fingerprint(line)) for line in lines[10:]])
        first = lines[0]
        del lines
        tracemalloc.start()
        try:
            classifier = Classifier(store.known("demo", "staff"), username=0, incremental=True)
            assert classifier.line is not None
            records = read_records(path)
            next(records)
            written = sum(classifier.line(n, record) for n, record in enumerate(records, 2))
            changes = classifier.finish([], set(), [], [first], written, path=path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        store.close()
    assert (changes.new, changes.unchanged, changes.vanished, written) == (10, users - 10, 0, 10)
    # 21 bytes a known user (about 4.8 MB measured, with the rows read at a time); through a dict of
    # the usernames (Known.of(store.synced(...))) the same comparison peaks at about 56 MB.
    assert peak < users * 24 + 1_000_000, peak
