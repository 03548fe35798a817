"""GET /api/warnings/forecast?hours=N (issue #27): ``tasks forecast --json``'s list in the usual
answer, behind the same token as every /api route, and ``hours`` checked as ``limit`` is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from console.db.models import User
from tests.conftest import NOW

PATH = "/api/warnings/forecast"
AT = NOW + timedelta(minutes=25)  # 16:25 in Shanghai: hour 0 is 16:00 to 17:00


def test_forecast_answers_every_hour_and_level_with_the_warnings_due(api):
    api.service.clock = lambda: AT
    start = AT - timedelta(hours=79)  # a 100-hour window: 80 % at +1 h, 90 % at +11 h, 95 % at +16 h
    api.rows.task(progress=0.0, current_handler_id=api.plain, expected_start_time=start,
                  expected_end_time=start + timedelta(hours=100))
    answer = api.get(PATH)
    assert answer.status_code == 200
    body = answer.json
    assert body["code"] == 0 and len(body["data"]) == 24 * 3
    assert body["data"][:3] == [{"hour": "2026-11-28T16:00:00+08:00", "level": lv, "count": 0} for lv in (20, 10, 5)]
    due = [d for d in body["data"] if d["count"]]
    assert due == [{"hour": "2026-11-28T17:00:00+08:00", "level": 20, "count": 1},
                   {"hour": "2026-11-29T03:00:00+08:00", "level": 10, "count": 1},
                   {"hour": "2026-11-29T08:00:00+08:00", "level": 5, "count": 1}]
    short = api.get(f"{PATH}?hours=2").json["data"]
    assert len(short) == 2 * 3 and sum(d["count"] for d in short) == 1
    assert len(api.get(f"{PATH}?hours=168").json["data"]) == 168 * 3


@pytest.mark.parametrize("hours", ["0", "169", "-1", "abc", "1e3", "１", "", "9" * 5000, "24.0"])
def test_a_bad_hours_is_400_json(api, hours):
    answer = api.get(f"{PATH}?hours={hours}")
    assert answer.status_code == 400, hours
    assert answer.json["code"] == 400 and "hours" in answer.json["message"]
    assert answer.json["data"] == {"error": "hours must be a whole number from 1 to 168"}


def test_forecast_needs_an_admins_token_like_every_api_route(api):
    assert api.get(PATH, token=None).status_code == 401
    assert api.client.get(PATH, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}).status_code == 401
    assert api.get(PATH, token="tc_" + "x" * 43).status_code == 401
    # Authentication comes first: a bad hours without a token is 401, not 400.
    assert api.get(f"{PATH}?hours=0", token=None).status_code == 401
    with api.service.engine.begin() as conn:
        conn.execute(update(User).where(User.id == api.admin).values(is_admin=False))
    assert api.get(PATH).status_code == 403
