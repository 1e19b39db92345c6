"""A starting project for an export: the project file, the two specs, the sandbox config, and the files
every project has (write.common_files), as text by relative path.

The students' query is run on the export to find its year levels (each becomes a library group, in the
lookup, the `groups:` list and the sandbox config) and how many rows it gives (`min_rows` is half of it);
the staff's likewise for its roles. A query with a choice left in it is not run: the groups are then a
choice too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from string import Template
from typing import Any

import yaml

from runner import choices
from runner.choices import PATTERN, marker
from runner.init import generic
from runner.init.export import Export
from runner.init.layouts import recognise
from runner.init.write import common_files, template
from runner.records import record

SANDBOX_CONFIG = "sandbox.yaml"
_PLAIN = re.compile(r"[\w./][\w ./'-]*(?<! )")
_NUMBER = re.compile(r"[-+]?[\d._]*\d[\d._]*(e[-+]?\d+)?", re.IGNORECASE)
_WORDS = frozenset({"yes", "no", "y", "n", "on", "off", "true", "false", "null", "~", ".inf", ".nan"})
_NAMED_GRADES = {
    "pk": "Pre-Kindergarten",
    "tk": "Transitional Kindergarten",
    "k": "Kindergarten",
    "kg": "Kindergarten",
}


@record
class Found:
    """What a query gave when init ran it: its rows' count and the distinct values of its last column."""

    count: int
    values: tuple[str, ...]


@record
class Project:
    """The files of a starting project, and what init found."""

    files: dict[str, str]
    title: str
    choices: int
    students: Found | None
    staff: Found | None


def build(export: Export, tenant: str, password_variable: str) -> Project:
    """The starting project for `export`, with one tenant `tenant`."""
    layout = recognise(export.tables, export.manifest())
    if layout is None:
        title = "an export of no known layout"
        guessed = generic.guess(export)
        students_sql, staff_sql = guessed.students, guessed.staff
        notes = [
            "init did not recognise this export: the query's columns are guessed from their names, and "
            "what it could not guess is a choice marked CHOOSE, to replace (validate lists them).",
            *guessed.notes,
        ]
    else:
        title = layout.title
        students_sql, staff_sql, notes = layout.queries(export.tables)
        students_sql, staff_sql = export.identifiers(students_sql), export.identifiers(staff_sql)
    students, staff = _run(export, students_sql), _run(export, staff_sql)
    groups = _year_groups(students.values if students else ())
    header = f"Written by `infiniti-sync init` from {export.description} ({title})."
    common = {"header": _comment(header), "connection": export.connection_name}
    files = {
        "infiniti-sync.yaml": _fill(
            "infiniti-sync.yaml",
            common,
            tenant=tenant,
            password=password_variable,
            connection_value=_flow(dict(export.connection)),
        ),
        "specs/students.yaml": _students(common, notes, students_sql, students, groups),
        "specs/staff.yaml": _staff(common, notes, staff_sql, staff),
        SANDBOX_CONFIG: _fill(
            SANDBOX_CONFIG,
            common,
            tenant=tenant,
            library=_flow([*(g for g in groups.values() if not PATTERN.search(g)), "Staff"]),
        ),
        **common_files(),
    }
    left = sum(
        len(list(choices.found(yaml.safe_load(files[f"specs/{n}.yaml"])))) for n in ("students", "staff")
    )
    return Project(files, title, left, students, staff)


def _run(export: Export, sql: str) -> Found | None:
    """How many rows `sql` gives on the export and the values of its last column (the year level or the
    role), or None when a choice is left in it."""
    if PATTERN.search(sql):
        return None
    rows = export.rows(sql)
    values = {str(row[-1]).strip() for row in rows if row[-1] is not None and str(row[-1]).strip()}
    return Found(len(rows), tuple(sorted(values, key=_level_order)))


def _level_order(value: str) -> tuple[int, float, str]:
    """Year levels in school order: named ones (Pre-K, K) first, then by number, then the rest."""
    if value.lower() in _NAMED_GRADES:
        return 0, list(_NAMED_GRADES).index(value.lower()), value
    if value.isdigit():
        return 1, int(value), value
    return 2, 0, value


def _year_groups(values: Sequence[str]) -> dict[str, str]:
    """Each year level found, and the library group init names for it (Year 9 for 9 or 09)."""
    if not values:
        return {marker("a year level as the export writes it"): marker("its library group")}
    return {value: _group(value) for value in values}


def _group(value: str) -> str:
    if value.isdigit():
        return f"Year {int(value)}"
    return _NAMED_GRADES.get(value.lower(), value)


def _students(
    common: dict[str, str], notes: list[str], sql: str, found: Found | None, groups: dict[str, str]
) -> str:
    year, group = next(iter(groups.items()))
    other = next(v for v in ("00", "99", "none") if v not in groups)
    return _fill(
        "students.yaml",
        common,
        notes=_notes(notes, found, "students", "year levels"),
        query=_block(sql),
        lookup="\n".join(f"    {_flow(level)}: {_flow(group)}" for level, group in groups.items()),
        library=_flow(list(dict.fromkeys(groups.values()))),
        min_rows=str(max(1, found.count // 2) if found else 1),
        year=_flow(year),
        group=_flow(group),
        other_year=_flow(other),
    )


def _staff(common: dict[str, str], notes: list[str], sql: str, found: Found | None) -> str:
    role = found.values[0] if found and found.values else "Teacher"
    return _fill(
        "staff.yaml",
        common,
        notes=_notes(notes, found, "staff", "roles"),
        query=_block(sql),
        min_rows=str(max(1, found.count // 2) if found else 1),
        role=_flow(role),
    )


def _notes(notes: list[str], found: Found | None, kind: str, what: str) -> str:
    lines = list(notes)
    if found is not None:
        values = ", ".join(found.values) or "none"
        lines.append(f"init found {found.count} {kind}; {what}: {values}.")
    return "\n".join(_comment(line) for line in lines)


def _comment(text: str, width: int = 110) -> str:
    """`text` as comment lines of at most `width` characters."""
    lines, line = [], "#"
    for word in _comment_safe(text).split():
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    return "\n".join([*lines, line])


def _comment_safe(text: str) -> str:
    return " ".join(text.split())


def _block(sql: str) -> str:
    """`sql` as the lines of a literal block under `query: |`."""
    return "\n".join(f"    {line}" if line else "" for line in sql.rstrip("\n").splitlines())


def _flow(value: Any) -> str:
    """`value` as YAML flow text: text plain where no YAML reader could take it for anything else, in
    double quotes otherwise (`"07"`, `"yes"`, a URL)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.fullmatch(text) and not _NUMBER.fullmatch(text) and text.lower() not in _WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _fill(name: str, common: dict[str, str], **values: str) -> str:
    return Template(template(name)).substitute({**common, **values})
