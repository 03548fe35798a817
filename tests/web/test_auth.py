"""Tokens: only ``Authorization: Bearer``; no header, another scheme, an unknown or revoked token
is 401 with ``WWW-Authenticate: Bearer``; a user who lost admin is 403; and nothing ran."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from console.db.models import User
from console.service.tokens import TokenRefused

RUN = "/api/scheduler/jobs/reset_periodic_tasks/run"


def _nothing_ran(api) -> None:
    assert api.scalar("SELECT count(*) FROM job_runs") == 0
    assert api.scalar("SELECT count(*) FROM scheduler_commands") == 0


@pytest.mark.parametrize("header", [None, "Basic YWRtaW46YWRtaW4=", "Bearer", "Token abc", "bearer"])
def test_no_token_or_another_scheme_is_401_with_the_bearer_challenge(api, header):
    headers = {"Authorization": header} if header else {}
    answer = api.client.post(RUN, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json["code"] == 401
    _nothing_ran(api)


def test_an_unknown_token_is_401_invalid_token(api):
    answer = api.post(RUN, token="tc_" + "x" * 43)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    _nothing_ran(api)


def test_a_revoked_token_is_401_at_once(api):
    info, token = api.service.tokens.create(api.admin, "short-lived")
    assert api.get("/api/scheduler/jobs", token=token).status_code == 200
    api.service.tokens.revoke(info.id)
    answer = api.post(RUN, token=token)
    assert answer.status_code == 401
    assert answer.json["data"]["error"] == "token revoked"
    _nothing_ran(api)


def test_a_user_who_lost_admin_is_403(api):
    with api.service.engine.begin() as conn:
        conn.execute(update(User).where(User.id == api.admin).values(is_admin=False))
    answer = api.post(RUN)
    assert answer.status_code == 403
    assert answer.json == {"code": 403, "message": "需要管理员权限",
                           "data": {"error": f"user {api.admin} is no longer an admin"}}
    _nothing_ran(api)


def test_a_token_is_made_only_for_an_admin_and_kept_only_as_a_hash(api):
    with pytest.raises(TokenRefused, match="not an admin"):
        api.service.tokens.create(api.plain)
    with pytest.raises(TokenRefused, match="not in the task system's users table"):
        api.service.tokens.create(999_999)
    stored = api.scalar("SELECT token_hash FROM api_tokens WHERE name = 'ci'")
    assert api.token not in stored and len(stored) == 64


def test_an_oversized_or_strange_token_is_401_not_500(api):
    for token in ("x" * 10_000, "tc_\u202e\u0000"):
        assert api.post(RUN, token=token).status_code == 401
    _nothing_ran(api)


def test_the_host_applications_authenticate_replaces_tokens_and_still_needs_an_admin(api):
    from console.web import create_app

    users = {"alice": api.admin, "bob": api.plain}
    app = create_app(api.service, authenticate=lambda request: users.get(request.headers.get("X-User", "")))
    client = app.test_client()
    assert client.get("/api/scheduler/jobs", headers={"Authorization": f"Bearer {api.token}"}).status_code == 401
    assert client.get("/api/scheduler/jobs", headers={"X-User": "bob"}).status_code == 403
    assert client.get("/api/scheduler/jobs", headers={"X-User": "alice"}).status_code == 200
