"""The words of deliveries (issue #28): what a delivery row is about, whom a channel is for, and
where a delivery stands. They are part of the contract (``deliveries list --json``, the metrics'
labels, the settings' ``channels[].events``), so they are written here once; members are ``str``.

Also the pure rules of when a delivery goes: the end of a digest window and of quiet hours, the
retry backoff, and escaping data for the text format of a target. No I/O.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum

from console.domain.text import printable


class DeliveryEvent(StrEnum):
    """What a delivery tells."""

    WARNING = "warning"
    RESET = "reset"
    JOB_FAILURE = "job_failure"
    JOB_MISSED = "job_missed"


class ChannelTarget(StrEnum):
    """Whom a channel is for: a room or robot (every event), or each handler (a personal address)."""

    GROUP = "group"
    HANDLER = "handler"


class DeliveryState(StrEnum):
    """Where a delivery stands: waiting (or held, or backing off), claimed by a sender, sent, or
    given up after ``delivery.give_up_after``."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


MAX_BACKOFF = timedelta(minutes=1)
QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def backoff(tries: int) -> timedelta:
    """The wait after the ``tries``-th failed try: 2, 4, 8 ... seconds, at most a minute."""
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(max(tries, 1), 10)))


def parse_quiet(text: str) -> tuple[time, time]:
    """``"22:00-08:00"`` as (start, end); ValueError if it is not HH:MM-HH:MM or is empty."""
    m = QUIET.match(text or "")
    if not m:
        raise ValueError(f"{printable(text)!r} is not HH:MM-HH:MM (e.g. 22:00-08:00)")
    start, end = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
    if start == end:
        raise ValueError("quiet hours that start when they end hold nothing; leave the key out")
    return start, end


def quiet_until(now: datetime, quiet: str | None, tz: tzinfo) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (UTC), or None when it is not in them."""
    if not quiet:
        return None
    start, end = parse_quiet(quiet)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tz).astimezone(timezone.utc)


def digest_end(now: datetime, every: timedelta, tz: tzinfo) -> datetime:
    """The end of the digest window ``now`` falls in: windows of ``every`` from local midnight, so
    every warning of the 09:00 run waits for the same instant (and goes out as one message)."""
    local = now.astimezone(tz)
    midnight = datetime.combine(local.date(), time(0), tz)
    elapsed = (local - midnight) // every
    return (midnight + every * (elapsed + 1)).astimezone(timezone.utc)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def escape(text: object, markdown: bool) -> str:
    """Data as the target shows it literally: printable (no control characters), and for a
    Markdown target every character Markdown would read as markup backslash-escaped."""
    plain = printable(text)
    return _MARKDOWN.sub(r"\\\1", plain) if markdown else plain
