"""Real exports as they come: a CSV header ending in empty cells its rows leave out, and `init` from a
database, its tables found by SQLAlchemy's inspection (a SQLite file, the PostgreSQL server)."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from runner.errors import SourceError, Where
from runner.source import CsvFiles
from tests.support.databases import open_database
from tests.support.project import invoke
from tests.test_init import PASSWORD, write_csv

ROLES_HEADER = (
    "sourcedId,status,dataLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,,"
)


def _roles(folder: Path, *rows: str) -> CsvFiles:
    write_csv(folder, "roles", ROLES_HEADER, rows)
    return CsvFiles(folder, "utf-8", ",", where=Where(connection="export"))


def _read(files: CsvFiles, sql: str) -> list[tuple[str, ...]]:
    with files.query(sql, {}) as rows:
        return [tuple(row) for row in rows]


def test_rows_may_stop_before_the_headers_trailing_empty_columns(tmp_path: Path) -> None:
    files = _roles(
        tmp_path,
        "r1,active,2025-01-01,u1,primary,student,,,o1",  # 9 fields: the two empty-named ones left out
        "r2,active,2025-01-01,u2,primary,teacher,,,o1,,",  # 11: all of them
        "r3,active,2025-01-01,u3,primary,aide,,,o1,x",  # 10: one of them
    )
    assert files.columns()["roles"][-2:] == ("column_10", "column_11")
    found = _read(files, "SELECT userSourcedId, role, orgSourcedId, column_10, column_11 FROM roles")
    assert found == [
        ("u1", "student", "o1", "", ""),
        ("u2", "teacher", "o1", "", ""),
        ("u3", "aide", "o1", "x", ""),
    ]


@pytest.mark.parametrize(
    ("row", "fields"),
    [
        ("r1,active,2025-01-01,u1,primary,student,,o1", 8),
        ("r1,active,2025-01-01,u1,primary,student,,,o1,,,", 12),
    ],
)
def test_any_other_width_stays_an_error_with_a_hint(tmp_path: Path, row: str, fields: int) -> None:
    files = _roles(tmp_path, "r0,active,2025-01-01,u0,primary,student,,,o1", row)
    with pytest.raises(SourceError) as raised:
        _read(files, "SELECT role FROM roles")
    assert (
        raised.value.message == f"{tmp_path / 'roles.csv'}: line 3: {fields} fields where the header has 11"
    )
    assert raised.value.hint == (
        "a line has 11 fields, or stops after the header's last named column ('orgSourcedId', field 9): "
        "the empty-named columns after it may be left out; look for a comma too many or too few on the "
        "line, or export the file again"
    )


def test_a_header_without_empty_cells_wants_every_field(tmp_path: Path) -> None:
    write_csv(tmp_path, "staff", "code,name,email", ["T1,Aa", "T2,Bb,bb@example.edu"])
    files = CsvFiles(tmp_path, "utf-8", ",", where=Where())
    with pytest.raises(SourceError) as raised:
        _read(files, "SELECT code FROM staff")
    assert raised.value.message.endswith("staff.csv: line 2: 2 fields where the header has 3")
    assert raised.value.hint is not None and raised.value.hint.startswith("every line has 3 fields")


def test_plan_reads_the_rows_a_oneroster_12_bundle_gives(tmp_path: Path) -> None:
    from tests.test_init import oneroster_12

    done = invoke(tmp_path, ["init", "project", "--from", os.fspath(oneroster_12(tmp_path / "export"))])
    assert done.code == 0, done.err
    planned = invoke(tmp_path / "project", ["plan", "--format", "json"], PASSWORD)
    assert planned.code == 0, planned.err
    assert [p["rows"]["read"] for p in json.loads(planned.out)["plans"]] == [2, 1]


PEOPLE = (
    "CREATE TABLE people (code VARCHAR(10), first_name VARCHAR(40), surname VARCHAR(40), "
    "email VARCHAR(80), year_level VARCHAR(4), role VARCHAR(20), status VARCHAR(10))"
)
PEOPLE_ROWS = (
    "INSERT INTO people VALUES ('P1', 'Aa', 'One', 'aa@example.edu', '7', 'student', 'active'), "
    "('P2', 'Bb', 'Two', 'bb@example.edu', '8', 'student', 'active'), "
    "('P3', 'Cc', 'Three', 'cc@example.edu', '', 'teacher', 'active'), "
    "('P4', 'Dd', 'Four', 'dd@example.edu', '8', 'student', 'inactive')"
)


def _init_and_plan(tmp_path: Path, url: str, env: dict[str, str]) -> tuple[str, dict[str, int]]:
    done = invoke(tmp_path, ["init", "project", "--from", url], env)
    assert done.code == 0, done.err
    planned = invoke(tmp_path / "project", ["plan", "--format", "json"], {**PASSWORD, **env})
    assert planned.code == 0, planned.out + planned.err
    counts = {p["spec"]: p["rows"]["in_file"] for p in json.loads(planned.out)["plans"]}
    assert invoke(tmp_path / "project", ["test"]).code == 0
    return done.out, counts


def test_init_from_a_sqlite_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'sms.db'}", poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text(PEOPLE))
        connection.execute(text(PEOPLE_ROWS))
    engine.dispose()
    out, counts = _init_and_plan(tmp_path, "sqlite:///sms.db", {})
    assert counts == {"students": 2, "staff": 1}
    assert "Found 2 students; year levels: 7, 8\nFound 1 staff; roles: teacher\n" in out
    written = (tmp_path / "project" / "infiniti-sync.yaml").read_text(encoding="utf-8")
    assert '      sms: {url: "sqlite:///../sms.db"}\n' in written


@contextlib.contextmanager
def postgres_schema(tmp_path: Path, *statements: str) -> Iterator[str]:
    """A PostgreSQL schema of the test's own, made by `statements`, and a URL whose search path is it."""
    server = open_database("postgresql", tmp_path)
    name = f"init_{uuid.uuid4().hex[:12]}"
    try:
        with server.engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {name}"))
            connection.execute(text(f"SET search_path TO {name}"))
            for statement in statements:
                connection.execute(text(statement))
        url = make_url(server.url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with server.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        server.drop()


@pytest.fixture(name="schema_url")
def schema_url_fixture(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL schema holding the people table."""
    with postgres_schema(tmp_path, PEOPLE, PEOPLE_ROWS) as url:
        yield url


@pytest.mark.postgres
def test_init_from_postgresql(tmp_path: Path, schema_url: str) -> None:
    out, counts = _init_and_plan(tmp_path, schema_url, {})
    assert counts == {"students": 2, "staff": 1}
    assert "Wrote a starting project for an export of no known layout" in out


@pytest.mark.postgres
def test_a_database_password_is_not_written(tmp_path: Path, schema_url: str) -> None:
    url = make_url(schema_url)
    if not url.password:
        url = url.set(password="not-needed")  # trust authentication ignores it
    given = url.render_as_string(hide_password=False)
    out, counts = _init_and_plan(tmp_path, given, {"SCHOOL_SMS_URL": given})
    assert counts == {"students": 2, "staff": 1}
    assert "set SCHOOL_SMS_URL to the database URL" in out
    written = (tmp_path / "project" / "infiniti-sync.yaml").read_text(encoding="utf-8")
    assert "      sms: {url: {env: SCHOOL_SMS_URL}}\n" in written
    assert str(url.password) not in written


@pytest.mark.postgres
def test_a_oneroster_database_in_postgresql(tmp_path: Path) -> None:
    """OneRoster's camelCase names survive PostgreSQL, which folds unquoted names to lower case."""
    columns = ("sourcedId", "status", "enabledUser", "role", "username", "givenName", "familyName", "email")
    listed = ", ".join(f'"{c}" VARCHAR(40)' for c in (*columns, "grades"))
    rows = (
        "INSERT INTO users VALUES "
        "('u1', 'active', 'true', 'student', 'aa.one', 'Aa', 'One', 'aa@example.edu', '09'), "
        "('u2', 'active', 'true', 'teacher', 'bb.two', 'Bb', 'Two', 'bb@example.edu', '')"
    )
    with postgres_schema(tmp_path, f"CREATE TABLE users ({listed})", rows) as url:
        out, counts = _init_and_plan(tmp_path, url, {})
    assert "Wrote a starting project for a OneRoster 1.1 bundle" in out
    assert counts == {"students": 1, "staff": 1}
    spec = (tmp_path / "project" / "specs" / "students.yaml").read_text(encoding="utf-8")
    assert '"sourcedId" AS id' in spec and '"givenName" AS given_name' in spec
