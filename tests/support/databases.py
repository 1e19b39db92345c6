"""The database servers of this machine, and SQLite files, for the tests of database sources.

PostgreSQL and MariaDB are reached at the SQLAlchemy URLs in INFINITI_SYNC_TEST_POSTGRES and
INFINITI_SYNC_TEST_MARIADB (default: the servers on 127.0.0.1). Where a server is not running, its tests
are skipped with the reason, except on CI (CI=true): there a missing server fails them, since CI must
test every kind of source.

Each test gets tables of its own, uniquely named, dropped when it ends. Import the fixtures into a test
module under the name tests use (`database = databases.database_fixture`): conftest.py is not ours.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeEngine

SERVERS = {
    "postgresql": ("INFINITI_SYNC_TEST_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/test"),
    "mariadb": ("INFINITI_SYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
KINDS = ("sqlite", "postgresql", "mariadb")
TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {"text": lambda: String(200), "integer": Integer}


@dataclass
class TestDatabase:
    """A database a test may create tables in: `url` is what a connection of a project would name."""

    __test__ = False  # not a test class, whatever its name

    kind: str
    url: str
    engine: Engine
    tables: list[Table] = field(default_factory=list)

    def table(self, columns: Mapping[str, str], rows: Sequence[Sequence[Any]] = ()) -> str:
        """A new table with these columns (name -> "text" or "integer") and rows; returns its name."""
        name = f"sync_test_{uuid.uuid4().hex[:12]}"
        table = Table(
            name,
            MetaData(),
            *(Column(c, TYPES[t]()) for c, t in columns.items()),
            mysql_charset="utf8mb4",
            mysql_collate="utf8mb4_bin",
        )
        table.create(self.engine)
        self.tables.append(table)
        if rows:
            with self.engine.begin() as connection:
                connection.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return name

    def drop(self) -> None:
        """Drop the tables this test made."""
        for table in reversed(self.tables):
            table.drop(self.engine, checkfirst=True)
        self.engine.dispose()


def server_url(kind: str) -> str:
    """The URL of the PostgreSQL or MariaDB server tests use."""
    variable, default = SERVERS[kind]
    return os.environ.get(variable) or default


def _reachable(kind: str) -> Engine:
    variable = SERVERS[kind][0]
    url = server_url(kind)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect():
            pass
    except (SQLAlchemyError, ImportError) as err:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = f"{kind} at {shown} is not reachable ({type(err).__name__}); set {variable} to a server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs every database: {reason}")
        pytest.skip(reason)
    return engine


def open_database(kind: str, folder: Path) -> TestDatabase:
    """A database of `kind`: a new SQLite file in `folder`, or the PostgreSQL or MariaDB server."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'sms.db'}"
        return TestDatabase(kind, url, create_engine(url, poolclass=NullPool))
    return TestDatabase(kind, server_url(kind), _reachable(kind))


def _opened(kind: str, tmp_path: Path) -> Iterator[TestDatabase]:
    """A database of `kind` for one test, its tables dropped afterwards."""
    db = open_database(kind, tmp_path)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(name="database", params=KINDS)
def database_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    """Each kind of database in turn: SQLite, PostgreSQL, MariaDB."""
    yield from _opened(request.param, tmp_path)


@pytest.fixture(name="postgres")
def postgres_fixture(tmp_path: Path) -> Iterator[TestDatabase]:
    """The PostgreSQL server."""
    yield from _opened("postgresql", tmp_path)


@pytest.fixture(name="mariadb")
def mariadb_fixture(tmp_path: Path) -> Iterator[TestDatabase]:
    """The MariaDB server."""
    yield from _opened("mariadb", tmp_path)
