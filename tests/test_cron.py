"""Five-field cron expressions as cron, systemd-cron and Kubernetes CronJobs read them: which are valid,
and the latest slot of one in an interval, read in a time zone, daylight saving included (the cases are
tests/data/schedule_cases.yaml; a property test holds the search against a cron watching the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.cron import MACROS, Schedule, problem

FIVE = "a schedule has five: minute hour day-of-month month day-of-week (for example '15 2 * * *')"


@pytest.mark.parametrize(
    "expression",
    [
        "15 2 * * *",
        "* * * * *",
        "*/15 * * * *",
        "0 */2 * * *",
        "0 6-18/3 * * 1-5",
        "5/15 * * * *",
        "0 0 1,15 * *",
        "0 0 * * 0",
        "0 0 * * 7",
        "0 0 * * mon-fri",
        "0 0 * * MON,wed,Fri",
        "0 0 1 jan,jul *",
        "0 0 1 JAN-jun *",
        "59 23 31 12 6",
        "  15 2 * * *  ",
        "15\t2 * * *",
        *MACROS,
    ],
)
def test_valid_schedules(expression: str) -> None:
    assert problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", f"'' has 0 fields; {FIVE}"),
        ("0 0 * *", f"'0 0 * *' has 4 fields; {FIVE}"),
        ("0 0 0 * * *", f"'0 0 0 * * *' has 6 fields; {FIVE}"),
        ("60 * * * *", "minute field: '60' is outside 0-59"),
        ("0 24 * * *", "hour field: '24' is outside 0-23"),
        ("0 0 0 * *", "day of month field: '0' is outside 1-31"),
        ("0 0 32 * *", "day of month field: '32' is outside 1-31"),
        ("0 0 * 13 *", "month field: '13' is outside 1-12"),
        ("0 0 * * 8", "day of week field: '8' is outside 0-7"),
        ("0 0 * foo *", "month field: 'foo' is not a number or a name such as jan"),
        ("0 0 * * monday", "day of week field: 'monday' is not a number or a name such as sun"),
        ("mon * * * *", "minute field: 'mon' is not a number"),
        ("0 0 L * *", "day of month field: 'L' is not a number"),
        ("0 0 ? * *", "day of month field: '?' is not a value, range, list or step"),
        ("1,,2 * * * *", "minute field: '' is not a value, range, list or step"),
        ("1-2-3 * * * *", "minute field: '1-2-3' is not a value, range, list or step"),
        ("*/0 * * * *", "minute field: a step of 0 in '*/0' never advances"),
        ("30-10 * * * *", "minute field: range '30-10' runs backwards"),
        ("0 0 * * sat-sun", "day of week field: range 'sat-sun' runs backwards"),
        ("@reboot", f"unknown macro '@reboot'; use one of {', '.join(MACROS)}"),
        ("@DAILY", f"unknown macro '@DAILY'; use one of {', '.join(MACROS)}"),
    ],
)
def test_invalid_schedules(expression: str, message: str) -> None:
    assert problem(expression) == message


# --- the latest slot in an interval, read in a zone ---------------------------------------------

CASES = yaml.safe_load((Path(__file__).parent / "data" / "schedule_cases.yaml").read_text(encoding="utf-8"))


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_latest_slot(case: dict[str, Any]) -> None:
    at = _time(case["at"])
    assert at is not None
    found = Schedule.parse(case["schedule"]).latest(ZoneInfo(case["zone"]), at, _time(case["after"]))
    assert (found.isoformat() if found else None) == case["slot"]
    if found is not None:
        assert found.utcoffset() == datetime.fromisoformat(case["slot"]).utcoffset()  # shown in its zone


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "0 0 31 4,6,9,11 *",
            "day of month 31 never comes in apr, jun, sep, nov: this schedule would never run",
        ),
        ("0 0 30,31 feb *", "day of month 30, 31 never comes in feb: this schedule would never run"),
        # a day-of-week field starting with * leaves the days to the day of month (Vixie cron)
        ("0 0 30 2 */2", "day of month 30 never comes in feb: this schedule would never run"),
    ],
)
def test_a_schedule_that_never_comes_is_refused(expression: str, message: str) -> None:
    assert problem(expression) == message


@pytest.mark.parametrize("expression", ["0 0 29 2 *", "0 0 31 2 mon", "0 0 31 * *", "0 0 31 1-3 *"])
def test_schedules_that_come_rarely_or_by_weekday_are_accepted(expression: str) -> None:
    assert problem(expression) is None


def _matches(schedule: Schedule, wall: datetime) -> bool:
    """Whether `schedule` names wall time `wall`, by Vixie cron's rule for the two day fields, written out
    apart from the code under test."""
    day_ok = wall.day in schedule.days
    weekday_ok = wall.isoweekday() % 7 in schedule.weekdays
    day = (day_ok and weekday_ok) if schedule.any_day or schedule.any_weekday else (day_ok or weekday_ok)
    return (
        day
        and wall.month in schedule.months
        and wall.hour in schedule.hours
        and wall.minute in schedule.minutes
    )


def _fired(schedule: Schedule, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants a clock-watching cron fires the schedule between `start` and `end` (UTC), minute by
    minute: each wall minute fires once, when the zone's clock first reaches or passes it (so a skipped
    one fires at the gap's end, a repeated one at its first pass)."""
    fired: list[datetime] = []
    moment = start.replace(second=0, microsecond=0)
    seen = (moment - timedelta(minutes=1)).astimezone(zone).replace(tzinfo=None)
    while moment <= end:
        wall = moment.astimezone(zone).replace(tzinfo=None)
        while seen < wall:
            seen += timedelta(minutes=1)
            if _matches(schedule, seen):
                fired.append(moment)
        seen = max(seen, wall)
        moment += timedelta(minutes=1)
    return fired


TRANSITIONS = {
    "Australia/Sydney": [datetime(2026, 4, 4, 16, tzinfo=UTC), datetime(2026, 10, 3, 16, tzinfo=UTC)],
    "America/New_York": [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)],
    "Australia/Lord_Howe": [datetime(2026, 4, 4, 15, tzinfo=UTC), datetime(2026, 10, 3, 15, 30, tzinfo=UTC)],
    "Europe/London": [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)],
}
EXPRESSIONS = [
    "* * * * *", "*/7 * * * *", "0 * * * *", "30 2 * * *", "15,45 1-3 * * *", "0 2 * * 0", "59 1 * * *",
    "0 0 4,5 * sun", "*/20 2 4 10 *", "0 3 * * 1-5", "5/10 0-4 * * *",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    expression=st.sampled_from(EXPRESSIONS),
    place=st.sampled_from(sorted(TRANSITIONS)),
    which=st.integers(0, 1),
    start=st.integers(-6 * 60, 6 * 60),
    length=st.integers(0, 8 * 60),
)
def test_the_latest_slot_is_the_last_one_a_watching_cron_fires(
    expression: str, place: str, which: int, start: int, length: int
) -> None:
    zone, schedule = ZoneInfo(place), Schedule.parse(expression)
    after = TRANSITIONS[place][which] + timedelta(minutes=start, seconds=30)
    at = after + timedelta(minutes=length)
    fired = _fired(schedule, zone, after - timedelta(days=1), at)
    expected = max((f for f in fired if after < f <= at), default=None)
    found = schedule.latest(zone, at, after)
    # in UTC: a time in the repeated hour never equals one of another zone (PEP 495)
    assert (found and found.astimezone(UTC)) == expected
