"""The exports `init` recognises, one description each: the tables and columns that tell it, and the
queries that give the students and the staff.

Every query returns the same columns (STUDENT_COLUMNS, STAFF_COLUMNS), named after what they hold, so that
the specs' templates, lookups and tests are one for every layout: only the query knows the export. A query
is a `string.Template`: `$name` is a column the layout picks from those the export has (Pick), written
quoted, or its fallback when none is there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from string import Template

from runner.records import record

STUDENT_COLUMNS = ("id", "username", "given_name", "preferred_name", "family_name", "email", "year_level")
STAFF_COLUMNS = ("id", "username", "given_name", "preferred_name", "family_name", "email", "role")
NOT_STAFF = "'student', 'parent', 'guardian', 'relative'"  # OneRoster's and SDS's roles that are not staff


@record
class Pick:
    """A column of `table` known by more than one name: the first of `names` the export has, as
    `alias."name"` in the query, else `fallback` (an SQL expression). `notes` say why, by name chosen."""

    table: str
    names: tuple[str, ...]
    alias: str = ""
    fallback: str | None = None
    notes: Mapping[str, str] = field(default_factory=dict)


@record
class Layout:
    """One kind of export: what tells it (tables with these columns, none of `without`, the OneRoster
    version its manifest.csv gives) and the two queries."""

    name: str
    title: str
    tables: Mapping[str, tuple[str, ...]]
    students: str
    staff: str
    without: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    manifest: str | None = None
    picks: Mapping[str, Pick] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def matches(self, found: Mapping[str, Sequence[str]], manifest: str | None) -> bool:
        """Whether an export with the tables `found` (name -> columns) and `manifest` is this layout."""
        if manifest is not None and self.manifest is not None and manifest != self.manifest:
            return False
        tables = {name.lower(): {c.lower() for c in columns} for name, columns in found.items()}
        for table, columns in self.tables.items():
            if table.lower() not in tables or not {c.lower() for c in columns} <= tables[table.lower()]:
                return False
        return not any(
            {c.lower() for c in columns} & tables.get(table.lower(), set())
            for table, columns in self.without.items()
        )

    def queries(self, found: Mapping[str, Sequence[str]]) -> tuple[str, str, list[str]]:
        """The students' and the staff's queries for an export with the tables `found`, and the notes on
        the columns picked."""
        values: dict[str, str] = {}
        notes = list(self.notes)
        for key, pick in self.picks.items():
            have = {c.lower(): c for c in _columns(found, pick.table)}
            name = next((have[n.lower()] for n in pick.names if n.lower() in have), None)
            if name is None:
                assert pick.fallback is not None, f"{self.name}: {key} has no fallback"
                values[key] = pick.fallback
                continue
            values[key] = f"{pick.alias}.{quote(name)}" if pick.alias else quote(name)
            if name in pick.notes:
                notes.append(pick.notes[name])
        students = Template(self.students).substitute(values)
        staff = Template(self.staff).substitute(values)
        return students, staff, notes


def _columns(found: Mapping[str, Sequence[str]], table: str) -> Sequence[str]:
    return next((columns for name, columns in found.items() if name.lower() == table.lower()), ())


def quote(name: str) -> str:
    """`name` as an SQL identifier: bare when it is a plain word, else in double quotes."""
    if name.isidentifier() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'


_PREFERRED_NOTE = (
    "OneRoster 1.2's CSV binding names the preferred first name prefferedGivenName (sic, two f's and one "
    "r), as this export does; the query reads it under that name and calls it preferred_name."
)
_ONEROSTER_USER = """\
  u.sourcedId AS id,
  u.username,
  u.givenName AS given_name,
  $preferred AS preferred_name,
  u.familyName AS family_name,
  u.email,
"""
_ONEROSTER_ACTIVE = """\
WHERE coalesce(u.status, '') <> 'tobedeleted'
  AND lower(coalesce(u.enabledUser, '')) <> 'false'
"""

ONEROSTER_11 = Layout(
    name="oneroster-1.1",
    title="a OneRoster 1.1 bundle",
    tables={"users": ("sourcedId", "role", "username", "givenName", "familyName", "grades", "enabledUser")},
    manifest="1.1",
    students=f"""\
SELECT
{_ONEROSTER_USER.replace("u.", "").replace("$preferred", "''")}  grades AS year_level
FROM users
{_ONEROSTER_ACTIVE.replace("u.", "")}  AND role = 'student'
ORDER BY sourcedId
""",
    staff=f"""\
SELECT
{_ONEROSTER_USER.replace("u.", "").replace("$preferred", "''")}  role
FROM users
{_ONEROSTER_ACTIVE.replace("u.", "")}  AND lower(role) NOT IN ({NOT_STAFF})
ORDER BY sourcedId
""",
    notes=("OneRoster 1.1 gives each user one role, in users.csv; 1.1 has no preferred name.",),
)

ONEROSTER_12 = Layout(
    name="oneroster-1.2",
    title="a OneRoster 1.2 bundle",
    tables={
        "users": ("sourcedId", "username", "givenName", "familyName", "grades", "enabledUser"),
        "roles": ("userSourcedId", "roleType", "role"),
    },
    without={"users": ("role",)},
    manifest="1.2",
    picks={
        "preferred": Pick(
            "users",
            ("prefferedGivenName", "preferredGivenName"),
            alias="u",
            fallback="''",
            notes={"prefferedGivenName": _PREFERRED_NOTE},
        )
    },
    students=f"""\
SELECT
{_ONEROSTER_USER}  u.grades AS year_level
FROM users AS u
JOIN (
  SELECT userSourcedId FROM roles
  WHERE roleType = 'primary' AND role = 'student' AND coalesce(status, '') <> 'tobedeleted'
  GROUP BY userSourcedId
) AS r ON r.userSourcedId = u.sourcedId
{_ONEROSTER_ACTIVE}ORDER BY u.sourcedId
""",
    staff=f"""\
SELECT
{_ONEROSTER_USER}  r.role
FROM users AS u
JOIN (
  SELECT userSourcedId, min(role) AS role FROM roles
  WHERE roleType = 'primary' AND lower(role) NOT IN ({NOT_STAFF})
    AND coalesce(status, '') <> 'tobedeleted'
  GROUP BY userSourcedId
) AS r ON r.userSourcedId = u.sourcedId
{_ONEROSTER_ACTIVE}ORDER BY u.sourcedId
""",
    notes=(
        "OneRoster 1.2 keeps roles in roles.csv, one per user and organisation: a user counts by their "
        "primary roles.",
    ),
)

_SDS_V2_USER = """\
  u.sourcedId AS id,
  u.username,
  u.givenName AS given_name,
  '' AS preferred_name,
  u.familyName AS family_name,
  $email AS email,
"""

SDS_V21 = Layout(
    name="sds-v2.1",
    title="a School Data Sync v2.1 export",
    tables={
        "users": ("sourcedId", "username", "givenName", "familyName"),
        "roles": ("userSourcedId", "role", "grade"),
    },
    without={"users": ("enabledUser", "role"), "roles": ("roleType",)},
    picks={"email": Pick("users", ("email",), alias="u", fallback="''")},
    students=f"""\
SELECT
{_SDS_V2_USER}  r.grade AS year_level
FROM users AS u
JOIN (
  SELECT userSourcedId, min(grade) AS grade FROM roles
  WHERE lower(role) = 'student'
  GROUP BY userSourcedId
) AS r ON r.userSourcedId = u.sourcedId
ORDER BY u.sourcedId
""",
    staff=f"""\
SELECT
{_SDS_V2_USER}  r.role
FROM users AS u
JOIN (
  SELECT userSourcedId, min(role) AS role FROM roles
  WHERE lower(role) NOT IN ({NOT_STAFF})
  GROUP BY userSourcedId
) AS r ON r.userSourcedId = u.sourcedId
ORDER BY u.sourcedId
""",
    notes=("School Data Sync v2.1 keeps roles (and the student's grade) in roles.csv, per organisation.",),
)

SDS_V2 = Layout(
    name="sds-v2",
    title="a School Data Sync v2 export",
    tables={"users": ("sourcedId", "username", "givenName", "familyName", "role", "grade")},
    without={"users": ("enabledUser",)},
    picks={"email": Pick("users", ("email",), alias="u", fallback="''")},
    students=f"""\
SELECT
{_SDS_V2_USER}  u.grade AS year_level
FROM users AS u
WHERE lower(u.role) = 'student'
ORDER BY u.sourcedId
""",
    staff=f"""\
SELECT
{_SDS_V2_USER}  u.role
FROM users AS u
WHERE lower(u.role) NOT IN ({NOT_STAFF})
ORDER BY u.sourcedId
""",
    notes=("School Data Sync v2 gives each user one role and grade, in users.csv.",),
)

_SDS_V1_PERSON = """\
  $id AS id,
  Username AS username,
  "First Name" AS given_name,
  '' AS preferred_name,
  "Last Name" AS family_name,
  "Secondary Email" AS email,
"""
_SDS_V1_ID = ("SIS ID", "ID")  # the UK format names the SIS ID column ID

SDS_V1 = Layout(
    name="sds-v1",
    title="a School Data Sync v1 export",
    tables={
        "Student": ("First Name", "Last Name", "Username", "Grade", "Secondary Email"),
        "Teacher": ("First Name", "Last Name", "Username", "Secondary Email"),
    },
    picks={
        "id": Pick("Student", _SDS_V1_ID),
        "teacher_id": Pick("Teacher", _SDS_V1_ID),
        "status": Pick("Student", ("Status",), fallback="''"),
        "teacher_status": Pick("Teacher", ("Status",), fallback="''"),
    },
    students=f"""\
SELECT
{_SDS_V1_PERSON}  Grade AS year_level
FROM Student
WHERE lower(coalesce($status, '')) <> 'inactive'
ORDER BY $id
""",
    staff=f"""\
SELECT
{_SDS_V1_PERSON.replace("$id", "$teacher_id")}  'Teacher' AS role
FROM Teacher
WHERE lower(coalesce($teacher_status, '')) <> 'inactive'
ORDER BY $teacher_id
""",
    notes=(
        "School Data Sync v1 keeps students in Student.csv and teachers in Teacher.csv; the UK format "
        "names the SIS ID column ID.",
    ),
)

# In the order they are tried: the first that matches is the export's layout.
LAYOUTS: tuple[Layout, ...] = (ONEROSTER_12, ONEROSTER_11, SDS_V21, SDS_V2, SDS_V1)


def recognise(found: Mapping[str, Sequence[str]], manifest: str | None) -> Layout | None:
    """The layout of an export with the tables `found` (name -> columns), or None."""
    return next((layout for layout in LAYOUTS if layout.matches(found, manifest)), None)
