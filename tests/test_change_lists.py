"""Every username of each kind of change (new, changed, unchanged, gone), as `plan --format json` lists
them, is derived after planning from what planning keeps anyway (the file, the pending lines, the known
users' arrays and the store's names), so planning is the same whatever is reported.

Whatever is known, in full or incremental mode and with each duplicates policy, the lists are those a
plan that knows nothing makes plain: each line of its file (the same lines, the duplicate check being
the same) is unchanged when its fingerprint is known, else changed when its username is known, else new,
in the file's order; the known users no row names are gone, sorted. For the contacts import the same
holds user by user (a user's set of lines against its record's fingerprint).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import contract
from runner.changes import EXAMPLES, KINDS, Changes, Known, fingerprint, record_fingerprint
from runner.csvfile import read_records
from runner.plan import Planned, build
from runner.report.plan import plans_json
from runner.source import StaticRows
from runner.spec import Duplicates, SourceSpec, Spec
from runner.state import RunRecord, StateStore, now
from tests.support import stores
from tests.support.project import DEMO_ENV, Site
from tests.support.roster import MOVED, NEW, STAFF, incremental, write_staff
from tests.support.specs import groups_line, groups_spec, make_tenant
from tests.support.stores import StateUnderTest

state_store = stores.state_store_fixture
site = stores.site_fixture

GROUPS = ("Year 7", "Year 8")
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ROWS = st.lists(st.tuples(st.sampled_from("abcdefgh"), st.sampled_from(GROUPS)), min_size=1, max_size=14)
KNOWN = st.lists(st.tuples(st.sampled_from("abcdefghij"), st.sampled_from(GROUPS)), max_size=8)


def _data(planned: Planned) -> list[list[str]]:
    return list(read_records(planned.path))[1:]


def _expected(lines: Sequence[Sequence[str]], known: dict[str, int], named: set[str]) -> dict[str, list[str]]:
    """The lists of a file's `lines` (one a user's line, or a user's set) against `known`, plainly."""
    prints = set(known.values())
    kinds: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for line in lines:
        user = line[0]
        kind = "unchanged" if fingerprint(line) in prints else "changed" if user in known else "new"
        kinds[kind].append(user)
    kinds["vanished"] = sorted(set(known) - named)
    return kinds


def _agrees(changes: Changes | None, expected: dict[str, list[str]]) -> None:
    """The lists, their counts, their examples and the JSON all say `expected`."""
    assert changes is not None
    lists = changes.lists()
    assert lists == expected
    assert [getattr(changes, kind) for kind in KINDS] == [len(expected[kind]) for kind in KINDS]
    assert changes.examples == {kind: names[:EXAMPLES] for kind, names in expected.items()}
    assert changes.to_json(lists=True)["lists"] == expected
    assert "lists" not in changes.to_json()


@SETTINGS
@given(rows=ROWS, known=KNOWN, policy=st.sampled_from(["error", "first", "last"]), incremental=st.booleans())
def test_the_lists_are_those_of_the_file_whatever_is_known(
    tmp_path: Path,
    rows: list[tuple[str, str]],
    known: list[tuple[str, str]],
    policy: Duplicates,
    incremental: bool,
) -> None:
    spec, source = groups_spec(policy), [{"u": u, "g": g} for u, g in rows]
    first = build(spec, make_tenant(), StaticRows(source), tmp_path / "first.csv", known=Known.of({}))
    _agrees(
        first.changes,
        {"new": [line[0] for line in _data(first)], "changed": [], "unchanged": [], "vanished": []},
    )
    accepted = {u: fingerprint(groups_line(u, g)) for u, g in known}
    compared = Known.of(accepted)  # the plan's changes refer to it weakly: kept here, as plan keeps it
    planned = build(
        spec,
        make_tenant(),
        StaticRows(source),
        tmp_path / "again.csv",
        known=compared,
        incremental=incremental,
    )
    _agrees(planned.changes, _expected(_data(first), accepted, {u for u, _ in rows}))


def test_more_unchanged_duplicates_than_examples_kept_still_show_the_first_unchanged(tmp_path: Path) -> None:
    # the planner keeps the first unchanged lines for examples; when the duplicate check drops most of
    # them, the examples are looked for among every unchanged line, as the full list has them
    rows = [(u, "Year 7") for u in "abcdefghijklmnopqrstuvwxyz" for _ in (1, 2)] + [("z2", "Year 7")]
    known = Known.of({u: fingerprint(groups_line(u, g)) for u, g in rows})
    spec, source = groups_spec("error"), StaticRows([{"u": u, "g": g} for u, g in rows])
    for skip in (False, True):
        planned = build(spec, make_tenant(), source, tmp_path / "f.csv", known=known, incremental=skip)
        assert planned.changes is not None
        assert planned.changes.examples["unchanged"] == ["z2"] == planned.changes.lists()["unchanged"]
        known.seen[:] = bytes(len(known))


def test_a_planned_result_does_not_keep_the_known_users(tmp_path: Path) -> None:
    # a run keeps every job's result to the end: its changes refer to the known users (and what naming
    # the unchanged ones needs, 4 bytes a known user) weakly, so that they go with the job
    rows = [("a", "Year 7"), ("b", "Year 8"), ("c", "Year 7")]
    for spec, skip in ((groups_spec("error"), True), (CONTACTS, False)):
        source = (
            [{"u": u, "g": g} for u, g in rows]
            if spec is not CONTACTS
            else [_contact(u, "a@example.net") for u, _ in rows]
        )
        lines = _data(
            build(spec, make_tenant(), StaticRows(source), tmp_path / "first.csv", known=Known.of({}))
        )
        prints = {
            line[0]: record_fingerprint([line]) if spec is CONTACTS else fingerprint(line) for line in lines
        }
        known = Known.of(prints)
        planned = build(
            spec, make_tenant(), StaticRows(source), tmp_path / "f.csv", known=known, incremental=skip
        )
        assert planned.changes is not None and list(planned.changes.names("unchanged")) == ["a", "b", "c"]
        gone = weakref.ref(known)
        del known
        gc.collect()
        assert gone() is None
        with pytest.raises(LookupError, match="the users a plan was compared with are gone"):
            list(planned.changes.names("unchanged"))
        assert list(planned.changes.names("vanished")) == []  # what the result holds itself still names


def _record(store: StateStore, accepted: list[tuple[str, int]]) -> None:
    at = now()
    store.record(RunRecord("demo", "staff", at, at, "ok", 0, "incremental"), accepted)


def test_a_state_store_names_the_unchanged_users_left_out_of_the_file(tmp_path: Path) -> None:
    # in incremental mode the unchanged lines are not written: their names come from the store, in the
    # order of the source rows, whatever order the store keeps them in
    rows = [(f"u{i:03d}", GROUPS[i % 2]) for i in range(300, 0, -1)]
    accepted = [(u, fingerprint(groups_line(u, g))) for u, g in rows[:250]] + [
        ("left", fingerprint(groups_line("left", "X")))
    ]
    moved = {u for u, _ in rows[:250:7]}
    source = StaticRows([{"u": u, "g": GROUPS[g == GROUPS[0]] if u in moved else g} for u, g in rows])
    store = StateStore.open(os.fspath(tmp_path / "state.db"), environ={})
    try:
        _record(store, accepted)
        known = store.known("demo", "staff")  # kept while its users are named, as plan keeps it
        planned = build(
            groups_spec("error"),
            make_tenant(),
            source,
            tmp_path / "f.csv",
            known=known,
            incremental=True,
        )
        changes = planned.changes
        assert changes is not None
        assert changes.lists() == {
            "new": [u for u, _ in rows[250:]],
            "changed": [u for u, _ in rows[:250] if u in moved],
            "unchanged": [u for u, _ in rows[:250] if u not in moved],
            "vanished": ["left"],
        }
        assert [line[0] for line in _data(planned)] == changes.lists()["changed"] + changes.lists()["new"]
    finally:
        store.close()


CONTACTS = Spec(
    name="contacts",
    path=Path("specs/contacts.yaml"),
    source=SourceSpec(connection="db", query="SELECT * FROM contacts"),
    columns=tuple((name, f"{{{{ row.{name} }}}}") for name in contract.CONTACT_COLUMNS),
    import_name="userContacts",
)
CONTACT = st.tuples(
    st.sampled_from("abcdef"), st.sampled_from(["a@example.net", "b@example.net", "c@example.net"])
)


def _contact(username: str, address: str) -> dict[str, str]:
    base = {"username": username, "type": "email", "role": "guardian", "primary": "TRUE", "addressee": "A"}
    return {**base, "contact": address, "sms": "FALSE", "scenarios": "ANY"}


@SETTINGS
@given(
    rows=st.lists(CONTACT, min_size=1, max_size=12),
    known=st.dictionaries(
        st.sampled_from("abcdefgh"),
        st.lists(CONTACT.map(lambda c: c[1]), min_size=1, max_size=3, unique=True),
        max_size=6,
    ),
    incremental=st.booleans(),
)
def test_the_lists_of_a_contacts_import_are_those_of_its_users(
    tmp_path: Path, rows: list[tuple[str, str]], known: dict[str, list[str]], incremental: bool
) -> None:
    source = [_contact(u, a) for u, a in rows]
    header = contract.CONTACT_COLUMNS
    first = build(CONTACTS, make_tenant(), StaticRows(source), tmp_path / "first.csv", known=Known.of({}))
    accepted = {
        user: record_fingerprint([[_contact(user, a)[c] for c in header] for a in addresses])
        for user, addresses in known.items()
    }
    compared = Known.of(accepted)
    planned = build(
        CONTACTS,
        make_tenant(),
        StaticRows(source),
        tmp_path / "again.csv",
        known=compared,
        incremental=incremental,
    )
    sets: dict[str, list[list[str]]] = {}
    for line in _data(first):
        sets.setdefault(line[0], []).append(line)
    prints = set(accepted.values())
    expected: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for user, lines in sets.items():
        kind = (
            "unchanged" if record_fingerprint(lines) in prints else "changed" if user in accepted else "new"
        )
        expected[kind].append(user)
    expected["vanished"] = sorted(set(accepted) - {u for u, _ in rows})
    _agrees(planned.changes, expected)


def test_plan_json_lists_every_user_from_the_state_store(site: Site, state_store: StateUnderTest) -> None:
    """Through the command, on each kind of store: `plan --format json` names every user of each kind,
    the unchanged ones (left out of the file in incremental mode) by the store's names, the same in full
    mode (read from the file); plain `plan` plans the same file."""
    env = {**DEMO_ENV, **state_store.env}
    assert site.invoke(["run", "--tenant", "demo", "--spec", "staff"], env).code == 0
    incremental(site.root)
    write_staff(site.root, {**{c: p for c, p in STAFF.items() if c != "T208"}, "T202": MOVED, "T209": NEW})
    expected = {
        "new": ["t209"],
        "changed": ["t202"],
        "unchanged": ["t201", "t203", "t204", "t207"],
        "vanished": ["t208"],
    }
    files = {}
    for mode in ([], ["--full"]):
        for fmt in ("json", "text"):
            out = site.root / f"plan-{fmt}{''.join(mode)}"
            done = site.invoke(
                ["plan", "--spec", "staff", "--out", os.fspath(out), *mode, "--format", fmt], env
            )
            assert done.code == 0, done.err
            files[(fmt, *mode)] = (out / "demo" / "staff.csv").read_bytes()
            if fmt == "json":
                [planned] = json.loads(done.out)["plans"]
                assert planned["changes"]["lists"] == expected
            else:
                assert (
                    "changes since the last accepted run: 1 new, 1 changed, 4 unchanged, 1 gone" in done.out
                )
    assert files[("json",)] == files[("text",)] != files[("json", "--full")] == files[("text", "--full")]


@settings(max_examples=200, deadline=None)
@given(
    lists=st.fixed_dictionaries({kind: st.lists(st.text(), max_size=4) for kind in KINDS}),
    holds=st.lists(st.text(), max_size=2),
    plans=st.integers(1, 3),
)
def test_the_json_report_writes_the_lists_as_json_dumps_would(
    lists: dict[str, list[str]], holds: list[str], plans: int
) -> None:
    # the report writes each list in place of a mark, as its names stream: the text is json.dumps's
    every = {kind: functools.partial(iter, names) for kind, names in lists.items()}
    new, changed, unchanged, vanished = (len(lists[kind]) for kind in KINDS)
    changes = Changes(False, new, changed, unchanged, vanished, every=every)
    results = [
        Planned(f"t{i}", "staff", Path("out") / f"t{i}.csv", ("username",), holds=holds, changes=changes)
        for i in range(plans)
    ]
    doc = {"out": "out", "plans": [p.to_json(lists=True) for p in results]}
    assert plans_json(results, Path("out")) == json.dumps(doc, indent=2, ensure_ascii=False)


def test_a_run_lets_go_of_what_would_name_its_unchanged_users_once_planned(
    site: Site, state_store: StateUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run names no users in full: the unchanged users' rows (an int a known user) go as soon as the
    file is planned, before the record updates the snapshot, not with the job (memory at the peak)."""
    env = {**DEMO_ENV, **state_store.env}
    assert site.invoke(["run", "--tenant", "demo", "--spec", "staff"], env).code == 0
    incremental(site.root)
    write_staff(site.root, {**STAFF, "T202": MOVED})
    seen: list[tuple[Known, bool]] = []  # each job's known users, and whether rows were there to record
    known, record = StateStore.known, StateStore.record

    def remembered(self: StateStore, *args: Any, **kwargs: Any) -> Known:
        seen.append((users := known(self, *args, **kwargs), False))
        return users

    def recording(self: StateStore, *args: Any, **kwargs: Any) -> Any:
        seen[-1] = (seen[-1][0], seen[-1][0].unchanged_rows is not None)
        return record(self, *args, **kwargs)

    monkeypatch.setattr(StateStore, "known", remembered)
    monkeypatch.setattr(StateStore, "record", recording)
    done = site.invoke(["run", "--tenant", "demo", "--spec", "staff"], env)
    assert done.code == 0, done.err
    assert "1 changed, 5 unchanged" in done.out
    assert [(len(users), kept) for users, kept in seen] == [(6, False)]
