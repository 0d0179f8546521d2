"""Cron schedules and time zones: what Kubernetes accepts, with errors naming the field."""

from __future__ import annotations

import pytest

from meshploy_core.jobs.cron import schedule_problem, time_zone_problem


@pytest.mark.parametrize(
    "schedule",
    [
        "*/5 * * * *",
        "30 2 * * *",
        "0 0 1,15 * MON-FRI",
        "0 9 * jan-mar sun",
        "@daily",
        "@hourly",
        "0-59/10 0-23/2 1-31 1-12 0-6",
        "0 0 ? * *",
    ],
)
def test_accepted(schedule: str) -> None:
    assert schedule_problem(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            "0 0 * * * *",
            "must have 5 fields (minute hour day-of-month month day-of-week, "
            "like '30 2 * * *'); got 6 (seconds are not supported)",
        ),
        ("* * * *", "must have 5 fields"),
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month field: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 7", "day of week field: 7 is out of range 0-6"),
        ("0 0 * FOO *", "month field: 'FOO' is not a number or a name (JAN, FEB"),
        ("*/0 * * * *", "minute field: step '0' in '*/0' must be a positive number"),
        ("5-1 * * * *", "minute field: range '5-1' runs backwards"),
        ("1,,2 * * * *", "minute field: empty item"),
        ("@every 5m", "'@every 5m' is not one of @yearly"),
        ("CRON_TZ=UTC 0 * * * *", "must not name a time zone; set time_zone instead"),
        ("", "must not be empty"),
    ],
)
def test_refused_with_the_field_and_the_rule(schedule: str, message: str) -> None:
    problem = schedule_problem(schedule)
    assert problem is not None and problem.startswith(message), problem


def test_time_zones() -> None:
    assert time_zone_problem("Europe/Paris") is None
    assert time_zone_problem("UTC") is None
    assert "not a known time zone" in (time_zone_problem("Mars/Olympus") or "")
    assert "not a time zone name" in (time_zone_problem("../etc/passwd") or "")
