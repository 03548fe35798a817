"""The JSON shapes every face answers in: ``jobs list --json``, ``jobs history --json``,
``status --json``, ``tasks near --json``, ``tasks forecast --json`` and the HTTP API give the same
objects, built here once. Times are ISO-8601 in the settings' timezone."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from console.domain.text import BIDI, in_zone
from console.jobs.base import Preview
from console.scheduler.ledger import RunRecord
from console.scheduler.node import NodeInfo
from console.scheduler.runner import RunResult
from console.service.facade import JobInfo
from console.service.forecast import Forecast
from console.service.near import NearTask
from console.service.status import Status

# JSON escapes C0 controls itself; DEL, C1 controls and bidirectional controls it writes as they are.
_RAW_IN_JSON = re.compile(f"[\\x7f-\\x9f{BIDI}]")


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON (UTF-8 text, not \\u escapes, for a person reading it), with the characters
    that act on a terminal written as \\u escapes: the same JSON for a script, inert on a screen."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=str)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return in_zone(value, tz).isoformat() if value else None


def run_json(run: RunRecord, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "run_id": run.id, "job_id": run.job_id, "trigger_kind": run.trigger_kind, "status": run.status,
        "attempt": run.attempt, "scheduled_for": iso(run.scheduled_for, tz), "started_at": iso(run.started_at, tz),
        "finished_at": iso(run.finished_at, tz), "duration_s": run.duration_s, "counts": run.counts,
        "error": run.error, "traceback": run.traceback, "actor": run.actor, "host": run.host,
    }


def job_json(job: JobInfo, tz: ZoneInfo) -> dict[str, Any]:
    last = job.last_run
    return {
        "id": job.id, "name": job.name, "trigger": job.trigger, "enabled": job.enabled,
        # Paused (by itself or with the whole scheduler): no next run time, as if it would fire.
        "next_run_time": None if job.paused_by else iso(job.next_run_time, tz),
        "paused": job.paused_by is not None, "paused_by": job.paused_by, "state": job.state,
        # The stored trigger (``trigger``, what fires) is not the settings' (``settings_trigger``).
        "schedule_differs": job.schedule_differs, "settings_trigger": job.settings_trigger,
        "last_run": None if last is None else {
            "status": last.status, "started_at": iso(last.started_at, tz), "duration_s": last.duration_s,
            "counts": last.counts,
        },
        # check_task_warnings: the leader's last look for thresholds crossed (warnings.check_every).
        "last_pass": None if job.last_pass is None else {
            "looked_at": iso(job.last_pass.looked_at, tz), "since": iso(job.last_pass.since, tz),
            "sent": job.last_pass.sent, "run_id": job.last_pass.run_id,
            "duration_s": round(job.last_pass.duration_s, 6),
        },
    }


def result_json(result: RunResult) -> dict[str, Any]:
    return {
        "job_id": result.job_id, "run_id": result.run_id, "status": result.status,
        "duration_s": round(result.duration_s, 6), "counts": result.counts, "error": result.error,
        "attempts": result.attempts,
    }


def _plain(value: Any, tz: ZoneInfo) -> Any:
    return iso(value, tz) if isinstance(value, datetime) else value


def preview_json(job_id: str, preview: Preview, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "job_id": job_id, "counts": preview.counts,
        "samples": [{k: _plain(v, tz) for k, v in row.items()} for row in preview.samples],
    }


def near_json(tasks: list[NearTask], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "task_id": t.task_id, "title": t.title, "handler": t.handler, "progress": t.progress,
            "time_progress": t.time_progress, "level": t.level, "next_level": t.next_level,
            "next_threshold_at": iso(t.next_at, tz), "notified_levels": t.notified_levels,
            "window_start": iso(t.window_start, tz), "window_end": iso(t.window_end, tz),
        }
        for t in tasks
    ]


def forecast_json(forecast: Forecast) -> list[dict[str, Any]]:
    """Every hour and level of the horizon, counts of 0 included: ``hour`` is the hour's start, with
    the settings' offset (the forecast's hours are already in its timezone)."""
    return [{"hour": row.hour.isoformat(), "level": row.level, "count": row.count} for row in forecast.rows]


def node_json(node: NodeInfo | None, tz: ZoneInfo) -> dict[str, Any] | None:
    if node is None:
        return None
    return {"host": node.host, "pid": node.pid, "kind": node.kind, "state": node.state,
            "since": iso(node.leader_since or node.started_at, tz), "heartbeat_at": iso(node.heartbeat_at, tz),
            "node_id": node.id}


def status_json(status: Status, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "leader": node_json(status.leader, tz),
        "standbys": [node_json(n, tz) for n in status.standbys],
        "database": {"url": status.database_url, "status": status.database, "error": status.database_error,
                     "schema_revision": status.schema_revision, "schema_needed": status.schema_needed,
                     "fenced": status.fenced},
        "redis": status.redis,
        "jobs": [job_json(j, tz) for j in status.jobs],
        "refused_job_rows": [{"id": job_id, "reason": why} for job_id, why in status.refused_jobs.items()],
    }
