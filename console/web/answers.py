"""Every answer is JSON ``{"code", "message", "data"}`` in the seed's style (code 0: success),
errors included; none carries a traceback or a password, nor more than ``ECHO_MAX`` characters of
anything the client sent (``clip``)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response
from werkzeug.exceptions import HTTPException

from console.service.shapes import dumps

log = logging.getLogger("console.web")

# The seed's words, and ours in its style.
MESSAGES = {
    400: "请求参数错误",
    401: "未授权",
    403: "需要管理员权限",
    404: "接口不存在",
    405: "请求方法不允许",
    409: "操作冲突",
    500: "服务器内部错误",
    503: "数据库不可用",
}

# The most of a client's own words (a job id, a path) an answer or a log line repeats.
ECHO_MAX = 200


def clip(value: str) -> str:
    """``value`` cut to ECHO_MAX characters, the cut marked: a 60 KB job id is not sent back whole."""
    return value if len(value) <= ECHO_MAX else value[:ECHO_MAX - 1] + "…"


class ApiError(Exception):
    """An answer other than success: its HTTP status, message and details."""

    def __init__(self, status: int, message: str | None = None, data: Any = None,
                 headers: dict[str, str] | None = None):
        self.message = message or MESSAGES.get(status, "error")
        super().__init__(self.message)
        self.status = status
        self.data = data
        self.headers = headers or {}


def answer(data: Any = None, message: str = "success", *, code: int = 0, status: int = 200,
           headers: dict[str, str] | None = None, status_word: str | None = None) -> Response:
    """``status_word``: /healthz's top-level ``"status"`` (ok or down), for probes that read only it."""
    body: dict[str, Any] = {"code": code, "message": message}
    if status_word is not None:
        body["status"] = status_word
    body["data"] = data
    response = Response(dumps(body, indent=None), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def failure(error: ApiError) -> Response:
    return answer(error.data, error.message, code=error.status, status=error.status, headers=error.headers)


def http_failure(error: HTTPException) -> Response:
    """Flask's own errors (no such route, wrong method, a malformed request) as JSON."""
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return answer({"error": error.name}, MESSAGES.get(status, error.name), code=status, status=status,
                  headers=headers)
