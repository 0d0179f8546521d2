"""Cron schedules as Kubernetes CronJobs accept them: five fields, or a ``@`` descriptor.

:func:`schedule_problem` says exactly what is wrong (which field, which value, the rule), so a
refused schedule never reaches the cluster. :func:`time_zone_problem` checks an IANA zone.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, MONTHS),
    _Field("day of week", 0, 6, DAYS),
)
_NUMBER = re.compile(r"^[0-9]+$")
FORMAT = "minute hour day-of-month month day-of-week, like '30 2 * * *'"


def _value(field: _Field, text: str) -> int | str:
    """The number ``text`` stands for, or the problem."""
    upper = text.upper()
    if upper in field.names:
        return field.names[upper]
    if not _NUMBER.match(text):
        return f"{field.name} field: {text!r} is not a number" + (
            f" or a name ({', '.join(field.names)})" if field.names else ""
        )
    number = int(text)
    if not field.low <= number <= field.high:
        return f"{field.name} field: {number} is out of range {field.low}-{field.high}"
    return number


def _part_problem(field: _Field, part: str) -> str | None:
    base, slash, step = part.partition("/")
    if slash and (not _NUMBER.match(step) or int(step) == 0):
        return f"{field.name} field: step {step!r} in {part!r} must be a positive number"
    if base in ("*", "?"):
        return None
    low_text, dash, high_text = base.partition("-")
    low = _value(field, low_text)
    if isinstance(low, str):
        return low
    if dash:
        high = _value(field, high_text)
        if isinstance(high, str):
            return high
        if high < low:
            return f"{field.name} field: range {base!r} runs backwards"
    return None


def schedule_problem(schedule: str) -> str | None:
    """Why ``schedule`` is not a schedule Kubernetes accepts, or None when it is."""
    text = schedule.strip()
    if not text:
        return f"must not be empty; use five fields ({FORMAT}) or @hourly/@daily/..."
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        return "must not name a time zone; set time_zone instead"
    if text.startswith("@"):
        if text.lower() in DESCRIPTORS:
            return None
        return f"{text!r} is not one of {', '.join(DESCRIPTORS)}"
    fields = text.split()
    if len(fields) != 5:
        extra = " (seconds are not supported)" if len(fields) == 6 else ""
        return f"must have 5 fields ({FORMAT}); got {len(fields)}{extra}"
    for field, value in zip(FIELDS, fields, strict=True):
        for part in value.split(","):
            if not part:
                return f"{field.name} field: empty item in {value!r}"
            problem = _part_problem(field, part)
            if problem:
                return problem
    return None


def time_zone_problem(zone: str) -> str | None:
    """Why ``zone`` is not an IANA time zone name, or None."""
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", zone) or ".." in zone:
        return f"{zone!r} is not a time zone name like Europe/Paris or UTC"
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{zone!r} is not a known time zone (IANA names like Europe/Paris, UTC)"
    return None
