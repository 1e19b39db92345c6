"""What `init` reads an export through: its tables and columns, and its rows through the runner's own
sources (runner/source.py), so that what init finds is what `plan` will find.

A CSV folder or file is read as a `files:` connection reads it; a database by URL, its tables and columns
found by SQLAlchemy's inspection of the URL's default schema.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.errors import UsageError, Where
from runner.init.layouts import quote
from runner.records import record
from runner.source import CsvFiles, Database, Source

_WHERE = Where()  # the message names the file or the database
_QUOTED = re.compile(r'"((?:[^"]|"")+)"')


@record
class Export:
    """An export init starts from."""

    description: str  # for messages and comments: "the CSV folder sms-export"
    connection: Mapping[str, Any]  # the project file's connection, as YAML-ready data
    connection_name: str
    tables: Mapping[str, tuple[str, ...]]
    source: Source
    quote: Callable[[str], str]  # an identifier as the source's SQL writes it
    secret_variable: str | None = None  # the variable the connection's URL is read from, if any

    def identifiers(self, sql: str) -> str:
        """`sql`, written with SQLite's quoting, with the export's table and column names as its SQL
        quotes them: PostgreSQL keeps `sourcedId` only in double quotes, MySQL quotes with backticks."""
        if self.quote is quote:
            return sql
        names = {name for table, columns in self.tables.items() for name in (table, *columns)}
        bare = sorted((n for n in names if self.quote(n) != n), key=len, reverse=True)
        quoted = _QUOTED.sub(lambda m: self.quote(m[1].replace('""', '"')), sql)
        if not bare:
            return quoted
        pattern = re.compile(r"(?<![\w\"'`])(" + "|".join(map(re.escape, bare)) + r")(?![\w\"'`])")
        return pattern.sub(lambda m: self.quote(m[1]), quoted)

    def rows(self, sql: str) -> list[Sequence[Any]]:
        """Every row `sql` returns (init reads exports of a school's size)."""
        with self.source.query(sql, {}) as result:
            return [tuple(row) for row in result]

    def manifest(self) -> str | None:
        """The OneRoster version manifest.csv gives, if there is one."""
        table = next((name for name in self.tables if name.lower() == "manifest"), None)
        if table is None or {"propertyname", "value"} - {c.lower() for c in self.tables[table]}:
            return None
        columns = {c.lower(): c for c in self.tables[table]}
        value, name = self.quote(columns["value"]), self.quote(columns["propertyname"])
        sql = f"SELECT {value} FROM {self.quote(table)} WHERE {name} = 'oneroster.version'"
        found = self.rows(sql)
        return str(found[0][0]).strip() if found else None


def open_export(given: str, project: Path, *, variable: str) -> Export:
    """The export `given` names (a CSV folder or file, or a database URL) for a project in `project`;
    a database URL with a password is written as `{env: variable}`."""
    if "://" in given:
        return _database(given, project, variable)
    path = Path(given).expanduser()
    if not path.exists():
        raise UsageError(
            f"--from {given}: no such file or folder",
            hint="give a folder of CSV files, one CSV file, or a database URL (kind://user@host/database)",
        )
    shown = _relative(path.absolute(), project)
    files = CsvFiles(path.absolute(), "utf-8", ",", where=_WHERE)
    tables = files.columns()
    if not tables:
        raise UsageError(
            f"--from {given}: no CSV file to read there" if path.is_dir() else f"--from {given}: not usable",
            hint="a files: source reads the *.csv files of a folder, one table each",
        )
    kind = "CSV folder" if path.is_dir() else "CSV file"
    return Export(f"the {kind} {given}", {"files": shown}, "export", tables, files, quote)


def _relative(path: Path, project: Path) -> str:
    """`path` relative to the project's folder (as project files write paths) when it is in that folder
    or beside it, else absolute."""
    try:
        relative = Path(os.path.relpath(path, project.absolute()))
    except ValueError:  # Windows: another drive
        return str(path)
    return relative.as_posix() if relative.parts[:2].count("..") < 2 else str(path)


def _database(given: str, project: Path, variable: str) -> Export:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(given)
    except ArgumentError as err:
        raise UsageError(f"--from: {given!r} is not a database URL") from err
    written: Any = given
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database).absolute()
        url = url.set(database=str(database))
        written = url.set(database=_relative(database, project)).render_as_string(hide_password=False)
    source = Database(url.render_as_string(hide_password=False), root=project.absolute(), where=_WHERE)
    secret = None
    if url.password:
        written, secret = {"env": variable}, variable
    tables, quoted = _inspect(source)
    if not tables:
        raise UsageError(f"--from {source.display}: the database has no table to read")
    return Export(f"the database {source.display}", {"url": written}, "sms", tables, source, quoted, secret)


def _inspect(source: Database) -> tuple[dict[str, tuple[str, ...]], Callable[[str], str]]:
    """The tables and views of the database's default schema with their columns, and its quoting."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    engine = source._engine()
    try:
        inspector = inspect(engine)
        names = [*inspector.get_table_names(), *inspector.get_view_names()]
        tables = {name: tuple(c["name"] for c in inspector.get_columns(name)) for name in names}
        return tables, engine.dialect.identifier_preparer.quote
    except SQLAlchemyError as err:
        raise source._fail("cannot read the tables", err) from err
    finally:
        engine.dispose()


def distinct(export: Export, table: str, column: str) -> Iterator[str]:
    """The values of `column` in `table`, each once."""
    sql = f"SELECT DISTINCT {export.quote(column)} FROM {export.quote(table)}"
    for (value,) in export.rows(sql):
        if value is not None and str(value).strip():
            yield str(value).strip()
