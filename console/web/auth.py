"""Who is calling: ``Authorization: Bearer <token>`` (taskconsole's tokens), or the host
application's own ``authenticate(request) -> user_id | None``. Either way the user must be an
admin of the task system at this request (403 if no longer). A token whose user is gone, or whose
user id now names someone else, is 401 (console.service.tokens)."""

from __future__ import annotations

from typing import Any, Callable

from flask import Request

from console.service import Service
from console.service.tokens import Caller, Forbidden, Unauthorized
from console.web.answers import ApiError

Authenticate = Callable[[Request], Any]

_CHALLENGE = 'Bearer realm="taskconsole"'


def _unauthorized(why: str, *, bad_token: bool) -> ApiError:
    # RFC 6750: a request with no credentials gets the bare challenge; a bad token says so.
    challenge = _CHALLENGE + (', error="invalid_token"' if bad_token else "")
    return ApiError(401, data={"error": why}, headers={"WWW-Authenticate": challenge})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    # Servers join a header sent twice with commas (waitress, gunicorn, werkzeug); a token has
    # none. Which of two was meant is not ours to guess.
    if "," in header:
        raise ApiError(400, "请求参数错误", {"error": "send one Authorization header with one Bearer token"})
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("use Authorization: Bearer <token>", bad_token=False)
    return token.strip()


def caller(request: Request, service: Service, authenticate: Authenticate | None) -> Caller:
    """The caller of ``request``; ApiError 401 or 403 otherwise."""
    if authenticate is not None:
        user_id = authenticate(request)
        if user_id is None:
            raise _unauthorized("not signed in", bad_token=False)
        try:
            user = int(user_id)
        except (TypeError, ValueError):
            raise ApiError(500, data={"error": "the host application's authenticate gave no user id"}) from None
        try:
            service.tokens.require_admin(user)
        except Forbidden as exc:
            raise ApiError(403, data={"error": str(exc)}) from None
        return Caller(user_id=user)
    token = bearer_token(request)
    if token is None:
        raise _unauthorized("no token: send Authorization: Bearer <token> (taskconsole tokens create)",
                            bad_token=False)
    try:
        return service.tokens.check(token)
    except Unauthorized as exc:
        raise _unauthorized(str(exc), bad_token=True) from None
    except Forbidden as exc:
        raise ApiError(403, data={"error": str(exc)}) from None
