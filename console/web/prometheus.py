"""``/metrics``: a ``MetricsSnapshot`` (console.service.metrics) in Prometheus text format.

A custom collector turns the snapshot into metric families at each scrape; nothing is counted in
this process, so every node, leading or not, exports the same numbers."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from console.service.metrics import MetricsSnapshot

PREFIX = "taskconsole_"


class _Snapshot:
    def __init__(self, snapshot: MetricsSnapshot):
        self._s = snapshot

    def collect(self):
        s = self._s
        runs = CounterMetricFamily(PREFIX + "job_runs", "Finished job runs recorded in the run ledger",
                                   labels=["job_id", "status", "trigger_kind"])
        for (job_id, status, kind), n in sorted(s.runs.items()):
            runs.add_metric([job_id, status, kind], n)
        yield runs
        final = CounterMetricFamily(PREFIX + "job_failed_for_good", "Runs that failed with no retry to follow "
                                    "(each alerted the admins)", labels=["job_id"])
        for job_id, n in s.failed_for_good.items():
            final.add_metric([job_id], n)
        yield final
        for name, doc, values in (
            ("job_last_success_timestamp_seconds", "When the job's last successful run finished (0: never)",
             s.last_success),
            ("job_next_run_timestamp_seconds", "When the job fires next (0: not scheduled)", s.next_run),
            ("job_paused", "1 while the job (or the whole scheduler) is paused or the job is disabled", s.paused),
            ("job_running", "1 while a run of the job is recorded as running", s.running),
        ):
            family = GaugeMetricFamily(PREFIX + name, doc, labels=["job_id"])
            for job_id, value in values.items():
                family.add_metric([job_id], value)
            yield family
        durations = HistogramMetricFamily(PREFIX + "job_duration_seconds",
                                          "Durations of each job's finished runs", labels=["job_id"])
        for job_id, h in s.durations.items():
            buckets = [("+Inf" if bound == float("inf") else repr(float(bound)), n) for bound, n in h.buckets]
            durations.add_metric([job_id], buckets, h.sum)
        yield durations
        sent = CounterMetricFamily(PREFIX + "warnings_sent", "Warnings the warning check has sent, by level",
                                   labels=["level"])
        for level, n in s.warnings_sent.items():
            sent.add_metric([str(level)], n)
        yield sent
        for name, doc, values in (
            ("tasks_in_warning_level", "Processing tasks whose time progress is in the level now", s.in_level),
            ("tasks_in_warning_level_no_handler", "Of those, tasks without a handler: nobody is warned",
             s.no_handler),
            ("warnings_pending", "Tasks in the level with a handler, not yet warned of it in their cycle", s.pending),
        ):
            family = GaugeMetricFamily(PREFIX + name, doc, labels=["level"])
            for level, n in values.items():
                family.add_metric([str(level)], n)
            yield family
        delivered = CounterMetricFamily(PREFIX + "deliveries", "Deliveries to channels that ended, sent or failed "
                                        "(given up), by channel", labels=["channel", "state"])
        for (channel, state), n in sorted(s.deliveries.items()):
            delivered.add_metric([channel, state], n)
        yield delivered
        backlog = GaugeMetricFamily(PREFIX + "delivery_backlog", "Deliveries waiting to be sent (pending or "
                                    "sending), by channel", labels=["channel"])
        for channel, n in sorted(s.delivery_backlog.items()):
            backlog.add_metric([channel], n)
        yield backlog
        yield GaugeMetricFamily(PREFIX + "scheduler_paused", "1 while the whole scheduler is paused",
                                value=s.scheduler_paused)
        leader = GaugeMetricFamily(PREFIX + "leader_info", "The process leading the scheduler (1)",
                                   labels=["host", "pid"])
        if s.leader is not None:
            leader.add_metric([s.leader[0], str(s.leader[1])], 1)
        yield leader
        nodes = GaugeMetricFamily(PREFIX + "nodes", "Live scheduler processes by role", labels=["role"])
        for role, n in s.nodes.items():
            nodes.add_metric([role], n)
        yield nodes
        yield CounterMetricFamily(PREFIX + "leader_changes", "Times a process took the lead of the scheduler",
                                  value=s.leader_changes)
        yield GaugeMetricFamily(PREFIX + "schema_fenced", "1 while this node's release does not know the "
                                "database's schema revision: it neither fires nor leads", value=s.schema_fenced)
        yield GaugeMetricFamily(PREFIX + "leader_since_timestamp_seconds",
                                "When the current leader took the lead (0: no process leads)", value=s.leader_since)


def exposition(snapshot: MetricsSnapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot))
    return generate_latest(registry)


class Exposition:
    """The text of the latest snapshot, made once per snapshot: scrapes within its few seconds
    get the same bytes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last: tuple[MetricsSnapshot, bytes] | None = None

    def render(self, snapshot: MetricsSnapshot) -> bytes:
        with self._lock:
            if self._last is None or self._last[0] is not snapshot:
                self._last = (snapshot, exposition(snapshot))
            return self._last[1]
