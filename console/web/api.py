"""The endpoints: the design document's section 7.2 under /api, plus /healthz and /metrics.

Each reads or acts through the service facade only; a manual run is a durable command carried out
by whichever process leads (``Service.request_run``), so it never overlaps a running instance and
never moves the job's schedule. Every mutating call is written to the audit first, with the
caller's user and token, as ``requested``; the outcome follows as the leader records it.

Who is calling is found once, in the blueprint's ``before_request`` (``authenticate``), for every
endpoint but the public ones it names; views read the caller it left on ``flask.g``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from console.domain.runs import Action, Outcome
from console.service import ActionResult, DisabledJob, Service, UnknownJob, database_unavailable, describe_error
from console.service.shapes import forecast_json, iso, job_json, near_json, run_json, status_json
from console.service.status import status_of
from console.service.tokens import Caller
from console.web.answers import MESSAGES, ApiError, answer, clip, failure, http_failure
from console.web.auth import Authenticate, caller
from console.web.prometheus import Exposition
from console.web.recent import Recent

EXTENSION = "taskconsole"
HISTORY_LIMIT = (1, 1000)
NEAR_LIMIT = (1, 1000)
FORECAST_HOURS = (1, 168)

log = logging.getLogger("console.web")
bp = Blueprint("taskconsole", __name__)
bp.register_error_handler(ApiError, failure)


def _get(rule: str):
    # Werkzeug answers a path with "//" in it by a 308 to the merged path, built from the client's
    # Host header, with an HTML body: ours is a path that is not there (404, JSON).
    return bp.get(rule, merge_slashes=False)


def _post(rule: str):
    return bp.post(rule, merge_slashes=False)


@dataclass(frozen=True)
class WebContext:
    service: Service
    authenticate: Authenticate | None = None
    exposition: Exposition = field(default_factory=Exposition)
    recent: Recent = field(default_factory=Recent)


def _context() -> WebContext:
    return current_app.extensions[EXTENSION]


def _service() -> Service:
    return _context().service


# The endpoints anyone may ask (no token); every other endpoint of the blueprint needs an admin.
PUBLIC = frozenset({"healthz"})
PUBLIC_WITH_PUBLIC_METRICS = frozenset({"metrics"})  # when http.public_metrics is set
_CALLER = "taskconsole_caller"  # on flask.g, beside whatever the host's app keeps there


@bp.before_request
def authenticate() -> None:
    """Authentication, once for every endpoint of the blueprint: a view added later is closed
    unless it is named public above, whether or not it asks who is calling."""
    endpoint = (request.endpoint or "").rpartition(".")[2]
    if endpoint in PUBLIC:
        return
    context = _context()
    if endpoint in PUBLIC_WITH_PUBLIC_METRICS and context.service.settings.http.public_metrics:
        return
    setattr(g, _CALLER, caller(request, context.service, context.authenticate))


def _caller() -> Caller:
    """Who is calling, as ``authenticate`` found."""
    who = g.get(_CALLER)
    if who is None:  # a public endpoint that acts for someone: refused, never done anonymously
        raise ApiError(401, data={"error": "this endpoint is public and acts for nobody"})
    return who


def _limit(default: int, bounds: tuple[int, int]) -> int:
    return _whole_number("limit", default, bounds)


def _whole_number(name: str, default: int, bounds: tuple[int, int]) -> int:
    """The query parameter ``name``: a whole number within ``bounds`` (absent: ``default``), else 400."""
    raw = request.args.get(name)
    if raw is None:
        return default
    low, high = bounds
    # Length first: int() of 5,000 digits raises (Python's limit on digit strings).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(high)) or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} 必须是 {low} 到 {high} 的整数",
                       {"error": f"{name} must be a whole number from {low} to {high}"})
    return int(raw)


def _job(job_id: str) -> str:
    try:
        _service().check_job(job_id)
    except UnknownJob:
        raise ApiError(404, "任务不存在", {"job_id": clip(job_id)}) from None
    return job_id


def _result_data(result: ActionResult) -> dict:
    tz = _service().settings.tz
    data = {"job_id": result.target if result.action in (Action.RUN, Action.PAUSE, Action.RESUME) else None,
            "action": result.action.value, "outcome": str(result.outcome), "detail": _detail(result),
            "next_run_time": iso(result.next_run_time, tz)}
    if result.action == Action.RUN:
        data["run_id"] = result.run_id
    return data


def _detail(result: ActionResult) -> dict | None:
    """What the leader said, as an object: its words and, for a run it began, the run as the ledger
    has it now (status, counts, error)."""
    if result.detail is None and result.run_id is None:
        return None
    detail: dict = {"message": result.detail}
    run = _service().run_record(result.run_id) if result.run_id is not None else None
    if run is not None:
        detail.update(run_id=run.id, status=run.status, counts=run.counts, error=run.error)
    return detail


def _requested(who: Caller, action: Action, target: str) -> None:
    _service().note_request(who.actor, action, target, who.via)


# -- the design document's two, and their kin ---------------------------------------------------
@_get("/api/scheduler/jobs")
def jobs() -> Response:
    tz = _service().settings.tz
    return answer([job_json(job, tz) for job in _context().recent.get("jobs", _service().jobs)])


@_post("/api/scheduler/jobs/<job_id>/run")
def run(job_id: str) -> Response:
    who = _caller()
    _job(job_id)
    _requested(who, Action.RUN, job_id)
    result = _service().request_run(job_id, actor=who.actor)
    data = _result_data(result)
    _context().recent.clear()  # its outcome changes the job's last run and state
    # "任务已触发" only for a run the leader began (still running, or already ended either way).
    if result.outcome in _BEGUN:
        return answer(data, "任务已触发")
    if result.outcome == Outcome.QUEUED:
        return answer(data, "任务已排队，等待调度器执行", status=202)
    if result.outcome == Outcome.ALREADY_RUNNING:
        raise ApiError(409, "任务正在运行", data)
    if result.outcome in _TRY_AGAIN:
        raise ApiError(503, "任务未能启动", data)
    raise ApiError(409, "任务未能启动", data)  # refused by the leader: data.detail says why


_BEGUN = frozenset({Outcome.STARTED, Outcome.SUCCESS, Outcome.FAILED})
# The leader could not begin it (its database, or the leader itself, went away): a retry may work.
_TRY_AGAIN = frozenset({Outcome.NOT_STARTED, Outcome.EXPIRED, Outcome.ABANDONED})


def _act(action: Action, job_id: str | None, done: str) -> Response:
    who = _caller()
    service = _service()
    if job_id is not None:
        _job(job_id)
    _requested(who, action, job_id or "*")
    try:
        if action == Action.PAUSE:
            result = service.pause(job_id, actor=who.actor)
        elif action == Action.RESUME:
            result = service.resume(job_id, actor=who.actor)
        elif action == Action.PAUSE_ALL:
            result = service.pause_all(actor=who.actor)
        else:
            result = service.resume_all(actor=who.actor)
    except DisabledJob as exc:
        raise ApiError(409, "任务已在设置中停用", {"job_id": job_id, "error": str(exc)}) from None
    data = _result_data(result)
    _context().recent.clear()
    if result.outcome == Outcome.QUEUED:
        return answer(data, "已发送给调度器，尚未执行", status=202)
    if not result.ok:
        raise ApiError(409, "操作未完成", data)
    return answer(data, done)


@_post("/api/scheduler/jobs/<job_id>/pause")
def pause(job_id: str) -> Response:
    return _act(Action.PAUSE, job_id, "任务已暂停")


@_post("/api/scheduler/jobs/<job_id>/resume")
def resume(job_id: str) -> Response:
    return _act(Action.RESUME, job_id, "任务已恢复")


@_post("/api/scheduler/pause")
def pause_all() -> Response:
    return _act(Action.PAUSE_ALL, None, "调度器已暂停")


@_post("/api/scheduler/resume")
def resume_all() -> Response:
    return _act(Action.RESUME_ALL, None, "调度器已恢复")


@_get("/api/scheduler/jobs/<job_id>/runs")
def runs(job_id: str) -> Response:
    limit = _limit(20, HISTORY_LIMIT)
    _job(job_id)
    tz = _service().settings.tz
    return answer([run_json(r, tz) for r in _service().history(job_id, limit)])


@_get("/api/scheduler/status")
def status() -> Response:
    return answer(status_json(status_of(_service()), _service().settings.tz))


@_get("/api/tasks/near")
def near() -> Response:
    limit = _limit(20, NEAR_LIMIT)
    return answer(near_json(_service().near_tasks(limit), _service().settings.tz))


@_get("/api/warnings/forecast")
def forecast() -> Response:
    """Warnings falling due per hour and level (``tasks forecast --json``'s list); ``hours`` 1 to 168."""
    hours = _whole_number("hours", 24, FORECAST_HOURS)
    return answer(forecast_json(_service().warning_forecast(hours)))


# -- for monitoring -----------------------------------------------------------------------------
@_get("/healthz")
def healthz() -> Response:
    """No token, and nothing beyond health: a load balancer or a container runtime asks it."""
    service = _service()
    down = service.database_health()
    redis = service.redis_health()
    if down is not None:
        data = {"database": "down", "redis": redis, "scheduler": service.scheduler_state}
        return answer(data, MESSAGES[503], code=503, status=503, status_word="down")
    # The schema fence: this release does not know the database's revision (an upgrade half done).
    fenced = service.schema_fence()
    data = {"database": "ok", "redis": redis, "scheduler": service.scheduler_health(), "fenced": fenced}
    if fenced:
        return answer(data, fenced, code=503, status=503, status_word="fenced")
    return answer(data, "ok", code=0, status=200, status_word="ok")


@_get("/metrics")
def metrics() -> Response:
    service = _service()
    return Response(_context().exposition.render(service.metrics.read()), mimetype="text/plain",
                    content_type="text/plain; version=0.0.4; charset=utf-8")


# -- what went wrong --------------------------------------------------------------------------
@bp.errorhandler(Exception)
def unexpected(exc: Exception) -> Response:
    """One line in the log; no traceback and no password in the answer. A database that went away
    is the usual cause: answered 503, which a client may retry."""
    if isinstance(exc, HTTPException):
        return http_failure(exc)
    service = _service()
    log.error("HTTP API: %s %s failed: %s", request.method, clip(request.path),
              describe_error(exc, service.settings.database.url))
    # The error itself first: during a restart the database may answer again by the time it is
    # asked below, and a request it failed is still a 503 (try again), not a fault of ours.
    status = 503 if database_unavailable(exc) or service.database_health() is not None else 500
    return answer({"error": "the database is unreachable" if status == 503 else "internal error; see the server log"},
                  MESSAGES[status], code=status, status=status)
