"""Each endpoint's answer: the seed's shapes and messages (section 7.2 of the design document),
the same objects as the command line's --json, and JSON errors without a traceback."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from console.service.shapes import near_json
from console.settings import JOB_IDS
from tests.web.conftest import Api


def _wait_finished(api: Api, job_id: str, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.service.history(job_id, 5)
        if runs and runs[0].status != "running":
            return runs
        time.sleep(0.05)
    raise AssertionError(f"no finished run of {job_id}")


def test_jobs_lists_every_job_in_the_seeds_shape_and_more(api):
    answer = api.get("/api/scheduler/jobs")
    assert answer.status_code == 200
    body = answer.json
    assert body["code"] == 0
    assert [job["id"] for job in body["data"]] == list(JOB_IDS)
    for job in body["data"]:
        assert {"id", "name", "next_run_time", "trigger", "paused", "state", "last_run"} <= set(job)


def test_run_is_carried_out_by_the_leader_as_manual_with_the_user_and_leaves_the_schedule(leading_api):
    api = leading_api
    before = {j.id: j.next_run_time for j in api.service.jobs()}
    answer = api.post("/api/scheduler/jobs/reset_periodic_tasks/run")
    assert answer.status_code == 200, answer.json
    assert answer.json["code"] == 0 and answer.json["message"] == "任务已触发"
    run = _wait_finished(api, "reset_periodic_tasks")[0]
    assert (run.trigger_kind, run.actor) == ("manual", f"user:{api.admin}")
    assert {j.id: j.next_run_time for j in api.service.jobs()} == before
    # The audit: asked for (with the token's name), then carried out by the leader.
    audit = api.all("SELECT actor, action, outcome, detail FROM audit_log ORDER BY id")
    assert audit[0][:3] == (f"user:{api.admin}", "run", "requested") and "token 'ci'" in audit[0][3]
    assert audit[-1][:3] == (f"user:{api.admin}", "run", "success")


def test_run_of_an_unknown_job_is_the_seeds_404(api):
    answer = api.post("/api/scheduler/jobs/no_such_job/run")
    assert answer.status_code == 404
    assert answer.json["code"] == 404 and answer.json["message"] == "任务不存在"


def test_run_with_no_leader_is_queued_and_says_so(api):
    assert api.service.run_wait_s == 3.0  # what the API waits for a leader, unless told otherwise
    api.service.run_wait_s = 0.3  # nobody leads: waiting the full 3 s would show the same
    answer = api.post("/api/scheduler/jobs/cleanup_old_data/run")
    assert answer.status_code == 202
    assert answer.json["code"] == 0 and answer.json["data"]["outcome"] == "queued"
    assert api.scalar("SELECT count(*) FROM job_runs") == 0


def test_run_while_the_job_runs_is_409_and_starts_nothing(leading_api):
    from console.scheduler.locks import JobLocks

    api = leading_api
    # The job's lock held elsewhere, as by a run in another process: the leader refuses this one.
    held = JobLocks(api.service.engine).try_acquire("job:cleanup_old_data")
    try:
        answer = api.post("/api/scheduler/jobs/cleanup_old_data/run")
    finally:
        held.release()
    assert answer.status_code == 409, answer.json
    assert answer.json["message"] == "任务正在运行"
    assert [r.status for r in api.service.history("cleanup_old_data")] == ["skipped"]


def test_pause_and_resume_a_job_and_the_whole_scheduler(leading_api):
    api = leading_api
    answer = api.post("/api/scheduler/jobs/cleanup_old_data/pause")
    assert (answer.status_code, answer.json["message"]) == (200, "任务已暂停")
    assert {j.id: j.paused for j in api.service.jobs()}["cleanup_old_data"] is True
    answer = api.post("/api/scheduler/jobs/cleanup_old_data/resume")
    assert (answer.status_code, answer.json["message"]) == (200, "任务已恢复")
    assert answer.json["data"]["next_run_time"]
    assert api.post("/api/scheduler/pause").json["message"] == "调度器已暂停"
    assert api.service.scheduler_pause().paused
    assert api.post("/api/scheduler/resume").json["message"] == "调度器已恢复"
    assert not api.service.scheduler_pause().paused
    assert api.all("SELECT action, outcome FROM audit_log ORDER BY id") == [("pause", "requested"), ("pause", "done"), ("resume", "requested"),
                                            ("resume", "done"), ("pause_all", "requested"), ("pause", "done"),
                                            ("resume_all", "requested"), ("resume", "done")]


def test_pause_of_a_disabled_job_is_409(db):
    from console.service import open_service
    from console.web import create_app
    from tests.conftest import Rows
    from tests.web.conftest import api_settings

    service = open_service(api_settings(db.url, jobs={"cleanup_old_data": {"enabled": False}}))
    _, token = service.tokens.create(Rows(db.engine).user(admin=True))
    answer = create_app(service).test_client().post("/api/scheduler/jobs/cleanup_old_data/pause",
                                                    headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 409 and "disabled" in answer.json["data"]["error"]
    service.engine.dispose()


def test_runs_status_and_near_answer_as_the_command_lines_json(leading_api):
    api = leading_api
    api.post("/api/scheduler/jobs/check_task_warnings/run")
    _wait_finished(api, "check_task_warnings")
    runs = api.get("/api/scheduler/jobs/check_task_warnings/runs?limit=1").json["data"]
    assert len(runs) == 1 and runs[0]["trigger_kind"] == "manual" and runs[0]["status"] == "success"
    status = api.get("/api/scheduler/status").json["data"]
    assert status["leader"]["pid"] and status["database"]["status"] == "ok"
    assert api.get("/api/tasks/near?limit=5").json["data"] == []
    # And with tasks: the nearest first, past a threshold or not, and only processing ones.
    handler = api.rows.user("handler")
    past = api.rows.processing(time_pct=85, progress=10, handler=handler, title="past its 80 % line")
    ahead = api.rows.processing(time_pct=50, progress=10, handler=handler, title="half way")
    api.rows.task(status="completed", title="done", expected_start_time=api.rows.now,
                  expected_end_time=api.rows.now + timedelta(hours=1))
    near = api.get("/api/tasks/near?limit=5").json["data"]
    assert [(t["task_id"], t["title"], t["level"], t["next_level"]) for t in near] == [
        (past, "past its 80 % line", 20, 10), (ahead, "half way", None, 20)]
    cli = near_json(api.service.near_tasks(5), api.service.settings.tz)  # what tasks near --json prints
    assert [{k: v for k, v in t.items() if k != "time_progress"} for t in near] == \
        [{k: v for k, v in t.items() if k != "time_progress"} for t in cli]  # time progress: a moment apart
    assert [t["time_progress"] for t in near] == pytest.approx([85, 50], abs=1)


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1001", "1e3", "１", ""])
def test_a_bad_limit_is_400(api, limit):
    for path in ("/api/scheduler/jobs/cleanup_old_data/runs", "/api/tasks/near"):
        answer = api.get(f"{path}?limit={limit}")
        assert answer.status_code == 400, (path, limit)
        assert answer.json["code"] == 400 and "limit" in answer.json["message"]


def test_an_unknown_route_and_a_wrong_method_are_json(api):
    answer = api.get("/api/nothing")
    assert (answer.status_code, answer.json["code"]) == (404, 404)
    answer = api.client.get("/api/scheduler/jobs/cleanup_old_data/run")
    assert (answer.status_code, answer.json["code"]) == (405, 405)
    assert "POST" in answer.headers["Allow"]


def test_healthz_needs_no_token_and_says_only_health(api):
    answer = api.client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json["status"] == "ok"
    assert set(answer.json["data"]) == {"database", "redis", "scheduler", "fenced"}
    # A process that serves the API without a scheduler of its own says whether anyone leads.
    assert answer.json["data"]["scheduler"] == "no leader" and answer.json["data"]["fenced"] is None


def test_healthz_says_led_elsewhere_and_503_with_the_reason_while_the_schema_fence_holds(api, db):
    from sqlalchemy import text

    from console.service import Service
    from tests.integration.test_scheduler import settings_for

    leader = Service(settings_for(only="update_time_progress"), db.engine)
    leader.start_scheduler(kind="run")
    try:
        assert api.client.get("/healthz").json["data"]["scheduler"] == "led elsewhere"
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        answer = api.client.get("/healthz")
        assert answer.status_code == 503 and answer.json["status"] == "fenced"
        assert "9999" in answer.json["message"] and "newer than this taskconsole" in answer.json["data"]["fenced"]
    finally:
        from console.db.schema import HEAD

        with db.engine.begin() as conn:  # the PostgreSQL database is the session's: put it back
            conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": HEAD})
        leader.stop_scheduler()


def test_healthz_is_503_and_errors_are_clean_json_when_the_database_is_gone():
    """A PostgreSQL database dropped under a running API: health says down, every other answer is
    JSON 503 without a traceback or the URL's password."""
    from sqlalchemy import create_engine, text

    from console.db.engine import make_engine
    from console.service import open_service
    from console.web import create_app
    from tests.conftest import PG_ADMIN_URL, Rows, fresh_pg_database
    from tests.web.conftest import api_settings

    with fresh_pg_database("taskconsole_gone", migrated=True) as url:
        url = url.replace("root@", "root:s3cr3t-pw@")  # trust auth ignores it; it must never show
        engine = make_engine(url)
        admin = Rows(engine).user(admin=True)
        engine.dispose()
        service = open_service(api_settings(url))
        _, token = service.tokens.create(admin)
        client = create_app(service).test_client()
        assert client.get("/healthz").status_code == 200
        name = url.rsplit("/", 1)[1]
        dropper = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with dropper.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        dropper.dispose()
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json["status"] == "down"
        for path in ("/api/scheduler/jobs", "/metrics", "/api/tasks/near"):
            answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 503, (path, answer.data)
            text_ = answer.get_data(as_text=True)
            assert answer.json["code"] == 503
            assert "Traceback" not in text_ and "s3cr3t" not in text_
        service.engine.dispose()


def test_the_api_and_jobs_list_agree_under_a_scheduler_wide_pause(api, db, tmp_path):
    """Paused by the whole scheduler: paused, paused_by "scheduler", no next run time, in both."""
    import json

    from tests.integration.helpers import invoke

    api.service.pause_scheduler(actor="tester")
    listed = {j["id"]: j for j in api.get("/api/scheduler/jobs").json["data"]}
    proc = invoke(["jobs", "list", "--json"], url=db.url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cli = {j["id"]: j for j in json.loads(proc.stdout)}
    for shown in (listed, cli):
        assert all((j["paused"], j["paused_by"], j["next_run_time"]) == (True, "scheduler", None)
                   for j in shown.values()), shown
    assert {k: (j["paused"], j["paused_by"]) for k, j in listed.items()} == \
        {k: (j["paused"], j["paused_by"]) for k, j in cli.items()}


def test_a_run_answers_detail_as_an_object_with_the_runs_counts(leading_api):
    answer = leading_api.post("/api/scheduler/jobs/update_time_progress/run")
    assert answer.status_code == 200, answer.json
    detail = answer.json["data"]["detail"]
    assert isinstance(detail, dict) and detail["run_id"] == answer.json["data"]["run_id"]
    assert detail["status"] in ("running", "success") and isinstance(detail["counts"], dict)
    assert "{" not in (detail["message"] or "")  # words, not a dict's repr
