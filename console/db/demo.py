"""Demo data: a realistic mix of users, tasks and notifications, bulk-loaded.

PostgreSQL gets ``COPY`` and SQLite ``executemany`` on the raw driver, in chunks, so a million
tasks load in well under a minute and memory stays flat. The mix has every case the jobs and
the console care about: processing tasks at every time-progress level, periodic tasks due and
not due, old closed tasks, read and unread notifications, admins and handlers, and a few bad
rows (no window, inverted window, progress out of range, no handler).
"""

from __future__ import annotations

import csv
import io
import queue
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Sequence

from sqlalchemy import Engine, func, select, text

from console.db.models import Notification, Task, User

CHUNK = 20_000
TASK_COLUMNS = (
    "id", "title", "category", "status", "progress", "time_progress", "expected_start_time",
    "expected_end_time", "actual_start_time", "actual_end_time", "current_handler_id", "created_at", "updated_at",
    "recurrence",
)
# A few periodic tasks carry rules of their own (one of them broken, as real data can be).
DEMO_RULES = {10: "FREQ=DAILY;BYHOUR=9;BYMINUTE=0", 30: "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
              50: "P1D", 70: "every other tuesday-ish"}
NOTE_COLUMNS = ("id", "user_id", "type", "title", "content", "task_id", "is_read", "created_at")
USER_COLUMNS = ("id", "name", "is_admin")

# The words a demo's tasks carry: the default mapping's, or the design document's Chinese ones
# (``demo --vocabulary zh``; the settings then need the matching task_system.values).
VOCABULARIES = {
    "en": {},
    "zh": {"new": "新建", "processing": "处理中", "completed": "已完成", "closed": "已关闭",
           "periodic": "定时周期任务", "normal": "普通任务"},
}

_SUBJECTS = ("季度报表整理", "服务器补丁升级", "客户回访", "合同审核", "Release checklist", "Backup restore drill",
             "安全巡检", "数据库索引优化", "Onboarding docs", "发票核对", "周会纪要", "库存盘点")
_NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "Alice", "Bob", "Carol", "Dave")


class DemoError(Exception):
    """The demo cannot be loaded as asked (the message says why)."""


@dataclass
class DemoResult:
    users: int
    tasks: int
    notifications: int


def _users(count: int) -> list[tuple]:
    rows = [(1, "admin", True), (2, "运维值班 ops", True)]
    for i in range(3, count + 3):
        rows.append((i, f"{_NAMES[i % len(_NAMES)]}-{i:04d}", False))
    return rows


def _task_rows(start_id: int, count: int, handlers: Sequence[int], now: datetime, seed: int) -> Iterator[tuple]:
    rnd = random.Random(seed)
    day = timedelta(days=1)
    for n in range(count):
        task_id = start_id + n
        title = f"{_SUBJECTS[task_id % len(_SUBJECTS)]} #{task_id}"
        handler = handlers[rnd.randrange(len(handlers))]
        kind = task_id % 20
        category = "periodic" if kind in (10, 11) or (kind < 4 and task_id % 3 == 0) else "normal"
        created = now - day * rnd.uniform(1, 400)
        start = end = actual_start = actual_end = None
        progress, time_pct = 0.0, 0.0
        updated = created
        if kind < 10 or kind == 19:  # processing, at every time-progress level
            status = "processing"
            length = day * rnd.uniform(1, 14)
            time_pct = rnd.uniform(0, 110)
            start = now - length * (time_pct / 100)
            end = start + length
            progress = float(rnd.randrange(0, 101))
            if rnd.random() < 0.4:  # many fall behind: work progress below time progress
                progress = float(max(0, int(min(time_pct, 100)) - rnd.randrange(5, 40)))
            time_pct = round(min(100.0, time_pct), 2)
            actual_start = start
            updated = now - day * rnd.uniform(0, 1)
            if kind == 19 and task_id % 50 == 19:  # a few bad rows, as real data has
                flaw = (task_id // 50) % 4
                if flaw == 0:
                    start = end = None
                elif flaw == 1:
                    start, end = end, start
                elif flaw == 2:
                    progress = 150.0
                else:
                    handler = None
        elif kind in (10, 11):  # periodic, finished: half due for reset, half not yet
            status = "completed" if kind == 10 else "closed"
            ago = rnd.uniform(8, 30) if rnd.random() < 0.5 else rnd.uniform(0.5, 6)
            actual_end = now - day * ago
            start = actual_end - day * 7
            end = actual_end
            actual_start = start
            progress, time_pct, updated = 100.0, 100.0, actual_end
        elif kind in (12, 13):  # closed long ago: cleanup material
            status = "closed"
            actual_end = now - day * rnd.uniform(91, 400)
            start, end, actual_start = actual_end - day * 10, actual_end, actual_end - day * 10
            progress, time_pct, updated = 100.0, 100.0, actual_end
        elif kind == 14:  # closed recently
            status = "closed"
            actual_end = now - day * rnd.uniform(1, 60)
            start, end, actual_start = actual_end - day * 5, actual_end, actual_end - day * 5
            progress, time_pct, updated = 100.0, 100.0, actual_end
        elif kind in (15, 16):  # new, planned
            status = "new"
            start = now + day * rnd.uniform(0, 10)
            end = start + day * rnd.uniform(1, 10)
        else:  # completed
            status = "completed"
            actual_end = now - day * rnd.uniform(0, 30)
            start, end, actual_start = actual_end - day * 5, actual_end, actual_end - day * 5
            progress, time_pct, updated = 100.0, 100.0, actual_end
        if task_id == 7:
            title = "[b]Release[/b] checklist — literal brackets, not markup"
        yield (task_id, title, category, status, progress, time_pct, start, end, actual_start, actual_end,
               handler, created, updated, DEMO_RULES.get(task_id) if category == "periodic" else None)


def _note_rows(start_id: int, count: int, handlers: Sequence[int], max_task: int, now: datetime,
               seed: int) -> Iterator[tuple]:
    rnd = random.Random(seed)
    for n in range(count):
        note_id = start_id + n
        roll = rnd.random()
        if roll < 0.4:
            is_read, age = True, rnd.uniform(181, 500)
        elif roll < 0.7:
            is_read, age = True, rnd.uniform(0, 179)
        else:
            is_read, age = False, rnd.uniform(0, 30)
        task_id = rnd.randrange(1, max_task + 1) if max_task else None
        yield (note_id, handlers[rnd.randrange(len(handlers))], "任务提醒", "请处理任务",
               f"任务 #{task_id} 需要处理", task_id, is_read, now - timedelta(days=age))


def _sqlite_time(value: datetime | None) -> str | None:
    # The exact text UTCDateTime stores on SQLite, so loaded rows compare like ORM-written ones.
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class _Writer:
    """Turns chunks of rows into what the driver takes fastest, and sends them.

    ``prepare`` is CPU work (run on a helper thread, see ``_pipelined``); ``send`` is the
    database's work. The two overlap, so the load takes about as long as the slower of them.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    def prepare(self, rows: list[tuple]):
        if self.pg:
            buf = io.StringIO()
            writer = csv.writer(buf)
            for row in rows:
                writer.writerow(["" if v is None else (v.isoformat() if isinstance(v, datetime) else v) for v in row])
            buf.seek(0)
            return buf
        return [tuple(_sqlite_time(v) if isinstance(v, datetime) else v for v in row) for row in rows]

    def send(self, conn, table: str, columns: Sequence[str], payload) -> None:
        raw = conn.connection.driver_connection
        if self.pg:
            with raw.cursor() as cur:
                cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", payload)
        else:
            cur = raw.cursor()
            cur.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", payload
            )
            cur.close()

    def write(self, conn, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        self.send(conn, table, columns, self.prepare(rows))


def _pipelined(chunks: Iterator[list[tuple]], prepare: Callable) -> Iterator[tuple[int, object]]:
    """(rows, prepared payload) for each chunk, prepared on a helper thread a little ahead.

    The queue holds at most two chunks, so memory stays flat whatever the number of rows.
    """
    ready: queue.Queue = queue.Queue(maxsize=2)
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                ready.put((len(chunk), prepare(chunk)))
            ready.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            ready.put(exc)

    worker = threading.Thread(target=produce, name="demo-rows", daemon=True)
    worker.start()
    while True:
        item = ready.get()
        if item is done:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    worker.join()


def _chunks(rows: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def existing_tasks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Task)).scalar_one())


def vocabulary_yaml(vocabulary: str) -> str:
    """The settings section that maps the words of ``vocabulary`` (empty for the default words)."""
    words = VOCABULARIES[vocabulary]
    if not words:
        return ""
    status = ", ".join(f"{s}: {words[s]}" for s in ("new", "processing", "completed", "closed"))
    return (f"task_system:\n  values:\n    status: {{{status}}}\n"
            f"    category: {{periodic: {words['periodic']}}}\n")


def _in_words(rows: Iterator[tuple], vocabulary: str) -> Iterator[tuple]:
    """Task rows with their category and status (the third and fourth fields) in ``vocabulary``."""
    words = VOCABULARIES[vocabulary]
    if not words:
        yield from rows
        return
    for row in rows:
        yield row[:2] + (words.get(row[2], row[2]), words.get(row[3], row[3])) + row[4:]


def load_demo(engine: Engine, tasks: int, *, replace: bool = False, now: datetime | None = None,
              seed: int = 20261128, progress: Callable[[int, int], None] | None = None,
              vocabulary: str = "en") -> DemoResult:
    """Load ``tasks`` demo tasks (and users, notifications) whose words are ``vocabulary``'s;
    ``replace`` empties the tables first."""
    if tasks < 0:
        raise DemoError("--tasks must be zero or more")
    if vocabulary not in VOCABULARIES:
        raise DemoError(f"unknown vocabulary {vocabulary!r}; one of: {', '.join(VOCABULARIES)}")
    now = now or datetime.now(timezone.utc)
    writer = _Writer(engine)
    if existing_tasks(engine) and not replace:
        raise DemoError("the database already has tasks; use --replace to empty it and load the demo")
    with engine.begin() as conn:
        tables = ("warning_ledger", "task_state", "notifications", "tasks", "users")
        if writer.pg:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
        users = _users(max(10, min(2000, tasks // 500)))
        writer.write(conn, User.__tablename__, USER_COLUMNS, users)
    handlers = [u[0] for u in users if not u[2]]
    done = 0
    rows = _in_words(_task_rows(1, tasks, handlers, now, seed), vocabulary)
    for count, payload in _pipelined(_chunks(rows, CHUNK), writer.prepare):
        with engine.begin() as conn:
            writer.send(conn, Task.__tablename__, TASK_COLUMNS, payload)
        done += count
        if progress:
            progress(done, tasks)
    notes = tasks // 5
    note_rows = _chunks(_note_rows(1, notes, handlers, tasks, now, seed + 1), CHUNK)
    for _, payload in _pipelined(note_rows, writer.prepare):
        with engine.begin() as conn:
            writer.send(conn, Notification.__tablename__, NOTE_COLUMNS, payload)
    with engine.begin() as conn:
        if writer.pg:
            for table in ("users", "tasks", "notifications"):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
                ))
            conn.execute(text("ANALYZE users, tasks, notifications"))
        else:
            conn.execute(text("ANALYZE"))
    return DemoResult(users=len(users), tasks=tasks, notifications=notes)
