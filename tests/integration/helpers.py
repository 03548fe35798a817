"""Small helpers for integration tests: running a job at a given instant, reading tables."""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
import os
import subprocess
import sys
from datetime import datetime

from pathlib import Path

from sqlalchemy import Engine, func, select

from console.db.models import Notification, Task, TaskState, WarningSent
from console.jobs import JOBS, JobContext
from console.settings import Settings

_run_ids = itertools.count(1000)


def run_job(job_id: str, engine: Engine, settings: Settings, now: datetime, run_id: int | None = None) -> dict:
    """One execution of a job's statements, as the runner would do it (fresh run id)."""
    ctx = JobContext(engine=engine, settings=settings, now=now, run_id=run_id or next(_run_ids))
    return JOBS[job_id].run(ctx)


def preview_job(job_id: str, engine: Engine, settings: Settings, now: datetime):
    return JOBS[job_id].preview(JobContext(engine=engine, settings=settings, now=now, run_id=-1))


def notifications(engine: Engine, type_: str | None = None) -> list:
    query = select(Notification).order_by(Notification.id)
    if type_:
        query = query.where(Notification.type == type_)
    with engine.connect() as conn:
        return conn.execute(query).all()


def ledger(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(WarningSent).order_by(WarningSent.id)).all()


STATE_COLUMNS = ("last_reset_run_id", "next_reset_at", "reset_planned_from", "recurrence_error")


def task(engine: Engine, task_id: int):
    """A task's row with taskconsole's state about it (task_state's columns; NULL where it has none)."""
    state = [TaskState.__table__.c[c] for c in STATE_COLUMNS]
    with engine.connect() as conn:
        return conn.execute(select(*Task.__table__.c, *state)
                            .select_from(Task.__table__.outerjoin(TaskState, TaskState.task_id == Task.id))
                            .where(Task.id == task_id)).one()


def count(engine: Engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def cli_env(url: str | None = None, config: Path | None = None, **more: str) -> dict[str, str]:
    """This process's environment without any TASKCONSOLE_ variable, then the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    if url is not None:
        env["TASKCONSOLE_DATABASE_URL"] = url
    if config is not None:
        env["TASKCONSOLE_CONFIG"] = str(config)
    env.update(more)
    return env


def invoke(args, *, url: str, cwd: Path, config: Path | None = None, timeout: float = 60):
    """``taskconsole ARGS`` on ``url``: in this process (``run_cli``) for a command that ends by
    itself, a real process (``invoke_process``, ``timeout``) for run, serve and the console."""
    if needs_a_process(args):
        return invoke_process(args, url=url, cwd=cwd, config=config, timeout=timeout)
    return run_cli(args, env=cli_env(url, config), cwd=cwd)


def needs_a_process(args) -> bool:
    """Whether ``taskconsole ARGS`` is ``run``, ``serve`` or the console: they install signal
    handlers and run until stopped, which only a process of their own can do."""
    import contextlib
    import io

    from console.cli.main import build_parser

    try:  # under the lock: the redirection is the whole process's, as run_cli's is
        with _IN_PROCESS, contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            parsed = build_parser().parse_args(list(args))
    except SystemExit:  # --help, --version or an argument error: said and done by the parser
        return False
    return parsed.command in (None, "run", "serve")


def invoke_process(args, *, url: str, cwd: Path, config: Path | None = None, timeout: float = 60):
    """``python -m console ARGS`` as a real process: for what only a process shows (its
    start-up, its imports, its exit)."""
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=cwd, env=cli_env(url, config),
                          capture_output=True, text=True, timeout=timeout)


# One command at a time in this process: standard output, the environment and the working
# directory are the process's (threads that call at once, as invoke_all does, take turns).
_IN_PROCESS = threading.RLock()
_CLI_LOGGERS = ("alembic", "apscheduler")  # the loggers console.cli.log_setup.configure sets a level on


def run_cli(args, *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """``taskconsole ARGS`` as ``console.cli.main.main(ARGS)`` in this process, the way a
    subprocess would see it: ``env`` as the whole environment, ``cwd`` as the working directory,
    standard output and error captured as text, the exit code from main's return or SystemExit
    (an uncaught exception: its traceback on stderr, exit 1, as Python does).

    What main changes in the process is put back afterwards: the environment, the working
    directory, the root logger's handlers and level (configure replaces them, which would take
    pytest's own away), the levels it sets, and the tables read by ``tables_for``. The engines
    the command connected are disposed, as the end of a process would close their connections.
    Only a command that ends by itself belongs here: ``run``, ``serve`` and the console stay
    real processes (signals, kill -9, a terminal)."""
    import contextlib
    import io
    import logging
    import traceback

    from sqlalchemy import event

    from console.cli.main import main
    from console.db.task_tables import forget_live_tables

    out, err = io.StringIO(), io.StringIO()
    engines: dict[int, Engine] = {}

    def connected(conn) -> None:
        engines.setdefault(id(conn.engine), conn.engine)

    with _IN_PROCESS:
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        root = logging.getLogger()
        saved_handlers, saved_level = root.handlers[:], root.level
        saved_levels = {name: logging.getLogger(name).level for name in _CLI_LOGGERS}
        forget_live_tables()
        event.listen(Engine, "engine_connect", connected)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:
                    code = exc.code
                except BaseException:  # noqa: BLE001 - what the interpreter does with it
                    traceback.print_exc()
                    code = 1
        finally:
            event.remove(Engine, "engine_connect", connected)
            for engine in engines.values():
                engine.dispose()
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            for handler in root.handlers[:]:
                if handler not in saved_handlers:
                    root.removeHandler(handler)
                    handler.close()
            for handler in saved_handlers:
                if handler not in root.handlers:
                    root.addHandler(handler)
            root.setLevel(saved_level)
            for name, level in saved_levels.items():
                logging.getLogger(name).setLevel(level)
            forget_live_tables()
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the message on stderr, exit 1
        err.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess(["taskconsole", *args], code, out.getvalue(), err.getvalue())


def assert_one_clean_error(proc, *, code: int = 2) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@contextmanager
def failing_inserts_into(engine: Engine, table: str):
    """Every INSERT INTO ``table`` on ``engine`` fails while inside (a real fault, mid-transaction)."""
    from sqlalchemy import event

    def fail(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()}"):
            raise RuntimeError("injected failure")

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def together(target, n: int = 4) -> None:
    """Calls ``target(i)`` for i in 0..n-1 on n threads released at once; fails with their errors."""
    barrier = threading.Barrier(n)
    errors = []

    def go(i):
        try:
            barrier.wait()
            target(i)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
