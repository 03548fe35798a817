"""Bad input, end to end: every job skips and counts bad rows and never aborts; the command line
answers bad settings, a missing or newer schema with one line, exit 2, no traceback, no password.

Already covered elsewhere (not repeated here): unknown job ids for jobs run/pause/resume/history
and preview (test_cli), a bad timezone or cron line through the CLI (test_cli), bad values and
YAML in load_settings (unit/test_settings), a database without schema for `jobs list` (test_cli),
hostile titles and log lines in the console (tui/test_safety), and per-job bad rows without the
"nothing of them changed" check (test_warnings_job, test_progress_and_cleanup_jobs, test_reset_job).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, delete, func, select, text

from console.db.models import JobRun, Task, TaskState, User
from console.settings import SettingsError, load_settings
from tests.conftest import NOW, Rows, fresh_pg_database
from tests.integration.helpers import STATE_COLUMNS, assert_one_clean_error, invoke, ledger, notifications, preview_job, run_job

UTC = timezone.utc
Y1 = datetime(1, 1, 1, tzinfo=UTC)
Y9999 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
MARKUP, ESCAPES, LONG = "[bold]x[/] [red]y", "esc\x1b[2J\x1b]0;pwn\x07 c1\x9b end", "x" * 10_240
JOBS = ("check_task_warnings", "update_time_progress", "reset_periodic_tasks", "cleanup_old_data")


def snapshot(engine, ids) -> dict[int, dict]:
    """Each task's row with its task_state columns (a task that is gone: no entry)."""
    state = [TaskState.__table__.c[c] for c in STATE_COLUMNS]
    with engine.connect() as conn:
        found = conn.execute(select(*Task.__table__.c, *state)
                             .select_from(Task.__table__.outerjoin(TaskState, TaskState.task_id == Task.id))
                             .where(Task.id.in_(list(ids))))
        return {r.id: dict(r._mapping) for r in found}


def run_all(db, settings, now=NOW) -> dict[str, dict]:
    """Preview then run each job: neither may raise, whatever the rows."""
    for job in JOBS:
        preview_job(job, db.engine, settings, now)
    return {job: run_job(job, db.engine, settings, now) for job in JOBS}


@pytest.fixture
def mix(db, rows):
    """Bad rows of every kind, and good rows (with hostile titles) in the same tables."""
    h, gone = rows.user(), rows.user()
    end9 = NOW - timedelta(days=9)
    late = dict(time_pct=96, progress=10)
    m = SimpleNamespace(
        no_window=rows.task(progress=10, current_handler_id=h),
        start_only=rows.task(progress=10, current_handler_id=h, expected_start_time=NOW - timedelta(days=1)),
        inverted=rows.task(progress=10, current_handler_id=h, expected_start_time=NOW,
                           expected_end_time=NOW - timedelta(hours=1)),
        zero_length=rows.task(progress=10, current_handler_id=h, expected_start_time=NOW - timedelta(hours=1),
                              expected_end_time=NOW - timedelta(hours=1)),
        negative=rows.processing(time_pct=96, progress=-5, handler=h),
        over=rows.processing(time_pct=96, progress=150, handler=h),
        null_progress=rows.processing(time_pct=96, progress=None, handler=h),
        no_handler=rows.processing(**late, handler=None),
        deleted_handler=rows.processing(**late, handler=gone),
        good=[rows.processing(**late, handler=h, title=t) for t in (MARKUP, ESCAPES, LONG)],
        periodic_no_handler=rows.task(category="periodic", status="completed", actual_end_time=end9),
        periodic_no_end=rows.task(category="periodic", status="completed", current_handler_id=h),
        periodic_deleted_handler=rows.task(category="periodic", status="closed", actual_end_time=end9,
                                           current_handler_id=gone),
        periodic_good=rows.task(category="periodic", status="completed", actual_end_time=end9,
                                current_handler_id=h, title=ESCAPES),
        old_closed=rows.task(status="closed", updated_at=NOW - timedelta(days=91), title=LONG),
    )
    with db.engine.begin() as conn:  # deleted the ordinary way: the foreign key clears the handler
        conn.execute(delete(User).where(User.id == gone))
    # A deadline passed is 100 % whatever the start (issue #27): inverted windows are no bad rows.
    m.overdue = [m.inverted, m.zero_length]
    m.skipped_by_all = [m.no_window, m.start_only, m.periodic_no_handler, m.periodic_no_end,
                        m.periodic_deleted_handler]
    m.not_warned = [m.negative, m.over, m.null_progress, m.no_handler, m.deleted_handler]
    m.before = snapshot(db.engine, m.skipped_by_all + m.not_warned)
    return m


def test_check_task_warnings_skips_and_counts_each_bad_row_and_warns_the_good_ones(db, mix, settings):
    counts = run_job("check_task_warnings", db.engine, settings, NOW)
    assert counts["skipped_no_window"] == 2 and "skipped_inverted_window" not in counts
    assert (counts["skipped_bad_progress"], counts["skipped_no_handler"]) == (3, 2)
    assert (counts["notified"], counts["level_5"]) == (5, 5)
    sent = notifications(db.engine)
    assert sorted(n.task_id for n in sent) == sorted(mix.good + mix.overdue)
    assert {t for t in (MARKUP, ESCAPES, LONG) if any(t in n.content for n in sent)} == {MARKUP, ESCAPES, LONG}
    assert {r.task_id for r in ledger(db.engine)} == set(mix.good + mix.overdue)
    assert snapshot(db.engine, mix.before) == mix.before


def test_update_time_progress_skips_and_counts_bad_windows_and_nothing_else(db, mix, settings):
    counts = run_job("update_time_progress", db.engine, settings, NOW)
    assert counts["skipped_no_window"] == 2 and "skipped_inverted_window" not in counts
    # Work progress and handlers do not matter to time progress: those rows get theirs.
    assert counts["updated"] == len(mix.good) + len(mix.not_warned) + len(mix.overdue)
    assert {row["time_progress"] for row in snapshot(db.engine, mix.overdue).values()} == {100.0}
    after = snapshot(db.engine, mix.before)
    for task_id, row in mix.before.items():
        if task_id in mix.not_warned:
            assert after[task_id].pop("time_progress") == 96.0
            row = {k: v for k, v in row.items() if k != "time_progress"}
        assert after[task_id] == row


def test_reset_periodic_tasks_resets_unassigned_tasks_unnotified_and_skips_and_counts_no_end_time(db, mix, settings):
    counts = run_job("reset_periodic_tasks", db.engine, settings, NOW)
    assert (counts["reset"], counts["reset_unassigned"], counts["notified"]) == (3, 2, 1)
    assert (counts["skipped_no_end_time"], counts["skipped_invalid_rule"]) == (1, 0)
    reset = [mix.periodic_good, mix.periodic_no_handler, mix.periodic_deleted_handler]
    assert {row["status"] for row in snapshot(db.engine, reset).values()} == {"new"}
    assert [n.task_id for n in notifications(db.engine)] == [mix.periodic_good]
    assert snapshot(db.engine, set(mix.before) - set(reset)) == {
        i: row for i, row in mix.before.items() if i not in reset}


def test_cleanup_old_data_deletes_only_old_closed_tasks_among_bad_rows(db, mix, settings):
    counts = run_job("cleanup_old_data", db.engine, settings, NOW)
    assert counts["deleted_tasks"] == 1
    assert snapshot(db.engine, [mix.old_closed]) == {}
    assert snapshot(db.engine, mix.before) == mix.before


def test_absurd_processing_windows_never_raise_and_get_their_exact_time_progress(db, rows, settings):
    h = rows.user()

    def window(start, end):
        return rows.task(progress=10, current_handler_id=h, expected_start_time=start, expected_end_time=end)

    ids = dict(
        whole_calendar=window(Y1, Y9999), year_1=window(Y1, Y1 + timedelta(seconds=1)),
        year_9999=window(Y9999 - timedelta(days=1), Y9999), century=window(NOW - timedelta(days=36500 * 0.99),
                                                                           NOW + timedelta(days=36500 * 0.01)),
        microsecond=window(NOW - timedelta(microseconds=1), NOW),
        zero_at_year_1=window(Y1, Y1), zero_at_year_9999=window(Y9999, Y9999),
    )
    zero = snapshot(db.engine, [ids["zero_at_year_9999"]])
    counts = run_all(db, settings)
    rows_now = snapshot(db.engine, ids.values())
    stored = {name: rows_now[task_id]["time_progress"] for name, task_id in ids.items()}
    whole = (NOW - Y1) / (Y9999 - Y1) * 100
    assert stored == dict(whole_calendar=round(whole, 2), year_1=100.0, year_9999=0.0, century=99.0, microsecond=100.0,
                          zero_at_year_1=100.0, zero_at_year_9999=0.0)  # a deadline passed, one ahead
    assert "skipped_inverted_window" not in counts["update_time_progress"]
    # year 1, its zero-length window, the century at 99 %, the microsecond
    assert counts["check_task_warnings"]["level_5"] == 4
    windows = {(r.window_start, r.window_end) for r in ledger(db.engine)}
    assert (Y1, Y1 + timedelta(seconds=1)) in windows  # year 1 goes through the ledger's key and back
    assert snapshot(db.engine, zero) == zero


def test_absurd_periodic_windows_are_skipped_as_invalid_rules_and_never_abort_the_reset(db, rows, settings):
    h = rows.user()

    def finished(rule, start, end, actual_end):
        return rows.task(category="periodic", status="completed", recurrence=rule, current_handler_id=h,
                         expected_start_time=start, expected_end_time=end, actual_end_time=actual_end)

    yesterday = NOW - timedelta(days=1)
    bad = [
        finished("P1D", Y9999 - timedelta(days=1), Y9999, Y9999),  # its due date is past year 9999
        finished("FREQ=DAILY", NOW - timedelta(days=3), Y9999, yesterday),  # new window would end past 9999
        finished("FREQ=HOURLY", Y1, Y1 + timedelta(days=1), yesterday),  # 17 million hours to walk
    ]
    default_rule_9999 = finished(None, None, None, Y9999)  # not due until year 9999: left alone
    before = snapshot(db.engine, bad + [default_rule_9999])
    default_rule_year_1 = finished(None, None, None, Y1)
    good = finished("P1D", NOW - timedelta(days=3), NOW - timedelta(days=2), NOW - timedelta(days=2))
    started = time.monotonic()
    preview = preview_job("reset_periodic_tasks", db.engine, settings, NOW)
    counts = run_job("reset_periodic_tasks", db.engine, settings, NOW)
    assert time.monotonic() - started < 10  # never walks an absurd span inside its transaction
    assert preview.counts["skipped_invalid_rule"] == 1  # the dry run cannot see the overflowing new window
    assert (counts["reset"], counts["rule_reset"], counts["skipped_invalid_rule"]) == (2, 1, 3)
    assert {r.task_id for r in notifications(db.engine)} == {default_rule_year_1, good}
    after = snapshot(db.engine, bad + [default_rule_9999])
    keep = ("status", "progress", "expected_start_time", "expected_end_time", "actual_end_time", "current_handler_id")
    for task_id, row in before.items():  # only the planning columns (recurrence_error) were written
        assert {k: after[task_id][k] for k in keep} == {k: row[k] for k in keep}
    assert all(after[i]["recurrence_error"] for i in bad)
    again = run_job("reset_periodic_tasks", db.engine, settings, NOW + timedelta(minutes=1))
    assert (again["reset"], again["skipped_invalid_rule"]) == (0, 3)


def test_a_handler_id_whose_user_is_gone_is_skipped_and_counted_not_fatal(db, rows, settings):
    # Written by a system without foreign keys (SQLite's default): the user row is gone, the id stays.
    h, gone = rows.user(), rows.user()
    good = rows.processing(time_pct=96, progress=10, handler=h)
    dangling = rows.processing(time_pct=96, progress=10, handler=gone)
    periodic = rows.task(category="periodic", status="completed", current_handler_id=gone,
                         actual_end_time=NOW - timedelta(days=9))
    if db.is_pg:
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # foreign keys off
            conn.execute(delete(User).where(User.id == gone))
    else:
        raw = create_engine(db.url)
        with raw.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(delete(User).where(User.id == gone))
        raw.dispose()
    before = snapshot(db.engine, [dangling, periodic])
    assert before[dangling]["current_handler_id"] == gone
    preview = preview_job("check_task_warnings", db.engine, settings, NOW)
    assert (preview.counts["would_notify"], preview.counts["skipped_no_handler"]) == (1, 1)
    counts = run_all(db, settings)
    assert (counts["check_task_warnings"]["notified"], counts["check_task_warnings"]["skipped_no_handler"]) == (1, 1)
    # An unassigned periodic task is still reset (issue 12), without a notification to the gone user.
    assert (counts["reset_periodic_tasks"]["reset"], counts["reset_periodic_tasks"]["reset_unassigned"]) == (1, 1)
    assert [(n.task_id, n.user_id) for n in notifications(db.engine)] == [(good, h)]
    assert [r.task_id for r in ledger(db.engine)] == [good]  # no ledger row claims a warning was sent
    after = snapshot(db.engine, [dangling, periodic])
    assert after[periodic]["status"] == "new"
    assert {**after[dangling], "time_progress": 0.0} == before[dangling]


def test_year_9999_windows_are_read_back_whatever_the_postgresql_server_timezone(pg_server, monkeypatch, settings):
    from console.db.engine import make_engine

    monkeypatch.setenv("PGTZ", "Asia/Shanghai")  # as a server configured for China would answer
    engine = make_engine(pg_server)
    try:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE tasks, users RESTART IDENTITY CASCADE"))
        rows = Rows(engine)
        rows.task(category="periodic", status="completed", recurrence="P1D", current_handler_id=rows.user(),
                  expected_start_time=Y9999 - timedelta(days=1), expected_end_time=Y9999, actual_end_time=Y9999)
        assert run_job("reset_periodic_tasks", engine, settings, NOW)["skipped_invalid_rule"] == 1
    finally:
        engine.dispose()


# ---- the command line ----------------------------------------------------------------------------

def invoke_all(calls):
    """Several independent commands at once (each a real ``python -m console``)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda call: invoke(**call), calls))


BAD_SETTINGS = [  # (file body, words the one line must hold)
    (b"a: [1\n", "not valid YAML at line 2"),
    (b"\xff\xfe timezone: UTC\n", "not UTF-8"),
    (b"- a\n- b\n", "top level must be a mapping"),
    (b"database: {url: 'postgresql://u:s3cret@h/db', pool: 3}\n", "database.pool: unknown key"),
    (b"scheduler: {executor_threads: 'postgresql://u:s3cret@h/db'}\n", "scheduler.executor_threads"),
    (b"jobs:\n  update_time_progress:\n    trigger: {every: soon}\n", "jobs.update_time_progress.trigger.every"),
    (b"jobs:\n  update_time_progress:\n    trigger: {at: '02:00'}\n", "jobs.update_time_progress.trigger.at"),
    (b"jobs:\n  check_task_warnings:\n    trigger: {cron: '0 0 31 2 *'}\n", "never fires"),
]


def test_bad_settings_files_exit_2_with_one_line_naming_the_key_and_never_the_password(tmp_path):
    calls = []
    for i, (body, _) in enumerate(BAD_SETTINGS):
        (tmp_path / f"bad{i}.yaml").write_bytes(body)
        calls.append(dict(args=["jobs", "list"], url=f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path,
                          config=tmp_path / f"bad{i}.yaml"))
    for (body, words), proc in zip(BAD_SETTINGS, invoke_all(calls)):
        line = assert_one_clean_error(proc)
        assert line.startswith("taskconsole: error: settings error: ") and words in line, (body, line)
        assert "s3cret" not in proc.stdout + proc.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


@pytest.mark.parametrize("body, key, words", [
    ("jobs:\n  update_time_progress:\n    trigger: {every: 0}\n", "jobs.update_time_progress.trigger", "one second"),
    ("jobs:\n  update_time_progress:\n    trigger: {every: -30}\n", "jobs.update_time_progress.trigger", "one second"),
    ("jobs:\n  update_time_progress:\n    trigger: hourly\n", "jobs.update_time_progress.trigger", "dictionary"),
    ("jobs:\n  cleanup_old_data:\n    trigger: {cron: '* * *'}\n", "jobs.cleanup_old_data.trigger", "5 fields"),
    ("jobs:\n  cleanup_old_data:\n    trigger: {cron: '0 3 * * 8'}\n", "jobs.cleanup_old_data.trigger", "weekday 8"),
    ("jobs:\n  cleanup_old_data:\n    trigger: {cron: '0 0 30 2 *'}\n", "jobs.cleanup_old_data.trigger", "never fires"),
    ("jobs:\n  cleanup_old_data:\n    retries: lots\n", "jobs.cleanup_old_data.retries", "integer"),
    ("warnings:\n  levels: [{level: 5, at: 150}]\n", "warnings.levels.0.at", "100"),
])
def test_bad_trigger_and_type_values_are_one_settings_error_naming_the_key(tmp_path, body, key, words):
    (tmp_path / "s.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path / "s.yaml", env={})
    assert f": {key}: " in str(err.value) and words in str(err.value)


def test_hostile_titles_reach_the_terminal_without_escapes_and_jobs_run_counts_the_bad_rows(db, tmp_path):
    live = Rows(db.engine, now=datetime.now(UTC))  # the subprocess reads the real clock
    h = live.user()
    for title in (MARKUP, ESCAPES, LONG):
        live.processing(time_pct=96, progress=10, handler=h, title=title)
    live.task(progress=10, current_handler_id=h, title=ESCAPES)  # no window
    live.processing(time_pct=96, progress=None, handler=h, title=MARKUP)
    near, ran = invoke_all([dict(args=argv, url=db.url, cwd=tmp_path) for argv in
                            (["tasks", "near"], ["jobs", "run", "check_task_warnings", "--json"])])
    assert near.returncode == 0 and near.stderr == "", near.stderr
    assert MARKUP in near.stdout  # markup is shown, not interpreted
    assert not any(ch in near.stdout for ch in "\x1b\x07\x9b")
    assert max(len(line) for line in near.stdout.splitlines()) < 400  # the 10 kB title is cut
    result = json.loads(ran.stdout)
    assert ran.returncode == 0 and result["status"] == "success", ran.stderr
    assert result["counts"]["notified"] == 3
    assert (result["counts"]["skipped_no_window"], result["counts"]["skipped_bad_progress"]) == (1, 1)


def test_tasks_near_shows_year_9999_windows_instead_of_failing(sqlite_db, tmp_path):
    rows = Rows(sqlite_db.engine, now=datetime.now(UTC))
    h = rows.user()
    ids = [rows.task(progress=10, current_handler_id=h, expected_start_time=start, expected_end_time=Y9999)
           for start in (Y1, Y9999 - timedelta(days=1))]
    text_out, json_out = invoke_all([dict(args=["tasks", "near", *extra], url=sqlite_db.url, cwd=tmp_path)
                                     for extra in ([], ["--json"])])
    assert (text_out.returncode, json_out.returncode) == (0, 0), text_out.stderr + json_out.stderr
    assert sorted(t["task_id"] for t in json.loads(json_out.stdout)) == ids


def test_a_schema_newer_than_the_code_is_refused_by_every_command_and_left_untouched(db, tmp_path):
    with db.engine.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        procs = invoke_all([dict(args=argv, url=db.url, cwd=tmp_path) for argv in
                            (["run"], ["jobs", "run", "check_task_warnings"], ["db", "upgrade"])])
        for proc in procs:
            line = assert_one_clean_error(proc)
            assert "newer than this taskconsole" in line and "9999" in line, line
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "9999"
            assert conn.execute(select(func.count()).select_from(JobRun)).scalar_one() == 0
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        (tmp_path / "empty.db").touch()
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with fresh_pg_database("taskconsole_bad_input") as url:
        yield url


def test_a_database_without_schema_makes_run_and_jobs_run_say_db_upgrade(empty_url, tmp_path):
    procs = invoke_all([dict(args=argv, url=empty_url, cwd=tmp_path) for argv in
                        (["run"], ["jobs", "run", "update_time_progress", "--json"], ["preview", "cleanup_old_data"])])
    for proc in procs:
        assert "taskconsole db upgrade" in assert_one_clean_error(proc)
        assert proc.stdout == ""


def test_epoch_seconds_is_exact_to_the_microsecond_on_both_backends(db):
    # SQLite's strftime('%s') rounds to milliseconds first: 07:59:59.999999 once read as 08:00:00.999999.
    from sqlalchemy import literal, select

    from console.db.column_types import UTCDateTime, epoch_seconds

    instants = [NOW - timedelta(microseconds=1), NOW + timedelta(microseconds=500_000), NOW, Y1, Y9999]
    with db.engine.connect() as conn:
        read = [conn.execute(select(epoch_seconds(literal(t, UTCDateTime())))).scalar_one() for t in instants]
    assert read == [(t - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() for t in instants]
