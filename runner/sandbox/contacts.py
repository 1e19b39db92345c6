"""The userContacts import, `POST /api/import/userContacts/<mode>`: patrons' and guardians' contacts.

Known from a public script only (runner.contract): the path, the mode replaceDeclaredPatronsKeepCustomContacts
and the columns. Everything else here is the sandbox's own choice, until Concord says otherwise:

- the one mode known is the one served; another gets HTTP 400 and changes nothing;
- a file is read as a userGroups file is (UTF-8 CSV, header names matched without regard to case, a
  missing or unknown column refuses the whole file), with the contacts columns;
- each line follows the import's rules (runner.contract.contact_problems, the runner's pre-checks too);
  a line for a username the tenant does not hold fails, and so does a second line of a user with the
  same type and contact;
- the contacts of each patron named in the file are replaced by the patron's lines, as a whole: if any of
  a patron's lines fails, none of them is applied and the patron keeps the contacts it had; contacts
  library staff added by hand (the config's `contacts`) are never touched;
- the answer has the userGroups answer's shape (`success`, `summary`, `details` only when a line failed),
  counting lines: "2 contacts processed. 1 contact created. 1 contact updated. 0 contacts failed.", then
  how many imported contacts the replacement removed; a line's outcome is "Contact Created" (its type and
  contact are new to the patron), "Contact Updated", or a failure worded as the contract words one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import IO

from runner import contract
from runner.imports import CONTACTS
from runner.sandbox.answer import Reply, reject
from runner.sandbox.config import TenantConfig
from runner.sandbox.multipart import boundary, first_file
from runner.sandbox.store import ContactChanges, Contacts, Record, Store, Users
from runner.sandbox.userimport import CsvFile, file_of, read_csv

NONE_IMPORTED = "No contacts imported."
_FIELDS = tuple(c for c in contract.CONTACT_COLUMNS if c != "username")


def run_contacts_import(
    store: Store, tenant: str, body: IO[bytes], content_type: str | None, mode: str
) -> Reply:
    """Import the first file of the multipart `body` as `tenant`'s contacts in `mode`."""
    if mode not in contract.CONTACTS_MODES:
        named = f"Unknown contacts mode ({mode})" if mode else "The path names no contacts mode"
        known = ", ".join(contract.CONTACTS_MODES)
        raise reject(
            400, f"{named}: the sandbox knows POST /api/import/userContacts/{known}. {NONE_IMPORTED}"
        )
    part = first_file(body, boundary(content_type))
    csv_file = read_csv(file_of(body, part), CONTACTS, NONE_IMPORTED)
    return store.apply_contacts(tenant, partial(evaluate, csv_file))


def evaluate(csv_file: CsvFile, users: Users, contacts: Contacts) -> tuple[Reply, ContactChanges]:
    """Each line's outcome, the answer, and the new contacts of every patron whose lines all passed."""
    outcomes: list[str | None] = []  # None: the line passes (its outcome is known once its patron's is)
    rows: list[Record | None] = []
    seen: dict[tuple[str, ...], int] = {}
    width = len(csv_file.columns)
    for number, cells in enumerate(csv_file.rows, 1):
        row: Record | None = dict(zip(csv_file.columns, cells, strict=True)) if len(cells) == width else None
        rows.append(row)
        problem = contract.wrong_cell_count(len(cells), width) if row is None else None
        outcomes.append(problem or _problem(row, users, seen, number))
    patrons: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if row is not None:
            patrons.setdefault(row["username"], []).append(i)
    changes: ContactChanges = {}
    removed = 0
    for username, lines in patrons.items():
        failed = next((i for i in lines if outcomes[i] is not None), None)
        if failed is not None:
            for i in lines:
                if outcomes[i] is None:
                    outcomes[i] = _with_failed_line(username, failed + 1)
            continue
        before = {_key(c) for c in contacts.get(username, ())}
        now = [_contact(rows[i]) for i in lines]
        for i, contact in zip(lines, now, strict=True):
            outcomes[i] = contract.CONTACT_UPDATED if _key(contact) in before else contract.CONTACT_CREATED
        removed += len(before - {_key(c) for c in now})
        changes[username] = now
    return answer([o or "" for o in outcomes], removed), changes


def _problem(row: Record | None, users: Users, seen: dict[tuple[str, ...], int], number: int) -> str | None:
    """Why line `number` fails on its own (its outcome), or None (a line of the wrong width has none here)."""
    if row is None:
        return None
    problems = contract.contact_problems(row)
    if problems:
        return contract.contact_failure(problems[0])
    if row["username"] not in users:
        return contract.row_failure(f"Patron ({row['username']}) does not exist.")
    key = tuple(row.get(column, "") for column in CONTACTS.key)  # one line per (username, type, contact)
    if key in seen:
        return contract.row_failure(
            f"Contact ({row['type']} {row['contact']}) of patron ({row['username']}) is already on line "
            f"{seen[key]}."
        )
    seen[key] = number
    return None


def _with_failed_line(username: str, line: int) -> str:
    return contract.row_failure(
        f"Line {line} of patron ({username}) failed: none of the patron's contacts were replaced."
    )


def _contact(row: Record | None) -> Record:
    """A line as the store keeps a contact: its non-empty fields but the username, in column order."""
    assert row is not None
    return {field: row[field] for field in _FIELDS if row.get(field)}


def _key(contact: Mapping[str, str]) -> tuple[str, str]:
    return contact.get("type", ""), contact.get("contact", "")


def answer(outcomes: Sequence[str], removed: int) -> Reply:
    """The answer for these line outcomes, in the userGroups answer's shape (the sandbox's wording)."""
    created = outcomes.count(contract.CONTACT_CREATED)
    updated = outcomes.count(contract.CONTACT_UPDATED)
    failed = len(outcomes) - created - updated
    gone = f"{removed} contact" if removed == 1 else f"{removed} contacts"
    body: dict[str, object] = {
        "success": failed == 0,
        "summary": f"{contract.summary(len(outcomes), created, updated, failed, 'contact')} {gone} removed.",
    }
    if failed:
        body["details"] = {str(number): outcome for number, outcome in enumerate(outcomes, 1)}
    return Reply(200, body)


def listing(config: TenantConfig, contacts: Contacts) -> list[dict[str, object]]:
    """Every contact of a tenant, by username, as `GET /api/sandbox/contacts` shows them: the imported
    ones in the order of the last file, then those added by hand (`custom: true`)."""
    names = sorted(set(contacts) | set(config.contacts))
    return [
        {"username": name, **contact, "custom": custom}
        for name in names
        for contact, custom in [
            *((c, False) for c in contacts.get(name, ())),
            *((c, True) for c in config.contacts.get(name, ())),
        ]
    ]
