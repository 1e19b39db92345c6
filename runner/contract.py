"""What Concord's autoSync document fixes: columns, field spellings, the answer's wording.

The runner's pre-checks and the sandbox both read these, so the two sides apply one rule.
Source: the contract document (infiniti-autosync-user-groups.txt) and, where it is silent, Concord's other
public pages and scripts (spellings such as emailAddress, booleans written TRUE/FALSE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
BAD_EMAIL = (
    "Field (emailAddress) is not a well-formed email address. User failed to import: "
    "Field (emailAddress) is not a well-formed email address. "
)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
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
    return len(text) <= 254 and _EMAIL.match(text) is not None


def is_boolean(text: str) -> bool:
    """Whether `text` is one of Infiniti's boolean spellings."""
    return text in ("TRUE", "FALSE")


def _users(n: int) -> str:
    return f"{n} user" if n == 1 else f"{n} users"


def summary(processed: int, created: int, updated: int, failed: int) -> str:
    """The summary sentence of an answer, worded as the contract shows it."""
    return (
        f"{_users(processed)} processed. {_users(created)} created. "
        f"{_users(updated)} updated. {_users(failed)} failed."
    )


@dataclass(frozen=True)
class Counts:
    """The counts an answer's summary states; None where the wording could not be read."""

    processed: int | None = None
    created: int | None = None
    updated: int | None = None
    failed: int | None = None


_COUNT = re.compile(r"(\d+)\s+users?\s+(processed|created|updated|failed)\b", re.IGNORECASE)


def parse_summary(text: str) -> Counts:
    """Read the counts of a summary sentence; counts whose wording is unknown stay None."""
    found: dict[str, int] = {}
    for number, word in _COUNT.findall(text):
        found.setdefault(word.lower(), int(number))
    return Counts(**found)
