"""An export init does not recognise: the queries guessed from the column names, and a `<CHOOSE: ...>`
(runner/choices.py) wherever a guess is not good enough, for `validate` to report until it is made.

Names are compared in lower case without spaces or punctuation (`First Name` is `firstname`). Students and
staff come from tables named so (students.csv, staff.csv), or from the one table that has the most of the
columns wanted, told apart by a role column's values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from runner.choices import marker
from runner.init.export import Export, distinct
from runner.init.layouts import STAFF_COLUMNS, STUDENT_COLUMNS
from runner.records import record

# What each column of the queries is called in exports, as compared (see _key).
NAMES: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "code", "sisid", "sourcedid", "studentid", "studentcode", "staffid", "staffcode",
           "personid", "studentnumber", "staffnumber", "identifier", "number"),
    "username": ("username", "user", "login", "loginname", "logon", "account", "upn", "userprincipalname"),
    "given_name": ("givenname", "firstname", "first", "forename", "given", "fname"),
    "preferred_name": ("preferredname", "preferredgivenname", "prefferedgivenname", "preferredfirstname",
                       "knownas", "nickname"),
    "family_name": ("familyname", "lastname", "surname", "last", "family", "lname"),
    "email": ("email", "emailaddress", "mail", "schoolemail", "workemail"),
    "year_level": ("yearlevel", "year", "yeargroup", "grade", "gradelevel", "grades", "yr"),
    "role": ("role", "roles", "type", "usertype", "persontype", "category", "kind"),
    "status": ("status", "enrolmentstatus", "enrollmentstatus", "state"),
}  # fmt: skip
_OPTIONAL = {"preferred_name": "''", "email": "''"}
_STUDENT_TABLES = ("students", "student", "pupils", "pupil", "learners")
_STAFF_TABLES = ("staff", "teachers", "teacher", "employees", "employee")
_STUDENT_ROLES = ("student", "students", "pupil", "learner")
_CURRENT = ("active", "current", "enrolled", "enroled")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _find(columns: Sequence[str], what: str) -> str | None:
    """The column of `columns` that holds `what`, by its name."""
    keys = {_key(c): c for c in columns}
    return next((keys[n] for n in NAMES[what] if n in keys), None)


@record
class Guess:
    """The two queries for an export of no known layout, and notes on what was guessed."""

    students: str
    staff: str
    notes: tuple[str, ...]


def guess(export: Export) -> Guess:
    """The queries for `export`, choices marked where the names say too little."""
    tables = export.tables
    students_table = _named(tables, _STUDENT_TABLES)
    staff_table = _named(tables, _STAFF_TABLES)
    if students_table and staff_table:
        return Guess(
            _query(export, students_table, STUDENT_COLUMNS, _current(export, students_table)),
            _query(export, staff_table, STAFF_COLUMNS, _current(export, staff_table)),
            (f"students come from {students_table}, staff from {staff_table}, by the tables' names.",),
        )
    table = max(tables, key=lambda name: sum(_find(tables[name], w) is not None for w in NAMES))
    students, staff = _split(export, table)
    current = _current(export, table)
    notes = [f"students and staff both come from {table}, the table with the most of the columns wanted."]
    if len(tables) > 1:
        notes.append(f"the export's other tables: {', '.join(t for t in tables if t != table)}.")
    return Guess(
        _query(export, table, STUDENT_COLUMNS, " AND ".join(c for c in (students, current) if c)),
        _query(export, table, STAFF_COLUMNS, " AND ".join(c for c in (staff, current) if c)),
        tuple(notes),
    )


def _named(tables: Iterable[str], names: Sequence[str]) -> str | None:
    return next((t for t in tables if _key(t) in names), None)


def _split(export: Export, table: str) -> tuple[str, str]:
    """The conditions that keep the students' and the staff's rows of `table`."""
    role = _find(export.tables[table], "role")
    if role is None:
        columns = ", ".join(export.tables[table])
        return "", marker(
            f"the condition that keeps the staff's rows of {table} (its columns: {columns}), for example "
            "Kind = 'Staff'; if the export holds no staff, delete specs/staff.yaml and take staff out of "
            "the tenant's specs"
        )
    values = sorted(distinct(export, table, role))
    students = [v for v in values if v.lower() in _STUDENT_ROLES]
    column = export.quote(role)
    if not students:
        found = ", ".join(values) or "none"
        what = f"the value of {role} that marks a student (the values found: {found})"
        return f"{column} = '{marker(what)}'", f"{column} <> '{marker(what)}'"
    listed = ", ".join(_literal(v) for v in students)
    return f"{column} IN ({listed})", f"{column} NOT IN ({listed})"


def _current(export: Export, table: str) -> str:
    """A condition that keeps only the current rows of `table`, when a status column says which."""
    status = _find(export.tables[table], "status")
    if status is None:
        return ""
    values = [v for v in distinct(export, table, status) if v.lower() in _CURRENT]
    if not values:
        return ""
    return f"{export.quote(status)} IN ({', '.join(_literal(v) for v in sorted(values))})"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _query(export: Export, table: str, wanted: Sequence[str], condition: str) -> str:
    """SELECT the `wanted` columns (each guessed, or a choice) FROM `table`."""
    columns = export.tables[table]
    listed = ", ".join(columns)
    found = {w: _find(columns, w) for w in NAMES}
    if found["username"] is None and found["id"] is not None:
        found["username"] = found["id"]
    if found["id"] is None and found["username"] is not None:
        found["id"] = found["username"]
    lines = []
    for name in wanted:
        column = found[name]
        if column is not None:
            expression = export.quote(column)
        elif name in _OPTIONAL:
            expression = _OPTIONAL[name]
        elif name == "role":
            expression = "'Staff'"
        else:
            expression = marker(f"the column of {table} that holds the {_WHAT[name]} (one of: {listed})")
        lines.append(f"  {expression}" if expression == name else f"  {expression} AS {name}")
    sql = "SELECT\n" + ",\n".join(lines) + f"\nFROM {export.quote(table)}\n"
    if condition:
        sql += f"WHERE {condition}\n"
    order = found["id"]
    return sql + (f"ORDER BY {export.quote(order)}\n" if order else "")


_WHAT = {
    "id": "row's identity",
    "username": "Infiniti username",
    "given_name": "first (given) name",
    "family_name": "family name (surname)",
    "year_level": "year level (grade)",
}
