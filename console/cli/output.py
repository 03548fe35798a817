"""Rendering command results: stable JSON for scripts, aligned text tables for people."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from console.domain.text import BIDI, display_width, fit, in_zone, printable
from console.service import JobInfo, NodeInfo, Preview, RunRecord, RunResult
from console.service.near import NearTask
from console.service.status import Status


def iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return in_zone(value, tz).isoformat() if value else None


def local(value: datetime | None, tz: ZoneInfo) -> str:
    return in_zone(value, tz).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


# JSON escapes C0 controls itself; DEL, C1 controls and bidirectional controls it writes as they are.
_RAW_IN_JSON = re.compile(f"[\\x7f-\\x9f{BIDI}]")


def emit_json(data: Any) -> None:
    """``data`` as JSON. The characters that act on a terminal are written as \\u escapes: the same
    JSON for a script, and inert when a person reads it (they occur only inside strings)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(_RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int = 48) -> str:
    cells = [[printable(c) for c in row] for row in rows]
    widths = [min(max_width, max([display_width(h)] + [display_width(r[i]) for r in cells])) for i, h in enumerate(headers)]
    lines = ["  ".join(fit(h, w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(fit(c, w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def counts_text(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


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
        "next_run_time": iso(job.next_run_time, tz), "paused": job.paused, "state": job.state,
        "last_run": None if last is None else {
            "status": last.status, "started_at": iso(last.started_at, tz), "duration_s": last.duration_s,
            "counts": last.counts,
        },
    }


def jobs_text(jobs: list[JobInfo], tz: ZoneInfo) -> str:
    rows = []
    for job in jobs:
        last = job.last_run
        last_text = "-" if last is None else f"{last.status} {local(last.started_at, tz)}"
        rows.append((job.id, job.trigger, local(job.next_run_time, tz), job.state, last_text))
    return table(("JOB", "TRIGGER", "NEXT RUN", "STATE", "LAST RUN"), rows)


def result_json(result: RunResult) -> dict[str, Any]:
    return {
        "job_id": result.job_id, "run_id": result.run_id, "status": result.status,
        "duration_s": round(result.duration_s, 6), "counts": result.counts, "error": result.error,
        "attempts": result.attempts,
    }


def result_text(result: RunResult) -> str:
    head = f"{result.job_id}: {result.status} in {result.duration_s:.2f} s (run {result.run_id})"
    if result.error:
        return f"{head}\nerror: {printable(result.error)}"
    return f"{head}\n{counts_text(result.counts)}"


def history_text(runs: list[RunRecord], tz: ZoneInfo) -> str:
    rows = [
        (r.id, r.job_id, r.trigger_kind, r.status, local(r.started_at, tz),
         "-" if r.duration_s is None else f"{r.duration_s:.2f}s", r.actor or "-", r.error or counts_text(r.counts))
        for r in runs
    ]
    return table(("RUN", "JOB", "KIND", "STATUS", "STARTED", "TOOK", "BY", "RESULT"), rows)


def _plain(value: Any, tz: ZoneInfo) -> Any:
    return iso(value, tz) if isinstance(value, datetime) else value


def preview_json(job_id: str, preview: Preview, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "job_id": job_id, "counts": preview.counts,
        "samples": [{k: _plain(v, tz) for k, v in row.items()} for row in preview.samples],
    }


def preview_text(job_id: str, preview: Preview, tz: ZoneInfo) -> str:
    out = [f"{job_id} (dry run, nothing written): {counts_text(preview.counts)}"]
    if preview.samples:
        headers = list(preview.samples[0].keys())
        rows = [[local(v, tz) if isinstance(v, datetime) else v for v in row.values()] for row in preview.samples]
        out += ["", table(headers, rows)]
    return "\n".join(out)


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


def near_text(tasks: list[NearTask], tz: ZoneInfo) -> str:
    rows = [
        (t.task_id, t.title, t.handler or "-", f"{t.progress:.0f}%", f"{t.time_progress:.0f}%",
         f"{t.level}%" if t.level else "-",
         f"{t.next_level}% at {local(t.next_at, tz)}" if t.next_at else "-",
         ",".join(f"{lv}%" for lv in t.notified_levels) or "-")
        for t in tasks
    ]
    return table(("TASK", "TITLE", "HANDLER", "WORK", "TIME", "LEVEL", "NEXT", "NOTIFIED"), rows, max_width=40)


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
        "database": {"url": status.database_url, "status": status.database, "error": status.database_error},
        "redis": status.redis,
        "jobs": [job_json(j, tz) for j in status.jobs],
        "refused_job_rows": [{"id": job_id, "reason": why} for job_id, why in status.refused_jobs.items()],
    }


def status_text(status: Status, tz: ZoneInfo) -> str:
    def who(node: NodeInfo) -> str:
        return f"{node.kind} on {printable(node.host)}, pid {node.pid}"

    lines = []
    if status.leader is not None:
        lines.append(f"leader:   {who(status.leader)}, {status.leader.state}, leading since "
                     f"{local(status.leader.leader_since, tz)}")
    elif status.database == "ok":
        lines.append("leader:   none (no scheduler is running on this database)")
    else:
        lines.append("leader:   unknown (the database is down)")
    for node in status.standbys:
        lines.append(f"standby:  {who(node)}, up since {local(node.started_at, tz)}")
    database = status.database + (f" ({status.database_error})" if status.database_error else "")
    lines.append(f"database: {printable(database)}  {printable(status.database_url)}")
    lines.append(f"redis:    {status.redis}")
    if status.jobs:
        lines += ["", jobs_text(status.jobs, tz)]
    for job_id, why in status.refused_jobs.items():
        lines.append(f"refused:  job store row {printable(job_id)!r} will not load, kept and not run: {printable(why)}")
    return "\n".join(lines)
