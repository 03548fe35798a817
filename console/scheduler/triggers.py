"""Triggers from settings, their signatures (to tell whether one changed) and their words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from console.domain.cron import describe_cron, describe_interval, normalise_crontab
from console.settings import TriggerSettings

# Intervals are counted from local midnight of a fixed day, so "every 30 min" fires at :00 and
# :30, and the trigger is the same object on every start.
_ANCHOR = datetime(2000, 1, 3)


def build_trigger(spec: TriggerSettings, tz: ZoneInfo) -> BaseTrigger:
    if spec.cron is not None:
        return CronTrigger(**normalise_crontab(spec.cron), timezone=tz)
    assert spec.every is not None
    return IntervalTrigger(seconds=int(spec.every.total_seconds()), start_date=_ANCHOR.replace(tzinfo=tz), timezone=tz)


def signature(trigger: BaseTrigger) -> str:
    """Equal for triggers that fire at the same instants."""
    if isinstance(trigger, CronTrigger):
        fields = ",".join(f"{f.name}={f}" for f in trigger.fields)
        return f"cron[{fields}]@{trigger.timezone}"
    if isinstance(trigger, IntervalTrigger):
        return f"interval[{trigger.interval.total_seconds()}s from {trigger.start_date.isoformat()}]@{trigger.timezone}"
    return repr(trigger)


def describe(spec: TriggerSettings) -> str:
    return describe_cron(spec.cron) if spec.cron is not None else describe_interval(spec.every)


def describe_trigger(trigger: BaseTrigger) -> str:
    """The same words for a trigger as the job store holds it (which may be another settings'
    trigger than this process's): an interval's, a cron trigger's five crontab fields' (APScheduler
    writes weekdays as names), or APScheduler's own words for anything else."""
    if isinstance(trigger, IntervalTrigger):
        return describe_interval(trigger.interval)
    if isinstance(trigger, CronTrigger):
        fields = {f.name: str(f) for f in trigger.fields}
        if fields["year"] == "*" and fields["week"] == "*" and fields["second"] == "0":
            try:
                return describe_cron(" ".join(fields[name] for name in ("minute", "hour", "day", "month", "day_of_week")))
            except ValueError:
                pass
    return str(trigger)
