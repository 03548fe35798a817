"""The charts' data (issue #29): warnings sent per hour and level, and a job's runs per hour, over
the last 7 days, grouped in SQL on both backends around a frozen clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from console.db.models import JobRun, WarningSent
from console.service.charts import HOURS, job_runs_per_hour, warnings_sent_per_hour
from tests.conftest import NOW

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = NOW + timedelta(minutes=25)  # 16:25 in Shanghai: hour 167 is 16:00 to 17:00


def sent(engine, level: int, at: datetime, n: int = 1) -> None:
    with engine.begin() as conn:
        for i in range(n):
            conn.execute(insert(WarningSent).values(task_id=hash((level, at, i)) % 10**9, level=level, cycle=0,
                                                    repeat_no=0, window_start=at, window_end=at, sent_at=at, run_id=1))


def ran(engine, job_id: str, at: datetime, took: float, status: str = "success") -> None:
    with engine.begin() as conn:
        conn.execute(insert(JobRun).values(job_id=job_id, trigger_kind="scheduled", status=status, attempt=1,
                                           started_at=at, finished_at=at + timedelta(seconds=took), duration_s=took))


def test_warnings_sent_are_counted_by_hour_and_level_within_the_week(db):
    sent(db.engine, 20, AT - timedelta(minutes=20), 3)  # this hour (16:05)
    sent(db.engine, 5, AT - timedelta(minutes=30), 2)  # 15:55: the hour before
    sent(db.engine, 10, AT - timedelta(hours=167, minutes=20))  # 17:05 a week ago: hour 0
    sent(db.engine, 10, AT - timedelta(hours=168))  # before hour 0: not drawn
    sent(db.engine, 20, AT + timedelta(minutes=1))  # after now (a clock ahead): not drawn
    got = warnings_sent_per_hour(db.engine, AT, SHANGHAI, (20, 10, 5))
    assert got.start == datetime(2026, 11, 21, 17, 0, tzinfo=SHANGHAI) and got.hours == HOURS
    assert got.per_level[20][167] == 3 and got.per_level[5][166] == 2 and got.per_level[10][0] == 1
    assert got.totals() == {20: 3, 10: 1, 5: 2}


def test_a_jobs_runs_per_hour_keep_the_longest_and_count_the_failures(db):
    ran(db.engine, "update_time_progress", AT - timedelta(minutes=20), 0.5)
    ran(db.engine, "update_time_progress", AT - timedelta(minutes=10), 2.5, "failed")
    ran(db.engine, "update_time_progress", AT - timedelta(hours=30), 1.0)
    ran(db.engine, "update_time_progress", AT - timedelta(hours=30, minutes=5), 9.0, "running")  # not finished
    ran(db.engine, "update_time_progress", AT - timedelta(days=8), 7.0)  # older than the week
    ran(db.engine, "check_task_warnings", AT - timedelta(minutes=5), 4.0)  # another job
    got = job_runs_per_hour(db.engine, "update_time_progress", AT, SHANGHAI)
    assert got.longest[167] == 2.5 and got.runs[167] == 2 and got.failed[167] == 1
    assert got.longest[137] == 1.0 and got.failed[137] == 0
    assert got.total == 3 and sum(1 for v in got.longest if v is not None) == 2
