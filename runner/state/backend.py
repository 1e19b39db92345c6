"""What the state store asks of its database: one interface, SQLite (runner.state.sqlite) and PostgreSQL
(runner.state.postgres) behind it. Everything else the store does is one SQLAlchemy Core code path
(runner.state.store); what differs between the two databases is here, in one place each: how the engine is
made (pragmas, the namespace), how the schema is kept to one runner at a time, how rows are streamed, how
a run's fingerprints are written (executemany, COPY), and which kind of lock guards a job.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from runner.errors import StateError
from runner.state.locks import LockKind


class Backend(Protocol):
    """A state store's database."""

    @property
    def engine(self) -> Engine:
        """The store's engine."""

    @property
    def display(self) -> str:
        """The store as messages show it: a path, or a URL without its password."""

    @property
    def mark(self) -> str:
        """The driver's placeholder in a query written for it."""

    @property
    def locks(self) -> LockKind:
        """The kind of lock guarding a tenant and spec."""

    def migrating(self) -> AbstractContextManager[Connection]:
        """A transaction in which to create or migrate the schema, one runner at a time."""

    def cursor(self, raw: Any) -> Any:
        """A cursor of the driver's connection `raw` that streams a query's rows, never holding them all."""

    def write(
        self, conn: Connection, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int, int]]
    ) -> None:
        """Insert or update the fingerprints of a run's accepted rows: (username, fingerprint, user_hash)."""


def failure(display: str, what: str, err: Exception) -> StateError:
    """The error of a store that failed doing `what`: the first line of the database's reason."""
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
    return StateError(f"state store {display}: {what}: {reason}")
