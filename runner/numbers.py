"""How counts are written in messages and reports, the same everywhere: digits grouped by a comma
(`200,000 rows read`, `1 row`). Positions (line 12345, row 7, batch 3 of 4) are not counts: they stay as
they are, as editors, grep and the file:line form read them; so do the JSON reports and metrics."""

from __future__ import annotations


def number(count: int) -> str:
    """A count for a person: `7`, `12,500`."""
    return f"{count:,}"


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 row`, `200,000 rows`; `words` when adding an s does not make the plural (`1 was`, `2 were`)."""
    return f"{number(count)} {word if count == 1 else words or word + 's'}"
