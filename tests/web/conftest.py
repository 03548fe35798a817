"""The HTTP API over a real database (SQLite and PostgreSQL), through Flask's test client or real
HTTP: the app is the one ``console.web.create_app`` builds for ``taskconsole run`` and ``serve``."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from console.service import Service, open_service
from console.settings import Settings
from console.web import create_app
from tests.conftest import Rows


@dataclass
class Api:
    service: Service
    client: object
    token: str
    admin: int
    plain: int
    rows: Rows

    def get(self, path: str, token: str | None = "default", **kw):
        return self.client.get(path, headers=self._auth(token), **kw)

    def post(self, path: str, token: str | None = "default", **kw):
        return self.client.post(path, headers=self._auth(token), **kw)

    def _auth(self, token: str | None) -> dict:
        token = self.token if token == "default" else token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def scalar(self, sql: str, **params):
        return self.all(sql, **params)[0][0]

    def all(self, sql: str, **params) -> list[tuple]:
        with self.service.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params).all()]


def api_settings(url: str, **more) -> Settings:
    return Settings.model_validate({"database": {"url": url}, **more})


@pytest.fixture
def api(db) -> Api:
    service = open_service(api_settings(db.url))
    rows = Rows(db.engine, now=datetime.now(timezone.utc))  # the service's clock is the real one
    admin, plain = rows.user("admin", admin=True), rows.user("bob")
    _, token = service.tokens.create(admin, "ci")
    yield Api(service, create_app(service).test_client(), token, admin, plain, rows)
    service.stop_scheduler()
    service.engine.dispose()


@pytest.fixture
def leading_api(api) -> Api:
    """The API in a process that leads the scheduler (as `taskconsole run` with http.listen)."""
    api.service.start_scheduler(kind="run")
    assert api.service.leading
    return api


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
