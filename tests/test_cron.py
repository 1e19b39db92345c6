"""Five-field cron expressions as cron, systemd-cron and Kubernetes CronJobs read them."""

from __future__ import annotations

import pytest

from runner.cron import MACROS, problem

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
