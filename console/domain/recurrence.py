"""Per-task recurrence: when a finished periodic task is due again, and its next window.

A task's ``recurrence`` is one of:
- empty: the settings' default period, with the seed document's rule: due once
  ``actual_end + period <= now``; new window ``[now, now + period]``;
- an ISO-8601 duration (``P1D``, ``PT12H``, ``P2W``, ``P1M``) of at most 5 years: the same rule
  with that period;
- an RFC 5545 RRULE (``FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0``), evaluated on the wall clock
  of the settings' timezone: due once an occurrence has come after the start of the finished
  cycle; the new window starts at the latest occurrence at or before now (missed occurrences
  leave no backlog) and keeps the finished cycle's planned length. Its parts are checked and
  its evaluation bounded by ``console.domain.rrules``: an occurrence is looked for at most
  ``HORIZON`` (5 years) ahead, and a rule with none there is refused.

Calendar parts of a duration (years, months, weeks, days) move the wall clock, so ``P1D`` is the
same local time tomorrow across a DST change; hours, minutes and seconds are elapsed time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from console.domain import rrules
# RecurrenceError, HORIZON and OUT_OF_RANGE are part of this module's interface too.
from console.domain.rrules import HORIZON, HORIZON_WORDS, MAX_LENGTH, OUT_OF_RANGE, RecurrenceError, Rule  # noqa: F401

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?!$)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
NO_OCCURRENCE = f"the rule has no occurrence within {HORIZON_WORDS} of the cycle's start"
# A sanity check on the task's window, not a cost bound (evaluation is bounded anyway): a cycle
# that started this long ago is a bad row, skipped and counted rather than reset.
_LOOKBACK = timedelta(days=366 * 20)
_PROBE = datetime(2001, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Duration:
    calendar: relativedelta  # years, months, weeks, days: wall-clock
    elapsed: timedelta  # hours, minutes, seconds: absolute

    def add(self, instant: datetime, tz: ZoneInfo) -> datetime:
        local = instant.astimezone(tz)
        moved = (local.replace(tzinfo=None) + self.calendar).replace(tzinfo=tz)
        return moved.astimezone(timezone.utc) + self.elapsed


@dataclass(frozen=True)
class Recurrence:
    text: str | None  # as stored; None for the default
    period: Duration | None = None  # default and duration rules
    rule: str | None = None  # RRULE text
    parsed: Rule | None = None  # the RRULE, checked

    @property
    def kind(self) -> str:
        return "rrule" if self.rule else ("duration" if self.text else "default")


def _show(text: str) -> str:
    """The rule for a one-line message: a very long one is cut."""
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def parse_duration(text: str) -> Duration:
    match = _DURATION.match(text.strip().upper())
    if not match:
        raise RecurrenceError(f"{_show(text)} is not an ISO-8601 duration such as P1D, PT12H, P2W or P1M")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    too_long = RecurrenceError(f"{_show(text)} is longer than {HORIZON_WORDS}, the longest period a rule may have")
    if any(v > 10**6 for v in parts.values()):
        raise too_long
    duration = Duration(
        relativedelta(years=parts.get("years", 0), months=parts.get("months", 0), weeks=parts.get("weeks", 0),
                      days=parts.get("days", 0)),
        timedelta(hours=parts.get("hours", 0), minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0)),
    )
    try:
        end = duration.add(_PROBE, ZoneInfo("UTC"))
    except (OverflowError, ValueError):
        raise too_long from None
    if end <= _PROBE:
        raise RecurrenceError(f"{_show(text)} is an empty duration")
    if end > _PROBE + relativedelta(years=5):
        raise too_long
    return duration


def from_timedelta(period: timedelta) -> Duration:
    return Duration(relativedelta(), period)


def parse_recurrence(text: str | None, default_period: timedelta) -> Recurrence:
    """The rule in ``text``, or the default for an empty one; raises RecurrenceError.

    Every part is checked here; whether an RRULE occurs at all is for ``check_occurs``.
    """
    if text is None or not text.strip():
        return Recurrence(None, period=from_timedelta(default_period))
    text = text.strip()
    if len(text) > MAX_LENGTH:
        raise RecurrenceError(f"{_show(text)} is {len(text)} characters long; a rule may have at most {MAX_LENGTH}")
    if text.upper().startswith("P"):
        return Recurrence(text, period=parse_duration(text))
    body = text[len("RRULE:"):] if text.upper().startswith("RRULE:") else text
    if "FREQ=" not in body.upper():
        raise RecurrenceError(f"{_show(text)} is neither an ISO-8601 duration (P1D) nor an RRULE (FREQ=...)")
    if "DTSTART" in body.upper():
        raise RecurrenceError(f"{_show(text)}: DTSTART is taken from the task, leave it out")
    try:
        parsed = rrules.parse(body)
    except RecurrenceError as exc:
        raise RecurrenceError(f"{_show(text)} is not a valid RRULE: {exc}") from None
    return Recurrence(text, rule=body, parsed=parsed)


def _local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _anchor(instant: datetime, tz: ZoneInfo) -> datetime:
    # Whole minutes: a rule without BYSECOND takes its seconds from the cycle's start.
    return _local(instant, tz).replace(second=0, microsecond=0)


def _to_utc(naive_local: datetime, tz: ZoneInfo) -> datetime:
    # A wall time skipped by DST (02:30 on the spring-forward night) lands an hour later, as
    # clocks show it; a repeated one takes its first instant.
    return naive_local.replace(tzinfo=tz).astimezone(timezone.utc)


def _until(rule: Rule, tz: ZoneInfo) -> datetime | None:
    """The rule's UNTIL on the local wall clock."""
    if rule.until is None:
        return None
    if rule.until_utc:
        return _local(rule.until.replace(tzinfo=timezone.utc), tz)
    return rule.until


def _plus_horizon(at: datetime) -> datetime:
    try:
        return at + HORIZON
    except OverflowError:
        raise RecurrenceError(OUT_OF_RANGE) from None


def occurrence_after(recurrence: Recurrence, anchor: datetime, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first occurrence strictly after ``after`` and within the horizon, for a rule anchored at
    ``anchor``; None when there is none."""
    rule = recurrence.parsed
    assert rule is not None
    after_local = _local(after, tz)
    high = _plus_horizon(after_local)
    until = _until(rule, tz)
    if until is not None:
        high = min(high, until)
    for found in rrules.walk(rule, _anchor(anchor, tz), after_local, high):
        if found > after_local:
            instant = _to_utc(found, tz)
            if instant > after:
                return instant
    return None


def occurrence_at_or_before(recurrence: Recurrence, anchor: datetime, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The latest occurrence at or before ``now`` (after the anchor, within the horizon), or None."""
    if now - anchor > _LOOKBACK:
        raise RecurrenceError(f"the cycle started more than {_LOOKBACK.days // 366} years ago "
                              f"({anchor:%Y-%m-%d}); check the task's window")
    rule = recurrence.parsed
    assert rule is not None
    at = _local(now, tz)
    until = _until(rule, tz)
    if until is not None:
        at = min(at, until)
    anchor_local = _anchor(anchor, tz)
    floor = at - HORIZON
    found = rrules.last_at_or_before(rule, anchor_local, at, floor)
    while found is not None:
        instant = _to_utc(found, tz)
        if instant <= now:
            return instant
        found = rrules.last_at_or_before(rule, anchor_local, found - timedelta(microseconds=1), floor)
    return None


def check_occurs(recurrence: Recurrence, *, anchor: datetime, tz: ZoneInfo) -> None:
    """Raise RecurrenceError unless the rule has an occurrence within the horizon after ``anchor``."""
    if recurrence.parsed is None:
        return  # the default and durations always recur (their length is checked when parsed)
    if occurrence_after(recurrence, anchor, anchor, tz) is None:
        raise RecurrenceError(f"{_show(recurrence.text or '')}: the rule has no occurrence within {HORIZON_WORDS} "
                              f"(after {anchor.astimezone(tz):%Y-%m-%d %H:%M})")


def cycle_length(start: datetime | None, end: datetime | None, default_period: timedelta) -> timedelta:
    """The planned length of a cycle; the default period when the cycle has none to keep."""
    if start is not None and end is not None and end > start:
        return end - start
    return default_period


def due_at(recurrence: Recurrence, *, cycle_start: datetime | None, actual_end: datetime, tz: ZoneInfo) -> datetime | None:
    """When a finished task becomes due for reset; None when its rule never fires again."""
    if recurrence.rule is None:
        assert recurrence.period is not None
        return recurrence.period.add(actual_end, tz)
    anchor = cycle_start or actual_end
    return occurrence_after(recurrence, anchor, anchor, tz)


def new_window(recurrence: Recurrence, *, now: datetime, cycle_start: datetime | None, cycle_end: datetime | None,
               tz: ZoneInfo, default_period: timedelta) -> tuple[datetime, datetime]:
    """The window a task gets when it is reset at ``now``."""
    if recurrence.rule is None:
        assert recurrence.period is not None
        return now, recurrence.period.add(now, tz)
    anchor = cycle_start or now
    start = occurrence_at_or_before(recurrence, anchor, now, tz) or now
    return start, start + cycle_length(cycle_start, cycle_end, default_period)


def next_windows(recurrence: Recurrence, *, now: datetime, cycle_start: datetime | None, cycle_end: datetime | None,
                 actual_end: datetime | None, count: int, tz: ZoneInfo,
                 default_period: timedelta) -> list[tuple[datetime, datetime]]:
    """The next ``count`` windows: the one the next reset gives, then those after it.

    Duration rules assume each cycle ends on time.
    """
    windows: list[tuple[datetime, datetime]] = []
    if recurrence.rule is not None:
        length = cycle_length(cycle_start, cycle_end, default_period)
        anchor = cycle_start or now
        start = occurrence_after(recurrence, anchor, anchor, tz)
        if start is not None and start <= now:
            # Overdue: the next reset takes the latest occurrence, as new_window does.
            start = occurrence_at_or_before(recurrence, anchor, now, tz)
        while start is not None and len(windows) < count:
            windows.append((start, start + length))
            # A reset makes this window's start the next cycle's, which the rule is anchored at.
            start = occurrence_after(recurrence, start, start, tz)
        return windows
    assert recurrence.period is not None
    finished = actual_end or cycle_end or now
    start = max(recurrence.period.add(finished, tz), now)
    for _ in range(count):
        end = recurrence.period.add(start, tz)
        windows.append((start, end))
        start = end
    return windows


_DAY_NAMES = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday",
              "SA": "Saturday", "SU": "Sunday"}
_FREQ_WORDS = {"YEARLY": "year", "MONTHLY": "month", "WEEKLY": "week", "DAILY": "day", "HOURLY": "hour"}


def _parts(rule: str) -> dict[str, str]:
    # Only what the rule says: dateutil fills BYHOUR, BYDAY and the like from DTSTART otherwise.
    return {k.strip().upper(): v.strip().upper() for k, _, v in (item.partition("=") for item in rule.split(";")) if k}


def describe(recurrence: Recurrence) -> str:
    """A few words: "every Monday 09:00", "every day 09:00", "every 2 weeks", "1 day after completion"."""
    if recurrence.rule is None:
        suffix = " (default)" if recurrence.text is None else ""
        return f"{_duration_words(recurrence.period)} after completion{suffix}"
    parts = _parts(recurrence.rule)
    freq, interval = parts.get("FREQ", ""), int(parts.get("INTERVAL", "1") or 1)
    hours, minutes = parts.get("BYHOUR", ""), parts.get("BYMINUTE", "0")
    at = f" {int(hours):02d}:{int(minutes):02d}" if hours.isdigit() and minutes.isdigit() else ""
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    simple = len(parts.keys() - {"FREQ", "INTERVAL", "BYHOUR", "BYMINUTE", "BYDAY", "BYMONTHDAY"}) == 0
    if simple and interval == 1 and freq == "WEEKLY" and days and all(d in _DAY_NAMES for d in days):
        if days == ["MO", "TU", "WE", "TH", "FR"]:
            return f"every weekday{at}"
        return "every " + ", ".join(_DAY_NAMES[d] for d in days) + at
    if simple and interval == 1 and freq == "DAILY" and not days:
        return f"every day{at}"
    if simple and interval == 1 and freq == "MONTHLY" and parts.get("BYMONTHDAY") and not days:
        return f"every month on day {parts['BYMONTHDAY']}{at}"
    unit = _FREQ_WORDS.get(freq, "period")
    every = f"every {unit}" if interval == 1 else f"every {interval} {unit}s"
    return every + at if simple and not days and not parts.get("BYMONTHDAY") else f"{every} ({recurrence.rule})"


def _duration_words(duration: Duration | None) -> str:
    if duration is None:
        return "?"
    parts = []
    rd = duration.calendar
    for value, unit in ((rd.years, "year"), (rd.months, "month"), (rd.weeks, "week"), (rd.days % 7 if rd.weeks else rd.days, "day")):
        if value:
            parts.append(f"{value} {unit}{'s' if value > 1 else ''}")
    seconds = int(duration.elapsed.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size:
            value, seconds = divmod(seconds, size)
            parts.append(f"{value} {unit}{'s' if value > 1 else ''}")
    return " ".join(parts) or "0 seconds"
