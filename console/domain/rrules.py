"""RRULE text (RFC 5545) for per-task recurrence: strict checks of its parts, and evaluation whose
work is bounded.

dateutil evaluates a rule by walking the calendar from DTSTART one FREQ step at a time, and it
stops only at an occurrence past the instant asked about or at the end of year 9999. So a rule
that never occurs (30 February, FREQ=DAILY) walks millions of days, INTERVAL=0 never advances at
all, and a cycle that started long ago walks every step since. Here:

- the parts are checked one by one before dateutil sees them: known parts only, each once, each
  value in its range, RFC 5545's rules on which parts go with which FREQ, no COUNT, an INTERVAL
  no longer than the horizon, at most 24 occurrences a day;
- evaluation starts from the last INTERVAL step at or before the instant asked about, not from
  the cycle's start. The defaults dateutil would take from DTSTART (time of day, weekday, day of
  the month) are first written out from the cycle's start, so the occurrences are the same;
- the whole search is moved by whole calendar cycles (28 or 400 years: every weekday, leap day
  and week number stays where it was) to end just before year 9999, where dateutil's walk stops
  by itself. A rule that never occurs then costs a few decades of steps at most (milliseconds),
  whatever it is. Occurrences are moved back before they are returned.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Iterator

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, HOURLY, MONTHLY, WEEKLY, YEARLY, rrule, weekdays


class RecurrenceError(ValueError):
    """A rule that cannot be used; the message says why."""


# The longest search for an occurrence, and so the longest period a rule may have.
HORIZON = timedelta(days=366 * 5)
HORIZON_WORDS = "5 years"
MAX_LENGTH = 500  # the width of tasks.recurrence
MAX_PER_DAY = 24  # hourly at the most
OUT_OF_RANGE = "the rule gives a date outside years 1 to 9999 (check the task's window)"

_FREQS = {"YEARLY": YEARLY, "MONTHLY": MONTHLY, "WEEKLY": WEEKLY, "DAILY": DAILY, "HOURLY": HOURLY}
# INTERVAL steps that fit in the horizon (5 years of 366 days).
_MAX_INTERVAL = {YEARLY: 5, MONTHLY: 60, WEEKLY: 261, DAILY: 1830, HOURLY: 1830 * 24}
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# name: (keyword for dateutil, lowest, highest, may be negative)
_NUMBERS = {
    "BYSECOND": ("bysecond", 0, 59, False),
    "BYMINUTE": ("byminute", 0, 59, False),
    "BYHOUR": ("byhour", 0, 23, False),
    "BYMONTH": ("bymonth", 1, 12, False),
    "BYMONTHDAY": ("bymonthday", 1, 31, True),
    "BYYEARDAY": ("byyearday", 1, 366, True),
    "BYWEEKNO": ("byweekno", 1, 53, True),
    "BYSETPOS": ("bysetpos", 1, 366, True),
}
_KNOWN = {"FREQ", "INTERVAL", "UNTIL", "WKST", "BYDAY", "COUNT", *_NUMBERS}
_NUMBER = re.compile(r"^[+-]?\d{1,4}$")
_WEEKDAY = re.compile(r"^(?P<n>[+-]?\d{1,2})?(?P<day>[A-Z]{2})$")
_UNTIL = re.compile(r"^(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})(?:T(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})(?P<z>Z)?)?$")


@dataclass(frozen=True)
class Rule:
    """A checked RRULE: what dateutil is given, the UNTIL apart (it needs the timezone)."""

    freq: int
    interval: int
    wkst: int
    by: tuple[tuple[str, tuple], ...]  # (dateutil keyword, values), as written
    until: datetime | None = None  # naive: local wall clock, or UTC when until_utc
    until_utc: bool = False


def parse(body: str) -> Rule:
    """The rule in ``body`` (``FREQ=...;...``), every part checked; raises RecurrenceError."""
    parts: dict[str, str] = {}
    for item in body.split(";"):
        if not item.strip():
            continue  # a trailing ';'
        key, eq, value = item.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not eq or key not in _KNOWN:
            raise RecurrenceError(f"unknown RRULE part {key or item.strip()!r} (known: {', '.join(sorted(_KNOWN))})")
        if key in parts:
            raise RecurrenceError(f"{key} is given twice")
        if not value:
            raise RecurrenceError(f"{key} has no value")
        parts[key] = value
    if "FREQ" not in parts:
        raise RecurrenceError("FREQ is missing")
    if parts["FREQ"] in ("MINUTELY", "SECONDLY"):
        raise RecurrenceError("rules more frequent than hourly are not supported")
    if parts["FREQ"] not in _FREQS:
        raise RecurrenceError(f"FREQ={parts['FREQ']} is not one of {', '.join(_FREQS)}")
    if "COUNT" in parts:
        raise RecurrenceError("COUNT is not supported: the rule starts again with each cycle; use UNTIL to end it")
    freq = _FREQS[parts["FREQ"]]
    interval = _interval(parts.get("INTERVAL", "1"), parts["FREQ"], freq)
    wkst = _weekday_index(parts.get("WKST", "MO"), "WKST")
    by: dict[str, tuple] = {}
    for key, (keyword, low, high, signed) in _NUMBERS.items():
        if key in parts:
            by[keyword] = _numbers(key, parts[key], low, high, signed)
    if "BYDAY" in parts:
        by["byweekday"] = _weekdays(parts["BYDAY"], parts["FREQ"], "BYMONTH" in parts, "BYWEEKNO" in parts)
    _check_combinations(parts)
    per_day = _per_day(freq, interval, by)
    if per_day > MAX_PER_DAY:
        raise RecurrenceError(f"the rule fires up to {per_day} times a day; rules more frequent than hourly "
                              f"are not supported")
    until, until_utc = _until(parts["UNTIL"]) if "UNTIL" in parts else (None, False)
    return Rule(freq, interval, wkst, tuple(sorted(by.items())), until, until_utc)


def _interval(text: str, name: str, freq: int) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise RecurrenceError(f"INTERVAL={text} is not a whole number")
    value = int(text)
    if value < 1:
        raise RecurrenceError(f"INTERVAL={text}: it must be at least 1")
    if value > _MAX_INTERVAL[freq]:
        raise RecurrenceError(f"INTERVAL={text} with FREQ={name} is longer than {HORIZON_WORDS}, "
                              f"the longest period a rule may have (at most {_MAX_INTERVAL[freq]})")
    return value


def _numbers(key: str, text: str, low: int, high: int, signed: bool) -> tuple[int, ...]:
    values = []
    for item in text.split(","):
        if not _NUMBER.match(item):
            raise RecurrenceError(f"{key}={text}: {item!r} is not a whole number")
        value = int(item)
        ok = low <= abs(value) <= high if signed else low <= value <= high and not item.startswith(("+", "-"))
        if not ok or (signed and value == 0):
            span = f"{low}..{high} or -{high}..-{low}" if signed else f"{low}..{high}"
            raise RecurrenceError(f"{key}={text}: {item} is outside {span}")
        values.append(value)
    return tuple(values)


def _weekday_index(text: str, key: str) -> int:
    if text not in _DAYS:
        raise RecurrenceError(f"{key}={text}: not one of {', '.join(_DAYS)}")
    return _DAYS.index(text)


def _weekdays(text: str, freq: str, by_month: bool, by_week_no: bool) -> tuple:
    values = []
    for item in text.split(","):
        match = _WEEKDAY.match(item)
        if not match or match["day"] not in _DAYS:
            raise RecurrenceError(f"BYDAY={text}: {item!r} is not a weekday such as MO, 1MO or -1FR")
        day = weekdays[_DAYS.index(match["day"])]
        if match["n"] is None:
            values.append(day)
            continue
        n = int(match["n"])
        if freq not in ("MONTHLY", "YEARLY") or by_week_no:
            raise RecurrenceError(f"BYDAY={text}: a numbered weekday ({item}) needs FREQ=MONTHLY or YEARLY "
                                  f"without BYWEEKNO")
        most = 5 if freq == "MONTHLY" or by_month else 53
        if n == 0 or abs(n) > most:
            raise RecurrenceError(f"BYDAY={text}: {item} is outside 1..{most} or -{most}..-1")
        values.append(day(n))
    return tuple(values)


def _check_combinations(parts: dict[str, str]) -> None:
    """RFC 5545, section 3.3.10: the parts a FREQ must not have."""
    freq = parts["FREQ"]
    if "BYWEEKNO" in parts and freq != "YEARLY":
        raise RecurrenceError("BYWEEKNO needs FREQ=YEARLY")
    if "BYYEARDAY" in parts and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        raise RecurrenceError(f"BYYEARDAY cannot go with FREQ={freq}")
    if "BYMONTHDAY" in parts and freq == "WEEKLY":
        raise RecurrenceError("BYMONTHDAY cannot go with FREQ=WEEKLY")
    if "BYSETPOS" in parts and not any(k.startswith("BY") and k != "BYSETPOS" for k in parts):
        raise RecurrenceError("BYSETPOS needs another BY... part to choose from")


def _per_day(freq: int, interval: int, by: dict[str, tuple]) -> int:
    """The most occurrences the rule can have in a day."""
    if "byhour" in by:
        hours = len(set(by["byhour"]))
    elif freq == HOURLY:
        hours = -(-24 // interval)
    else:
        hours = 1
    return hours * len(set(by.get("byminute", (0,)))) * len(set(by.get("bysecond", (0,))))


def _until(text: str) -> tuple[datetime, bool]:
    match = _UNTIL.match(text)
    if not match:
        raise RecurrenceError(f"UNTIL={text}: write a date (20271231), a local time (20271231T180000) "
                              f"or a UTC time (20271231T100000Z)")
    try:
        day = date(int(match["y"]), int(match["mo"]), int(match["d"]))
        if match["h"] is None:  # a date: that whole day
            return datetime.combine(day, datetime.max.time()), False
        at = datetime(day.year, day.month, day.day, int(match["h"]), int(match["mi"]), int(match["s"]))
    except ValueError:
        raise RecurrenceError(f"UNTIL={text} is not a valid date") from None
    return at, match["z"] is not None


# ---- bounded evaluation (naive datetimes on the local wall clock) ----------------------------------

def walk(rule: Rule, anchor: datetime, low: datetime, high: datetime) -> Iterator[datetime]:
    """The occurrences ``o`` of ``rule`` started at ``anchor`` with ``low <= o <= high``, in order.

    The work is bounded whatever the rule: dateutil walks from the INTERVAL step holding ``low``
    to the first occurrence after ``high``, or, when none comes, to the end of the moved
    calendar, a few decades after ``high`` (see the module's docstring).
    """
    low = max(low, anchor)
    if high < low:
        return
    first = _step_start(rule, anchor, low)
    shift = _calendar_shift(first.year, high.year)
    try:
        moved = rrule(rule.freq, dtstart=_move(first, shift), interval=rule.interval, wkst=rule.wkst,
                      cache=False, **_explicit(rule, anchor))
    except ValueError as exc:  # e.g. BYHOUR that INTERVAL never reaches from the cycle's start
        raise RecurrenceError(f"the rule never occurs from {anchor:%Y-%m-%d %H:%M} on ({exc})") from None
    if not _some_day_fits(rule, anchor, low, high, shift):
        return
    high_moved = _move(high, shift)
    try:
        for found in moved:
            if found > high_moved:
                return
            found = _move(found, -shift)
            if found >= low:
                yield found
    except (ValueError, OverflowError):
        # dateutil reached the end of year 9999, which lies after ``high`` once moved.
        return


_DAY_PARTS = ("bymonth", "bymonthday", "byyearday", "byweekno", "byweekday")


def _some_day_fits(rule: Rule, anchor: datetime, low: datetime, high: datetime, shift: int) -> bool:
    """Whether a day in [low, high] passes the rule's day parts (month, day, week, weekday).

    A cheap test first (a month per step): a rule whose days never come (30 February) is answered
    here in a millisecond, not by walking every day of the decades dateutil would walk.
    """
    by = {k: v for k, v in _explicit(rule, anchor).items() if k in _DAY_PARTS}
    if not {"bymonthday", "byyearday", "byweekno", "byweekday"} & by.keys():
        by["byweekday"] = tuple(range(7))  # every day, not the defaults dateutil would take from DTSTART
    # A month per step (a year's step builds every day of the year), unless numbered weekdays
    # count within the year (FREQ=YEARLY without BYMONTH), as the rule's own do.
    numbered = any(getattr(d, "n", None) for d in by.get("byweekday", ()))
    freq = YEARLY if rule.freq == YEARLY and numbered and "bymonth" not in by else MONTHLY
    # From low's day: a month's or a year's days do not depend on where the walk starts.
    day = _move(low.replace(hour=0, minute=0, second=0, microsecond=0), shift)
    days = rrule(freq, dtstart=day, cache=False, **by)
    high_moved = _move(high.replace(hour=23, minute=59, second=59), shift)
    try:
        found = days.after(day, inc=True)
    except (ValueError, OverflowError):
        return False
    return found is not None and found <= high_moved


def last_at_or_before(rule: Rule, anchor: datetime, at: datetime, floor: datetime) -> datetime | None:
    """The latest occurrence in [max(anchor, floor), at], searching back a growing window at a time."""
    floor = max(floor, anchor)
    steps = 1
    while True:
        low = max(_step_start(rule, anchor, at, back=steps), floor)
        last = None
        for last in walk(rule, anchor, low, at):
            pass
        if last is not None or low <= floor:
            return last
        steps *= 2


def _step_start(rule: Rule, anchor: datetime, at: datetime, back: int = 0) -> datetime:
    """Where dateutil would begin the INTERVAL step holding ``at`` (``back`` steps earlier), counted
    from the anchor's step: the anchor's own step begins where dateutil begins it for the anchor."""
    n, at = rule.interval, max(at, anchor)
    if rule.freq == HOURLY:
        base = anchor.replace(minute=0, second=0, microsecond=0)
        k = int((at - base) // timedelta(hours=n)) - back
        return base + timedelta(hours=n * max(k, 0))
    if rule.freq in (DAILY, WEEKLY):
        day = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        if rule.freq == DAILY:
            k = (at - day).days // n - back
            return day + timedelta(days=n * max(k, 0))
        # A week begins on WKST; the anchor's week begins on the anchor's day for dateutil.
        week = day - timedelta(days=(day.weekday() - rule.wkst) % 7)
        k = (at - week).days // (7 * n) - back
        return day if k <= 0 else week + timedelta(weeks=n * k)
    if rule.freq == MONTHLY:
        k = ((at.year - anchor.year) * 12 + at.month - anchor.month) // n - back
        return datetime(anchor.year, anchor.month, 1) + relativedelta(months=n * max(k, 0))
    k = (at.year - anchor.year) // n - back
    return datetime(anchor.year + n * max(k, 0), 1, 1)


def _explicit(rule: Rule, anchor: datetime) -> dict[str, tuple]:
    """The rule's parts with the defaults dateutil takes from DTSTART written out from ``anchor``."""
    by = dict(rule.by)
    by.setdefault("bysecond", (anchor.second,))
    by.setdefault("byminute", (anchor.minute,))
    if rule.freq != HOURLY:
        by.setdefault("byhour", (anchor.hour,))
    if not {"byweekno", "byyearday", "bymonthday", "byweekday"} & by.keys():
        if rule.freq == YEARLY:
            by.setdefault("bymonth", (anchor.month,))
            by["bymonthday"] = (anchor.day,)
        elif rule.freq == MONTHLY:
            by["bymonthday"] = (anchor.day,)
        elif rule.freq == WEEKLY:
            by["byweekday"] = (anchor.weekday(),)
    return by


@lru_cache(maxsize=1)
def _years() -> tuple[tuple[bool, int], ...]:
    """For each year 0..9999 (0 unused): whether it is a leap year and the weekday of 1 January."""
    return ((False, -1),) + tuple((calendar.isleap(y), date(y, 1, 1).weekday()) for y in range(1, 10000))


@lru_cache(maxsize=4096)
def _calendar_shift(first: int, last: int) -> int:
    """The most years the span [first, last] can be moved by and keep its calendar, ending by 9998.

    Years with the same leap status and weekday of 1 January, in the same order, have the same
    days, weekdays and week numbers; dateutil also reads the year before and the year after.
    """
    if last > 9998:
        raise RecurrenceError(OUT_OF_RANGE)
    years = _years()
    low, high = max(first - 1, 1), last + 1
    want = years[low:high + 1]
    for shift in range(9998 - last, 0, -1):
        if years[low + shift:high + 1 + shift] == want:
            return shift
    return 0


def _move(at: datetime, years: int) -> datetime:
    return at.replace(year=at.year + years) if years else at
