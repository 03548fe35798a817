"""Task systems' own schemas, as they exist before taskconsole, and the mappings that fit them.

``seed``: the design document's schema (``users.username``, integer progress, ``timestamp
without time zone`` written with ``datetime.now()`` in Asia/Shanghai, Chinese status and category
words). ``renamed``: every table and column under another name (one needing quotes), 0/1 flags,
numeric progress, a status with two words. Each is created on a fresh, empty database of either
backend (``fresh`` fixture), with none of taskconsole's own tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from console.db.engine import make_engine
from tests.conftest import fresh_pg_database

SEED_DDL = (
    "CREATE TABLE users (id {pk}, username VARCHAR(50) NOT NULL, is_admin BOOLEAN DEFAULT FALSE)",
    "CREATE TABLE tasks (id {pk}, title VARCHAR(200) NOT NULL, category VARCHAR(50), status VARCHAR(20) DEFAULT '新建', "
    "progress INTEGER DEFAULT 0, time_progress INTEGER DEFAULT 0, expected_start_time TIMESTAMP, "
    "expected_end_time TIMESTAMP, actual_start_time TIMESTAMP, actual_end_time TIMESTAMP, "
    "current_handler_id INTEGER REFERENCES users(id), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "
    "updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE notifications (id {pk}, user_id INTEGER NOT NULL REFERENCES users(id), type VARCHAR(50) NOT NULL, "
    "title VARCHAR(200) NOT NULL, content TEXT, task_id INTEGER REFERENCES tasks(id), is_read BOOLEAN DEFAULT FALSE, "
    "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
)
SEED_SETTINGS = """\
timezone: Asia/Shanghai
task_system:
  columns:
    tasks: {recurrence: null}
    users: {name: username}
  values:
    status: {new: 新建, processing: 处理中, completed: 已完成, closed: 已关闭}
    category: {periodic: 定时周期任务}
  naive_timestamps: local
"""

RENAMED_DDL = (
    "CREATE TABLE staff (uid {pk}, display_name VARCHAR(80), admin_flag SMALLINT NOT NULL DEFAULT 0)",
    'CREATE TABLE "JobItems" (pk {pk}, headline TEXT NOT NULL, kind VARCHAR(40), "State" VARCHAR(30), '
    "pct_done NUMERIC(5, 2), pct_time REAL, plan_from {tstz}, plan_to {tstz}, began {tstz}, finished {tstz}, "
    "owner_id INTEGER, made {tstz}, touched {tstz}, rule TEXT)",
    "CREATE TABLE inbox (nid {pk}, recipient INTEGER NOT NULL, kind VARCHAR(16) NOT NULL, subject TEXT NOT NULL, "
    "body TEXT NOT NULL, about_task INTEGER, seen SMALLINT NOT NULL DEFAULT 0, "
    "sent_at {tstz} NOT NULL DEFAULT CURRENT_TIMESTAMP)",
)
RENAMED_SETTINGS = """\
task_system:
  tables: {tasks: JobItems, users: staff, notifications: inbox}
  columns:
    tasks: {id: pk, title: headline, category: kind, status: State, progress: pct_done, time_progress: pct_time,
            expected_start_time: plan_from, expected_end_time: plan_to, actual_start_time: began,
            actual_end_time: finished, current_handler_id: owner_id, created_at: made, updated_at: touched,
            recurrence: rule}
    users: {id: uid, name: display_name, is_admin: admin_flag}
    notifications: {id: nid, user_id: recipient, type: kind, title: subject, content: body, task_id: about_task,
                    is_read: seen, created_at: sent_at}
  values:
    status: {new: open, processing: busy, completed: done, closed: [shut, archived]}
    category: {periodic: [cron, weekly]}
"""


@dataclass
class Fresh:
    """An empty database of one backend: none of taskconsole's tables, nor anyone else's."""

    backend: str
    url: str
    engine: Engine
    tmp_path: Path

    def create(self, ddl: tuple[str, ...], *extra: str) -> None:
        pg = self.backend == "postgresql"
        words = {"pk": "SERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY",
                 "tstz": "TIMESTAMP WITH TIME ZONE" if pg else "DATETIME"}
        with self.engine.begin() as conn:
            for statement in (*ddl, *extra):
                conn.exec_driver_sql(statement.format(**words))

    def run(self, statement: str, rows: list[dict] | dict | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(statement), rows or {})

    def config(self, body: str, name: str = "settings.yaml") -> Path:
        path = self.tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tasksystem.db'}"
        engine = make_engine(url)
        yield Fresh("sqlite", url, engine, tmp_path)
        engine.dispose()
        return
    with fresh_pg_database("taskconsole_mapping") as url:
        engine = make_engine(url)
        yield Fresh("postgresql", url, engine, tmp_path)
        engine.dispose()
