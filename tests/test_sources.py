"""Every kind of database source against a real database: a SQLite file, the PostgreSQL and MariaDB
servers of this machine (skipped with the reason where one is not running; required when CI=true).

Each failure is checked through `infiniti-sync plan` itself: the exit code, the exact message (naming the
tenant, spec and connection, the password masked), and an --out folder left without any file. CSV sources
are tested by the case folders of tests/plan_cases; here only what a folder in git cannot hold everywhere
(two files whose names differ only in case).
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from runner.errors import Where
from runner.source import open_source
from runner.spec import Connection
from tests.support import databases
from tests.support.databases import TestDatabase
from tests.support.projects import Ran, left_in, run, write_project

database = databases.database_fixture
mariadb = databases.mariadb_fixture

PEOPLE = {
    "code": "text",
    "given": "text",
    "family": "text",
    "form": "text",
    "level": "integer",
    "email": "text",
    "campus": "text",
}
ROWS = [
    ("S001", "Tāne", "Horomona", "07A", 7, None, "North"),
    ("S002", "Thị Minh Anh", "Nguyễn", "08B", 8, "Minh.Anh@Example.edu", "North"),
    ("S003", "伟", "李", "07A", 7, "wei@example.edu", "North"),
    ("S004", 'Robert "Bob"', "Smith, Jr", "08A", 8, "bob@example.edu", "North"),
    ("S005", "Ana", "Lee", "07B", 7, "ana@example.edu", "South"),
    ("S006", "Zoë 👩🏽\u200d🏫", "O'Brien\r\nMüller", "07B", 7, "zoe@example.edu", "North"),
]
COLUMNS = """\
givenName: "{{ row.given }}"
surname: "{{ row.family }}"
formClass: "{{ row.form }}"
emailAddress: "{{ row.email | lower }}"
graduationYear: "{{ 2039 - row.level }}"
"""
EXPECTED = (
    "username,library-group,system-group,givenName,surname,formClass,emailAddress,graduationYear\r\n"
    "s001,Year 7,Students,Tāne,Horomona,07A,,2032\r\n"
    "s002,Year 7,Students,Thị Minh Anh,Nguyễn,08B,minh.anh@example.edu,2031\r\n"
    "s003,Year 7,Students,伟,李,07A,wei@example.edu,2032\r\n"
    's004,Year 7,Students,"Robert ""Bob""","Smith, Jr",08A,bob@example.edu,2031\r\n'
    's006,Year 7,Students,Zoë 👩🏽\u200d🏫,"O\'Brien\r\nMüller",07B,zoe@example.edu,2032\r\n'
)
PASSWORD = "Sh0uld-N0t-Leak"


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder for the project; the environment is restored afterwards."""
    monkeypatch.delenv("STMARYS_SMS_URL", raising=False)
    yield tmp_path / "project"


def _plan(project: Path, url: str, monkeypatch: pytest.MonkeyPatch, *more: str) -> Ran:
    monkeypatch.setenv("STMARYS_SMS_URL", url)
    return run(["--project", str(project), "plan", "--out", str(project.parent / "out"), *more])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_every_database_kind_gives_the_same_file(
    database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = database.table(PEOPLE, ROWS)
    query = (
        f"SELECT code, given, family, form, level, email FROM {table} WHERE campus = :campus ORDER BY code"
    )
    write_project(project, query=query, params='{campus: "{{ vars.campus }}"}', columns=COLUMNS)
    ran = _plan(project, database.url, monkeypatch)
    assert (ran.code, ran.err) == (0, "")
    assert (project.parent / "out" / "stmarys" / "people.csv").read_bytes() == EXPECTED.encode("utf-8")


def test_params_are_bound_never_pasted_into_the_sql(
    database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = database.table(PEOPLE, ROWS)
    write_project(
        project,
        query=f"SELECT code, given FROM {table} WHERE campus = :campus ORDER BY code",
        params='{campus: "{{ vars.campus }}"}',
        vars="""{campus: "North' OR '1'='1"}""",
    )
    ran = _plan(project, database.url, monkeypatch)
    assert ran.code == 0
    assert ran.out.startswith("stmarys/people: 0 rows in the file (0 read, 0 skipped by where, 0 left out)\n")


def test_rows_stream_from_the_database(database: TestDatabase, tmp_path: Path) -> None:
    table = database.table({"code": "text", "n": "integer"}, [(f"S{n:05}", n) for n in range(3000)])
    where = Where(tenant="stmarys", spec="people", connection="sms")
    source = open_source(Connection("sms", url=database.url), environ={}, root=tmp_path, where=where)
    with source.query(f"SELECT code, n FROM {table} WHERE n >= :low ORDER BY n", {"low": 10}) as rows:
        assert rows.columns == ("code", "n")
        assert not isinstance(rows.rows, list | tuple)  # an iterator over the cursor, not a list
        assert tuple(next(iter(rows))) == ("S00010", 10)
        assert sum(1 for _ in rows) == 2989


# --- what the spec gets wrong: exit 2 ----------------------------------------------------------------

SPEC_FAULTS = {
    "sqlite": {
        "table": "no such table: no_such_table",
        "column": "no such column: no_such_column",
        "syntax": 'near "code": syntax error',
    },
    "postgresql": {
        "table": 'relation "no_such_table" does not exist',
        "column": 'column "no_such_column" does not exist',
        "syntax": 'syntax error at or near "code"',
    },
    "mariadb": {
        "table": "Table 'test.no_such_table' doesn't exist (error 1146)",
        "column": "Unknown column 'no_such_column' in 'SELECT' (error 1054)",
        "syntax": "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB "
        "server version for the right syntax to use near 'code' at line 1 (error 1064)",
    },
}


@pytest.mark.parametrize("fault", ["table", "column", "syntax"])
def test_a_query_that_does_not_fit_the_database_is_a_spec_error(
    fault: str, database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = database.table(PEOPLE, ROWS)
    query = {
        "table": "SELECT code, given FROM no_such_table",
        "column": f"SELECT code, no_such_column FROM {table}",
        "syntax": f"SELECT code, given FROM {table} ORDER code",
    }[fault]
    write_project(project, query=query)
    ran = _plan(project, database.url, monkeypatch)
    reason = SPEC_FAULTS[database.kind][fault].format(table=table)
    columns = ", ".join(PEOPLE)
    hint = f"  hint: {table} has {columns}\n" if fault == "column" else ""
    assert (ran.code, ran.out, ran.err) == (
        2,
        f"stmarys/people: error: tenant stmarys, spec people, connection sms: {database.url}: "
        f"the query failed: {reason}\n{hint}no file written\n",
        "",
    )
    assert left_in(project.parent / "out") == []


def test_a_misspelt_column_gets_the_nearest_name_and_only_the_columns_of_the_tables_the_query_reads(
    database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a OneRoster users table would: familyNme is one letter from familyName; a table the query does
    not name (nor one named only in a string or a comment) is not listed."""
    users = database.table({"sourcedId": "text", "givenName": "text", "familyName": "text"})
    other = database.table({"sourcedId": "text", "name": "text"})
    q = '"' if database.kind == "postgresql" else ""  # PostgreSQL reads names with capitals in quotes only
    query = (
        f"SELECT u.{q}sourcedId{q}, u.familyNme /* not {other} */ FROM {users} u "
        f"WHERE u.{q}givenName{q} <> '{other}'"
    )
    write_project(project, query=query)
    ran = _plan(project, database.url, monkeypatch)
    reason = {
        "sqlite": "no such column: u.familyNme",
        "postgresql": "column u.familynme does not exist",
        "mariadb": "Unknown column 'u.familyNme' in 'SELECT' (error 1054)",
    }[database.kind]
    meant = (  # PostgreSQL reads familyName without quotes as familyname
        '"familyName", in double quotes (PostgreSQL reads a name without them in lower case)'
        if database.kind == "postgresql"
        else "'familyName'"
    )
    assert (ran.code, ran.out, ran.err) == (
        2,
        f"stmarys/people: error: tenant stmarys, spec people, connection sms: {database.url}: "
        f"the query failed: {reason}\n"
        f"  hint: did you mean {meant}? {users} has sourcedId, givenName, familyName\n"
        "no file written\n",
        "",
    )


def test_a_template_reading_a_column_the_query_does_not_return_is_a_spec_error(
    database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = database.table(PEOPLE, ROWS)
    write_project(project, query=f"SELECT code, given FROM {table}", columns='surname: "{{ row.family }}"')
    ran = _plan(project, database.url, monkeypatch)
    assert (ran.code, ran.out) == (
        2,
        "stmarys/people: error: tenant stmarys, spec people, connection sms: the template of surname "
        "reads row.family, but the query returns no such column\n"
        "  hint: the query returns: code, given\n"
        "no file written\n",
    )
    assert left_in(project.parent / "out") == []


# --- what is wrong outside: exit 3, the password never shown ------------------------------------------


def _unreachable(kind: str, port: int) -> tuple[str, str]:
    """A URL with a password to a closed port of this machine, and what the driver says about it."""
    if kind == "postgresql":
        reason = (
            f'connection failed: connection to server at "127.0.0.1", port {port} failed: Connection refused'
        )
        return f"postgresql+psycopg://sync:{PASSWORD}@127.0.0.1:{port}/sms", reason
    with pytest.raises(ConnectionRefusedError) as refused:  # PyMySQL gives the system's words
        socket.create_connection(("127.0.0.1", port), timeout=30).close()
    reason = f"Can't connect to MySQL server on '127.0.0.1' ({refused.value}) (error 2003)"
    return f"mysql+pymysql://sync:{PASSWORD}@127.0.0.1:{port}/sms", reason


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                sys.platform == "win32", reason="libpq words a refused connection its own way on Windows"
            ),
        ),
        "mariadb",
    ],
)
def test_an_unreachable_server_is_an_outside_failure_and_the_password_is_masked(
    kind: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    url, reason = _unreachable(kind, port)
    shown = url.replace(PASSWORD, "***")
    write_project(project)
    ran = _plan(project, url, monkeypatch)
    assert (ran.code, ran.out, ran.err) == (
        3,
        f"stmarys/people: error: tenant stmarys, spec people, connection sms: {shown}: cannot connect: "
        f"{reason}\nno file written\n",
        "",
    )
    as_json = _plan(project, url, monkeypatch, "--format", "json")
    assert as_json.code == 3
    assert json.loads(as_json.out)["plans"] == [
        {
            "tenant": "stmarys",
            "spec": "people",
            "ok": False,
            "exit_code": 3,
            "error": {
                "exit_code": 3,
                "message": f"tenant stmarys, spec people, connection sms: {shown}: cannot connect: {reason}",
            },
        }
    ]
    for output in (ran.out, ran.err, as_json.out, as_json.err):
        assert PASSWORD not in output
    assert left_in(project.parent / "out") == []


def test_mariadb_refusing_the_password_is_an_outside_failure(
    mariadb: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(mariadb.url).set(password=PASSWORD)
    write_project(project)
    ran = _plan(project, url.render_as_string(hide_password=False), monkeypatch)
    user, host = url.username, url.host
    assert (ran.code, ran.out) == (
        3,
        "stmarys/people: error: tenant stmarys, spec people, connection sms: "
        f"{url.render_as_string(hide_password=True)}: cannot connect: Access denied for user "
        f"'{user}'@'{host}' (using password: YES) (error 1045)\nno file written\n",
    )
    assert PASSWORD not in ran.out + ran.err
    assert left_in(project.parent / "out") == []


def test_a_url_password_is_masked_as_written_and_decoded(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://sync:Pa%40ss-W0rd-9@127.0.0.1:{port}/sms?sslpassword=Key-Pa55"
    write_project(project)
    ran = _plan(project, url, monkeypatch)
    assert ran.code == 3
    assert ran.out.startswith(
        "stmarys/people: error: tenant stmarys, spec people, connection sms: "
        f"postgresql+psycopg://sync:***@127.0.0.1:{port}/sms?sslpassword=***: cannot connect: "
    )
    for secret in ("Pa%40ss-W0rd-9", "Pa@ss-W0rd-9", "Key-Pa55"):
        assert secret not in ran.out + ran.err


def test_a_relative_sqlite_path_is_relative_to_the_project_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.mkdir()
    db = databases.open_database("sqlite", project)
    table = db.table({"code": "text", "given": "text"}, [("S1", "Ana")])
    write_project(project, connection="{url: sqlite:///sms.db}", query=f"SELECT code, given FROM {table}")
    monkeypatch.chdir(project.parent)
    ran = run(["--project", str(project), "plan", "--out", "out"])
    assert ran.code == 0
    assert (project.parent / "out" / "stmarys" / "people.csv").read_bytes() == (
        b"username,library-group,system-group,givenName\r\ns1,Year 7,Students,Ana\r\n"
    )
    db.drop()


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_test_server_fails_on_ci_and_is_skipped_elsewhere(
    ci: str, outcome: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv(
        "INFINITI_SYNC_TEST_POSTGRES", f"postgresql+psycopg://root@127.0.0.1:{_closed_port()}/x"
    )
    with pytest.raises(
        outcome, match=r"postgresql at postgresql\+psycopg://root@127\.0\.0\.1:\d+/x is not reachable"
    ):
        databases.open_database("postgresql", tmp_path)


def test_a_failed_plan_leaves_no_file_from_an_earlier_plan(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project.mkdir()
    db = databases.open_database("sqlite", project)
    table = db.table({"code": "text", "given": "text"}, [("S1", "Ana")])
    write_project(project, query=f"SELECT code, given FROM {table}")
    out = tmp_path / "out"
    assert (_plan(project, db.url, monkeypatch).code, left_in(out)) == (0, ["stmarys/people.csv"])
    assert (_plan(project, f"sqlite:///{project / 'gone.db'}", monkeypatch).code, left_in(out)) == (3, [])
    assert (_plan(project, db.url, monkeypatch).code, left_in(out)) == (0, ["stmarys/people.csv"])
    monkeypatch.delenv("STMARYS_SMS_URL")
    assert (run(["--project", str(project), "plan", "--out", str(out)]).code, left_in(out)) == (2, [])
    db.drop()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t WHERE a = :a AND b = :b",
        "SELECT * FROM t WHERE a = :a OR a = :a",
        "SELECT x::text, :y FROM t",
        r"SELECT '\:literal', :p FROM t",
        "SELECT ':quoted' || :p FROM t WHERE c=:c_2",
        "SELECT * FROM t WHERE name = :naïve",
        "SELECT 1",
    ],
)
def test_sqlite_parameters_are_read_as_sqlalchemy_reads_them(sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.dialects import sqlite

    from runner.source import qmark

    compiled = text(sql).compile(dialect=sqlite.dialect())
    assert qmark(sql) == (str(compiled), list(compiled.positiontup or []))


def test_a_url_without_a_driver_uses_the_driver_this_project_installs(
    database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`postgresql://` means psycopg2 and `mysql://` MySQLdb to SQLAlchemy; the extras install psycopg
    and PyMySQL, so a URL written without a driver must reach those."""
    if database.kind == "sqlite":
        pytest.skip("SQLite needs no driver")
    table = database.table(PEOPLE, ROWS)
    write_project(project, query=f"SELECT code, given FROM {table} WHERE code = 'S001'")
    plain = re.sub(r"^(\w+)\+\w+://", r"\1://", database.url)
    assert plain != database.url
    ran = _plan(project, plain, monkeypatch)
    assert (ran.code, ran.err) == (0, "")
    assert ran.out.startswith("stmarys/people: 1 row in the file (1 read,")


# --- errors classified by the driver's class and codes, not its wording --------------------------------

QUERY_FAULTS = {
    "unclosed-quote": (
        "SELECT code, given FROM {table} WHERE given = 'Ana",
        {
            "sqlite": 'unrecognized token: "\'Ana"',
            "postgresql": 'unterminated quoted string at or near "\'Ana"',
            "mariadb": "You have an error in your SQL syntax; check the manual that corresponds to your "
            "MariaDB server version for the right syntax to use near ''Ana' at line 1 (error 1064)",
        },
    ),
    "two-statements": (
        "SELECT code, given FROM {table}; SELECT 1",
        {
            "sqlite": "You can only execute one statement at a time.",
            "postgresql": "cannot insert multiple commands into a prepared statement",
            "mariadb": "You have an error in your SQL syntax; check the manual that corresponds to your "
            "MariaDB server version for the right syntax to use near 'SELECT 1' at line 1 (error 1064)",
        },
    ),
    "ambiguous-column": (
        "SELECT code, a.given FROM {table} AS a JOIN {table} AS b ON a.code = b.code",
        {
            "sqlite": "ambiguous column name: code",
            "postgresql": 'column reference "code" is ambiguous',
            "mariadb": "Column 'code' in SELECT is ambiguous (error 1052)",
        },
    ),
    "aggregate-in-where": (
        "SELECT code, given FROM {table} WHERE count(*) > 1",
        {
            "sqlite": "misuse of aggregate function count()",
            "postgresql": "aggregate functions are not allowed in WHERE",
            "mariadb": "Invalid use of group function (error 1111)",
        },
    ),
    "no-such-function": (
        "SELECT no_such_function(code) AS code, given FROM {table}",
        {
            "sqlite": "no such function: no_such_function",
            "postgresql": "function no_such_function(character varying) does not exist",
            "mariadb": "FUNCTION test.no_such_function does not exist (error 1305)",
        },
    ),
}


@pytest.mark.parametrize("fault", sorted(QUERY_FAULTS))
def test_every_driver_error_about_the_query_is_a_spec_error(
    fault: str, database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decided by SQLite's result code, PostgreSQL's SQLSTATE class 42 and MariaDB's error number, so
    wordings no list of phrases foresaw (unrecognized token, one statement at a time) are exit 2 too."""
    table = database.table({"code": "text", "given": "text"}, [("S1", "Ana")])
    query, reasons = QUERY_FAULTS[fault]
    write_project(project, query=query.format(table=table))
    ran = _plan(project, database.url, monkeypatch)
    assert (ran.code, ran.out, ran.err) == (
        2,
        f"stmarys/people: error: tenant stmarys, spec people, connection sms: {database.url}: "
        f"the query failed: {reasons[database.kind]}\nno file written\n",
        "",
    )
    assert left_in(project.parent / "out") == []


def test_a_file_that_is_not_a_sqlite_database_is_an_outside_failure(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.mkdir()
    (project / "sms.db").write_bytes(b"code,given\r\nS1,Ana\r\n" * 100)
    write_project(project)
    ran = _plan(project, f"sqlite:///{project / 'sms.db'}", monkeypatch)
    assert (ran.code, ran.out) == (
        3,
        "stmarys/people: error: tenant stmarys, spec people, connection sms: "
        f"sqlite:///{project / 'sms.db'}: the query failed: file is not a database\nno file written\n",
    )


def test_a_locked_sqlite_database_is_an_outside_failure(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.mkdir()
    db = databases.open_database("sqlite", project)
    table = db.table({"code": "text", "given": "text"}, [("S1", "Ana")])
    write_project(project, query=f"SELECT code, given FROM {table}")
    holder = sqlite3.connect(project / "sms.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # no other connection may read until it ends
    try:
        ran = _plan(project, f"sqlite:///{project / 'sms.db'}?timeout=0", monkeypatch)
    finally:
        holder.close()
    assert (ran.code, ran.out) == (
        3,
        "stmarys/people: error: tenant stmarys, spec people, connection sms: "
        f"sqlite:///{project / 'sms.db'}?timeout=0: the query failed: database is locked\nno file written\n",
    )
    db.drop()


@pytest.fixture(name="reader")
def reader_fixture(database: TestDatabase) -> Iterator[str]:
    """The URL of a new account of the server that may connect but read none of the test's tables."""
    from sqlalchemy import text

    if database.kind == "sqlite":
        pytest.skip("SQLite has no accounts")
    name = f"sync_test_{uuid.uuid4().hex[:12]}"
    account = f"'{name}'@'%'" if database.kind == "mariadb" else name
    other = database.table({"code": "text"})  # MariaDB lets an account into a database it may read some of
    grants = {
        "postgresql": [f"CREATE ROLE {name} LOGIN"],
        "mariadb": [f"CREATE USER {account}", f"GRANT SELECT ON {other} TO {account}"],
    }[database.kind]
    with database.engine.begin() as connection:
        for statement in grants:
            connection.execute(text(statement))
    try:
        yield make_url(database.url).set(username=name).render_as_string(hide_password=False)
    finally:
        with database.engine.begin() as connection:
            if database.kind == "mariadb":
                connection.execute(text(f"DROP USER {account}"))
            else:
                connection.execute(text(f"DROP OWNED BY {name}"))
                connection.execute(text(f"DROP ROLE {name}"))


def test_a_table_the_account_may_not_read_is_an_outside_failure(
    database: TestDatabase, reader: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A privilege the account lacks (PostgreSQL's SQLSTATE 42501, MariaDB's 1142) is the database's to
    grant: an outside failure (exit 3), as a grant revoked under a scheduled run would be, not a fault of
    the spec's query."""
    table = database.table({"code": "text", "given": "text"}, [("S1", "Ana")])
    write_project(project, query=f"SELECT code, given FROM {table}")
    ran = _plan(project, reader, monkeypatch)
    url = make_url(reader)
    reason = {
        "postgresql": f"permission denied for table {table}",
        "mariadb": f"SELECT command denied to user '{url.username}'@'{url.host}' for table "
        f"`{url.database}`.`{table}` (error 1142)",
    }[database.kind]
    assert (ran.code, ran.out, ran.err) == (
        3,
        f"stmarys/people: error: tenant stmarys, spec people, connection sms: {reader}: "
        f"the query failed: {reason}\nno file written\n",
        "",
    )


# --- a connection URL that cannot be a URL --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h:abc/db",
        f"postgresql://sync:{PASSWORD}@h:abc/db",
        f"postgresql://sync:{PASSWORD}/x:y@h:1:2/db",
        "mysql+pymysql://[::1/db",
        "mysql+pymysql://h:/db",
    ],
)
def test_a_port_that_is_not_a_number_is_a_usage_error_naming_the_connection(
    url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(project)
    ran = _plan(project, url, monkeypatch)
    assert (ran.code, ran.out, ran.err) == (
        2,
        "stmarys/people: error: tenant stmarys, spec people, connection sms: "
        "the connection URL's port is not a number\n"
        "  hint: write the URL as kind://user:password@host:port/database, the port in digits\n"
        "no file written\n",
        "",
    )
    assert PASSWORD not in ran.out + ran.err


# --- binary values: text, or the row is left out ------------------------------------------------------


def _binary_table(database: TestDatabase, rows: list[tuple[bytes, bytes]]) -> str:
    """A table of two binary columns (BLOB in SQLite and MariaDB, bytea in PostgreSQL), code and given."""
    from sqlalchemy import Column, LargeBinary, MetaData, Table

    name = f"sync_test_{uuid.uuid4().hex[:12]}"
    table = Table(name, MetaData(), Column("code", LargeBinary), Column("given", LargeBinary))
    table.create(database.engine)
    database.tables.append(table)
    with database.engine.begin() as connection:
        connection.execute(table.insert(), [{"code": c, "given": g} for c, g in rows])
    return name


def test_binary_values_are_their_utf8_text_or_the_row_is_left_out(
    database: TestDatabase, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A binary value never reaches the file as Python's b'...' text (once, user b't201' was created)."""
    table = _binary_table(database, [(b"T201", "Tāne".encode()), (b"T202", b"\xffAna"), (b"T203", b"")])
    write_project(project, query=f"SELECT code, given FROM {table} ORDER BY code")
    ran = _plan(project, database.url, monkeypatch)
    assert ran.code == 1
    assert (
        "  left out (1):\n"
        "    row 2 (code=T202): text: column given holds binary data that is not UTF-8 text (byte 0xff at "
        "offset 0); convert it in the query or leave it out\n"
    ) in ran.out
    assert (project.parent / "out" / "stmarys" / "people.csv").read_bytes() == (
        "username,library-group,system-group,givenName\r\n"
        "t201,Year 7,Students,Tāne\r\n"
        "t203,Year 7,Students,\r\n"
    ).encode()


def test_two_files_giving_one_table_are_a_fault_only_when_the_query_reads_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Students.csv and students.csv (a case-sensitive file system) give the same SQLite table."""
    export = project / "export"
    export.mkdir(parents=True)
    (export / "people.csv").write_text("code,given\nS1,Ana\n", encoding="utf-8")
    (export / "Staff.csv").write_text("code,given\nT1,Bo\n", encoding="utf-8")
    (export / "staff.csv").write_text("code,given\nT2,Cy\n", encoding="utf-8")
    if len(list(export.iterdir())) < 3:
        pytest.skip("the file system does not tell Staff.csv from staff.csv")
    write_project(project, connection="{files: export}")
    assert _plan(project, "", monkeypatch).code == 0
    write_project(project, connection="{files: export}", query="SELECT code, given FROM staff")
    ran = _plan(project, "", monkeypatch)
    assert (ran.code, ran.out) == (
        3,
        "stmarys/people: error: tenant stmarys, spec people, connection sms: "
        f"{export / 'staff.csv'}: two files give the table 'staff'\nno file written\n",
    )
