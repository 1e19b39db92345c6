"""Five-field cron expressions, as cron, systemd-cron and Kubernetes CronJobs read them: checking one
(`problem`), and finding its latest slot in an interval of time (`Schedule.latest`).

Slots are read in local wall time, as cron reads them, in the zone given:
- a field that starts with `*` leaves its day field unrestricted; when day of month and day of week are both
  restricted a day matching either is a slot (Vixie cron's rule: `0 0 1 * mon` is the 1st and every Monday);
  `7` is Sunday as `0` is, names are English three-letter ones, `N/S` is `N-max/S`;
- a slot that falls in the hour clocks skip (02:30 on the night summer time starts) is at the first instant
  after the gap (03:00), so it runs once, not never;
- a slot in the hour clocks repeat (02:30 on the night summer time ends) is at its first occurrence only, so
  it runs once, not twice.

Finding a slot walks back over matching months and days and picks the hour and minute from sorted tuples: a
few dozen steps whatever the interval, never a scan minute by minute.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from runner.records import record

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MACRO_FIELDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Every schedule `problem` accepts has a slot at least once in eight years (29 February skips 2100), so
# looking further back than this for a job never run finds nothing more.
HORIZON = timedelta(days=9 * 366)
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
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
    return _never(Schedule.parse(text))


def _never(schedule: Schedule) -> str | None:
    """Why a schedule has no slot at all (a day of month no chosen month has), or None."""
    if not schedule.any_weekday:  # a day of week matches every week: there is always a slot
        return None
    if any(day <= _LONGEST[month] for month in schedule.months for day in schedule.days):
        return None
    days = ", ".join(map(str, schedule.days))
    months = ", ".join(_FIELDS[3][3][m - 1] for m in schedule.months)
    return f"day of month {days} never comes in {months}: this schedule would never run"


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


_LONGEST = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # by month; February in a leap year


def _values(value: str, low: int, high: int, names: Sequence[str]) -> set[int]:
    """The numbers a valid field stands for."""
    found: set[int] = set()
    for item in value.split(","):
        match = _ITEM.match(item)
        assert match is not None
        step = int(match["step"] or 1)
        if match["range"] == "*":
            first, last = low, high
        else:
            bounds = [_number(part, low, names) or 0 for part in match["range"].split("-")]
            first = bounds[0]
            last = bounds[-1] if len(bounds) == 2 or match["step"] is None else high  # N/S: N-high/S
        found.update(range(first, last + 1, step))
    return found


@record
class Schedule:
    """A valid cron expression as sorted numbers per field (day of week 0-6, Sunday 0)."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: frozenset[int]
    any_day: bool  # the day-of-month field starts with *
    any_weekday: bool  # the day-of-week field starts with *

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """The schedule of an expression `problem` accepts (names and macros included)."""
        text = expression.strip()
        fields = _MACRO_FIELDS.get(text, text).split()
        numbers = [sorted(_values(v, *spec[1:])) for v, spec in zip(fields, _FIELDS, strict=True)]
        return cls(
            minutes=tuple(numbers[0]),
            hours=tuple(numbers[1]),
            days=tuple(numbers[2]),
            months=tuple(numbers[3]),
            weekdays=frozenset(d % 7 for d in numbers[4]),
            any_day=fields[2].startswith("*"),
            any_weekday=fields[4].startswith("*"),
        )

    def latest(self, zone: tzinfo, at: datetime, after: datetime | None = None) -> datetime | None:
        """The latest slot after `after` and at or before `at` (aware datetimes), as an instant in `zone`;
        None when there is none. Without `after`, the latest slot at or before `at` (looking back up to
        HORIZON)."""
        floor = max(after, at - HORIZON) if after is not None else at - HORIZON
        local = at.astimezone(zone)
        wall = local.replace(tzinfo=None, second=0, microsecond=0, fold=0)
        if local.fold:  # in the repeated hour's second pass, its slots have all been (at their first)
            wall += _offset(local.replace(fold=0)) - _offset(local)
        lowest = floor.astimezone(zone).date() - _DAY
        while (slot := self._at_or_before(wall, lowest)) is not None:
            instant = _instant(slot, zone)
            if instant <= at:
                return instant if instant > floor else None
            wall = slot - _MINUTE
        return None

    def _at_or_before(self, wall: datetime, lowest: date) -> datetime | None:
        """The latest wall time at or before `wall` (a naive minute) that the schedule names, on or after
        the day `lowest`; None when there is none."""
        day, limit = wall.date(), wall.time()
        while day >= lowest:
            if day.month not in self.months:
                day, limit = day.replace(day=1) - _DAY, time(23, 59)
                continue
            found = self._day_at_or_before(day)
            if found is None:
                day, limit = day.replace(day=1) - _DAY, time(23, 59)
                continue
            if found == day and (hour_minute := self._time_at_or_before(limit)) is not None:
                return datetime.combine(day, hour_minute)
            day, limit = (found if found != day else day - _DAY), time(23, 59)
        return None

    def _day_at_or_before(self, day: date) -> date | None:
        """The latest day of `day`'s month, at or before it, that the day fields name; None if none."""
        if self.any_weekday and not self.any_day:  # the day of month alone decides
            last = min(day.day, calendar.monthrange(day.year, day.month)[1])
            index = bisect.bisect_right(self.days, last)
            return day.replace(day=self.days[index - 1]) if index else None
        while True:
            if self._matches(day):
                return day
            if day.day == 1:
                return None
            day -= _DAY

    def _matches(self, day: date) -> bool:
        weekday = (day.weekday() + 1) % 7  # cron counts from Sunday
        if self.any_day or self.any_weekday:
            return day.day in self.days and weekday in self.weekdays
        return day.day in self.days or weekday in self.weekdays

    def _time_at_or_before(self, limit: time) -> time | None:
        """The latest hour and minute of the schedule at or before `limit`, or None."""
        index = bisect.bisect_right(self.hours, limit.hour)
        if not index:
            return None
        hour = self.hours[index - 1]
        if hour == limit.hour:
            minute = bisect.bisect_right(self.minutes, limit.minute)
            if minute:
                return time(hour, self.minutes[minute - 1])
            if index == 1:
                return None
            hour = self.hours[index - 2]
        return time(hour, self.minutes[-1])


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None
    return offset


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The instant of a wall time in `zone`: its first occurrence when clocks repeat it, the first instant
    after the gap when clocks skip it."""
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In the gap: fold=0 reads it with the offset before the change (the later instant), fold=1 with the
    # one after (the earlier); the change lies between them, to the second.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first.astimezone(UTC)
    after = _offset(high.astimezone(zone))
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) // 2
        if _offset(middle.astimezone(zone)) == after:
            high = middle
        else:
            low = middle
    return high.astimezone(zone)
