"""Five-field cron expressions, as cron, systemd-cron and Kubernetes CronJobs read them."""

from __future__ import annotations

import re
from collections.abc import Sequence

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_FIELDS: tuple[tuple[str, int, int, Sequence[str]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    ("day of week", 0, 7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
)
_ITEM = re.compile(r"^(?P<range>\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?$")


def problem(expression: str) -> str | None:
    """What is wrong with `expression`, or None when it is a valid schedule."""
    text = expression.strip()
    if text.startswith("@"):
        return None if text in MACROS else f"unknown macro {expression!r}; use one of {', '.join(MACROS)}"
    fields = text.split()
    if len(fields) != 5:
        return (
            f"{expression!r} has {len(fields)} fields; a schedule has five: "
            "minute hour day-of-month month day-of-week (for example '15 2 * * *')"
        )
    for value, spec in zip(fields, _FIELDS, strict=True):
        for item in value.split(","):
            error = _item_problem(item, *spec)
            if error:
                return error
    return None


def _item_problem(item: str, name: str, low: int, high: int, names: Sequence[str]) -> str | None:
    match = _ITEM.match(item)
    if not match:
        return f"{name} field: {item!r} is not a value, range, list or step"
    if match["step"] is not None and int(match["step"]) == 0:
        return f"{name} field: a step of 0 in {item!r} never advances"
    if match["range"] == "*":
        return None
    bounds = [_number(part, low, names) for part in match["range"].split("-")]
    for part, number in zip(match["range"].split("-"), bounds, strict=True):
        if number is None:
            known = f" or a name such as {names[0]}" if names else ""
            return f"{name} field: {part!r} is not a number{known}"
        if not low <= number <= high:
            return f"{name} field: {part!r} is outside {low}-{high}"
    if len(bounds) == 2 and bounds[0] > bounds[1]:  # type: ignore[operator]
        return f"{name} field: range {match['range']!r} runs backwards"
    return None


def _number(part: str, low: int, names: Sequence[str]) -> int | None:
    if part.isdigit():
        return int(part)
    if part.lower() in names:
        return list(names).index(part.lower()) + low
    return None
