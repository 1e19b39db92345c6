"""The example project's staff, as the tests of state and incremental runs change them.

    write_staff(root, {**STAFF, "T209": NEW})      # sms-export/staff.csv with these current staff
    sent_csv(STAFF)                                 # the import file of those staff, byte for byte
    incremental(root)                               # the staff spec in mode: incremental

Every person written is current staff of the North campus, so every one is a line of the staff spec's file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SOURCE_HEADER = "staff_code,title,given_name,family_name,email,role,status,campus\n"
SENT_HEADER = "username,library-group,system-group,emailAddress,givenName,surname,staffMember\r\n"

Person = tuple[str, str, str]  # given name, family name, email

STAFF: dict[str, Person] = {  # the example's current North staff
    "T201": ("Helen", "Carter", "helen.carter@example.edu"),
    "T202": ("Rangi", "Parata", "rangi.parata@example.edu"),
    "T203": ("Mei", "Chen", "mei.chen@example.edu"),
    "T204": ("Siobhán", "O'Brien", "siobhan.obrien@example.edu"),
    "T207": ("Tūhoe", "Rewi", "tuhoe.rewi@example.edu"),
    "T208": ("Kavya", "Iyer", "kavya.iyer@example.edu"),
}
NEW: Person = ("Aria", "Walker", "aria.walker@example.edu")  # T209, a new teacher
MOVED: Person = ("Rangi", "Parata", "rangi.parata@south.example.edu")  # T202, a new address


def write_staff(root: Path, people: Mapping[str, Person], roles: Mapping[str, str] | None = None) -> None:
    """The project's staff export, holding `people` (code -> person) as current North staff."""
    roles = roles or {}
    lines = [
        f"{code},Mx,{given},{family},{email},{roles.get(code, 'Teacher')},Current,North\n"
        for code, (given, family, email) in people.items()
    ]
    (root / "sms-export" / "staff.csv").write_text(SOURCE_HEADER + "".join(lines), encoding="utf-8")


def sent_line(code: str, person: Person, group: str = "Staff") -> str:
    """The line of the import file for one person."""
    given, family, email = person
    return f"{code.lower()},{group},Staff,{email},{given},{family},TRUE\r\n"


def sent_csv(people: Mapping[str, Person]) -> str:
    """The import file of `people`, in the file's order (by staff code)."""
    return SENT_HEADER + "".join(sent_line(code, people[code]) for code in sorted(people))


def user(code: str, person: Person, group: str = "Staff") -> dict[str, str]:
    """What the sandbox holds for one person."""
    given, family, email = person
    return {
        "username": code.lower(),
        "library-group": group,
        "system-group": "Staff",
        "emailAddress": email,
        "givenName": given,
        "surname": family,
        "staffMember": "TRUE",
    }


def users(people: Mapping[str, Person]) -> list[dict[str, str]]:
    """What the sandbox holds for `people`, sorted by username."""
    return [user(code, people[code]) for code in sorted(people)]


def incremental(root: Path) -> None:
    """Put the project's staff spec in incremental mode."""
    spec = root / "specs" / "staff.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "mode: incremental\n", encoding="utf-8")
