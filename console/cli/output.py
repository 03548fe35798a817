"""Rendering command results: stable JSON for scripts, aligned text tables for people."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from console.domain.text import display_width, fit, in_zone, printable
from console.service import SCHEDULE_DIFFERS, JobInfo, NodeInfo, Preview, RunRecord, RunResult
from console.service.near import NearTask
from console.service.status import Status
# The JSON shapes are the service's (the HTTP API answers in them too); re-exported for the commands.
from console.service.shapes import (dumps, forecast_json, iso, job_json, near_json, node_json,  # noqa: F401
                                    preview_json, result_json, run_json, status_json)


def local(value: datetime | None, tz: ZoneInfo) -> str:
    return in_zone(value, tz).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def emit_json(data: Any) -> None:
    """``data`` as JSON, inert on a terminal (``shapes.dumps``)."""
    sys.stdout.write(dumps(data))
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int = 48) -> str:
    cells = [[printable(c) for c in row] for row in rows]
    widths = [min(max_width, max([display_width(h)] + [display_width(r[i]) for r in cells])) for i, h in enumerate(headers)]
    lines = ["  ".join(fit(h, w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(fit(c, w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def counts_text(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"






def jobs_text(jobs: list[JobInfo], tz: ZoneInfo) -> str:
    rows = []
    for job in jobs:
        last = job.last_run
        last_text = "-" if last is None else f"{last.status} {local(last.started_at, tz)}"
        rows.append((job.id, f"{job.trigger} *" if job.schedule_differs else job.trigger, local(job.next_run_time, tz),
                     job.state, last_text))
    notes = [f"* {job.id}: {SCHEDULE_DIFFERS} (settings: {job.settings_trigger})" for job in jobs if job.schedule_differs]
    return "\n".join([table(("JOB", "TRIGGER", "NEXT RUN", "STATE", "LAST RUN"), rows), *notes])




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






def preview_text(job_id: str, preview: Preview, tz: ZoneInfo) -> str:
    out = [f"{job_id} (dry run, nothing written): {counts_text(preview.counts)}"]
    if preview.samples:
        headers = list(preview.samples[0].keys())
        rows = [[local(v, tz) if isinstance(v, datetime) else v for v in row.values()] for row in preview.samples]
        out += ["", table(headers, rows)]
    return "\n".join(out)




def near_text(tasks: list[NearTask], tz: ZoneInfo) -> str:
    rows = [
        (t.task_id, t.title, t.handler or "-", f"{t.progress:.0f}%", f"{t.time_progress:.0f}%",
         f"{t.level}%" if t.level else "-",
         f"{t.next_level}% at {local(t.next_at, tz)}" if t.next_at else "-",
         ",".join(f"{lv}%" for lv in t.notified_levels) or "-")
        for t in tasks
    ]
    return table(("TASK", "TITLE", "HANDLER", "WORK", "TIME", "LEVEL", "NEXT", "NOTIFIED"), rows, max_width=40)






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
    if status.schema_revision is not None:
        lines.append(f"schema:   revision {printable(status.schema_revision)}"
                     + (f" (this release needs {status.schema_needed})" if status.fenced else ""))
    if status.fenced:
        lines.append(f"fenced:   this release runs no job here: {printable(status.fenced)}")
    if status.jobs:
        lines += ["", jobs_text(status.jobs, tz)]
    for job_id, why in status.refused_jobs.items():
        lines.append(f"refused:  job store row {printable(job_id)!r} will not load, kept and not run: {printable(why)}")
    return "\n".join(lines)
