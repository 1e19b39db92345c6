"""Any text in a source cell comes out of the import file unchanged, through the real pipeline: a CSV
export or a SQLite database -> the query -> rendering -> pre-checks -> the file -> Python's csv reader.

The one exception is decided, not accidental: a NUL character (or a lone surrogate, which is not text)
cannot travel in an import file, so its line is left out with a "text" finding instead of being altered.
"""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.csvfile import read_records
from runner.errors import Where
from runner.plan import Planned, build
from runner.source import CsvFiles, Database, Source, StaticRows
from tests.support.specs import make_spec, make_tenant

SPECIAL = [
    "\x00",
    "\r",
    "\n",
    "\r\n",
    '"',
    "'",
    ",",
    ";",
    " ",
    "\t",
    "\ufeff",
    "\u2028",
    "\x1a",
    "\x7f",
    "😀",
    "👩🏽‍🏫",
    "e\u0301",
    "ā",
    "Ngāti",
    "Nguyễn",
    "李",
    "한국",
    "\u200b",
    "\\",
    "=1+1",
]
pieces = st.one_of(st.text(st.characters(codec="utf-8"), max_size=3), st.sampled_from(SPECIAL))
cell_text = st.lists(pieces, max_size=5).map("".join)
SPEC = make_spec(
    {"username": "u{{ row.n }}", "givenName": "{{ row.given }}", "surname": "{{ row.family }}"},
    query="SELECT n, given, family FROM people ORDER BY CAST(n AS INTEGER)",
)
WHERE = Where(tenant="stmarys", spec="people", connection="db")


def _plan(source: Source, folder: Path) -> tuple[Planned, list[list[str]]]:
    planned = build(SPEC, make_tenant(), source, folder / "out" / "people.csv")
    return planned, list(read_records(planned.path))


def _check(names: list[tuple[str, str]], planned: Planned, records: list[list[str]]) -> None:
    """Each pair is in the file unchanged, or left out with a text finding when it cannot travel."""
    assert records[0] == ["username", "library-group", "system-group", "givenName", "surname"]
    lines = {r[0]: r[3:] for r in records[1:]}
    assert len(lines) == len(records) - 1
    refused = {f.row for f in planned.findings}
    assert all(f.check == "text" for f in planned.findings)
    for n, pair in enumerate(names, 1):
        if "\x00" in "".join(pair):
            assert n in refused and f"u{n}" not in lines
        else:
            assert lines[f"u{n}"] == list(pair)
    assert planned.rows_out == len(names) - len(refused)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cell_text, cell_text), min_size=1, max_size=5))
@example([("Robert", 'Smith, Jr "Bob"\r\nline two'), ("Tāne", "O'Brien")])
@example([("a\x00b", "")])
def test_any_text_survives_a_csv_export(names: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        planned, records = _plan(_export(folder, names), folder)
    _check(names, planned, records)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cell_text, cell_text), min_size=1, max_size=5))
@example([("\u0000", "\r")])
def test_any_text_survives_a_sqlite_database(names: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with sqlite3.connect(folder / "sms.db") as db:
            db.execute("CREATE TABLE people (n INTEGER, given TEXT, family TEXT)")
            db.executemany("INSERT INTO people VALUES (?, ?, ?)", [(n, *p) for n, p in enumerate(names, 1)])
        db.close()
        source = Database(f"sqlite:///{folder / 'sms.db'}", root=folder, where=WHERE)
        planned, records = _plan(source, folder)
    _check(names, planned, records)


def _export(folder: Path, names: list[tuple[str, str]]) -> CsvFiles:
    export = folder / "export"
    export.mkdir()
    with (export / "people.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["n", "given", "family"])
        writer.writerows((n, g, f) for n, (g, f) in enumerate(names, 1))
    return CsvFiles(export, "utf-8", ",", where=WHERE)


def _database(folder: Path, names: list[tuple[str, str]]) -> Database:
    with sqlite3.connect(folder / "sms.db") as db:
        db.execute("CREATE TABLE people (n INTEGER, given TEXT, family TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?)", [(n, *p) for n, p in enumerate(names, 1)])
    db.close()
    return Database(f"sqlite:///{folder / 'sms.db'}", root=folder, where=WHERE)


@pytest.mark.parametrize("kind", [_export, _database])
def test_a_cell_far_longer_than_the_csv_modules_default_limit_survives(
    kind: Callable[[Path, list[tuple[str, str]]], Source], tmp_path: Path
) -> None:
    """The csv module reads at most 131,072 characters a field by default; a 200 KB value from a database
    (or an export) goes through the file, and the runner reads its own file back, preview and all."""
    names = [("Ana", "Lee"), ("Bo " + "é" * 200_000, 'Li "the' + "\r\n" * 70_000 + 'long"')]
    planned, records = _plan(kind(tmp_path, names), tmp_path)
    _check(names, planned, records)
    assert planned.preview[1][3] == names[1][0]


def test_a_nul_character_keeps_the_line_out_with_a_clear_finding(tmp_path: Path) -> None:
    rows = StaticRows(
        [{"n": 1, "given": "Ana\x00", "family": "Lee"}, {"n": 2, "given": "Bo", "family": "Li"}]
    )
    planned = build(SPEC, make_tenant(), rows, tmp_path / "people.csv")
    assert [(f.where, f.check, f.message) for f in planned.findings] == [
        ("row 1 (n=1)", "text", "givenName contains a NUL character, which an import file cannot carry")
    ]
    assert list(read_records(planned.path))[1:] == [["u2", "Year 7", "Students", "Bo", "Li"]]
    assert planned.failures == ["1 row failed the pre-checks and was left out; checks.max_invalid allows 0"]


def test_a_lone_surrogate_keeps_the_line_out_instead_of_crashing(tmp_path: Path) -> None:
    rows = StaticRows([{"n": 1, "given": "\ud800", "family": "Lee"}])
    planned = build(SPEC, make_tenant(), rows, tmp_path / "people.csv")
    assert [(f.row, f.check, f.message) for f in planned.findings] == [
        (1, "text", "givenName contains a lone surrogate, which is not Unicode text")
    ]
    assert planned.path.read_bytes() == b"username,library-group,system-group,givenName,surname\r\n"
