"""What the state store asks of its database: one interface, SQLite (runner.state.sqlite) and PostgreSQL
(runner.state.postgres) behind it. Everything else the store does is one code path of SQL written once
(runner.state.store, runner.state.schema) on the database's own DB-API driver; what differs between the two
databases is here, in one place each: how a connection is made (pragmas, the namespace) and kept alive, the
names of three column types, how a transaction begins, how the schema is looked into and kept to one runner
at a time, how a moment is written, how a new row's id is read, how rows are streamed, how a run's
fingerprints are written (executemany, COPY), which kind of lock guards a job, and how a snapshot is known
to still hold its job's rows (SQLite counts them; PostgreSQL counts the writes not made by a runner).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from runner.errors import StateError
from runner.state.connections import Connections, Session
from runner.state.locks import LockKind

# A snapshot (row `s`) holds as many users as its job has rows: the check where hand edits are not counted.
ROWS_OF_JOB = (
    "s.users = (SELECT COUNT(*) FROM infiniti_sync_synced r WHERE r.tenant = s.tenant AND r.spec = s.spec)"
)


class Backend(Protocol):
    """A state store's database."""

    @property
    def connections(self) -> Connections:
        """The store's pool of connections."""

    @property
    def display(self) -> str:
        """The store as messages show it: a path, or a URL without its password."""

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """The driver's errors, which the store turns into StateError."""

    @property
    def types(self) -> Mapping[str, str]:
        """The database's names of the schema's `ID`, `TIME` and `BYTES` types (runner.state.schema)."""

    @property
    def locks(self) -> LockKind:
        """The kind of lock guarding a tenant and spec."""

    def recording(self, session: Session) -> None:
        """Mark the caller's transaction as a runner's own writes of the rows, each job's snapshot kept right
        with them, so that they are not counted as hand edits."""

    def guard(self, session: Session) -> list[str]:
        """The statements that make the store count hand edits of the rows, where it lacks them (none where
        the database counts the rows instead); they leave every snapshot untrusted."""

    def edits(self, session: Session, version: int) -> int | None:
        """The count of hand edits of the rows now, kept in each snapshot written (None: not counted)."""

    def holds(self, version: int) -> str:
        """A condition on the snapshot row `s`, true when it still holds its job's rows, asked in the
        statement that reads its head: O(1) where hand edits are counted."""

    def migrating(self) -> AbstractContextManager[Session]:
        """A transaction in which to create or migrate the schema, one runner at a time."""

    def present(self, session: Session, names: Sequence[str]) -> set[str]:
        """Those of `names` the store has a table or index of."""

    def columns(self, session: Session, table: str) -> set[str]:
        """The names of the columns of `table`."""

    def moment(self, when: datetime) -> Any:
        """`when` as a statement's parameter writes it."""

    def insert(self, session: Session, sql: str, params: Sequence[Any]) -> int:
        """Run the INSERT `sql` of one row into a table with an `id` the database numbers; that id."""

    def stream(self, session: Session, sql: str, params: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
        """The rows of a query in chunks of `size`, never holding them all (in the driver or here)."""

    def blob_array(self, session: Session, table: str, column: str, job: Sequence[str]) -> array[int] | None:
        """The 64-bit integers of the blob `column` of the `table` row of this job (tenant, spec), or None
        when there is no such row (or it changed while being read), never holding the blob whole in
        another form beside the array (PostgreSQL would send a bytea as hex text, twice its size)."""

    def build_snapshot(self, session: Session, job: tuple[str, str, int], edits: int | None) -> bool:
        """Make the snapshot of the job (tenant, spec, the run recorded) from its rows inside the database,
        in place of one dropped, with the count of hand edits `edits`, where the database can; False: the
        caller makes it."""

    def write_blob_array(
        self, session: Session, table: str, column: str, job: Sequence[str], values: array[int]
    ) -> None:
        """Set the blob `column` of the `table` row of this job (tenant, spec) to `values` as `pack` makes
        it, never holding the blob whole beside the array where the driver can write it in parts."""

    def write(
        self, session: Session, tenant: str, spec: str, run_id: int, accepted: Iterable[tuple[str, int, int]]
    ) -> None:
        """Insert or update the fingerprints of a run's accepted rows: (username, fingerprint, user_hash)."""


def failure(display: str, what: str, err: Exception) -> StateError:
    """The error of a store that failed doing `what`: the first line of the database's reason."""
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return StateError(f"state store {display}: {what}: {reason}")
