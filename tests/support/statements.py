"""What this process asks its databases, counted through SQLAlchemy's own events (never timed): every
statement any engine runs, and every engine that connects for the first time (a state store opened).

    with counted() as seen:
        site.invoke(["run", "--all"])
    seen.reading("infiniti_sync_runs")     # the SELECTs that read the runs table
    seen.engines                           # engines (pools) that made their first connection

A statement the state store streams through the driver's own cursor (runner.state.store._chunks: the
fingerprints) is not seen here; those read the synced users, never the runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool


@dataclass
class Seen:
    """The statements run, in order, and how many engines connected for the first time."""

    statements: list[str] = field(default_factory=list)
    engines: int = 0

    def reading(self, table: str) -> list[str]:
        """The SELECT statements that read `table`."""
        name = re.compile(rf"\bFROM\s+\"?{re.escape(table)}\b|\bJOIN\s+\"?{re.escape(table)}\b", re.I)
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT") and name.search(s)]


@contextmanager
def counted() -> Iterator[Seen]:
    """Count what every engine of this process runs while inside."""
    seen = Seen()

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.statements.append(sql)

    def first(dbapi_connection: Any, record: Any) -> None:
        seen.engines += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Pool, "first_connect", first)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Pool, "first_connect", first)
