"""The scheduling module's design document's own algorithm, one ORM object at a time.

Kept here only to measure against: it loads every processing task into the session, and the
warning check commits once per warned task (each commit expires every loaded object, which is
what makes it quadratic).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from console.db.models import Notification, Task


def _time_progress(task: Task, now: datetime) -> float:
    total = (task.expected_end_time - task.expected_start_time).total_seconds()
    if total <= 0:
        return 0.0
    return min(100.0, max(0.0, (now - task.expected_start_time).total_seconds() / total * 100))


def update_time_progress(engine: Engine, now: datetime) -> int:
    with Session(engine) as session:
        tasks = session.query(Task).filter(
            Task.status == "processing", Task.expected_start_time.isnot(None), Task.expected_end_time.isnot(None)
        ).all()
        for task in tasks:
            task.time_progress = _time_progress(task, now)
        session.commit()
        return len(tasks)


def check_task_warnings(engine: Engine, now: datetime) -> int:
    sent = 0
    with Session(engine) as session:
        tasks = session.query(Task).filter(
            Task.status == "processing", Task.expected_start_time.isnot(None), Task.expected_end_time.isnot(None)
        ).all()
        for task in tasks:
            tp = _time_progress(task, now)
            level = None
            if tp >= 95 and task.progress < 95:
                level = 5
            elif tp >= 90 and task.progress < 90:
                level = 10
            elif tp >= 80 and task.progress < 80:
                level = 20
            if level is None or task.current_handler_id is None:
                continue
            title = f"任务预警：剩余{level}%时间"
            already = session.query(Notification).filter(
                Notification.task_id == task.id, Notification.title == title
            ).first()
            if already:
                continue
            session.add(Notification(user_id=task.current_handler_id, type="任务预警", title=title,
                                     content=f"任务「{task.title}」", task_id=task.id, is_read=False, created_at=now))
            session.commit()
            sent += 1
    return sent
