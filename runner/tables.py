"""Small aligned tables of text for the reports, cells clipped to a terminal's columns."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

_CELL_WIDTH = 24


def _clip(text: str, width: int | None) -> str:
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if width is None or _width(text) <= width:
        return text
    text = text[:width]  # no character takes less than one column, so nothing after this fits
    while _width(text) > width - 1:
        text = text[:-1]
    return text + "…"


def _width(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    indent: str = "    ",
    width: int | None = _CELL_WIDTH,
) -> list[str]:
    """A small aligned table of text, cells clipped to `width` columns (None: never clipped)."""
    grid = [[_clip(c, width) for c in header], *([_clip(c, width) for c in row] for row in rows)]
    widths = [max(_width(r[i]) for r in grid) for i in range(len(header))]
    return [
        indent + "  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in grid
    ]
