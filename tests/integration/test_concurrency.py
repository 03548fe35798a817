"""Two runs at once change nothing more than one run: no duplicate warning, no double reset.

The jobs' statements are run directly from several threads (each with its own connection),
bypassing the per-job lock, so the database's own guarantees are what is tested: the warning
ledger's unique key, and the reset's re-checked WHERE.
"""

from datetime import timedelta

from sqlalchemy import func, select

from console.db.models import Notification, Task, WarningSent
from tests.conftest import NOW
from tests.integration.helpers import run_job, together



def test_concurrent_warning_runs_send_each_warning_once(db, rows, settings):
    handler = rows.user()
    for i in range(60):
        rows.processing(time_pct=80 + (i % 20), progress=10, handler=handler)
    together(lambda i: run_job("check_task_warnings", db.engine, settings, NOW, run_id=5000 + i))
    with db.engine.connect() as conn:
        ledger = conn.execute(select(func.count()).select_from(WarningSent)).scalar_one()
        notes = conn.execute(select(Notification.task_id, func.count()).group_by(Notification.task_id)).all()
    assert ledger == 60
    assert len(notes) == 60 and all(n == 1 for _, n in notes)


def test_concurrent_resets_reset_and_notify_each_task_once(db, rows, settings):
    handler = rows.user()
    for _ in range(60):
        end = NOW - timedelta(days=8)
        rows.task(category="periodic", status="completed", actual_end_time=end, current_handler_id=handler)
    together(lambda i: run_job("reset_periodic_tasks", db.engine, settings, NOW + timedelta(seconds=i),
                               run_id=6000 + i))
    with db.engine.connect() as conn:
        notes = conn.execute(select(Notification.task_id, func.count()).group_by(Notification.task_id)).all()
        statuses = conn.execute(select(Task.status, func.count()).group_by(Task.status)).all()
    assert statuses == [("new", 60)]
    assert len(notes) == 60 and all(n == 1 for _, n in notes)
