"""The HTTP API on a task system's own database, not the demo: the seed's schema (naive
Asia/Shanghai timestamps, Chinese status words, ``users.username``) and one with every name
changed and a 0/1 admin flag. Tokens find the admins through the mapping; every endpoint answers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.service import open_service
from console.web import create_app
from tests.integration.helpers import assert_one_clean_error, invoke
from tests.integration.task_schemas import RENAMED_DDL, RENAMED_SETTINGS, SEED_DDL, SEED_SETTINGS, fresh  # noqa: F401
from tests.integration.test_adopted_database import _local, adopt

NOW = datetime.now(timezone.utc)

SCHEMAS = {
    "seed": (SEED_DDL, SEED_SETTINGS, ("users", "tasks", "notifications"),
             "INSERT INTO users (id, username, is_admin) VALUES (1, '管理员', TRUE), (2, '张三', FALSE)",
             "UPDATE users SET is_admin = FALSE WHERE id = 1",
             "INSERT INTO tasks (title, category, status, progress, expected_start_time, expected_end_time, "
             "current_handler_id) VALUES ('季度报表', '普通', '处理中', 10, :start, :end, 2)", True),
    "renamed": (RENAMED_DDL, RENAMED_SETTINGS, ("staff", "JobItems", "inbox"),
                "INSERT INTO staff (uid, display_name, admin_flag) VALUES (1, 'root', 1), (2, 'ann', 0)",
                "UPDATE staff SET admin_flag = 0 WHERE uid = 1",
                'INSERT INTO "JobItems" (headline, kind, "State", pct_done, pct_time, plan_from, plan_to, owner_id) '
                "VALUES ('report', 'normal', 'busy', 10, 0, :start, :end, 2)", False),
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_tokens_and_every_endpoint_on_a_task_systems_own_schema(fresh, name):  # noqa: F811
    ddl, settings_text, tables, users, demote, task, naive = SCHEMAS[name]
    db = adopt(fresh, ddl, settings_text, tables)
    db.run(users)
    start, end = NOW - timedelta(hours=85), NOW + timedelta(hours=15)  # 85 % of its time gone

    def stored(at: datetime):
        # As each system writes it: the seed datetime.now() in Shanghai; the other one UTC, as
        # SQLAlchemy writes it to SQLite (text without an offset) or as timestamptz.
        return _local(at) if naive else at.replace(tzinfo=None) if db.backend == "sqlite" else at

    db.run(task, {"start": stored(start), "end": stored(end)})
    config = db.config(settings_text)
    made = invoke(("tokens", "create", "--user", "1", "--json"), url=db.url, cwd=db.tmp_path, config=config)
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    refused = invoke(("tokens", "create", "--user", "2"), url=db.url, cwd=db.tmp_path, config=config)
    assert "is not an admin" in assert_one_clean_error(refused)

    service = open_service(db.settings)
    client = create_app(service).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/scheduler/jobs", headers=auth).json["code"] == 0
    near = client.get("/api/tasks/near", headers=auth).json["data"]
    assert [(t["level"], round(t["time_progress"])) for t in near] == [(20, 85)]
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics", headers=auth).get_data(True))}
    in_level = {s.labels["level"]: s.value for s in families["taskconsole_tasks_in_warning_level"].samples}
    assert in_level == {"20": 1, "10": 0, "5": 0}
    db.run(demote)
    assert client.get("/api/scheduler/jobs", headers=auth).status_code == 403
    service.engine.dispose()
