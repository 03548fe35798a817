"""The pure rules and texts of deliveries (issue #28): when a row may go (digest windows, quiet
hours, backoff) and what a message says (the settings' Chinese or English, data escaped)."""

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from console.domain.deliveries import MAX_BACKOFF, backoff, digest_end, escape, parse_quiet, quiet_until
from console.notify import messages
from console.settings import Settings

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 28, 8, 5, tzinfo=timezone.utc)  # 16:05 in Shanghai


def test_backoff_doubles_and_is_capped_at_a_minute():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 8]
    assert backoff(6) == backoff(60) == MAX_BACKOFF == timedelta(minutes=1)


def test_a_digest_window_ends_on_the_local_clock():
    assert digest_end(NOW, timedelta(minutes=15), SH) == datetime(2026, 11, 28, 8, 15, tzinfo=timezone.utc)
    assert digest_end(NOW, timedelta(days=1), SH) == datetime(2026, 11, 28, 16, 0, tzinfo=timezone.utc)


def test_quiet_hours_across_midnight_hold_until_their_end():
    assert quiet_until(NOW, "15:00-17:00", SH) == datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    assert quiet_until(NOW, "22:00-08:00", SH) is None
    late = datetime(2026, 11, 28, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    assert quiet_until(late, "22:00-08:00", SH) == datetime(2026, 11, 29, 0, 0, tzinfo=timezone.utc)
    for bad in ("22-08", "25:00-08:00", "08:00-08:00", ""):
        with pytest.raises(ValueError):
            parse_quiet(bad)


def test_data_is_escaped_for_markdown_and_stripped_of_control_characters():
    assert escape("*x* [a](b)\x1b[31m", markdown=True) == r"\*x\* \[a\]\(b\)\[31m"
    assert escape("*x*\x1b", markdown=False) == "*x*"


def _row(**values):
    base = dict(event="warning", subject="年度预算 *急*", task_id=7, level=5, progress=62.5,
                deadline=NOW, detail=None, held=False, address=None)
    return SimpleNamespace(**{**base, **values})


def _settings(**channel):
    return Settings.model_validate({"channels": [{"name": "c", "url": "json://h/x", **channel}]})


def test_a_warning_says_the_notifications_texts_by_default_and_english_with_locale_en():
    zh = _settings()
    m = messages.one(zh, zh.channels[0], _row())
    assert m.title == "任务预警：剩余5%时间" and "年度预算 *急*" in m.body and "62%" in m.body
    assert "截止: 2026-11-28 16:05" in m.body and not m.markdown
    en = _settings(locale="en", task_url="https://t.example/{task_id}")
    m = messages.one(en, en.channels[0], _row())
    assert m.title == "Task warning: 5% of the time left" and m.body.endswith("https://t.example/7")


def test_a_markdown_target_gets_the_title_escaped():
    s = _settings(url="dingtalk://token/")
    m = messages.one(s, s.channels[0], _row())
    assert m.markdown and r"年度预算 \*急\*" in m.body


def test_a_digest_lists_the_tasks_and_counts_the_rest():
    s = _settings()
    m = messages.digest(s, s.channels[0], [_row(), _row(event="reset", level=None)], total=5)
    assert m.title == "任务提醒汇总（5 条）"
    lines = m.body.splitlines()
    assert lines[0].startswith("- 年度预算 *急*: 5% 剩余") and "还有 3 条" in lines[-1]


def test_a_digest_is_as_severe_as_its_most_severe_event():
    from types import SimpleNamespace

    from console.notify import messages
    from console.settings import ChannelSettings, Settings

    def row(event, level=None):
        return SimpleNamespace(event=event, subject="x", level=level, deadline=None, progress=None, task_id=None,
                               detail="boom", created_at=None, run_id=None, fields=None)

    settings, room = Settings(), ChannelSettings(name="room", url="json://h/x", digest="PT15M")
    assert messages.digest(settings, room, [row("reset")], 1).kind == "info"
    assert messages.digest(settings, room, [row("reset"), row("warning", 5)], 2).kind == "warning"
    assert messages.digest(settings, room, [row("warning", 5), row("job_failure"), row("reset")], 3).kind == "failure"
