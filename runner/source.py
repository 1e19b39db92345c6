"""Sources: the rows a spec's query returns, streamed from a database or from CSV files.

Both kinds are queried with the spec's SQL through SQLAlchemy Core, parameters always bound. A folder of
CSV files (an SMS export, a OneRoster or School Data Sync bundle) is loaded into a temporary SQLite file,
one table per file, every value as text; only the tables and columns the query reads are loaded, found by
asking SQLite itself while it prepares the query. A query that only picks columns of one file (SELECT a, b
FROM t) reads them from the file itself instead, as the rows are needed: the same rows loading and
querying would give (tests/test_sources_direct.py holds the two to each other). Rows are never held all
at once.

Failures say which connection (password masked) and what happened: exit 3 when the source is at fault
(unreachable, refused, a broken export), exit 2 when the spec is (a missing table or column, bad SQL).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runner.csvfile import FIELD_LIMIT
from runner.dburl import EXTRAS, engine_url
from runner.errors import QueryError, SourceError, SyncError, UsageError, Where
from runner.numbers import number
from runner.records import record
from runner.secrets import remember_url, resolve
from runner.spec import Connection
from runner.suggest import did_you_mean

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


# What a driver's error says about the query, by the driver's own class and codes (never its English
# message): SQLite's result code SQLITE_ERROR (1) is an SQL error (syntax, no such table or column, misuse of
# a function); its other codes (busy, locked, I/O, corrupt, not a database...) are the file's or the disk's.
_SQLITE_ERROR = 1
# MySQL and MariaDB error numbers that mean the query does not fit the database.
_MYSQL_QUERY_FAULTS = frozenset(
    {
        *(1064, 1149),  # a syntax error
        *(1146, 1109, 1054, 1052),  # no such table or column, an ambiguous column
        *(1305, 1630, 1582, 1583),  # no such function, wrong arguments to one
        *(1055, 1111, 1140),  # grouping misused
        *(1060, 1066, 1222, 1241, 1248),  # a name used twice, a subquery of the wrong shape
    }
)
# PostgreSQL's SQLSTATE class 42: syntax error or access rule violation, less the access rules (42501,
# insufficient privilege): the account's rights are the database's to grant, and a grant revoked under a
# scheduled run is an outside failure (exit 3), as MySQL's 1142 and 1143 are.
_POSTGRES_QUERY_FAULTS = "42"
_POSTGRES_NOT_THE_QUERYS = frozenset({"42501"})
_BATCH = 2000
# SQLAlchemy's own patterns for text(): a :name parameter, and a backslash-escaped colon.
PARAM_PATTERN = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)", re.UNICODE)
_ESCAPED_COLON = re.compile(r"\x5c(:[\w\$]*)(?![:\w\$])")
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")
_NO_SUCH_TABLE = re.compile(r"no such table: (?:main\.)?(.+)$")
_SQLITE_ALIASES = {"sqlite_schema": "sqlite_master", "sqlite_temp_schema": "sqlite_temp_master"}


QUERY_RETURNS = "the query returns"


@dataclass
class Rows:
    """A query's result: its column names, and its rows as tuples (read once, in order). `origin` says
    where the columns come from, in messages: `the query returns` (code, given), `the test rows have`."""

    columns: tuple[str, ...]
    rows: Iterable[Sequence[Any]]
    origin: str = QUERY_RETURNS
    size: int | None = None  # about how many rows there are, when the source knows (a hint, not a count)
    text: bool = False  # every value is known to be text (str), never binary: nothing to decode

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.rows)


class Source(Protocol):
    """Anything that runs a spec's query: a database, CSV files, or the rows of a spec test."""

    def query(self, sql: str, params: Mapping[str, Any]) -> contextlib.AbstractContextManager[Rows]:
        """Run `sql` with `params` bound; the rows stream while the context is open."""
        ...


Loading = Callable[[str, int], None]
"""Told, as a CSV source loads, the file's name and the records loaded so far (0 as each file starts)."""

LOADING_EVERY = 10_000  # records between two calls of a Loading


def open_source(
    connection: Connection,
    *,
    environ: Mapping[str, str],
    root: Path,
    where: Where,
    loading: Loading | None = None,
) -> Source:
    """The source behind `connection` (secrets resolved from `environ`, paths relative to `root`); a CSV
    source tells `loading` how its files load."""
    if connection.files is not None:
        return CsvFiles(
            connection.files, connection.encoding, connection.delimiter, where=where, loading=loading
        )
    assert connection.url is not None
    url = connection.url
    if not isinstance(url, str):
        url = resolve(url, environ, what=f"{where}: url", mask=False)
        remember_url(url)
    return Database(url, root=root, where=where)


# --- databases ---------------------------------------------------------------------------------


class Database:
    """A database reached by URL through SQLAlchemy (SQLite, PostgreSQL, MySQL/MariaDB, SQL Server)."""

    def __init__(self, url: str, *, root: Path, where: Where):
        from sqlalchemy.exc import ArgumentError

        try:
            self.url = _absolute_sqlite(engine_url(url), root)
        except ArgumentError as err:
            raise UsageError("the connection URL is not a database URL", where=where) from err
        except ValueError as err:  # SQLAlchemy's int() of the port (not shown: parsed apart from the
            # URL's other parts, it could show a piece of a password)
            raise UsageError(
                "the connection URL's port is not a number",
                where=where,
                hint="write the URL as kind://user:password@host:port/database, the port in digits",
            ) from err
        self.where = where
        self.display = self.url.render_as_string(hide_password=True)

    def _fail(self, message: str, err: BaseException, *, spec_fault: bool = False) -> Exception:
        return _failure(self.display, self.where, message, err, spec_fault=spec_fault)

    @contextlib.contextmanager
    def query(self, sql: str, params: Mapping[str, Any]) -> Iterator[Rows]:
        """Run the query on a fresh connection, streaming rows in batches."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        engine = self._engine()
        try:
            try:
                connection = engine.connect()
            except SQLAlchemyError as err:
                raise self._fail("cannot connect", err) from err
            with connection:
                if engine.dialect.name == "sqlite":
                    with self._sqlite(connection, sql, params) as rows:
                        yield rows
                    return
                options = connection.execution_options(stream_results=True, yield_per=_BATCH)
                try:
                    result = options.execute(text(sql), dict(params))
                except SQLAlchemyError as err:
                    spec_fault = _server_query_fault(engine.dialect.name, err)
                    failure = self._fail("the query failed", err, spec_fault=spec_fault)
                    if spec_fault and isinstance(failure, SyncError):
                        failure.hint = self._column_hint(engine, sql, err)
                    raise failure from err
                try:
                    yield Rows(tuple(result.keys()), self._stream(result))
                finally:
                    # An unread remainder must not outlive the run: SQLite would keep the file locked,
                    # a server-side cursor would stay open, PyMySQL would warn on the next query.
                    with contextlib.suppress(SQLAlchemyError):
                        result.close()
        finally:
            engine.dispose()

    def _sqlite(self, connection: Any, sql: str, params: Mapping[str, Any]) -> Any:
        db = connection.connection.driver_connection
        return sqlite_query(db, sql, params, self._fail, functools.partial(_sqlite_columns, db))

    def _column_hint(self, engine: Any, sql: str, err: Exception) -> str | None:
        """For a column the server does not know: the nearest name, and the columns of the tables the query
        names (read on a connection of their own: the query's may be in a failed transaction)."""
        from sqlalchemy import inspect
        from sqlalchemy.exc import SQLAlchemyError

        dialect = engine.dialect.name
        missing = _missing_column(dialect, err)
        if missing is None:
            return None
        names = names_in(sql)
        try:
            inspector = inspect(engine)
            found = [
                t for t in (*inspector.get_table_names(), *inspector.get_view_names()) if t.lower() in names
            ]
            tables = {t: [c["name"] for c in inspector.get_columns(t)] for t in found}
        except SQLAlchemyError:  # no hint then; the error itself says what is wrong
            return None
        return column_hint(missing, tables, folds=dialect == "postgresql")

    def _stream(self, result: Any) -> Iterator[Sequence[Any]]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield from result
        except SQLAlchemyError as err:
            raise self._fail("reading rows failed", err) from err

    def _engine(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import NoSuchModuleError
        from sqlalchemy.pool import NullPool

        backend = self.url.get_backend_name()
        database = self.url.database
        if backend == "sqlite" and database not in (None, "", ":memory:") and not Path(database).is_file():
            # sqlite3 would quietly create an empty database and the query would find no table
            raise SourceError(f"{self.display}: no such database file", where=self.where)
        try:
            return create_engine(self.url, poolclass=NullPool)
        except NoSuchModuleError as err:
            raise UsageError(
                f"{self.display}: unknown database kind {self.url.drivername!r}", where=self.where
            ) from err
        except ModuleNotFoundError as err:
            extra = EXTRAS.get(backend, backend)
            raise UsageError(
                f"{self.display}: the database driver {err.name!r} is not installed",
                where=self.where,
                hint=f"pip install 'infiniti-sync[{extra}]'",
            ) from err


Fail = Callable[..., Exception]


def qmark(sql: str) -> tuple[str, list[str]]:
    """`sql` with its :name parameters as SQLite's `?`, and the names in order, exactly as SQLAlchemy's
    text() reads them (`\\:` escapes a colon; `::` is a cast, not a parameter)."""
    names: list[str] = []

    def bind(match: re.Match[str]) -> str:
        names.append(match[1])
        return "?"

    return _ESCAPED_COLON.sub(r"\1", PARAM_PATTERN.sub(bind, sql)), names


@contextlib.contextmanager
def sqlite_query(
    db: sqlite3.Connection, sql: str, params: Mapping[str, Any], fail: Fail, describe: Describe | None = None
) -> Iterator[Rows]:
    """Run `sql` on SQLite's own cursor, parameters bound; rows are read in C as they are needed. A column
    that does not exist gets a hint from `describe` (the tables the query names, with their columns)."""
    statement, names = qmark(sql)
    missing = [name for name in names if name not in params]
    if missing:
        raise fail(
            "the query failed",
            ValueError(f"A value is required for bind parameter {missing[0]!r}"),
            spec_fault=True,
        )
    try:
        cursor = db.execute(statement, [params[name] for name in names])
    except sqlite3.Error as err:
        failure = fail("the query failed", err, spec_fault=_sqlite_query_fault(err))
        unknown = _SQLITE_NO_SUCH_COLUMN.match(str(err))
        if unknown and describe is not None and isinstance(failure, SyncError):
            failure.hint = column_hint(unknown[1], describe(names_in(sql)))
        raise failure from err
    try:
        columns = tuple(d[0] for d in cursor.description or ())
        yield Rows(columns, _sqlite_rows(cursor, fail))
    finally:
        cursor.close()


def _sqlite_rows(cursor: sqlite3.Cursor, fail: Fail) -> Iterator[Sequence[Any]]:
    try:
        yield from cursor
    except sqlite3.Error as err:
        raise fail("reading rows failed", err) from err


def _absolute_sqlite(url: URL, root: Path) -> URL:
    """A relative SQLite path is relative to the project file, like every other path."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or os.path.isabs(database):
        return url
    return url.set(database=str(root / database))


def _sqlite_query_fault(err: sqlite3.Error) -> bool:
    """Whether SQLite's error is the query's: an SQL error, or a statement Python's sqlite3 refuses
    (more than one statement, a parameter it cannot bind)."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is None:  # raised by the sqlite3 module itself, about the statement or its parameters
        return isinstance(err, sqlite3.ProgrammingError | sqlite3.InterfaceError | sqlite3.Warning)
    return bool(code & 0xFF == _SQLITE_ERROR)  # the primary result code, without the extended part


def _server_query_fault(dialect: str, err: Exception) -> bool:
    """Whether a server's error is the query's: PostgreSQL's SQLSTATE class 42, MySQL's and MariaDB's
    error numbers above; other drivers by DB-API's ProgrammingError (pymssql sorts SQL Server's errors).
    An error SQLAlchemy raises before any driver sees the statement (a parameter without a value) is too."""
    from sqlalchemy.exc import DBAPIError, ProgrammingError

    if not isinstance(err, DBAPIError):
        return True
    orig = err.orig
    if dialect == "postgresql":
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)  # psycopg 3, psycopg2
        return (
            isinstance(state, str)
            and state.startswith(_POSTGRES_QUERY_FAULTS)
            and state not in _POSTGRES_NOT_THE_QUERYS
        )
    if dialect in ("mysql", "mariadb"):
        number = (getattr(orig, "args", None) or (None,))[0]
        return number in _MYSQL_QUERY_FAULTS
    return isinstance(err, ProgrammingError)


def _failure(
    display: str, where: Where, message: str, err: BaseException, *, spec_fault: bool = False
) -> Exception:
    """A source's failure: QueryError (exit 2) when the spec is at fault, else SourceError (exit 3)."""
    cls = QueryError if spec_fault else SourceError
    return cls(f"{display}: {message}: {_reason(err)}", where=where)


def _reason(err: BaseException) -> str:
    """The driver's own message, first line, without SQLAlchemy's decorations."""
    orig = getattr(err, "orig", None)
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = f"{args[1]} (error {args[0]})"  # PyMySQL and pymssql: (code, message)
    else:
        text = _BACKGROUND.sub("", str(orig if orig is not None else err)).strip()
    return text.splitlines()[0] if text else type(err).__name__


# --- a column the query names that does not exist: the nearest name, and the tables' columns ----------

Describe = Callable[[set[str]], Mapping[str, Sequence[str]]]  # names in the query -> its tables' columns
_SQLITE_NO_SUCH_COLUMN = re.compile(r"no such column: (\S+)")
_POSTGRES_UNDEFINED_COLUMN = "42703"
_POSTGRES_COLUMN = re.compile(r'column (?:"([^"]+)"|(\S+)) does not exist')
_MYSQL_UNKNOWN_COLUMN = 1054
_MYSQL_COLUMN = re.compile(r"Unknown column '([^']+)'")
_SQL_NOT_NAMES = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)  # strings and comments
_SQL_NAME = re.compile(r'"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][\w$]*)')
COLUMNS_SHOWN = 40  # of each table, in a hint


def names_in(sql: str) -> set[str]:
    """Every name `sql` writes (bare or quoted, in lower case), its strings and comments left out: the
    tables it reads are among them."""
    text = _SQL_NOT_NAMES.sub(" ", sql)
    return {next(g for g in m.groups() if g).replace('""', '"').lower() for m in _SQL_NAME.finditer(text)}


def _named(tables: Mapping[str, Sequence[str]], names: set[str]) -> Mapping[str, Sequence[str]]:
    """The tables among `names` (all of them when the query names none, as a query of a view may not)."""
    return {t: cols for t, cols in tables.items() if t.lower() in names} or tables


def _sqlite_columns(db: sqlite3.Connection, names: set[str]) -> Mapping[str, Sequence[str]]:
    """The tables and views of a SQLite database among `names`, with their columns."""
    try:
        found = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        return {
            t: [r[1] for r in db.execute(f"PRAGMA table_info({_quote(t)})")]
            for t in found
            if t.lower() in names
        }
    except sqlite3.Error:  # no hint then
        return {}


def _missing_column(dialect: str, err: Exception) -> str | None:
    """The column a server says does not exist (PostgreSQL's SQLSTATE 42703, MySQL's and MariaDB's error
    1054), from the driver's message; None for any other error."""
    orig = getattr(err, "orig", None)
    if dialect == "postgresql":
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        found = _POSTGRES_COLUMN.match(str(orig)) if state == _POSTGRES_UNDEFINED_COLUMN else None
        return None if found is None else found[1] or found[2]
    if dialect in ("mysql", "mariadb"):
        args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
        if len(args) == 2 and args[0] == _MYSQL_UNKNOWN_COLUMN and isinstance(args[1], str):
            found = _MYSQL_COLUMN.match(args[1])
            return None if found is None else found[1]
    return None


def column_hint(column: str, tables: Mapping[str, Sequence[str]], *, folds: bool = False) -> str | None:
    """`did you mean 'familyName'?` and the columns of `tables` (the ones the query names); `folds`: the
    database reads a name without quotes in lower case (PostgreSQL), so a name with capitals needs them."""
    name = column.rpartition(".")[2]  # u.familyNme: the alias is not a table's name
    known = [c for cols in tables.values() for c in cols]
    if not known:
        return None
    meant = did_you_mean(name, known)
    said = ""
    if meant is not None and folds and meant != meant.lower():
        said = (
            f'did you mean "{meant}", in double quotes (PostgreSQL reads a name without them in lower case)? '
        )
    elif meant is not None:
        said = f"did you mean {meant!r}? "
    return said + "; ".join(f"{t} has {_columns(cols)}" for t, cols in tables.items())


def _columns(names: Sequence[str]) -> str:
    more = f" and {len(names) - COLUMNS_SHOWN} more" if len(names) > COLUMNS_SHOWN else ""
    return ", ".join(names[:COLUMNS_SHOWN]) + more if names else "no columns"


# --- CSV files ---------------------------------------------------------------------------------


@record
class _Table:
    name: str
    path: Path
    header: tuple[str, ...]
    named: int  # the columns up to the header's last named one: a row may stop after them


class CsvFiles:
    """A CSV file or a folder of them, queried with SQL in a temporary SQLite database."""

    def __init__(
        self, path: Path, encoding: str, delimiter: str, *, where: Where, loading: Loading | None = None
    ):
        self.path = path
        self.loading = loading
        self.encoding = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        self.delimiter = delimiter
        self.where = where

    def _files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if self.path.is_dir():
            return sorted(p for p in self.path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
        raise SourceError(f"{self.path}: no such file or folder", where=self.where)

    def _fail(self, path: Path, message: str) -> SourceError:
        return SourceError(f"{path}: {message}", where=self.where)

    def _reader(self, handle: Iterable[str]) -> Any:
        return csv.reader(handle, delimiter=self.delimiter, strict=True)

    def _header(self, path: Path) -> _Table | SourceError:
        """The table `path` gives, or what makes it unusable (an error only if the query reads it:
        an export folder may hold files the spec never looks at)."""
        with self._open(path) as handle:
            try:
                header = next(self._reader(handle), None)
            except (csv.Error, UnicodeError) as err:
                return self._read_error(path, err, 1)
        if not header:
            return self._fail(path, "the file is empty; a CSV source needs at least a header row")
        header[0] = header[0].removeprefix("\ufeff")  # a byte order mark that the encoding keeps (utf-16-le)
        # A column without a name (Excel's trailing commas) is named after its position: column_10.
        names = [h.strip() or f"column_{i}" for i, h in enumerate(header, 1)]
        problem = _header_problem(names)
        if problem:
            return self._fail(path, problem)
        named = len(header) - next((i for i, h in enumerate(reversed(header)) if h.strip()), len(header))
        return _Table(path.stem, path, tuple(names), named)

    def columns(self) -> dict[str, tuple[str, ...]]:
        """The tables the files give and their columns, by table name (files that cannot be one left out)."""
        return {name: table.header for name, table in self._tables()[0].items()}

    def _open(self, path: Path) -> Any:
        try:
            return path.open(encoding=self.encoding, newline="")
        except LookupError as err:
            raise UsageError(f"unknown encoding {self.encoding!r}", where=self.where) from err
        except OSError as err:
            raise self._fail(path, f"cannot read: {err.strerror}") from err

    def _read_error(self, path: Path, err: Exception, line: int) -> SourceError:
        if isinstance(err, UnicodeDecodeError):
            line, err = _undecodable(path, self.encoding, line, err)
            return self._fail(
                path,
                f"line {line}: byte 0x{err.object[err.start]:02x} is not valid {err.encoding}; "
                "set the connection's encoding (for example cp1252) or export as UTF-8",
            )
        if isinstance(err, UnicodeError):  # the codec's own complaint: UTF-16 without a byte order mark
            return self._fail(
                path,
                f"line {line}: cannot be read as {self.encoding}: {err}; set the connection's encoding "
                "to the file's (utf-16-le or utf-16-be for UTF-16 without a byte order mark)",
            )
        reason = str(err)
        if reason == "unexpected end of data":
            reason = "a quoted field that starts here is never closed"
        elif reason.startswith("field larger than field limit"):
            reason = f"a cell is longer than {number(FIELD_LIMIT)} characters"
        return self._fail(path, f"line {line}: malformed CSV: {reason}")

    def _tables(self) -> tuple[dict[str, _Table], dict[str, SourceError]]:
        """The tables the files give, and by table name in lower case what keeps the others from being one."""
        tables: dict[str, _Table] = {}
        unusable: dict[str, SourceError] = {}
        for path in self._files():
            table, key = self._header(path), _table_key(path.stem)
            if key in unusable or key in tables:
                tables.pop(key, None)
                unusable[key] = self._fail(path, f"two files give the table {path.stem!r}")
            elif isinstance(table, SourceError):
                unusable[key] = table
            elif key.startswith("sqlite_"):
                unusable[key] = self._fail(
                    path,
                    f"SQLite, which runs the query, keeps table names that start with sqlite_ for itself, "
                    f"so no query can read {path.stem!r}; rename the file",
                )
            else:
                tables[key] = table
        return {t.name: t for t in tables.values()}, unusable

    @contextlib.contextmanager
    def query(self, sql: str, params: Mapping[str, Any]) -> Iterator[Rows]:
        """Load the tables the query reads into a temporary SQLite file, then run it there; a query that
        only picks columns of one file reads them from the file itself (`_projection`)."""
        tables, unusable = self._tables()
        direct = _projection(sql, tables) if _text_only(self.encoding) else None
        if direct is not None:
            with self._direct(*direct) as rows:
                yield rows
            return
        with contextlib.ExitStack() as scratch:
            if sum(t.path.stat().st_size for t in tables.values()) <= IN_MEMORY:
                db = sqlite3.connect(":memory:")
            else:
                folder = scratch.enter_context(tempfile.TemporaryDirectory(prefix="infiniti-sync-"))
                db = sqlite3.connect(Path(folder) / "source.db")
            scratch.callback(db.close)
            others, loaded = self._load(db, tables, sql, params)
            for name in others:
                if name in unusable:  # a table SQLite keeps for itself, read instead of the file
                    raise unusable[name]
            headers = {t.name: t.header for t in tables.values()}
            try:
                with sqlite_query(
                    db, sql, params, self._query_fail, functools.partial(_named, headers)
                ) as rows:
                    rows.size = loaded
                    yield rows
            except QueryError as err:
                missing = _NO_SUCH_TABLE.search(err.message)
                if missing and _table_key(missing[1]) in unusable:
                    raise unusable[_table_key(missing[1])] from err
                if missing:
                    err.hint = f"the files give the tables: {', '.join(tables) or 'none'}"
                raise

    def _query_fail(self, message: str, err: BaseException, *, spec_fault: bool = False) -> Exception:
        return _failure(str(self.path), self.where, message, err, spec_fault=spec_fault)

    def _load(
        self, db: sqlite3.Connection, tables: Mapping[str, _Table], sql: str, params: Mapping[str, Any]
    ) -> tuple[set[str], int]:
        """Fill `db` with the tables the query reads; return the others it reads (SQLite's own), and the
        most records loaded into one table (about the rows a query of one table returns)."""
        for pragma in ("page_size=65536", "journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE"):
            db.execute(f"PRAGMA {pragma}")
        with contextlib.closing(_schema(tables, sqlite3.connect(":memory:"))) as schema:
            reads, others = _reads(schema, sql, params, tables)
        # A table the query reads holds only the columns it reads (smaller rows load and read faster);
        # the others are created whole and empty, so that SQLite words any error as it would anyway.
        _schema(
            {
                name: _Table(name, t.path, tuple(reads.get(name, t.header)), t.named)
                for name, t in tables.items()
            },
            db,
        )
        loaded = max((self._fill(db, tables[name], cols) for name, cols in reads.items()), default=0)
        db.commit()
        return others, loaded

    def _fill(self, db: sqlite3.Connection, table: _Table, columns: Sequence[str]) -> int:
        """Load `columns` of `table`'s file; the number of records loaded."""
        positions = [table.header.index(c) for c in columns]
        names = ", ".join(_quote(c) for c in columns)
        marks = ", ".join("?" * len(columns))
        insert = f"INSERT INTO {_quote(table.name)} ({names}) VALUES ({marks})"
        with self._open(table.path) as handle:
            told = None if self.loading is None else functools.partial(self.loading, table.path.name)
            records = _Records(self._reader(handle), len(table.header), positions, table.named, told)
            try:
                db.executemany(insert, records)
            except (_RowWidth, csv.Error, UnicodeError) as err:
                raise self._broken(table, records, err) from _cause(err)
        return records.count

    def _broken(self, table: _Table, records: _Records, err: Exception) -> SourceError:
        """What a broken record of `table`'s file is, as a message naming its line."""
        if isinstance(err, _RowWidth):
            wrong = self._fail(
                table.path, f"line {records.start}: {err.found} fields where the header has {err.wanted}"
            )
            wrong.hint = _width_hint(table)
            return wrong
        return self._read_error(table.path, err, records.start)

    @contextlib.contextmanager
    def _direct(self, table: _Table, positions: Sequence[int], columns: tuple[str, ...]) -> Iterator[Rows]:
        """The cells at `positions` of each record of `table`'s file, read as the query's rows stream:
        what loading the file and running the query would give, without the temporary database."""
        with self._open(table.path) as handle:
            feed = _Feed(handle)
            records = _Records(self._reader(feed), len(table.header), positions, table.named)
            records.feed, records.delimiter = feed, self.delimiter
            rows = records.cells(functools.partial(self._broken, table, records))
            try:
                yield Rows(columns, rows, size=_records_about(table.path), text=True)
            except Exception:
                # Loaded first, a broken file would have been reported before anything the caller found
                # wrong while it read the rows: so it is here too.
                for _ in rows:
                    pass
                raise


def _undecodable(
    path: Path, encoding: str, line: int, err: UnicodeDecodeError
) -> tuple[int, UnicodeDecodeError]:
    """The line of the first byte that does not decode, and its error, found in the whole file.

    The reader decodes ahead in blocks, so the line it had reached is not where the byte is.
    """
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as found:
        return data[: found.start].decode(encoding, errors="replace").count("\n") + 1, found
    return line, err


def _cause(err: Exception) -> Exception | None:
    """The cause a broken record's error names: none for a record of the wrong width (its own message
    says it all), else the reader's error."""
    return None if isinstance(err, _RowWidth) else err


class _RowWidth(Exception):
    def __init__(self, found: int, wanted: int):
        super().__init__(f"{found} != {wanted}")
        self.found, self.wanted = found, wanted


def _width_hint(table: _Table) -> str:
    """What a line of the wrong width should be, for the message."""
    width = len(table.header)
    if table.named < width:
        return (
            f"a line has {width} fields, or stops after the header's last named column "
            f"({table.header[table.named - 1]!r}, field {table.named}): the empty-named columns after it "
            "may be left out; look for a comma too many or too few on the line, or export the file again"
        )
    return (
        f"every line has {width} fields, as the header does; look for a comma too many or too few "
        "(a cell holding a comma must be in double quotes), or export the file again"
    )


class _Records:
    """The wanted cells of each record after the header, the line where the record being read starts, and
    how many were read; `told` (if any) is told the count at the start, then every LOADING_EVERY records.

    Blank lines are skipped. A record that stops before the header's trailing empty-named columns has
    them empty (a OneRoster 1.2 roles.csv ends its header with `,,` and its rows without them); a record
    of any other width is an error.
    """

    def __init__(
        self,
        reader: Any,
        width: int,
        positions: Sequence[int],
        named: int,
        told: Callable[[int], None] | None = None,
    ):
        from operator import itemgetter

        self.reader, self.width, self.told = reader, width, told
        self.shortest = max(named, 1)
        self.pick = itemgetter(*positions) if len(positions) > 1 else (lambda r: (r[positions[0]],))
        # the cells `_split` cuts a whole line into: up to the last wanted one, and the rest (which holds
        # the line break); 0 when the last cell is wanted, whose end is then the line's
        last = max(positions, default=width - 1)  # none wanted (a count of the rows): split whole
        self.cut = last + 1 if last < width - 1 else 0
        self.start = 1
        self.count = 0
        # `reader`'s lines, when `cells` may split a line itself (see there), with the reader's delimiter
        self.feed: _Feed | None = None
        self.delimiter = ","

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        reader, width, pick, shortest = self.reader, self.width, self.pick, self.shortest
        told = self.told or (lambda n: None)
        next(reader, None)  # the header, read already
        start = reader.line_num + 1
        told(0)
        n = 0
        try:
            for record in reader:
                if len(record) == width:
                    yield pick(record)
                elif shortest <= len(record) < width:
                    yield pick(record + [""] * (width - len(record)))
                elif record:
                    raise _RowWidth(len(record), width)
                else:  # a blank line
                    start = reader.line_num + 1
                    continue
                n += 1
                if not n % LOADING_EVERY:
                    told(n)
                start = reader.line_num + 1
        finally:
            self.start = start  # where the record being read began, for messages
            self.count = n

    def cells(self, broken: Callable[[Exception], Exception]) -> Iterator[tuple[str, ...]]:
        """The records' wanted cells, as iterating gives them, for a reader that is told nothing and
        counts nothing (a query's rows read from the file): the same loop with less to do a record.
        `broken` makes a broken record's error (a record of the wrong width, bad quoting or bytes).
        The generator itself, not one that yields from it: a record then costs one resumption."""
        return self._split(broken) if self.feed is not None else self._read(broken)

    def _read(self, broken: Callable[[Exception], Exception]) -> Iterator[tuple[str, ...]]:
        """`cells`, each record read by the csv reader."""
        reader, width, pick, shortest = self.reader, self.width, self.pick, self.shortest
        next(reader, None)  # the header, read already
        end = reader.line_num  # where the last record read ended
        try:
            for record in reader:
                if len(record) == width:
                    yield pick(record)
                elif shortest <= len(record) < width:
                    yield pick(record + [""] * (width - len(record)))
                elif record:
                    raise _RowWidth(len(record), width)
                end = reader.line_num
        except (_RowWidth, csv.Error, UnicodeError) as err:
            self.start = end + 1
            raise broken(err) from _cause(err)

    def _split(self, broken: Callable[[Exception], Exception]) -> Iterator[tuple[str, ...]]:
        """`cells`, with each line that holds no quote split at the delimiter here: what the csv module
        makes of such a line (the file is read with newline="", so a line's only line break is its
        last), at a fraction of the cost; a line with a quote goes to the reader, which reads on for a
        quoted line break. A line of the header's width (one delimiter fewer than cells) is cut only as
        far as the last wanted cell when that is not its last (`cut`): the cells after it are never
        made. The reader's line count and the lines read here make `end`."""
        reader, width, pick, shortest = self.reader, self.width, self.pick, self.shortest
        assert self.feed is not None
        feed, lines, delimiter = self.feed, self.feed.lines, self.delimiter
        cut, delimiters = self.cut, width - 1
        next(reader, None)  # the header, read already
        end = reader.line_num  # where the last record read ended
        try:
            for line in lines:
                if '"' in line:
                    feed.first = line
                    before = reader.line_num
                    record = next(reader)
                    read = reader.line_num - before
                elif cut and line.count(delimiter) == delimiters:
                    yield pick(line.split(delimiter, cut))
                    end += 1
                    continue
                elif body := line.rstrip("\r\n"):
                    record, read = body.split(delimiter), 1
                else:  # a blank line
                    end += 1
                    continue
                if len(record) == width:
                    yield pick(record)
                elif shortest <= len(record) < width:
                    yield pick(record + [""] * (width - len(record)))
                elif record:
                    raise _RowWidth(len(record), width)
                end += read
        except (_RowWidth, csv.Error, UnicodeError) as err:
            self.start = end + 1
            raise broken(err) from _cause(err)


class _Feed:
    """The lines of a file for a csv reader, and a line given back to it first (`first`): the records
    of a file that `_Records.cells` reads partly itself."""

    def __init__(self, lines: Iterator[str]):
        self.lines = lines
        self.first: str | None = None

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = self.first
        if line is None:
            return next(self.lines)
        self.first = None
        return line


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_key(name: str) -> str:
    """A table's name as SQLite compares it (case-insensitively), its own sqlite_schema by its old name."""
    key = name.lower()
    return _SQLITE_ALIASES.get(key, key)


def _header_problem(names: Sequence[str]) -> str | None:
    """What keeps a header's column names from being a SQLite table's, if anything."""
    for i, name in enumerate(names):
        if "\x00" in name:
            return f"line 1: the name of column {i + 1} contains a NUL character, which a name cannot hold"
        if name.lower() in (n.lower() for n in names[:i]):
            return f"column {name!r} appears twice in the header"
    most = _max_columns()
    if len(names) > most:
        return (
            f"the header has {number(len(names))} columns, more than the {number(most)} that SQLite, which "
            "runs the query, holds in one table; export only the columns the spec reads"
        )
    return None


@functools.cache
def _max_columns() -> int:
    """The most columns a table may have in the SQLite Python was built with (2,000 unless set otherwise)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        return db.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)


def _schema(tables: Mapping[str, _Table], db: sqlite3.Connection) -> sqlite3.Connection:
    """Create the tables (every column as text) in `db`; return it."""
    for table in tables.values():
        definition = ", ".join(f"{_quote(c)} TEXT" for c in table.header)
        db.execute(f"CREATE TABLE {_quote(table.name)} ({definition})")
    return db


def _reads(
    db: sqlite3.Connection, sql: str, params: Mapping[str, Any], tables: Mapping[str, _Table]
) -> tuple[dict[str, list[str]], set[str]]:
    """The columns of each table that `sql` reads, as SQLite reports them while preparing it, and the
    other tables it reads (SQLite's own, such as sqlite_master), by name in lower case."""
    read: dict[str, list[str]] = {}
    others: set[str] = set()
    by_lower = {_table_key(name): name for name in tables}

    def authorizer(action: int, table: str | None, column: str | None, *_: Any) -> int:
        name = by_lower.get(_table_key(table or ""))
        if action == sqlite3.SQLITE_READ and name is None and table:
            others.add(_table_key(table))
        elif action == sqlite3.SQLITE_READ and name is not None:
            columns = read.setdefault(name, [])
            header = {c.lower(): c for c in tables[name].header}
            found = header.get((column or "").lower())
            if found is None:
                read[name] = list(header.values())  # the rowid or something unforeseen: load it all
            elif found not in columns:
                columns.append(found)
        return sqlite3.SQLITE_OK

    statement, names = qmark(sql)
    values = [params.get(name) for name in names]
    db.set_authorizer(authorizer)
    try:
        opened = _opened_tables(db, f"EXPLAIN {statement}", values)
    except sqlite3.Error:
        opened = set()  # the real query will report what is wrong, with the same wording
    finally:
        db.set_authorizer(None)
    for name in opened:
        if not read.get(name):  # opened without reading a column (count(*)): load it whole
            read[name] = list(tables[name].header)
    return {name: columns for name, columns in read.items() if columns}, others


def _opened_tables(db: sqlite3.Connection, explain: str, values: Sequence[Any]) -> set[str]:
    roots = {
        page: name for name, page in db.execute("SELECT name, rootpage FROM sqlite_master WHERE type='table'")
    }
    opened = set()
    for row in db.execute(explain, values):
        if row[1] == "OpenRead" and row[3] in roots:
            opened.add(roots[row[3]])
    return opened


# A query that only picks columns of one table: SELECT * or names (bare or quoted), FROM one name, an
# optional semicolon. What the names mean is SQLite's to say (see _projection); this only rules out
# anything else (WHERE, JOIN, ORDER BY, DISTINCT, LIMIT, expressions, aliases, comments).
# A bare name is an ASCII letter or underscore, or any character past ASCII, then those, digits and `$`.
# The keywords alone ignore case: a class over every code point compiled with IGNORECASE folds each one
# (17 ms at every start-up), where these compile in 1 ms.
_BARE = r"(?:[A-Za-z_]|[^\x00-\x7f])(?:[\w$]|[^\x00-\x7f])*"
_NAME = rf'(?:{_BARE}|"(?:[^"]|"")+"|\[[^\]]+\]|`(?:[^`]|``)+`)'
_PROJECTION = re.compile(rf"\s*(?i:SELECT)\s+(?:\*|{_NAME}(?:\s*,\s*{_NAME})*)\s+(?i:FROM)\s+{_NAME}\s*;?\s*")
# Codecs whose decoder never gives a lone surrogate (which SQLite, storing text as UTF-8, would refuse):
# the only way text read from a file could differ between the file and the temporary database.
# Files this small in all (bytes) are loaded into a SQLite database in memory, not a temporary file: a
# thousand small tenants' runs made and deleted a folder and a file each (on a file system without a
# journal, every file made just after many were deleted costs the kernel a search past them).
IN_MEMORY = 8 * 2**20
_UNICODE_CODECS = frozenset(
    ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")
)
_LATIN_1 = frozenset(("ascii", "iso8859-1"))


def _projection(sql: str, tables: Mapping[str, _Table]) -> tuple[_Table, list[int], tuple[str, ...]] | None:
    """For a query that only picks columns of one file's table, that table, the header positions of
    the columns it returns and their names; None for any other query, or one SQLite would refuse (then
    the file is loaded and the query run, so that SQLite words the error).

    SQLite itself resolves the names: the query is prepared on the tables with no rows, and each
    column it returns must be one read of a column of that table (SQLite reports every read), in order.
    A name SQLite takes for something else (NULL, CURRENT_DATE, a double-quoted string) reads no column
    or a nameless one, so the query is not one. A full scan returns the rows in the order they were
    loaded, which is the file's: reading the file gives the same rows in the same order.
    """
    statement, names = qmark(sql)
    if names or statement != sql or _PROJECTION.fullmatch(sql) is None:
        return None
    reads: list[tuple[str | None, str | None]] = []

    def authorizer(action: int, table: str | None, column: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_READ:
            reads.append((table, column))
        return sqlite3.SQLITE_OK

    with contextlib.closing(_schema(tables, sqlite3.connect(":memory:"))) as db:
        db.set_authorizer(authorizer)
        try:
            columns = tuple(d[0] for d in db.execute(sql).description or ())
        except sqlite3.Error:
            return None
    table = tables.get(reads[0][0] or "") if reads else None
    if table is None or len(reads) != len(columns):
        return None
    if any(name != table.name or column not in table.header for name, column in reads):
        return None
    return table, [table.header.index(str(column)) for _, column in reads], columns


def _text_only(encoding: str) -> bool:
    """Whether every text `encoding` decodes is Unicode (no lone surrogate): a codec of the Unicode
    family, ASCII or Latin-1, or one that maps each byte through a table holding no surrogate."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False  # the source says so when it opens the file
    if name in _UNICODE_CODECS or name in _LATIN_1:
        return True
    module = sys.modules.get(f"encodings.{name.replace('-', '_')}")
    table = getattr(module, "decoding_table", None)
    return isinstance(table, str) and not any("\ud800" <= c <= "\udfff" for c in table)


def _records_about(path: Path) -> int | None:
    """About how many records `path` holds (its size over the mean line length of its first 64 KiB):
    a hint to size tables by, never a count."""
    try:
        with path.open("rb") as handle:
            start = handle.read(1 << 16)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    return size * start.count(b"\n") // max(len(start), 1)


class StaticRows:
    """The rows of a spec test, given in the spec: the query is not run."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row))
        self.columns = tuple(columns)
        self.rows = [tuple(row.get(c) for c in self.columns) for row in rows]

    @contextlib.contextmanager
    def query(self, sql: str, params: Mapping[str, Any]) -> Iterator[Rows]:
        """The given rows, whatever the query (a key missing from a row is NULL)."""
        yield Rows(self.columns, iter(self.rows), origin="the test rows have")
