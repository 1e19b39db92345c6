"""State stores for tests: the project's SQLite file, or a schema of its own in the machine's PostgreSQL.

    store = open_store("postgresql", tmp_path / "project")   # or "sqlite"; fixture: `state_store`
    store.use(project_file)      # the project's `state:` now names this store
    store.env                    # the environment a command needs for it
    store.tables()               # every row of every table of the store, to compare before and after
    store.drop()

A PostgreSQL store lives in a new schema (the URL's search_path names it), dropped at the end, so tests
never meet each other's runs, fingerprints or locks. Where PostgreSQL is not running its tests are skipped,
except on CI (CI=true), where they fail: see tests/support/databases.py.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from tests.support.databases import open_database
from tests.support.project import Site

KINDS = ("sqlite", "postgresql")
STATE_VARIABLE = "INFINITI_SYNC_STATE_URL"
_STATE_LINE = re.compile(r"^state: .*$", re.MULTILINE)


@dataclass
class StateUnderTest:
    """A state store a test points its projects at."""

    __test__ = False

    kind: str
    location: str  # what StateStore.open takes: a SQLite path or a PostgreSQL URL
    schema: str | None = None
    admin: Engine | None = None  # PostgreSQL: creates and drops the schema

    @property
    def env(self) -> dict[str, str]:
        """The environment a command run on a project using this store needs."""
        return {STATE_VARIABLE: self.location} if self.kind == "postgresql" else {}

    def use(self, project_file: Path) -> None:
        """Make the project's `state:` name this store (a PostgreSQL URL through the environment)."""
        setting = f"{{env: {STATE_VARIABLE}}}" if self.kind == "postgresql" else self.location
        text_ = project_file.read_text(encoding="utf-8")
        project_file.write_text(_STATE_LINE.sub(f"state: {setting}", text_, count=1), encoding="utf-8")

    def exists(self) -> bool:
        """Whether the store has been created (a SQLite file, or any table in the schema)."""
        if self.kind == "sqlite":
            return Path(self.location).exists()
        return bool(self.tables())

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table of the store and its rows, sorted; nothing is created to read it."""
        if self.kind == "sqlite" and not Path(self.location).exists():
            return {}
        engine = self.engine()
        try:
            metadata = MetaData()
            metadata.reflect(engine)
            with engine.connect() as conn:
                return {
                    name: sorted(tuple(row) for row in conn.execute(table.select()))
                    for name, table in sorted(metadata.tables.items())
                }
        finally:
            engine.dispose()

    def engine(self) -> Engine:
        """A new engine on the store (dispose of it when done)."""
        url = f"sqlite:///{self.location}" if self.kind == "sqlite" else self.location
        return create_engine(url, poolclass=NullPool)

    def drop(self) -> None:
        """Drop the PostgreSQL schema (a SQLite file goes with the test's folder)."""
        if self.admin is not None:
            with self.admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            self.admin.dispose()


def open_store(kind: str, project: Path) -> StateUnderTest:
    """A store of `kind` for the project in folder `project`: its default SQLite file, or a new schema."""
    if kind == "sqlite":
        return StateUnderTest(kind, os.fspath(project / ".infiniti-sync" / "state.db"))
    database = open_database("postgresql", project.parent)  # skips, or fails on CI, without a server
    schema = f"sync_state_{uuid.uuid4().hex[:12]}"
    with database.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(database.url).update_query_dict({"options": f"-csearch_path={schema}"})
    return StateUnderTest(kind, url.render_as_string(hide_password=False), schema, database.engine)


@pytest.fixture(name="state_store", params=KINDS)
def state_store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateUnderTest]:
    """Each kind of store in turn, for a project in tmp_path/project: SQLite, then PostgreSQL."""
    store = open_store(request.param, tmp_path / "project")
    try:
        yield store
    finally:
        store.drop()


@pytest.fixture(name="postgres_store")
def postgres_store_fixture(tmp_path: Path) -> Iterator[StateUnderTest]:
    """A PostgreSQL store for a project in tmp_path/project."""
    store = open_store("postgresql", tmp_path / "project")
    try:
        yield store
    finally:
        store.drop()


@pytest.fixture(name="site")
def site_fixture(tmp_path: Path, state_store: StateUnderTest) -> Iterator[Site]:
    """The example project on `state_store`, and a sandbox process with the demo tenant."""
    running = Site.start(tmp_path / "project")
    state_store.use(running.project_file)
    try:
        yield running
    finally:
        running.stop()
