"""The connections of a state store, straight on the database's DB-API driver (the stdlib sqlite3, psycopg):
a small pool that hands one connection at a time to each user, and the session a user runs SQL on.

SQL is written once, with `?` marks, and translated to the driver's mark (`%s` in psycopg) where it is
run: no `%` and no `?` appear in the SQL otherwise. Every connection is in autocommit mode; a transaction
is an explicit one (`transaction`), begun as the backend begins one (SQLite takes its write lock at once).
A connection kept idle in the pool is checked before it is used again (`alive`: PostgreSQL pings it), so
that a store never fails on a connection its server dropped during a long wait; a new one takes its place.

For tests only: `Connections.watch`, None in production, is told of each statement a store runs and of
each pool's first connection (tests/support/statements.py counts them).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Protocol


class Watch(Protocol):
    """What a test is told of a store's connections."""

    def connected(self) -> None:
        """A pool made its first connection (a store opened)."""

    def statement(self, sql: str) -> None:
        """A statement is about to run."""


class Session:
    """A connection checked out of the pool: SQL written with ? marks, run on the driver's connection."""

    def __init__(self, raw: Any, mark: str):
        self.raw = raw
        self.mark = mark

    def sql(self, sql: str) -> str:
        """`sql` with the driver's mark in place of each ?, told to a watching test."""
        if Connections.watch is not None:
            Connections.watch.statement(sql)
        return sql if self.mark == "?" else sql.replace("?", self.mark)

    def run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; its cursor."""
        cursor = self.raw.cursor()
        cursor.execute(self.sql(sql), tuple(params))
        return cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement that returns no rows."""
        self.run(sql, params).close()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of `rows` (the driver's executemany)."""
        cursor = self.raw.cursor()
        try:
            cursor.executemany(self.sql(sql), rows)
        finally:
            cursor.close()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        cursor = self.run(sql, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def first(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        cursor = self.run(sql, params)
        try:
            row = cursor.fetchone()
            return None if row is None else tuple(row)
        finally:
            cursor.close()


class Connections:
    """The pool of a store's connections: `connect` makes one, `alive` checks one that waited idle."""

    watch: ClassVar[Watch | None] = None  # set only by tests

    def __init__(
        self,
        connect: Callable[[], Any],
        alive: Callable[[Any], bool],
        mark: str,
        begin: Callable[[Any], None],
    ):
        self._connect = connect
        self._alive = alive
        self.mark = mark
        self._begin = begin
        self._idle: list[Any] = []
        self._guard = threading.Lock()
        self._made = False
        self._closed = False

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A connection for the block, in autocommit mode, back in the pool after it (unless it failed
        in a way that leaves it unusable)."""
        raw = self._take()
        try:
            yield Session(raw, self.mark)
        except BaseException:
            self._discard_or_keep(raw)
            raise
        self._give(raw)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction for the block: committed after it, rolled back if it raises."""
        with self.session() as session:
            self._begin(session.raw)
            try:
                yield session
            except BaseException:
                with contextlib.suppress(Exception):
                    session.raw.execute(session.sql("ROLLBACK"))
                raise
            session.raw.execute(session.sql("COMMIT"))

    def close(self) -> None:
        """Close every idle connection; one in use is closed when it comes back."""
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for raw in idle:
            with contextlib.suppress(Exception):
                raw.close()

    def _take(self) -> Any:
        while True:
            with self._guard:
                raw = self._idle.pop() if self._idle else None
            if raw is None:
                return self._new()
            if self._alive(raw):
                return raw
            with contextlib.suppress(Exception):
                raw.close()

    def _new(self) -> Any:
        raw = self._connect()
        with self._guard:
            first, self._made = not self._made, True
        if first and Connections.watch is not None:
            Connections.watch.connected()
        return raw

    def _give(self, raw: Any) -> None:
        with self._guard:
            if not self._closed:
                self._idle.append(raw)
                return
        raw.close()

    def _discard_or_keep(self, raw: Any) -> None:
        """After an error: a connection that can still roll back goes back to the pool, else it is closed."""
        try:
            if _in_transaction(raw):
                raw.execute("ROLLBACK")
        except Exception:  # a connection that cannot even roll back is done for
            with contextlib.suppress(Exception):
                raw.close()
            return
        self._give(raw)


def _in_transaction(raw: Any) -> bool:
    """Whether the driver's connection is inside a transaction (sqlite3 and psycopg say it differently)."""
    if hasattr(raw, "in_transaction"):
        return bool(raw.in_transaction)
    return int(raw.info.transaction_status) != 0  # psycopg: IDLE is 0
