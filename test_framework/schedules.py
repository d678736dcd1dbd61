"""Cron expressions: when a schedule fires, and how to say it in words.

Five fields (minute hour day-of-month month day-of-week), read by croniter in the schedule's
own IANA time zone, so 09:00 stays 09:00 through daylight-saving changes. Two rules where a
clock is ambiguous: a time the clock skips (02:30 on the spring-forward night) fires at the
first moment after the gap; a time the clock shows twice (the fall-back night) fires once
(a job every few minutes keeps its pace in real time through that hour).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from croniter import croniter


class ScheduleError(ValueError):
    """An expression or a time zone that cannot be used, in words."""


def check(expression: str, timezone: str) -> ZoneInfo:
    """The time zone, once both are known to be usable (ScheduleError otherwise)."""
    if len(expression.split()) != 5:
        raise ScheduleError(
            "A cron expression has five fields: minute hour day-of-month month day-of-week "
            '(e.g. "0 9 * * 1-5").'
        )
    if not croniter.is_valid(expression):
        raise ScheduleError(f"{expression!r} is not a valid cron expression.")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{timezone!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)."
        ) from None


def next_fire_times(expression: str, timezone: str, after: datetime, n: int = 1) -> list[datetime]:
    """The next `n` fire times strictly after `after`, as aware datetimes in UTC."""
    zone = check(expression, timezone)
    it = croniter(expression, after.astimezone(zone))
    out: list[datetime] = []
    last_wall = None
    while len(out) < n:
        t = it.get_next(datetime)
        wall = t.replace(tzinfo=None)
        if wall == last_wall:  # the same wall-clock time again (the fall-back hour): once
            continue
        last_wall = wall
        out.append(t.astimezone(UTC))
    return out


def describe(expression: str, timezone: str) -> str:
    """The expression in words, with its time zone: "At 09:00, Monday through Friday
    (Europe/Berlin)"."""
    options = Options()
    options.use_24hour_time_format = True
    return f"{get_description(expression, options)} ({timezone})"
