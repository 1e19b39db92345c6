"""The autoSync imports a spec can choose, as data: the one path through the runner reads these.

    userGroups    POST /api/import/userGroups            one line per user (the contract document)
    userContacts  POST /api/import/userContacts/<mode>   several lines per user (a public script)

Each says its path, its columns (and which are required), what makes a line unique (the duplicate
check's key), and what a user's record is: one line, or every line of the user, fingerprinted together
(changes are then judged per user, and a changed user is sent whole).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from runner import contract
from runner.records import record

# (check, message) for each rule a line breaks, given the line as field -> cell
LineRules = Callable[[Mapping[str, str]], list[tuple[str, str]]]


@record
class Import:
    """One autoSync import: where it is posted, the file it takes, and how its lines make a user's record."""

    name: str
    columns: tuple[str, ...]  # the columns it knows, in the contract's spelling
    required: tuple[str, ...]
    key: tuple[str, ...]  # a line is a duplicate of another with the same cells here
    whole_user: bool = False  # a user's record is all of its lines (else: its one line)
    modes: tuple[str, ...] = ()  # the modes known for the path's last segment; () : the path has none
    emails: tuple[str, ...] = ()  # columns the common pre-checks hold to a well-formed address
    booleans: tuple[str, ...] = ()  # columns the common pre-checks hold to TRUE or FALSE
    rules: LineRules | None = None  # the rules of a line beyond the runner's common pre-checks

    @property
    def default_mode(self) -> str | None:
        """The mode used when the spec names none (None: the path has no mode)."""
        return self.modes[0] if self.modes else None

    def path(self, mode: str | None) -> str:
        """The path after /api/import/: the name, then the mode when the import has one."""
        return self.name if mode is None else f"{self.name}/{mode}"

    def canonical(self, column: str) -> str | None:
        """The import's spelling of a column name (case ignored), or None when it does not know it."""
        return next((c for c in self.columns if c.lower() == column.lower()), None)


def _contact_rules(row: Mapping[str, str]) -> list[tuple[str, str]]:
    """The contacts import's rules (runner.contract, shared with the sandbox) as pre-check findings."""
    found = []
    for problem in contract.contact_problems(row):
        if problem.field == "username":  # the common pre-checks say so already
            continue
        if problem.check == "required":
            found.append((problem.check, f"{problem.field} is empty"))
        else:
            found.append((problem.check, f"{problem.field} {problem.value!r} is not {problem.expected}"))
    return found


GROUPS = Import(
    name="userGroups",
    columns=contract.USER_FIELDS,
    required=contract.REQUIRED_COLUMNS,
    key=("username",),
    emails=(contract.EMAIL_FIELD,),
    booleans=contract.BOOLEAN_FIELDS,
)
CONTACTS = Import(
    name="userContacts",
    columns=contract.CONTACT_COLUMNS,
    required=contract.CONTACT_REQUIRED,
    key=("username", "type", "contact"),
    whole_user=True,
    modes=contract.CONTACTS_MODES,
    rules=_contact_rules,
)
IMPORTS: Mapping[str, Import] = {i.name: i for i in (GROUPS, CONTACTS)}
