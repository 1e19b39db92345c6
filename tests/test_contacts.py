"""The patron contacts import (userContacts): the runner and the sandbox judge a line by one rule; a user's
record is its whole set of lines, so incremental mode sends all of a user's lines or none; a user is
recorded as synced only when every one of its lines was accepted; the spec's three ways of naming an
import; the sandbox keeps imported contacts across a restart and never touches those added by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner import contract
from runner.answer import Answer
from runner.changes import Known, record_fingerprint
from runner.client import Endpoint
from runner.contract import Counts
from runner.plan import Planned, build
from runner.precheck import LineChecks
from runner.project import build_spec
from runner.run import _accepted
from runner.sandbox import Sandbox
from runner.sandbox.contacts import evaluate
from runner.sandbox.userimport import CsvFile
from runner.source import StaticRows
from runner.spec import Checks, SourceSpec, Spec
from runner.yamlfile import loads
from tests.support.sandbox import CONTACTS_IMPORT, Client
from tests.support.specs import make_tenant

HEADER = contract.CONTACT_COLUMNS
COLUMNS = tuple((name, f"{{{{ row.{name} }}}}") for name in HEADER)


def _spec(checks: Checks | None = None) -> Spec:
    return Spec(
        name="contacts",
        path=Path("specs/contacts.yaml"),
        source=SourceSpec(connection="db", query="SELECT * FROM contacts"),
        columns=COLUMNS,
        import_name="userContacts",
        checks=checks or Checks(),
    )


def _row(username: str, contact: str, **cells: str) -> dict[str, str]:
    kind = "email" if "@" in contact else "phone"
    base = {"username": username, "type": kind, "role": "guardian", "primary": "TRUE", "addressee": "A"}
    return {**base, "contact": contact, "sms": "FALSE", "scenarios": "ANY", **cells}


LINES = [
    _row("s1", "a@example.net"),
    _row("s1", "(M1) 021 555 0100"),
    _row("s1", "021 555 0100", primary="", sms="", scenarios=""),
    _row("s1", "a@example.net", type="fax"),
    _row("s1", "a@example.net", role="parent"),
    _row("s1", "a@example.net", primary="True"),
    _row("s1", "a@example.net", sms="no"),
    _row("s1", "a@example.net", scenarios="ANY;OVERDUE"),
    _row("s1", "a@example.net", scenarios="OVERDUE;"),
    _row("s1", "a@example.net", scenarios="overdue"),
    _row("s1", "a@"),
    _row("s1", "(H)"),
    _row("s1", "", type="phone"),
    _row("s1", "a@example.net", role=""),
    _row("s1", "a@example.net", type=""),
]


@pytest.mark.parametrize("line", LINES, ids=lambda line: ",".join(line.values()))
def test_the_runner_and_the_sandbox_judge_a_line_alike(line: dict[str, str]) -> None:
    runner_says = LineChecks(_spec()).problems([line[c] for c in HEADER])
    csv_file = CsvFile(HEADER, [[line[c] for c in HEADER]])
    reply, _ = evaluate(csv_file, {"s1": {"username": "s1"}}, {})
    assert isinstance(reply.body, dict)
    outcome = reply.body.get("details", {}).get("1", contract.CONTACT_CREATED)
    assert bool(runner_says) == (outcome != contract.CONTACT_CREATED), (runner_says, outcome)
    fast = LineChecks(_spec()).fast({})
    assert fast([line[c] for c in HEADER]) == (not runner_says)


def test_a_users_fingerprint_is_its_set_of_lines_in_any_order() -> None:
    a, b = ("s1", "email", "a@x.net"), ("s1", "phone", "021")
    assert record_fingerprint([a, b]) == record_fingerprint([b, a])
    assert record_fingerprint([a, b]) != record_fingerprint([a])
    assert record_fingerprint([("s1", "a", "b")]) != record_fingerprint([("s1", "ab", "")])


def _plan(tmp_path: Path, rows: list[dict[str, str]], known: Known | None, **options: Any) -> Planned:
    return build(_spec(), make_tenant(), StaticRows(rows), tmp_path / "contacts.csv", known=known, **options)


def _known(planned: Planned) -> Known:
    """What the state knows once Infiniti accepted every line of `planned`."""
    assert planned.changes is not None and planned.changes.pending is not None
    return Known.of({user: fp for _, user, fp in planned.changes.pending})


def _users_in(planned: Planned) -> list[str]:
    return [line.split(",")[0] for line in planned.path.read_text(encoding="utf-8").splitlines()[1:]]


S1 = [_row("s1", "a@example.net"), _row("s1", "(M1) 021 555 0100")]
S2 = [_row("s2", "b@example.net"), _row("s2", "(H) 09 555 0200")]


def test_incremental_sends_every_line_of_a_changed_user_and_none_of_an_unchanged_one(tmp_path: Path) -> None:
    first = _plan(tmp_path, S1 + S2, Known.of({}), incremental=True)
    assert first.changes is not None and first.changes.first_run and first.changes.new == 2
    known = _known(first)
    assert len(known) == 2  # one fingerprint a user, not a line

    again = _plan(tmp_path, list(reversed(S2 + S1)), known, incremental=True)  # another order: no change
    assert (again.rows_out, _users_in(again)) == (0, [])
    assert again.changes is not None and (again.changes.unchanged, again.changes.changed) == (2, 0)

    moved = [S1[0], _row("s1", "(M1) 021 555 0199")]  # one of s1's lines changed
    known = _known(first)
    changed = _plan(tmp_path, moved + S2, known, incremental=True)
    assert _users_in(changed) == ["s1", "s1"]
    assert changed.changes is not None
    assert (changed.changes.new, changed.changes.changed, changed.changes.unchanged) == (0, 1, 1)
    assert {user for _, user, _ in changed.changes.pending or ()} == {"s1"}

    known = _known(first)
    shrunk = _plan(tmp_path, S1[:1] + S2, known, incremental=True)  # a contact gone is a change too
    assert _users_in(shrunk) == ["s1"]

    known = _known(first)
    gone = _plan(tmp_path, S1, known, incremental=True)
    assert gone.changes is not None and gone.changes.gone == ["s2"] and gone.rows_out == 0


def test_full_mode_sends_every_line_and_compares_users(tmp_path: Path) -> None:
    first = _plan(tmp_path, S1 + S2, Known.of({}))
    planned = _plan(tmp_path, [S1[0], _row("s1", "c@example.net"), *S2], _known(first))
    assert planned.rows_out == 4
    assert planned.changes is not None and (planned.changes.changed, planned.changes.unchanged) == (1, 1)
    assert [line for line, _, _ in planned.changes.pending or ()] == [1, 2]  # s1's lines, in the file


def test_a_user_with_a_line_left_out_is_left_out_whole_and_is_not_gone(tmp_path: Path) -> None:
    first = _plan(tmp_path, S1 + S2, Known.of({}))
    broken = [S1[0], _row("s1", "(M1)")]
    planned = _plan(tmp_path, broken + S2, _known(first), incremental=True)
    assert _users_in(planned) == []  # s2 is unchanged; s1's good line is not sent alone
    assert [(f.row, f.check) for f in planned.findings] == [(1, "user"), (2, "phone")]
    assert planned.findings[0].message == (
        "left out because row 2 of username 's1' failed a pre-check, and userContacts replaces a user's "
        "lines as a whole"
    )
    assert planned.changes is not None and planned.changes.gone == []


def test_duplicates_are_judged_per_username_type_and_contact(tmp_path: Path) -> None:
    rows = [S1[0], _row("s1", "a@example.net", role="patron"), _row("s2", "a@example.net")]
    planned = _plan(tmp_path, rows, None, incremental=False)
    assert [(f.row, f.check) for f in planned.findings] == [(1, "duplicate"), (2, "duplicate")]
    assert planned.findings[0].message == (
        "username 's1', type 'email', contact 'a@example.net' is on 2 rows: 1, 2"
    )
    assert _users_in(planned) == ["s2"]
    last = build(
        _spec(Checks(duplicates="last")), make_tenant(), StaticRows(rows), tmp_path / "c.csv", known=None
    )
    assert [line.split(",")[2] for line in last.path.read_text("utf-8").splitlines()[1:]] == [
        "patron",
        "guardian",
    ]


def test_a_user_is_recorded_only_when_every_one_of_its_lines_was_accepted(tmp_path: Path) -> None:
    planned = _plan(tmp_path, S1 + S2, Known.of({}))
    failed = contract.row_failure("Field (contact) is not a phone number: it has no digit.")
    details = {1: contract.CONTACT_CREATED, 2: failed, 3: contract.CONTACT_CREATED, 4: "Contact Updated"}
    answer = Answer(False, "4 contacts processed.", Counts(4, 2, 1, 1), details)
    recorded = list(_accepted([(answer, 4)], planned))
    assert [user for user, _ in recorded] == ["s2"]  # s1 is sent again, whole, next time


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("", "userGroups"),
        ("import: userGroups\n", "userGroups"),
        ("import: userContacts\n", "userContacts/replaceDeclaredPatronsKeepCustomContacts"),
        ("import: {name: userContacts}\n", "userContacts/replaceDeclaredPatronsKeepCustomContacts"),
        ("import: {name: userContacts, mode: addOnly}\nmode: incremental\n", "userContacts/addOnly"),
    ],
)
def test_a_spec_names_its_import_and_the_contacts_mode_apart_from_its_own_mode(raw: str, path: str) -> None:
    text = (
        "version: 1\nsource: {connection: db, query: SELECT 1}\n"
        "columns: {username: x, library-group: Staff, system-group: Staff}\n"
        "groups: {library: [Staff], system: [Staff]}\n" + raw
    )
    spec = build_spec(loads(text, Path("specs/x.yaml")), "x")
    assert spec.import_path == path
    assert spec.mode == ("incremental" if "incremental" in raw else "full")
    endpoint = Endpoint(url="https://school.concordinfiniti.com", username="autosync", password="pw")
    assert endpoint.address(spec.import_path) == f"https://school.concordinfiniti.com/api/import/{path}"


def test_the_sandbox_keeps_imported_contacts_across_a_restart_and_never_touches_hand_added_ones(
    tmp_path: Path,
) -> None:
    groups = "username,library-group,system-group\ns1003,Year 7,Students\n"
    lines = "username,type,role,contact\ns1003,email,guardian,lan@example.net\n"
    with Sandbox(data_dir=tmp_path) as sandbox:
        client = Client(sandbox.url, sandbox.ca_file)
        assert client.post_csv(groups).status == 200
        assert client.post_csv(lines, path=CONTACTS_IMPORT).json()["success"] is True
    with Sandbox(data_dir=tmp_path) as sandbox:
        held = [(c["contact"], c["custom"]) for c in sandbox.contacts("demo")]
        assert held == [("lan@example.net", False), ("(B) 09 555 0142", True)]
        client = Client(sandbox.url, sandbox.ca_file)
        assert client.post_csv(lines.replace("lan@", "lan.n@"), path=CONTACTS_IMPORT).status == 200
        held = [(c["contact"], c["custom"]) for c in sandbox.contacts("demo")]
        assert held == [("lan.n@example.net", False), ("(B) 09 555 0142", True)]
