"""Crontab lines in their standard meaning, and a few words for humans about a trigger.

APScheduler 3 reads weekday 0 as Monday (its issue 286); a crontab reads it as Sunday. Operators
write crontab, so numeric weekdays are turned into names before APScheduler sees them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FIELD_NAMES = ("minute", "hour", "day", "month", "day_of_week")


class CronError(ValueError):
    """A crontab line that cannot be used."""


def _weekday_names(field: str) -> str:
    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise CronError(f"weekday {number} is out of range 0-7")
        return _DAY_NAMES[number]

    # Only numbers that stand for days: not the step in "*/2".
    parts = []
    for item in field.split(","):
        base, slash, step = item.partition("/")
        parts.append(re.sub(r"\d+", name, base) + slash + step)
    return ",".join(parts)


def normalise_crontab(expr: str) -> dict[str, str]:
    """APScheduler CronTrigger fields for a five-field crontab line, weekdays as names."""
    # Imported here so that the domain stays importable without APScheduler's trigger machinery.
    from apscheduler.triggers.cron import CronTrigger

    values = expr.split()
    if len(values) != 5:
        raise CronError(f"expected 5 fields (minute hour day month weekday), got {len(values)}")
    fields = dict(zip(_FIELD_NAMES, values))
    fields["day_of_week"] = _weekday_names(fields["day_of_week"])
    try:
        trigger = CronTrigger(**fields, timezone="UTC")
    except ValueError as exc:
        raise CronError(str(exc)) from None
    # "0 0 31 2 *" parses but never fires: a job that silently never runs. Any line that fires at
    # all does so within 28 years (29 February on a given weekday), so one fixed start will do.
    if trigger.get_next_fire_time(None, datetime(2001, 1, 1, tzinfo=timezone.utc)) is None:
        raise CronError("it never fires (no such date)")
    return fields


_LONG_DAYS = {
    "mon": "Mondays", "tue": "Tuesdays", "wed": "Wednesdays", "thu": "Thursdays",
    "fri": "Fridays", "sat": "Saturdays", "sun": "Sundays",
}


def describe_cron(expr: str) -> str:
    """A few words for common crontab lines ("daily 02:00"); the line itself otherwise."""
    minute, hour, day, month, dow = expr.split()
    fields = normalise_crontab(expr)
    dow = fields["day_of_week"]
    if not minute.isdigit():
        return f"cron {expr}"
    if hour == "*" and day == "*" and month == "*" and dow == "*":
        return "hourly, on the hour" if int(minute) == 0 else f"hourly at :{int(minute):02d}"
    if not hour.isdigit() or month != "*":
        return f"cron {expr}"
    at = f"{int(hour):02d}:{int(minute):02d}"
    if day == "*" and dow == "*":
        return f"daily {at}"
    if day == "*" and dow in _LONG_DAYS:
        return f"{_LONG_DAYS[dow]} {at}"
    if day == "*" and dow == "mon-fri":
        return f"weekdays {at}"
    if day.isdigit() and dow == "*":
        return f"monthly on day {int(day)} {at}"
    return f"cron {expr}"


def describe_interval(every: timedelta) -> str:
    """"every 30 min", "every 2 h", "every 45 s"."""
    seconds = int(every.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "every day" if days == 1 else f"every {days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "every hour" if hours == 1 else f"every {hours} h"
    if seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return f"every {seconds} s"
