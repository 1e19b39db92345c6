"""One approval, two real runner processes wanting it, in a SQLite file and in the machine's PostgreSQL:
exactly one run uses it, even when the second finds the very change approved; an `approve` meanwhile is
refused and records nothing.

The interleaving is forced, never timed: the first run is paused inside its state transaction (it has sent
the approved change, its record marking the approval used is not committed, it holds the job's lock;
tests/support/paused.py), and the second is started only then and let on once it has found the lock held
(tests/support/queued.py says so). What each did is read back from the state and the sandbox's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support import stores
from tests.support.project import DEMO_ENV, Site
from tests.support.roster import STAFF, write_staff
from tests.support.stores import StateUnderTest
from tests.test_approve import HOST, JOB, _do, _guarded, _hold
from tests.test_state_processes import REPOSITORY, _finish, _wait_for, children

state_store = stores.state_store_fixture
site = stores.site_fixture
__all__ = ["children"]  # the fixture, used by name


def _runner(
    started: list[subprocess.Popen[str]],
    site: Site,
    store: StateUnderTest,
    module: str,
    marker: Path,
    *args: str,
) -> subprocess.Popen[str]:
    """`python -m MODULE MARKER ARGS --project ROOT` (a runner with a test's hook) as alice, as a child."""
    path = os.pathsep.join(p for p in (os.fspath(REPOSITORY), os.environ.get("PYTHONPATH")) if p)
    env: Mapping[str, str] = {**os.environ, **DEMO_ENV, **store.env, "LOGNAME": "alice", "PYTHONPATH": path}
    process = subprocess.Popen(
        [sys.executable, "-m", module, os.fspath(marker), *args, "--project", os.fspath(site.root)],
        cwd=site.root,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
    )
    started.append(process)
    return process


RELIEF = {  # relief staff: their line names a Relief group the sandbox's tenant lacks, so Infiniti fails it
    f"T21{n}": (given, "Relief", f"{given.lower()}.relief@example.edu")
    for n, given in enumerate(["Ana", "Ben", "Cai", "Dee"], 1)
}


def _relief_fails(site: Site) -> None:
    """The staff spec gives relief staff the Relief library group, which the sandbox's tenant lacks."""
    spec = site.root / "specs" / "staff.yaml"
    relief = "  library-group: \"{{ 'Relief' if row.role == 'Relief' else 'Staff' }}\"\n"
    text = spec.read_text(encoding="utf-8").replace("  library-group: Staff\n", relief)
    spec.write_text(text.replace("  library: [Staff]\n", "  library: [Staff, Relief]\n"), encoding="utf-8")


def test_two_runs_after_one_approval_use_it_once(
    site: Site, state_store: StateUnderTest, children: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    """The approved change is sent and Infiniti fails its rows: they are still new to the state, so the
    second run finds the very change approved. It must not send it again: the approval is used up."""
    _guarded(site)
    _relief_fails(site)
    assert _do(site, state_store, "run", *JOB).code == 0
    write_staff(site.root, {**STAFF, **RELIEF}, roles=dict.fromkeys(RELIEF, "Relief"))  # 4 new of 6: held
    assert _do(site, state_store, "run", *JOB).code == 1
    assert _do(site, state_store, "approve", *JOB).code == 0
    paused, queued = tmp_path / "recording", tmp_path / "queued"

    first = _runner(children, site, state_store, "tests.support.paused", paused, "run", *JOB)
    _wait_for(paused.exists, first, "its state transaction")  # sent; the approval not yet marked used
    assert site.imports() == ["200", "200"]
    second = _runner(children, site, state_store, "tests.support.queued", queued, "run", *JOB, "--wait", "60")
    _wait_for(queued.exists, second, "the lock the first run holds")
    approving = _do(site, state_store, "approve", *JOB)  # approve racing the run: the lock says no
    assert approving.code == 3
    assert approving.err.startswith("error: tenant demo, spec staff: another run holds this tenant and spec")
    paused.unlink()  # the first run commits, and lets go of the lock

    sent, again = _finish(first), _finish(second)
    assert (sent.code, sent.err) == (1, "")
    assert sent.out.startswith("demo/staff: failed: 10 read; 4 sent; 0 created, 0 updated, 4 failed; ")
    assert f"  sent despite a hold (approved by alice@{HOST}): {_hold(0, new=4)}\n" in sent.out
    assert (again.code, again.err) == (1, "")  # the same change, the approval used: held, none named
    assert again.out == (
        "demo/staff: held: 10 read; nothing sent; changes: 4 new, 0 changed, 6 unchanged, 0 gone\n"
        f"  held: {_hold(0, new=4)}\n"
    )
    assert site.imports() == ["200", "200"]  # the second sent nothing
    history = json.loads(site.invoke(["history", "--format", "json"], {**DEMO_ENV, **state_store.env}).out)
    runs, [approval] = history["runs"], history["approvals"]
    assert [(r["outcome"], r["approved_by"]) for r in runs] == [
        ("held", None),
        ("failed", f"alice@{HOST}"),
        ("held", None),
        ("ok", None),
    ]
    assert (approval["status"], approval["used_by_run"]) == ("used", runs[1]["id"])
