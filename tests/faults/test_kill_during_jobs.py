"""kill -9 in the middle of reset_periodic_tasks and cleanup_old_data, on PostgreSQL.

The process is ``taskconsole jobs run ID``, killed with SIGKILL while one of its transactions is
open: another session holds a row lock the job needs, so the job is seen waiting inside a batch
(``pg_stat_activity``) after at least one earlier batch committed, and is killed there. Then the
lock is freed, the dead process's sessions end, and the database is what a crash leaves behind.
The promises checked: a reset and its notification commit together (each batch whole or not at
all); cleanup deletes whole batches, and notifications of deleted tasks stay, unlinked; the next
run finishes the work, resets nothing twice and marks the killed run ``abandoned``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from console.jobs.rule_resets import BATCH as RULE_BATCH
from console.settings import Settings
from tests.faults.conftest import FaultDb, kill_9, wait_for
from tests.faults.data import BLOCKER, HANDLERS, load_cleanup_material, load_periodic, load_users


RESET_TYPE = Settings().notifications.reset.type
# tasks with taskconsole's stamp and plan beside each (task_state, migration 0010)
WITH_STATE = ("(SELECT t.*, s.last_reset_run_id, s.next_reset_at FROM tasks t "
              "LEFT JOIN task_state s ON s.task_id = t.id) tasks")


def reset_notifications_by_task(pg: FaultDb) -> dict[int, int]:
    return dict(pg.rows("SELECT task_id, count(*) FROM notifications WHERE type = :t GROUP BY task_id", t=RESET_TYPE))


def assert_each_reset_task_has_one_notification_and_no_other_has_any(pg: FaultDb) -> set[int]:
    """Every task stamped by a reset is new and has exactly one reset notification, to its handler;
    no other task has one. Returns the ids of the tasks reset."""
    reset = {r.id for r in pg.rows("SELECT id FROM " + WITH_STATE + " WHERE last_reset_run_id IS NOT NULL")}
    notes = reset_notifications_by_task(pg)
    assert set(notes) == reset, (f"{len(reset - set(notes))} reset tasks have no notification, "
                                 f"{len(set(notes) - reset)} notified tasks were not reset")
    assert all(n == 1 for n in notes.values()), "a reset task has more than one notification"
    assert pg.scalar("SELECT count(*) FROM notifications n JOIN tasks t ON t.id = n.task_id "
                     "WHERE n.user_id IS DISTINCT FROM t.current_handler_id") == 0
    assert pg.scalar("SELECT count(*) FROM " + WITH_STATE + " WHERE last_reset_run_id IS NOT NULL AND status <> 'new'") == 0
    return reset


def rerun(taskconsole, job_id: str, config: dict | None = None) -> dict:
    proc = taskconsole("jobs", "run", job_id, "--json", config=config)
    code = proc.wait(timeout=60)
    assert code == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "success", result
    return result


def test_kill_9_inside_the_default_reset_transaction_leaves_no_task_reset_and_the_rerun_resets_each_once(
        pg, taskconsole, row_lock):
    now = datetime.now(timezone.utc)
    load_users(pg)
    due, not_due = 3000, 200
    # Every handler, the locked one included, has default-rule tasks due (8 days after completion).
    load_periodic(pg, due, first=1, ended_ago="8 days", recurrence=None, handler_sql=f"1 + g % {BLOCKER}", now=now)
    load_periodic(pg, not_due, first=due + 1, ended_ago="2 days", recurrence=None, handler_sql="1", now=now)
    # The notification INSERT's foreign-key check must share-lock the handler's users row.
    lock = row_lock("SELECT id FROM users WHERE id = :u FOR UPDATE", u=BLOCKER)

    proc = taskconsole("jobs", "run", "reset_periodic_tasks")
    run_id = wait_for(lambda: pg.running_run("reset_periodic_tasks"), timeout=30, what="the run to start",
                      proc=proc)
    # The UPDATE that resets the due tasks has run; its notifications wait on the lock.
    wait_for(lambda: pg.waiting_on_lock("INSERT INTO notifications"), timeout=30, proc=proc,
             what="the reset transaction to wait in its notification INSERT")
    kill_9(proc, pg, release=lock)

    assert pg.scalar("SELECT count(*) FROM " + WITH_STATE + " WHERE last_reset_run_id IS NOT NULL") == 0
    assert pg.scalar("SELECT count(*) FROM tasks WHERE status = 'completed' AND actual_end_time IS NOT NULL") \
        == due + not_due
    assert pg.scalar("SELECT count(*) FROM notifications") == 0
    assert pg.run_status(run_id) == "running"  # nobody could write its end

    result = rerun(taskconsole, "reset_periodic_tasks")
    assert result["counts"]["reset"] == due and result["counts"]["notified"] == due
    assert pg.run_status(run_id) == "abandoned"
    reset = assert_each_reset_task_has_one_notification_and_no_other_has_any(pg)
    assert reset == set(range(1, due + 1))
    assert {r[0] for r in pg.rows("SELECT DISTINCT last_reset_run_id FROM " + WITH_STATE + " WHERE id <= :d", d=due)} \
        == {result["run_id"]}
    assert pg.scalar("SELECT count(*) FROM tasks WHERE id > :d AND status = 'completed'", d=due) == not_due


@pytest.mark.slow
def test_kill_9_between_rule_reset_batches_keeps_whole_batches_each_notified_once_and_the_rerun_finishes(
        pg, taskconsole, row_lock):
    now = datetime.now(timezone.utc)
    load_users(pg)
    default_due, ruled, unlocked = 500, 4 * RULE_BATCH, 2 * RULE_BATCH
    load_periodic(pg, default_due, first=1, ended_ago="8 days", recurrence=None,
                  handler_sql=f"1 + g % {HANDLERS}", now=now)
    # Rule-driven tasks (P1D, finished two days ago) fall due in id order; the later ones belong to
    # the locked handler, so the first batches commit and a later one waits in its notifications.
    first = default_due + 1
    load_periodic(pg, ruled, first=first, ended_ago="2 days", recurrence="P1D",
                  handler_sql=f"CASE WHEN g < {first + unlocked} THEN 1 + g % {HANDLERS} ELSE {BLOCKER} END", now=now)
    lock = row_lock("SELECT id FROM users WHERE id = :u FOR UPDATE", u=BLOCKER)

    proc = taskconsole("jobs", "run", "reset_periodic_tasks")
    run_id = wait_for(lambda: pg.running_run("reset_periodic_tasks"), timeout=30, what="the run to start",
                      proc=proc)
    wait_for(lambda: pg.scalar("SELECT count(*) FROM " + WITH_STATE + " WHERE last_reset_run_id = :r AND recurrence IS NOT NULL",
                               r=run_id), timeout=30, proc=proc, what="a batch of rule-driven resets to commit")
    wait_for(lambda: pg.waiting_on_lock("INSERT INTO notifications"), timeout=30, proc=proc,
             what="a later batch to wait in its notification INSERT")
    kill_9(proc, pg, release=lock)

    reset = assert_each_reset_task_has_one_notification_and_no_other_has_any(pg)
    assert pg.scalar("SELECT count(*) FROM " + WITH_STATE + " WHERE last_reset_run_id <> :r", r=run_id) == 0
    ruled_reset = pg.scalar("SELECT count(*) FROM " + WITH_STATE + " WHERE last_reset_run_id = :r AND recurrence IS NOT NULL",
                            r=run_id)
    # Whole batches only: the batch the kill interrupted left no trace.
    assert 0 < ruled_reset < ruled and ruled_reset % RULE_BATCH == 0, ruled_reset
    assert set(range(1, default_due + 1)) <= reset  # the default-rule transaction had committed
    untouched = pg.rows("SELECT status, actual_end_time IS NOT NULL AS ended, next_reset_at IS NOT NULL AS planned "
                        "FROM " + WITH_STATE + " WHERE last_reset_run_id IS NULL")
    assert len(untouched) == ruled - ruled_reset
    assert all(r.status == "completed" and r.ended and r.planned for r in untouched)
    assert pg.run_status(run_id) == "running"

    result = rerun(taskconsole, "reset_periodic_tasks")
    assert result["counts"]["reset"] == ruled - ruled_reset == result["counts"]["notified"]
    assert pg.run_status(run_id) == "abandoned"
    assert assert_each_reset_task_has_one_notification_and_no_other_has_any(pg) == set(range(1, first + ruled))
    # Those the killed run reset kept its stamp: nothing was reset twice.
    assert pg.scalar("SELECT count(*) FROM " + WITH_STATE + " WHERE last_reset_run_id = :r", r=run_id) == default_due + ruled_reset


def test_kill_9_during_cleanup_deletes_whole_batches_with_their_notifications_and_the_rerun_finishes(
        pg, taskconsole, row_lock):
    now = datetime.now(timezone.utc)
    load_users(pg)
    batch, old_closed, young_closed, old_read, recent_read = 1000, 12_000, 100, 3000, 100
    config = {"cleanup": {"batch_size": batch}}
    load_cleanup_material(pg, now, old_closed=old_closed, young_closed=young_closed, old_read=old_read,
                          recent_read=recent_read)
    # The newest old task (last whether the batches follow updated_at or the table's order) is
    # locked, so the batch that holds it waits on it (locking its rows) after the others committed.
    lock = row_lock("SELECT id FROM tasks WHERE id = :t FOR UPDATE", t=old_closed)

    proc = taskconsole("jobs", "run", "cleanup_old_data", config=config)
    run_id = wait_for(lambda: pg.running_run("cleanup_old_data"), timeout=30, what="the run to start", proc=proc)
    wait_for(lambda: pg.scalar("SELECT count(*) FROM tasks") < old_closed + young_closed, timeout=30, proc=proc,
             what="a batch of deletions to commit")
    wait_for(lambda: pg.waiting_on_lock("SELECT"), timeout=30, proc=proc,
             what="a later batch to wait on the locked task")
    kill_9(proc, pg, release=lock)

    remaining_old = pg.scalar("SELECT count(*) FROM tasks WHERE id <= :o", o=old_closed)
    deleted = old_closed - remaining_old
    assert 0 < deleted < old_closed and deleted % batch == 0, deleted  # whole batches only
    assert pg.scalar("SELECT count(*) FROM tasks WHERE id > :o", o=old_closed) == young_closed
    # Notifications of deleted tasks went with them, in their batch; the others still point at their task.
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = 'about a task'") == \
        old_closed + young_closed - deleted
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = 'about a task' AND task_id IS NULL") == 0
    assert pg.scalar("SELECT count(*) FROM notifications n LEFT JOIN tasks t ON t.id = n.task_id "
                     "WHERE n.task_id IS NOT NULL AND t.id IS NULL") == 0
    assert pg.scalar("SELECT count(*) FROM tasks t WHERE NOT EXISTS "
                     "(SELECT 1 FROM notifications n WHERE n.task_id = t.id)") == 0
    # The ledger rows of deleted tasks went with them, and only those.
    assert pg.scalar("SELECT count(*) FROM warning_ledger") == remaining_old + young_closed
    # The read notifications come after the tasks: not reached.
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = 'read'") == old_read + recent_read
    assert pg.run_status(run_id) == "running"

    result = rerun(taskconsole, "cleanup_old_data", config)
    assert result["counts"]["deleted_tasks"] == remaining_old
    assert result["counts"]["deleted_notifications"] == old_read
    assert "stopped_early" not in result["counts"]
    assert pg.run_status(run_id) == "abandoned"
    assert [r[0] for r in pg.rows("SELECT id FROM tasks ORDER BY id")] == \
        list(range(old_closed + 1, old_closed + young_closed + 1))
    assert result["counts"]["deleted_task_notifications"] == remaining_old
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = 'about a task' AND task_id IS NULL") == 0
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = 'about a task'") == young_closed
    assert pg.scalar("SELECT count(*) FROM notifications WHERE type = 'read'") == recent_read
    assert pg.scalar("SELECT count(*) FROM warning_ledger") == young_closed
