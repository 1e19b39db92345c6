"""What this process asks its state stores, counted through the store's own watch (never timed): every
statement a store runs, and every store whose pool connects for the first time (a store opened).

    with counted() as seen:
        site.invoke(["run", "--all"])
    seen.reading("infiniti_sync_runs")     # the SELECTs that read the runs table
    seen.engines                           # stores (pools) that made their first connection

The store runs its SQL on the drivers directly (runner.state.connections), so this is its test hook,
`Connections.watch`, set only inside `counted`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from runner.state.connections import Connections


@dataclass
class Seen:
    """The statements run, in order, and how many stores connected for the first time."""

    statements: list[str] = field(default_factory=list)
    engines: int = 0

    def reading(self, table: str) -> list[str]:
        """The SELECT statements that read `table`."""
        name = re.compile(rf"\bFROM\s+\"?{re.escape(table)}\b|\bJOIN\s+\"?{re.escape(table)}\b", re.I)
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT") and name.search(s)]

    def connected(self) -> None:
        """A store's pool made its first connection."""
        self.engines += 1

    def statement(self, sql: str) -> None:
        """A store runs `sql`."""
        self.statements.append(sql)


@contextmanager
def counted() -> Iterator[Seen]:
    """Count what every state store of this process runs while inside."""
    seen = Seen()
    Connections.watch = seen
    try:
        yield seen
    finally:
        Connections.watch = None
