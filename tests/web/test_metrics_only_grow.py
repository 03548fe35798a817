"""Counters and histograms only ever grow (``rate()`` must never read a reset that did not happen):
the duration histogram counts every finished run, not a window of recent ones; a run still
``running`` is a gauge, never a counter's label; leader changes are counted."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from console.domain.runs import RunStatus, TriggerKind
from console.web.prometheus import exposition


def samples(service) -> dict[tuple, float]:
    """One scrape by a fresh reader (no cached snapshot): every sample by name and labels."""
    text = exposition(service.metrics_reader().read()).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def growing(found: dict[tuple, float]) -> dict[tuple, float]:
    """The samples of counters and histograms."""
    return {k: v for k, v in found.items() if k[0].endswith(("_total", "_count", "_bucket", "_sum"))}


def test_the_duration_histogram_counts_every_run_past_two_hundred(api):
    ledger = api.service.runner.ledger
    for i in range(250):
        run_id, _ = ledger.start("cleanup_old_data", TriggerKind.MANUAL, actor="tester")
        ledger.finish(run_id, RunStatus.SUCCESS, duration_s=0.05 if i % 2 else 2.0)
    found = samples(api.service)
    labels = (("job_id", "cleanup_old_data"),)
    assert found[("taskconsole_job_duration_seconds_count", labels)] == 250
    assert found[("taskconsole_job_duration_seconds_bucket", labels + (("le", "0.1"),))] == 125
    assert found[("taskconsole_job_duration_seconds_bucket", labels + (("le", "5.0"),))] == 250
    assert abs(found[("taskconsole_job_duration_seconds_sum", labels)] - (125 * 0.05 + 125 * 2.0)) < 1e-6


def test_no_counter_falls_over_runs_failures_a_running_run_and_a_leader_change(leading_api):
    api = leading_api
    service, ledger = api.service, api.service.runner.ledger
    handler = api.rows.user("handler")
    api.rows.processing(time_pct=85, progress=10, handler=handler, hours=2)
    scrapes = [samples(service)]
    service.run_job("check_task_warnings", actor="tester")
    scrapes.append(samples(service))
    run_id, _ = ledger.start("update_time_progress", TriggerKind.MANUAL, actor="tester")  # running now
    scrapes.append(samples(service))
    assert scrapes[-1][("taskconsole_job_running", (("job_id", "update_time_progress"),))] == 1
    ledger.finish(run_id, RunStatus.FAILED, duration_s=1.5, error="boom")
    scrapes.append(samples(service))
    before = scrapes[-1][("taskconsole_leader_changes_total", ())]
    service.stop_scheduler()
    scrapes.append(samples(service))
    assert scrapes[-1][("taskconsole_leader_since_timestamp_seconds", ())] == 0
    service.start_scheduler(kind="run")
    scrapes.append(samples(service))
    assert scrapes[-1][("taskconsole_leader_changes_total", ())] == before + 1
    assert scrapes[-1][("taskconsole_leader_since_timestamp_seconds", ())] > 0
    service.run_job("cleanup_old_data", actor="tester")
    scrapes.append(samples(service))
    for earlier, later in zip(scrapes, scrapes[1:]):
        for key, value in growing(earlier).items():
            assert growing(later).get(key, value) >= value, key
            assert key in later, f"{key} vanished"
    assert not any(dict(k[1]).get("status") == RunStatus.RUNNING for k in scrapes[2]
                   if k[0] == "taskconsole_job_runs_total")
    failed = (("job_id", "update_time_progress"), ("status", "failed"), ("trigger_kind", "manual"))
    assert scrapes[-1][("taskconsole_job_runs_total", failed)] == 1
