"""The demo mix, and the shape of the jobs' work: the same statements whatever the number of tasks."""

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from console.db.demo import DemoError, load_demo
from console.db.engine import make_engine
from console.db.models import Notification, Task, User
from console.jobs import JOBS
from console.settings import Settings
from tests.conftest import DEMO_TABLES, NOW
from tests.integration.helpers import preview_job, run_job


def test_demo_has_every_case_the_jobs_need(db, settings):
    load_demo(db.engine, 4000, now=NOW)
    with db.engine.connect() as conn:
        statuses = dict(conn.execute(select(Task.status, func.count()).group_by(Task.status)).all())
        admins = conn.execute(select(func.count()).where(User.is_admin.is_(True))).scalar_one()
        read = dict(conn.execute(select(Notification.is_read, func.count()).group_by(Notification.is_read)).all())
    assert set(statuses) == {"new", "processing", "completed", "closed"}
    assert admins >= 1 and read[True] > 0 and read[False] > 0
    warnings = preview_job("check_task_warnings", db.engine, settings, NOW).counts
    assert all(warnings[f"level_{lv}"] > 0 for lv in (20, 10, 5))
    assert warnings["skipped_no_window"] + warnings["skipped_bad_progress"] > 0  # a few bad rows
    reset = preview_job("reset_periodic_tasks", db.engine, settings, NOW).counts
    assert reset["would_reset"] > 0
    cleanup = preview_job("cleanup_old_data", db.engine, settings, NOW).counts
    assert cleanup["would_delete_tasks"] > 0 and cleanup["would_delete_notifications"] > 0


def test_demo_refuses_to_mix_with_existing_tasks_unless_replacing(db):
    load_demo(db.engine, 100, now=NOW)
    with pytest.raises(DemoError, match="--replace"):
        load_demo(db.engine, 100, now=NOW)
    load_demo(db.engine, 50, now=NOW, replace=True)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Task)).scalar_one() == 50


def test_jobs_run_on_the_demo_and_ids_continue_after_it(db, rows, settings):
    load_demo(db.engine, 1000, now=NOW)
    for job_id in JOBS:
        run_job(job_id, db.engine, settings, NOW)
    rows.task(title="after the demo")  # the id sequence was moved past the loaded ids


def _statements(engine, job_id, settings) -> list[str]:
    from console.db.task_tables import tables_for

    seen: list[str] = []
    tables_for(engine, settings)  # the live schema is read once per process, not per run: not counted

    def record(conn, cursor, statement, *args):
        seen.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        run_job(job_id, engine, settings, NOW + timedelta(hours=1))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("job_id", list(JOBS))
def test_statement_count_does_not_grow_with_the_number_of_tasks(db, job_id):
    # Set-based: 10x the tasks (and 10x the rows to change) costs the same statements.
    # Cleanup's batch size is set so both sizes fit one batch per table.
    settings = Settings.model_validate({"cleanup": {"batch_size": 100_000}})
    load_demo(db.engine, 1_000, now=NOW)
    small = _statements(db.engine, job_id, settings)
    load_demo(db.engine, 10_000, now=NOW, replace=True)
    large = _statements(db.engine, job_id, settings)
    assert small == large
    # A few statements per phase and batch, never one per row (the reset stages its due ids: 29).
    assert len(large) <= 32


def _plan(conn, statement) -> str:
    sql = str(statement.compile(conn.engine, compile_kwargs={"literal_binds": True}))
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))


@pytest.fixture
def pg_db(pg_server):
    engine = make_engine(pg_server)
    yield engine
    engine.dispose()


def test_postgresql_reads_warning_candidates_and_the_near_panel_through_indexes(pg_db, settings):
    # The shapes db tune's indexes are made for: the 80 % instant index matches the warning check's
    # expression, and the near panel's deadline order comes straight from the window index.
    from sqlalchemy import and_, text

    from console.db.task_sql import is_processing, past_lowest_threshold, progress_ok, window_ok

    load_demo(pg_db, 10_000, now=NOW, replace=True)
    levels = settings.warnings.levels
    t, c = DEMO_TABLES, DEMO_TABLES.tasks.c
    candidates = and_(is_processing(t), window_ok(t), progress_ok(t), c.current_handler_id.is_not(None),
                      past_lowest_threshold(t, NOW, levels))
    with pg_db.connect() as conn:
        conn.execute(text("ANALYZE tasks"))
        conn.execute(text("SET enable_seqscan = off"))  # small table: ask whether the index *can* serve
        candidates = _plan(conn, select(func.count()).select_from(t.tasks).where(candidates))
        deadline = _plan(conn, select(c.id).where(is_processing(t))
                         .order_by(c.expected_end_time, c.expected_start_time, c.id).limit(20))
        fillfactor = conn.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'tasks'")).scalar_one()
    assert "tc_tasks_warn_from_" in candidates
    assert "tc_tasks_processing_window_" in deadline and "Sort" not in deadline
    assert "fillfactor=45" in fillfactor
