"""/metrics: Prometheus text that prometheus_client's own parser reads, every series there from the
first scrape, and numbers that agree with the run ledger (``jobs history``)."""

from __future__ import annotations

import time
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from console.domain.runs import RunStatus, TriggerKind
from console.service.metrics import FINISHED
from console.settings import JOB_IDS


def scrape(api, token="default") -> dict[str, list]:
    answer = api.get("/metrics", token=token)
    assert answer.status_code == 200, answer.data
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f.samples for f in text_string_to_metric_families(answer.get_data(as_text=True))}


def value(samples, name: str, **labels) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_every_series_is_there_from_the_first_scrape_of_an_empty_database(api):
    families = scrape(api)
    runs = families["taskconsole_job_runs"]
    assert len(runs) == len(JOB_IDS) * (len(RunStatus) - 1) * len(TriggerKind)  # no "running" in a counter
    assert not any(s.labels["status"] == RunStatus.RUNNING for s in runs)
    assert all(s.value == 0 for s in runs)
    for name in ("taskconsole_job_last_success_timestamp_seconds", "taskconsole_job_next_run_timestamp_seconds",
                 "taskconsole_job_paused", "taskconsole_job_running"):
        assert sorted(s.labels["job_id"] for s in families[name]) == sorted(JOB_IDS), name
    assert {s.labels["job_id"] for s in families["taskconsole_job_duration_seconds"]} == set(JOB_IDS)
    for name in ("taskconsole_warnings_sent", "taskconsole_tasks_in_warning_level", "taskconsole_warnings_pending"):
        assert sorted(s.labels["level"] for s in families[name]) == ["10", "20", "5"], name
    assert value(families["taskconsole_nodes"], "taskconsole_nodes", role="leader") == 0
    assert value(families["taskconsole_scheduler_paused"], "taskconsole_scheduler_paused") == 0


def test_metrics_need_a_token_unless_public(api, db):
    assert api.get("/metrics", token=None).status_code == 401
    from console.service import open_service
    from console.web import create_app
    from tests.web.conftest import api_settings

    public = open_service(api_settings(db.url, http={"public_metrics": True}))
    assert create_app(public).test_client().get("/metrics").status_code == 200
    public.engine.dispose()


def test_metrics_agree_with_the_run_history(leading_api):
    api = leading_api
    handler = api.rows.user("handler")
    # A task in the 20% level: the warning check sends it one warning.
    api.rows.processing(time_pct=85, progress=10, handler=handler, hours=2)
    for job_id in ("check_task_warnings", "check_task_warnings", "cleanup_old_data"):
        api.service.run_job(job_id, actor="tester")
    api.service.runner.record_missed("update_time_progress", api.rows.now - timedelta(hours=1))
    families = scrape(api)
    history = api.service.history(limit=100)
    runs = families["taskconsole_job_runs"]
    for job_id in JOB_IDS:
        for status in FINISHED:
            for kind in TriggerKind:
                expected = sum(1 for r in history if (r.job_id, r.status, r.trigger_kind) == (job_id, status, kind))
                assert value(runs, "taskconsole_job_runs_total", job_id=job_id, status=status,
                             trigger_kind=kind) == expected
    last = max(r.finished_at for r in history if r.job_id == "cleanup_old_data" and r.status == "success")
    assert value(families["taskconsole_job_last_success_timestamp_seconds"],
                 "taskconsole_job_last_success_timestamp_seconds",
                 job_id="cleanup_old_data") == last.timestamp()
    durations = families["taskconsole_job_duration_seconds"]
    assert value(durations, "taskconsole_job_duration_seconds_count", job_id="check_task_warnings") == 2
    sent = sum(r.counts.get("level_20", 0) for r in history if r.job_id == "check_task_warnings")
    assert sent == 1
    assert value(families["taskconsole_warnings_sent"], "taskconsole_warnings_sent_total", level="20") == sent
    assert value(families["taskconsole_nodes"], "taskconsole_nodes", role="leader") == 1
    leader = families["taskconsole_leader_info"]
    assert len(leader) == 1 and leader[0].labels["pid"].isdigit()
    next_runs = {j.id: j.next_run_time for j in api.service.jobs()}
    assert value(families["taskconsole_job_next_run_timestamp_seconds"], "taskconsole_job_next_run_timestamp_seconds",
                 job_id="cleanup_old_data") == next_runs["cleanup_old_data"].timestamp()


def test_warnings_sent_stay_counted_after_cleanup_deletes_their_ledger_rows(leading_api):
    """A counter never falls: the warnings sent come from the check's own counts, not from the
    warning ledger, whose rows go with their deleted tasks."""
    api = leading_api
    handler = api.rows.user("handler")
    api.rows.processing(time_pct=85, progress=10, handler=handler, hours=2)
    api.service.run_job("check_task_warnings", actor="tester")
    reader = api.service.metrics_reader()
    before = reader.read().warnings_sent
    assert before[20] == 1
    with api.service.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM warning_ledger")
    fresh = api.service.metrics_reader()  # another node, or this one after a restart
    assert fresh.read().warnings_sent == before


def test_a_snapshot_is_reused_for_at_most_five_seconds(api):
    clock = [1000.0]
    reader = api.service.metrics_reader(clock=lambda: clock[0])  # its own clock; time.monotonic is untouched
    first = reader.read()
    clock[0] += 4.9
    assert reader.read() is first
    clock[0] += 0.2
    assert reader.read() is not first


def test_a_reader_reads_the_snapshot_age_on_the_monotonic_clock_by_default(api):
    reader = api.service.metrics_reader()
    assert reader._clock is time.monotonic
    first = reader.read()
    assert reader.read() is first  # well within five seconds of the first
