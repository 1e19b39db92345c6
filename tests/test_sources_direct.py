"""A CSV source's query that only picks columns of one file reads them from the file itself, and gives
exactly what loading the files into SQLite and running the query there gives: the same column names,
the same values in the same order, the same errors with the same messages.

The property test writes random exports (odd names and cells, short and long records, blank lines, broken
quoting, several encodings) and random queries, and runs each query twice: as written, and behind a
comment, which SQLite ignores but which keeps the query off the direct path (so the files are loaded).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runner import source
from runner.errors import SourceError, SyncError, Where
from runner.source import CsvFiles

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LOADED = "/* loaded */ "  # SQLite ignores it; the direct path does not take a query that starts so
WHERE = Where(tenant="t", spec="s", connection="export")

Outcome = tuple[Any, ...]


def _outcome(files: CsvFiles, sql: str, params: dict[str, Any] | None = None) -> Outcome:
    """What the query gives: its columns and rows, or its error's kind, message and hint."""
    try:
        with files.query(sql, params or {}) as rows:
            return ("rows", rows.columns, [tuple(row) for row in rows])
    except SyncError as err:
        return ("error", type(err).__name__, err.message, err.hint)


def _both(files: CsvFiles, sql: str) -> tuple[Outcome, Outcome]:
    return _outcome(files, sql), _outcome(files, LOADED + sql)


# --- random exports and queries -------------------------------------------------------------------

_NAME_CHARS = st.sampled_from([*"abcXYZ_09 $é\"'`[]-;,*", "伟", "\t"])
_CELL_CHARS = st.sampled_from([*"ab ,;\"\r\n'é", "\x00", "伟", "😀", "\u2028", "\ufeff"])
_ENCODINGS = ("utf-8", "utf-16", "cp1252", "latin-1", "utf-8-sig")


@st.composite
def _exports(draw: st.DrawFn) -> tuple[str, list[str], str, str, str]:
    """(table name, header, the file's text, its encoding, its delimiter)."""
    header = draw(st.lists(st.text(_NAME_CHARS, max_size=6), min_size=1, max_size=5))
    if draw(st.booleans()):
        header += [""] * draw(st.integers(1, 2))  # trailing empty-named columns (OneRoster's roles.csv)
    width = len(header)
    rows = draw(
        st.lists(
            st.lists(st.text(_CELL_CHARS, max_size=5), min_size=max(width - 2, 0), max_size=width + 1),
            max_size=8,
        )
    )
    delimiter = draw(st.sampled_from([",", ";"]))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\r\n", "\n"]))).writerows(
        [header, *rows]
    )
    text = out.getvalue()
    damage = draw(st.sampled_from(["", "", "", "blank line", "unclosed quote"]))
    if damage == "blank line" and rows:
        text = text.replace("\n", "\n\n", 1)
    elif damage == "unclosed quote":
        text += '"never closed\n'
    encoding = draw(st.sampled_from(_ENCODINGS))
    if encoding in ("cp1252", "latin-1"):
        text = text.encode(encoding, errors="replace").decode(encoding)
    table = draw(st.sampled_from(["students", "Students", "roles"]))
    return table, header, text, encoding, delimiter


def _identifier(draw: st.DrawFn, name: str) -> str:
    """`name` as a query may write it: bare (when it can be), or in one of SQLite's three quotings, in
    any case."""
    name = draw(st.sampled_from([name, name.upper(), name.lower()]))
    quotings = [f'"{name.replace(chr(34), chr(34) * 2)}"', f"`{name.replace('`', '``')}`"]
    if "]" not in name:
        quotings.append(f"[{name}]")
    if re.fullmatch(r"[A-Za-z_][\w$]*", name):
        quotings.append(name)
    return str(draw(st.sampled_from(quotings)))


@st.composite
def _queries(draw: st.DrawFn, table: str, header: list[str]) -> str:
    names = [h.strip() or f"column_{i}" for i, h in enumerate(header, 1)]
    choices = [*names, "nope", "NULL", "rowid", "current_date", "'text'", "1", "a || b"]
    picked = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=4))
    columns = (
        "*"
        if draw(st.integers(0, 4)) == 0
        else ", ".join(_identifier(draw, c) if c in names else c for c in picked)
    )
    select = draw(st.sampled_from(["SELECT", "select", "Select"]))
    end = draw(st.sampled_from(["", ";", " ;\n", "\n", " WHERE 1", " LIMIT 2", " ORDER BY 1 DESC"]))
    return (
        f"{draw(st.sampled_from(['', ' ', chr(10)]))}{select} {columns} FROM {_identifier(draw, table)}{end}"
    )


def _write(folder: Path, table: str, text: str, encoding: str = "utf-8", delimiter: str = ",") -> CsvFiles:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / f"{table}.csv").write_bytes(text.encode(encoding, errors="surrogatepass"))
    return CsvFiles(folder, encoding, delimiter, where=WHERE)


@SETTINGS
@given(data=st.data())
def test_reading_the_file_gives_what_loading_it_gives(tmp_path: Path, data: st.DataObject) -> None:
    table, header, text, encoding, delimiter = data.draw(_exports())
    files = _write(tmp_path / "export", table, text, encoding, delimiter)
    sql = data.draw(_queries(table, header))
    direct, loaded = _both(files, sql)
    assert direct == loaded
    path = "direct" if source._projection(sql, files._tables()[0]) else "loaded"
    event(f"{path}, {direct[0]}")


@pytest.mark.parametrize(
    ("sql", "direct"),
    [
        ("SELECT code, given FROM students", True),
        ("select * from STUDENTS;", True),
        ('  SELECT "Code", [given], `family` FROM "students" ;\n', True),
        ("SELECT code, code FROM students", True),
        ("SELECT code FROM students WHERE given = 'Ana'", False),
        ("SELECT code AS id FROM students", False),
        ("SELECT DISTINCT code FROM students", False),
        ("SELECT code FROM students LIMIT 1", False),
        ("SELECT s.code FROM students s", False),
        ("SELECT code FROM students -- the codes", False),
        ("SELECT NULL FROM students", False),  # a keyword, not the column "null" (there is none)
        ('SELECT "nope" FROM students', False),  # SQLite reads it as the string 'nope'
        ("SELECT code, nope FROM students", False),
        ("SELECT code FROM nope", False),
        ("SELECT code FROM students WHERE code = :code", False),
        ("SELECT code FROM main.students", False),
    ],
)
def test_only_a_pick_of_one_files_columns_is_read_directly(tmp_path: Path, sql: str, direct: bool) -> None:
    files = _write(tmp_path / "export", "students", 'code,given,family\nS1,Ana,Lee\nS2,Bo,"Smith, Jr"\n')
    tables = files._tables()[0]
    assert (source._projection(sql, tables) is not None) is direct
    assert _outcome(files, sql, {"code": "S1"}) == _outcome(files, LOADED + sql, {"code": "S1"})


def test_a_bare_name_is_made_of_the_characters_it_was_made_of_before() -> None:
    """source._NAME spells a bare name's classes without a range over every code point (which, compiled
    with IGNORECASE, took 17 ms at every start-up): the same characters, for every code point."""
    first, rest = re.compile(r"[A-Za-z_\u0080-\U0010ffff]"), re.compile(r"[\w$\u0080-\U0010ffff]")
    bare = re.compile(source._BARE)
    for point in range(0x110000):
        c = chr(point)
        assert (bare.fullmatch(c) is not None) is (first.fullmatch(c) is not None), hex(point)
        assert (bare.fullmatch("a" + c) is not None) is (rest.fullmatch(c) is not None), hex(point)
    assert source._PROJECTION.fullmatch("sElEcT Ärzte, x$1 fRoM Schüler") is not None


def test_the_columns_are_named_as_sqlite_names_them(tmp_path: Path) -> None:
    files = _write(tmp_path / "export", "students", "Code,given\nS1,Ana\n")
    assert _outcome(files, 'SELECT code, GIVEN, "CODE" FROM students') == (
        "rows",
        ("Code", "given", "Code"),
        [("S1", "Ana", "S1")],
    )


def test_a_column_named_like_a_keyword_is_the_column_when_sqlite_takes_it_so(tmp_path: Path) -> None:
    files = _write(tmp_path / "export", "students", "true,null\nyes,no\n")
    tables = files._tables()[0]
    assert source._projection("SELECT true FROM students", tables) is not None
    assert source._projection("SELECT null FROM students", tables) is None
    assert (
        _both(files, "SELECT true, null FROM students") == (("rows", ("true", "null"), [("yes", None)]),) * 2
    )


def test_an_encoding_that_can_give_a_lone_surrogate_is_loaded(tmp_path: Path) -> None:
    """UTF-7 can spell a lone surrogate, which SQLite refuses: the file is loaded, so that it says so."""
    files = _write(tmp_path / "export", "students", "code\n\ud800\n", "utf-7")
    assert not source._text_only("utf-7")
    direct, loaded = _both(files, "SELECT code FROM students")
    assert direct == loaded
    assert direct[0] == "error"


@pytest.mark.parametrize("fault", ["a record of the wrong width", "an unclosed quote", "a byte not UTF-8"])
def test_a_broken_file_is_reported_before_what_the_reader_of_its_rows_found(
    tmp_path: Path, fault: str
) -> None:
    """Loaded, the file would be read whole before the query ran; read directly, it still is when the
    caller stops on a problem of its own (a template naming a column the query does not return)."""
    tail = {
        "a record of the wrong width": b"S3,Cy,Lee,extra\n",
        "an unclosed quote": b'S3,"Cy\n',
        "a byte not UTF-8": b"S3,\xffCy,Lee\n",
    }[fault]
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "students.csv").write_bytes(b"code,given,family\nS1,Ana,Lee\nS2,Bo,Lee\n" + tail)
    files = CsvFiles(folder, "utf-8", ",", where=WHERE)
    found: list[str] = []
    for sql in ("SELECT code, given FROM students", LOADED + "SELECT code, given FROM students"):
        with pytest.raises(SourceError) as raised, files.query(sql, {}) as rows:
            next(iter(rows))
            raise _CallerFault
        found.append(raised.value.message)
    assert found[0] == found[1]
    assert "students.csv: line 4" in found[0]


class _CallerFault(Exception):
    """What the reader of the rows found wrong (here, nothing real: it stops on the first row)."""


# --- where a loaded query's tables are -------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_loading_in_memory_gives_what_loading_into_a_file_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    table, header, text, encoding, delimiter = data.draw(_exports())
    files = _write(tmp_path / "export", table, text, encoding, delimiter)
    sql = LOADED + data.draw(_queries(table, header))
    in_memory = _outcome(files, sql)
    monkeypatch.setattr(source, "IN_MEMORY", -1)
    try:
        assert _outcome(files, sql) == in_memory
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize(("limit", "scratch"), [(source.IN_MEMORY, False), (-1, True)])
def test_small_files_are_loaded_in_memory_and_larger_ones_into_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int, scratch: bool
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setattr(source, "IN_MEMORY", limit)
    files = _write(tmp_path / "export", "students", "code,given\nS1,Ana\nS2,Bo\n")
    with files.query(LOADED + "SELECT code FROM students WHERE given = 'Bo'", {}) as rows:
        made = [p.name for p in temporary.rglob("*")]
        assert [tuple(row) for row in rows] == [("S2",)]
    assert (made[-1:] == ["source.db"]) is scratch
    assert bool(made) is scratch
    assert list(temporary.iterdir()) == []  # nothing left either way
