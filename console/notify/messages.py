"""What a delivery says: the title and body of one event, or of a digest of several, in the
channel's language and the target's format (issue #28).

The texts are the ``notifications`` settings' (the design document's Chinese) by default, English
with ``locale: en``. Data (a task's title, a job's error) is escaped for the target: Markdown
targets (DingTalk, Slack) get every Markdown character backslash-escaped, the others plain text;
control characters are removed for both. Data is never read as markup or as a template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from console.domain.deliveries import DeliveryEvent, escape
from console.domain.templates import render
from console.domain.text import in_zone
from console.settings import ChannelSettings, Settings, Template

MARKDOWN_SCHEMES = frozenset({"dingtalk", "slack"})
DIGEST_LINES = 100  # tasks listed in one digest; the rest are counted

EN = {
    DeliveryEvent.RESET: Template(type="reset", title="Periodic task reset", content="Task \"{title}\" was reset; please handle it"),
    DeliveryEvent.WARNING: Template(type="warning", title="Task warning: {level}% of the time left",
                                    content="Task \"{title}\" has only {level}% of its time left, progress {progress}%"),
    DeliveryEvent.JOB_FAILURE: Template(type="job_failure", title="Scheduled job failed", content="Job {job_id} failed: {error}"),
    DeliveryEvent.JOB_MISSED: Template(type="job_missed", title="Scheduled job missed",
                                       content="Job {job_id} missed its run scheduled for {scheduled_for}"),
}
ZH_MISSED = Template(type="系统错误", title="定时任务错过执行", content="定时任务 {job_id} 错过了计划于 {scheduled_for} 的执行")
WORDS = {
    "en": {"due": "due", "progress": "progress", "left": "% left", "reset": "reset", "more": "… and {n} more",
           "digest": "{n} task notices", DeliveryEvent.JOB_FAILURE: "job failed",
           DeliveryEvent.JOB_MISSED: "run missed", "test": "taskconsole test message",
           "test_body": "Channel {name} reaches you."},
    "zh_CN": {"due": "截止", "progress": "进度", "left": "% 剩余", "reset": "已重置", "more": "…… 还有 {n} 条",
              "digest": "任务提醒汇总（{n} 条）", DeliveryEvent.JOB_FAILURE: "执行失败",
              DeliveryEvent.JOB_MISSED: "错过执行",
              "test": "taskconsole 测试消息", "test_body": "通道 {name} 可以送达。"},
}


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    markdown: bool
    fields: dict[str, Any] | None = None  # beside title and message, for a json:// channel with ``fields``
    kind: str = "info"  # Apprise's notify type: info, warning or failure (json:// posts it as ``type``)


SEVERITY = ("info", "warning", "failure")
KINDS = {DeliveryEvent.WARNING: "warning", DeliveryEvent.RESET: "info", DeliveryEvent.JOB_FAILURE: "failure",
         DeliveryEvent.JOB_MISSED: "failure"}


def is_markdown(url: str) -> bool:
    return url.split("://", 1)[0].lower() in MARKDOWN_SCHEMES


def _template(settings: Settings, channel: ChannelSettings, event: DeliveryEvent) -> Template:
    if channel.locale == "en":
        return EN[event]
    if event == DeliveryEvent.JOB_MISSED:
        return ZH_MISSED
    return getattr(settings.notifications, str(event))


def _when(value: datetime | None, settings: Settings) -> str:
    return in_zone(value, settings.tz).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _values(row: Any, markdown: bool) -> dict[str, str]:
    progress = "" if row.progress is None else str(round(row.progress))
    return {"title": escape(row.subject, markdown), "task_id": str(row.task_id), "level": str(row.level),
            "progress": progress, "job_id": escape(row.subject, markdown), "error": escape(row.detail, markdown),
            "scheduled_for": escape(row.detail, markdown)}


def _link(channel: ChannelSettings, row: Any) -> str:
    return render(channel.task_url, {"task_id": row.task_id}) if channel.task_url and row.task_id is not None else ""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def fields(channel: ChannelSettings, row: Any) -> dict[str, Any] | None:
    """The event's fields for a channel that posts them: a job event's as queued (the failure
    webhook's body: event, job_id, at, host, run_id ...), a task event's from the row
    (``task_title``: json:// keeps ``title`` for the message's)."""
    if not channel.fields:
        return None
    if row.fields:
        try:
            return json.loads(row.fields)
        except ValueError:
            pass  # a row written by hand: the fields the row itself holds, below
    return {"event": row.event, "task_id": row.task_id, "task_title": row.subject, "level": row.level,
            "deadline": _iso(row.deadline), "progress": row.progress, "run_id": row.run_id,
            "error" if row.task_id is None else "detail": row.detail, "at": _iso(row.created_at)}


def one(settings: Settings, channel: ChannelSettings, row: Any) -> Message:
    """The message of one delivery row."""
    markdown = is_markdown(channel.url)
    event = DeliveryEvent(row.event)
    template = _template(settings, channel, event)
    values = _values(row, markdown)
    words = WORDS[channel.locale]
    body = render(template.content, values)
    if row.deadline is not None and event in (DeliveryEvent.WARNING, DeliveryEvent.RESET):
        body += f"\n{words['due']}: {_when(row.deadline, settings)}"
    link = _link(channel, row)
    if link:
        body += f"\n{link}"
    return Message(render(template.title, values), body, markdown, fields(channel, row), KINDS[event])


def digest(settings: Settings, channel: ChannelSettings, rows: Iterable[Any], total: int) -> Message:
    """One message for ``total`` delivery rows, listing the first ``DIGEST_LINES`` (``rows``)."""
    markdown = is_markdown(channel.url)
    words = WORDS[channel.locale]
    rows = list(rows)
    lines = []
    for row in rows:
        title = escape(row.subject, markdown)
        event = DeliveryEvent(row.event)
        if event == DeliveryEvent.WARNING:
            what = (f"{row.level}{words['left']}, {words['due']} {_when(row.deadline, settings)}, "
                    f"{words['progress']} {'' if row.progress is None else round(row.progress)}%")
        elif event == DeliveryEvent.RESET:
            what = f"{words['reset']}, {words['due']} {_when(row.deadline, settings)}"
        else:
            what = words[event]
        link = _link(channel, row)
        lines.append(f"- {title}: {what}" + (f" {link}" if link else ""))
    if total > len(lines):
        lines.append(words["more"].format(n=total - len(lines)))
    extra = ({"event": "digest", "count": total, "items": [fields(channel, row) for row in rows]}
             if channel.fields else None)
    kind = max((KINDS[DeliveryEvent(row.event)] for row in rows), key=SEVERITY.index, default="info")
    return Message(words["digest"].format(n=total), "\n".join(lines), markdown, extra, kind)


def test_message(channel: ChannelSettings) -> Message:
    words = WORDS[channel.locale]
    return Message(words["test"], words["test_body"].format(name=channel.name), is_markdown(channel.url),
                   {"event": "test", "channel": channel.name} if channel.fields else None)
