"""What Concord's autoSync document fixes: columns, field spellings, the answer's wording.

The runner's pre-checks and the sandbox both read these, so the two sides apply one rule.
Source: the contract document (infiniti-autosync-user-groups.txt) and, where it is silent, Concord's other
public pages and scripts (spellings such as emailAddress, booleans written TRUE/FALSE).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from runner.records import record

REQUIRED_COLUMNS = ("username", "library-group", "system-group")
USER_FIELDS = (
    *REQUIRED_COLUMNS,
    "emailAddress",
    "givenName",
    "surname",
    "middleName",
    "preferredName",
    "enabled",
    "staffMember",
    "graduationYear",
    "libraryBarcode",
    "adminSystemId",
    "gender",
    "formClass",
)
BOOLEAN_FIELDS = ("enabled", "staffMember")
EMAIL_FIELD = "emailAddress"
_CANONICAL = {name.lower(): name for name in USER_FIELDS}

UNAUTHORISED = "Unauthorised. Check credentials."
USER_CREATED = "User Created"
USER_UPDATED = "User Updated"
CONTACT_CREATED = "Contact Created"  # the sandbox's wording: nothing public shows the contacts answer
CONTACT_UPDATED = "Contact Updated"
BAD_EMAIL = (
    "Field (emailAddress) is not a well-formed email address. User failed to import: "
    "Field (emailAddress) is not a well-formed email address. "
)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A well-formed email address (is_email), for the planner's compiled check too, with its longest.
MAX_EMAIL = 254
EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)@" + rf"{_LABEL}(?:\.{_LABEL})+$"
)


def row_failure(reason: str) -> str:
    """A failed row's outcome in the contract's shape: reason, "User failed to import: ", reason again.

    `row_failure("Field (emailAddress) is not a well-formed email address.") == BAD_EMAIL`.
    """
    return f"{reason} User failed to import: {reason} "


def empty_field(field: str) -> str:
    """The outcome of a row whose required `field` is blank (the sandbox's wording)."""
    return row_failure(f"Field ({field}) is empty.")


def undefined_library_group(name: str) -> str:
    """The outcome of a row naming a library group the tenant does not define (the sandbox's wording)."""
    return row_failure(f"Library group ({name}) is not defined.")


def undefined_system_group(name: str) -> str:
    """The outcome of a row naming a system group the tenant does not define (the sandbox's wording)."""
    return row_failure(f"System group ({name}) is not defined.")


def not_boolean(field: str) -> str:
    """The outcome of a row whose boolean `field` is neither TRUE nor FALSE (the sandbox's wording)."""
    return row_failure(f"Field ({field}) is not TRUE or FALSE.")


def wrong_cell_count(cells: int, columns: int) -> str:
    """The outcome of a row with more or fewer cells than the header has columns (the sandbox's wording)."""
    return row_failure(f"Row has {cells} fields but the header has {columns}.")


def canonical_field(name: str) -> str | None:
    """The contract's spelling of a column name, matched without regard to case; None if unknown."""
    return _CANONICAL.get(name.lower())


def is_email(text: str) -> bool:
    """Whether `text` is a well-formed email address (ASCII, local@domain.tld, at most 254 characters)."""
    return len(text) <= MAX_EMAIL and EMAIL.match(text) is not None


def is_boolean(text: str) -> bool:
    """Whether `text` is one of Infiniti's boolean spellings."""
    return text in ("TRUE", "FALSE")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary(processed: int, created: int, updated: int, failed: int, noun: str = "user") -> str:
    """The summary sentence of an answer, worded as the contract shows it (the contacts import's
    answer, with `noun` contact, is worded so by the sandbox)."""
    return (
        f"{_count(processed, noun)} processed. {_count(created, noun)} created. "
        f"{_count(updated, noun)} updated. {_count(failed, noun)} failed."
    )


@record
class Counts:
    """The counts an answer's summary states; None where the wording could not be read."""

    processed: int | None = None
    created: int | None = None
    updated: int | None = None
    failed: int | None = None


# "3 users processed", and the sandbox's "3 contacts processed" for the contacts import
_COUNT = re.compile(r"(\d+)\s+(?:users?|contacts?)\s+(processed|created|updated|failed)\b", re.IGNORECASE)


def parse_summary(text: str) -> Counts:
    """Read the counts of a summary sentence; counts whose wording is unknown stay None."""
    found: dict[str, int] = {}
    for number, word in _COUNT.findall(text):
        found.setdefault(word.lower(), int(number))
    return Counts(**found)


# --- The patron contacts import (userContacts) --------------------------------------------------------
# Known only from a public script that syncs a school's SMS into Infiniti (the facts page, "Other autoSync
# endpoints"): the path, the one mode below, the columns and their values. Nothing public shows its answer;
# the sandbox answers in the userGroups shape, with wording of its own (runner/sandbox/contacts.py).

CONTACTS_MODE = "replaceDeclaredPatronsKeepCustomContacts"  # the one mode seen: see CONTACTS_MODES
CONTACTS_MODES = (CONTACTS_MODE,)
CONTACT_COLUMNS = ("username", "type", "role", "primary", "addressee", "contact", "sms", "scenarios")
CONTACT_REQUIRED = ("username", "type", "role", "contact")
CONTACT_TYPES = ("email", "phone")
CONTACT_ROLES = ("patron", "guardian")
CONTACT_BOOLEANS = ("primary", "sms")
SCENARIO_WORDS = ("ANY", "NONE")  # alone in the cell
SCENARIOS_SEEN = (  # the scenario names the public script sends; others may exist
    "OVERDUE",
    "OVERDUE_ESCALATION_ONE",
    "OVERDUE_ESCALATION_TWO",
    "OVERDUE_ESCALATION_THREE",
)
_SCENARIO = re.compile(r"[A-Z][A-Z0-9_]*")
_PHONE_LABEL = re.compile(r"^\s*\([A-Za-z0-9]{1,4}\)")  # (H), (B), (M1): a label the script writes first


@record
class ContactProblem:
    """A rule of the contacts import that a line breaks: the field, the check's name, and what the field
    must be (`expected`, worded to follow "is not"); empty `value`: the field is empty."""

    check: str
    field: str
    value: str
    expected: str


def scenarios_problem(text: str) -> str | None:
    """What a scenarios cell must be, worded to follow "is not", when it is not (None: fine): ANY, NONE,
    or a `;`-separated list of upper-case names (any such name: the list of scenarios is not public)."""
    if text in SCENARIO_WORDS:
        return None
    names = text.split(";")
    if any(name in SCENARIO_WORDS for name in names):
        return "ANY, NONE or a ;-separated list of scenarios (ANY and NONE stand alone)"
    if not all(_SCENARIO.fullmatch(name) for name in names):
        return (
            "ANY, NONE or a ;-separated list of upper-case scenario names such as "
            "OVERDUE;OVERDUE_ESCALATION_ONE"
        )
    return None


def contact_cell_problem(field: str, value: str) -> ContactProblem | None:
    """The rule of one cell that holds on its own (type, role, the booleans, scenarios), or None."""
    if not value:
        return None
    if field == "type" and value not in CONTACT_TYPES:
        return ContactProblem("type", field, value, "email or phone")
    if field == "role" and value not in CONTACT_ROLES:
        return ContactProblem("role", field, value, "patron or guardian")
    if field in CONTACT_BOOLEANS and not is_boolean(value):
        return ContactProblem("boolean", field, value, "TRUE or FALSE")
    if field == "scenarios" and (said := scenarios_problem(value)) is not None:
        return ContactProblem("scenarios", field, value, said)
    return None


def contact_problems(row: Mapping[str, str]) -> list[ContactProblem]:
    """Every rule of the contacts import that a line (field -> cell; absent optional fields are empty)
    breaks, in column order: required fields, each cell's own rule, then the contact against its type
    (an email a well-formed address, a phone a number after any label such as (H))."""
    found = [
        ContactProblem("required", f, "", "empty") for f in CONTACT_REQUIRED if not row.get(f, "").strip()
    ]
    required = {p.field for p in found}
    for field in CONTACT_COLUMNS:
        if field not in required and (problem := contact_cell_problem(field, row.get(field, ""))) is not None:
            found.append(problem)
    contact, kind = row.get("contact", ""), row.get("type", "")
    if "contact" not in required:
        if kind == "email" and not is_email(contact):
            found.append(ContactProblem("email", "contact", contact, "a well-formed email address"))
        elif kind == "phone" and not any(c.isdigit() for c in _PHONE_LABEL.sub("", contact)):
            found.append(ContactProblem("phone", "contact", contact, "a phone number: it has no digit"))
    return found


def contact_failure(problem: ContactProblem) -> str:
    """The outcome of a contacts line that breaks `problem` (the sandbox's wording)."""
    if problem.check == "required":
        return empty_field(problem.field)
    return row_failure(f"Field ({problem.field}) is not {problem.expected}.")
