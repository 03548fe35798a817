"""Shared by the delivery tests (issue #28): settings with channels, the outbox's rows, and real
receivers (a local SMTP server, a local HTTP receiver) that can be stopped, slowed or made to fail."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import Engine, select

from console.db.models import Delivery
from console.settings import Settings


def channel_settings(*channels: dict, **more) -> Settings:
    """Default settings with ``channels``; users.email is read from the demo schema's users.name
    (the demo users table has no email column), so a test's users are named by their address."""
    return Settings.model_validate({
        "channels": list(channels),
        "task_system": {"columns": {"users": {"name": None, "email": "name"}}},
        **more,
    })


def deliveries(engine: Engine, **where) -> list:
    query = select(Delivery).order_by(Delivery.id)
    for key, value in where.items():
        query = query.where(getattr(Delivery, key) == value)
    with engine.connect() as conn:
        return conn.execute(query).all()


class HttpReceiver:
    """A local HTTP receiver for json:// and the robot formats: records each POST body; ``mode``
    makes it answer 200, 500, garbage (not HTTP), or nothing for a while (slow)."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.mode = "ok"
        self.slow_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.mode == "garbage":
                    self.wfile.write(b"\x00\x01 not http at all\r\n\r\n")
                    return
                if receiver.mode == "slow":
                    threading.Event().wait(receiver.slow_s)
                if receiver.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                try:
                    receiver.bodies.append(json.loads(data or b"{}"))
                except ValueError:
                    receiver.bodies.append({"raw": data.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0, "code": 0, "ok": true}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """A local SMTP server (aiosmtpd) that keeps every message; ``stop``/``start`` on the same port."""

    def __init__(self, port: int):
        self.port = port
        self.messages: list[tuple[list[str], str]] = []
        self._controller = None

    def start(self) -> "SmtpReceiver":
        from aiosmtpd.controller import Controller

        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                import email

                message = email.message_from_bytes(envelope.content)
                parts = [p.get_payload(decode=True).decode("utf-8", "replace")
                         for p in message.walk() if p.get_content_type() == "text/plain"]
                subject = str(email.header.make_header(email.header.decode_header(message["Subject"] or "")))
                receiver.messages.append((list(envelope.rcpt_tos), subject + "\n" + "\n".join(parts)))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=taskconsole@example.com&to={{email}}&mode=insecure"

    def to(self, address: str) -> list[str]:
        return [text for rcpt, text in self.messages if address in rcpt]
