"""Approving a held run (`infiniti-sync approve`), in a SQLite file and in the machine's PostgreSQL: a run
max_change holds, approved, is sent by the next plain run, which uses the approval up; a larger change is
held again; an expired approval does not apply; `plan` and `history` say so.

Each test runs the example project's staff spec (incremental, max_change 50%) against a sandbox process.
"""

from __future__ import annotations

import json
import re
import socket

from tests.support import stores
from tests.support.project import DEMO_ENV, Done, Site
from tests.support.roster import STAFF, incremental, write_staff
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
site = stores.site_fixture
JOB = ["--tenant", "demo", "--spec", "staff"]
HOST = socket.gethostname()


def _guarded(site: Site) -> None:
    """The staff spec incremental, holding a change of more than half its users."""
    incremental(site.root)
    spec = site.root / "specs" / "staff.yaml"
    text = spec.read_text(encoding="utf-8").replace("  min_rows: 1\n", "  min_rows: 1\n  max_change: 50%\n")
    spec.write_text(text, encoding="utf-8")


def _do(site: Site, store: StateUnderTest, *args: str) -> Done:
    done = site.invoke(list(args), {**DEMO_ENV, **store.env, "LOGNAME": "alice"})
    return Done(done.code, _plain(site, done.out), _plain(site, done.err))


def _plain(site: Site, text: str) -> str:
    text = site.normalise(text).replace(f"alice@{HOST}", "alice@HOST")
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "TIME", text)


def _only(site: Site, *codes: str) -> None:
    write_staff(site.root, {code: STAFF[code] for code in codes})


def test_an_approved_change_is_sent_once(site: Site, state_store: StateUnderTest) -> None:
    _guarded(site)
    assert _do(site, state_store, "run", *JOB).code == 0
    _only(site, "T201")
    held = _do(site, state_store, "run", *JOB)
    print(held)
    approved = _do(site, state_store, "approve", *JOB)
    print(approved)
    _only(site, "T201", "T202")
    plan = _do(site, state_store, "plan", "--spec", "staff")
    print(plan)
    sent = _do(site, state_store, "run", *JOB)
    print(sent)
    write_staff(site.root, STAFF)
    again = _do(site, state_store, "run", *JOB)
    print(again)
    print(_do(site, state_store, "history"))
    print(json.loads(_do(site, state_store, "history", "--format", "json").out))
    assert 0
