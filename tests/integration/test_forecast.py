"""The warning forecast (issue #27): warnings falling due per hour and level, from the threshold
instants of tasks whose thresholds fall in known hours, on both backends and a frozen clock; the
seed schema's naive Asia/Shanghai timestamps; and ``tasks forecast`` on the command line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from console.db.models import WarningSent
from console.db.task_tables import forget_live_tables, tables_for
from console.db import schema
from console.service.forecast import Forecast, warning_forecast
from console.settings import Settings, load_settings
from tests.conftest import DEMO_TABLES, NOW
from tests.integration.helpers import assert_one_clean_error, invoke, run_job
from tests.integration.task_schemas import SEED_DDL, SEED_SETTINGS, fresh  # noqa: F401

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 25 minutes into the hour: hour 0 is 16:00 to 17:00 in Shanghai, 35 minutes of it still ahead.
AT = NOW + timedelta(minutes=25)


def window(ahead_80: float, hours: float = 100.0) -> dict:
    """A window of ``hours`` whose 80 % instant is ``ahead_80`` hours after AT (negative: before)."""
    start = AT + timedelta(hours=ahead_80) - timedelta(hours=hours * 0.8)
    return dict(expected_start_time=start, expected_end_time=start + timedelta(hours=hours))


def counts(forecast: Forecast) -> dict[tuple[int, int], int]:
    """{(hour index, level): count} of the hours and levels with a warning due."""
    return {(i // len(forecast.levels), row.level): row.count for i, row in enumerate(forecast.rows) if row.count}


def forecast(engine, settings, hours: int = 24, tables=DEMO_TABLES, now: datetime = AT) -> Forecast:
    return warning_forecast(engine, tables, now, settings.warnings.levels, settings.tz, hours)


def warned(engine, task_id: int, level: int, cycle: int = 0) -> None:
    with engine.begin() as conn:
        conn.execute(insert(WarningSent).values(task_id=task_id, level=level, cycle=cycle, repeat_no=0,
                                                window_start=NOW, window_end=NOW, sent_at=NOW, run_id=1))


def test_each_levels_instant_falls_in_its_hour_from_the_current_hour_boundary(db, rows, settings):
    handler = rows.user()
    # A 100-hour window: 80 % at +10 h (hour 10: hour 0 began 25 min ago), 90 % at +20 h, 95 % at +25 h.
    rows.task(progress=0.0, current_handler_id=handler, **window(10))
    # The rest of this hour is hour 0; 80 % six minutes ahead, 90 % ten hours later.
    rows.task(progress=50.0, current_handler_id=handler, **window(0.1))
    result = forecast(db.engine, settings)
    assert counts(result) == {(10, 20): 1, (20, 10): 1, (0, 20): 1, (10, 10): 1, (15, 5): 1}
    assert result.start == datetime(2026, 11, 28, 16, 0, tzinfo=SHANGHAI)
    assert result.rows[0].hour.isoformat() == "2026-11-28T16:00:00+08:00"
    assert result.rows[-1].hour.isoformat() == "2026-11-29T15:00:00+08:00" and len(result.rows) == 24 * 3
    assert result.totals == {20: 2, 10: 2, 5: 1} and result.total == 5
    assert result.per_hour[0] == 1 and result.per_hour[10] == 2 and sum(result.per_hour) == 5
    # A longer horizon reaches the first task's 95 % (+25 h: hour 25); hour 0 alone holds one.
    assert counts(forecast(db.engine, settings, hours=48))[(25, 5)] == 1
    assert counts(forecast(db.engine, settings, hours=1)) == {(0, 20): 1}


def test_a_level_already_warned_in_the_cycle_or_reached_or_outworked_is_not_ahead(db, rows, settings):
    handler = rows.user()
    # Warned at 20 % in its cycle (a deadline moved back): 10 % and 5 % still ahead, 20 % is not.
    moved = rows.task(progress=0.0, current_handler_id=handler, **window(1))
    warned(db.engine, moved, 20)
    # Warned at 20 % in an earlier cycle (reset since, by run 7): all three are ahead again.
    reset = rows.task(progress=0.0, current_handler_id=handler, last_reset_run_id=7, **window(2))
    warned(db.engine, reset, 20, cycle=0)
    # Past 80 % now (in level 20, "now", not ahead): only 90 % and 95 % count.
    rows.task(progress=0.0, current_handler_id=handler, **window(-4))
    # Work at 92 %: only 95 % can fall due.
    rows.task(progress=92.0, current_handler_id=handler, **window(3))
    # Never counted: no handler, not processing, an inverted window, progress out of range, 100 % done.
    rows.task(progress=0.0, current_handler_id=None, **window(4))
    rows.task(progress=0.0, status="new", current_handler_id=handler, **window(4))
    rows.task(progress=0.0, current_handler_id=handler, expected_start_time=AT + timedelta(hours=5),
              expected_end_time=AT - timedelta(hours=5))
    rows.task(progress=130.0, current_handler_id=handler, **window(4))
    rows.task(progress=100.0, current_handler_id=handler, **window(4))
    got = counts(forecast(db.engine, settings))
    assert got == {
        (11, 10): 1, (16, 5): 1,  # moved: 90 % at +11 h, 95 % at +16 h
        (2, 20): 1, (12, 10): 1, (17, 5): 1,  # reset
        (6, 10): 1, (11, 5): 1,  # past 80 % by 4 h: 90 % at +6 h, 95 % at +11 h
        (18, 5): 1,  # work at 92 %: 95 % at +18 h
    }


def test_what_the_check_sends_leaves_the_forecast_and_what_it_will_send_is_there(db, rows, settings):
    handler = rows.user()
    task_id = rows.task(progress=0.0, current_handler_id=handler, **window(0.5))  # 80 % in 30 min
    assert counts(forecast(db.engine, settings)) == {(0, 20): 1, (10, 10): 1, (15, 5): 1}
    later = AT + timedelta(hours=1)
    run_job("check_task_warnings", db.engine, settings, later)  # sends 20 % at +1 h
    # An hour on, hour 0 is 17:00; the 20 % warning is sent: neither ahead nor counted.
    assert counts(forecast(db.engine, settings, now=later)) == {(9, 10): 1, (14, 5): 1}
    assert [r.level for r in _ledger(db.engine, task_id)] == [20]


def _ledger(engine, task_id: int) -> list:
    from sqlalchemy import select

    with engine.connect() as conn:
        return conn.execute(select(WarningSent).where(WarningSent.task_id == task_id)).all()


def test_other_levels_and_a_zone_off_the_hour(db, rows):
    settings = Settings.model_validate({"timezone": "Asia/Kathmandu"})  # UTC+05:45
    handler = rows.user()
    rows.task(progress=0.0, current_handler_id=handler, **window(1))
    result = forecast(db.engine, settings)
    # 08:25 UTC is 14:10 in Kathmandu: hour 0 began at 14:00 there, 10 minutes ago; 80 % is at 15:10.
    assert result.start.isoformat() == "2026-11-28T14:00:00+05:45"
    assert counts(result) == {(1, 20): 1, (11, 10): 1, (16, 5): 1}
    # The settings' levels, whatever they are: 30 % left at 70 %, 5 % at 95 %. A second task reaches
    # 70 % in 2 h (its 95 %, at +27 h, is beyond); the first is past 70 %, its 95 % at +16 h.
    rows.task(progress=0.0, current_handler_id=handler, **window(12))
    levels = Settings.model_validate({"warnings": {"levels": [{"level": 30, "at": 70}, {"level": 5, "at": 95}]}})
    result = forecast(db.engine, levels)
    assert result.levels == (30, 5) and counts(result) == {(2, 30): 1, (16, 5): 1}


@pytest.fixture
def seed(fresh):  # noqa: F811
    """The design document's schema: naive Asia/Shanghai timestamps, Chinese status words."""
    fresh.create(SEED_DDL)
    fresh.settings = load_settings(fresh.config(SEED_SETTINGS), env={"TASKCONSOLE_DATABASE_URL": fresh.url})
    schema.upgrade(fresh.engine, fresh.settings)
    forget_live_tables()
    return fresh


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).replace(tzinfo=None).isoformat(sep=" ")


def test_naive_local_timestamps_of_the_seed_schema_fall_in_their_shanghai_hours(seed):
    seed.run("INSERT INTO users (id, username) VALUES (2, '张伟')")
    for i, (ahead, progress, status) in enumerate([(3, 10, "处理中"), (-0.5, 10, "处理中"), (3, 10, "已完成")], 1):
        w = window(ahead, hours=10)
        seed.run("INSERT INTO tasks (id, title, status, progress, expected_start_time, expected_end_time, "
                 "current_handler_id) VALUES (:id, '任务', :status, :progress, :start, :end, 2)",
                 dict(id=i, status=status, progress=progress, start=_local(w["expected_start_time"]),
                      end=_local(w["expected_end_time"])))
    settings = seed.settings
    result = forecast(seed.engine, settings, tables=tables_for(seed.engine, settings))
    # A 10-hour window: 80 % at +3 h, 90 % at +4 h, 95 % at +4.5 h; read as UTC they would be 8 h off.
    # The second is past 80 % (by half an hour): 90 % at +30 min (hour 0, 35 min of it left), 95 % at +1 h.
    assert counts(result) == {(3, 20): 1, (4, 10): 1, (4, 5): 1, (0, 10): 1, (1, 5): 1}
    assert result.rows[0].hour.isoformat() == "2026-11-28T16:00:00+08:00"
# -- the command line ------------------------------------------------------------------------------

@pytest.mark.parametrize("hours", ["0", "169", "x", "-3", "1e3", ""])
def test_tasks_forecast_refuses_bad_hours_in_one_line(tmp_path, hours):
    proc = invoke(["tasks", "forecast", "--hours", hours], url=f"sqlite:///{tmp_path / 'none.db'}", cwd=tmp_path)
    line = assert_one_clean_error(proc)
    assert "--hours" in line


def test_tasks_forecast_json_and_text(cli, db, rows):
    handler = rows.user()
    now = datetime.now(NOW.tzinfo)
    start = now - timedelta(hours=79)  # a 100-hour window: 80 % at +1 h, 90 % at +11 h, 95 % at +16 h
    rows.task(progress=0.0, current_handler_id=handler, expected_start_time=start,
              expected_end_time=start + timedelta(hours=100))
    proc = cli("tasks", "forecast", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data) == 24 * 3 and set(data[0]) == {"hour", "level", "count"}
    assert [d["level"] for d in data[:3]] == [20, 10, 5]
    assert datetime.fromisoformat(data[0]["hour"]).utcoffset() == timedelta(hours=8)  # Asia/Shanghai
    assert sum(d["count"] for d in data) == 3
    assert {d["level"] for d in data if d["count"]} == {20, 10, 5}
    text = cli("tasks", "forecast", "--hours", "12")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["HOUR", "20%", "10%", "5%", "ALL"]
    assert lines[-1] == "next 12 h: 2 (20%: 1, 10%: 1, 5%: 0)"
