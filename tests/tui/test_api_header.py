"""A console that serves the HTTP API (http.listen) says where in its header; one that could not
bind says why in its log panel and opens all the same."""

from __future__ import annotations

import json
import urllib.request

from console.tui.widgets import StatusBar
from console.web import ApiServer, create_app as create_web_app
from tests.tui.conftest import settle
from tests.web.conftest import free_port


async def test_the_header_shows_the_api_address_this_process_serves(live_service, make_app):
    server = ApiServer(create_web_app(live_service), f"127.0.0.1:{free_port()}")
    address = server.start()
    try:
        app = make_app(live_service, api_address=address)
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(pilot)
            assert f"api {address}" in str(app.query_one(StatusBar).render())
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as answer:
                assert json.loads(answer.read())["data"]["scheduler"] == "running"
    finally:
        server.stop()


async def test_an_api_that_could_not_bind_is_said_in_the_logs_and_not_in_the_header(live_service, make_app):
    app = make_app(live_service, api_error="cannot listen on 127.0.0.1:5000: address in use")
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert " api " not in str(app.query_one(StatusBar).render())
        logs = "\n".join(str(line) for line in app.query_one("#logs").lines)
        assert "HTTP API not served: cannot listen on 127.0.0.1:5000" in logs


async def test_the_header_says_when_the_schema_fence_holds_the_console_back(live_service, make_app):
    from sqlalchemy import text

    from console.db.schema import HEAD

    app = make_app(live_service)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        assert "fenced" not in str(app.query_one(StatusBar).render())
        with live_service.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        try:
            live_service.node.fence.check()  # the node's next heartbeat would; the refresh reads it
            await pilot.press("r")
            await settle(pilot)
            assert "fenced: this release does not know the database schema" in str(app.query_one(StatusBar).render())
        finally:
            with live_service.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": HEAD})


async def test_at_80_columns_a_fenced_read_only_console_says_both(live_service, make_app):
    import asyncio

    from sqlalchemy import text

    from console.db.schema import HEAD

    app = make_app(live_service, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        with live_service.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        try:
            shown = ""
            for _ in range(60):  # the node's next heartbeat (2 s) steps it down; a refresh shows it
                await pilot.press("r")
                await asyncio.sleep(0.1)
                await pilot.app.workers.wait_for_complete()
                await pilot.pause()
                shown = str(app.query_one(StatusBar).render())
                if "fenced" in shown:
                    break
            assert "fenced" in shown and "[read-only]" in shown, shown
        finally:
            with live_service.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": HEAD})
