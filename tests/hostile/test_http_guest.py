"""A guest who reaches the HTTP API's port (issue #24, "A safe guest"): slow clients, odd
requests, a database that fails mid-request, a token outliving its user, and many clients asking
for the same run at once. Real HTTP where the server is the point, Flask's test client where the
app is; a real database throughout (SQLite and PostgreSQL), and only ever 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest

from console.web import ApiServer, create_app
from tests.web.conftest import api, free_port  # noqa: F401  (fixtures, found by name)

JOBS = "/api/scheduler/jobs"
ECHO_MAX = 200


@pytest.fixture
def served(api):
    """The ``api`` fixture's app on the real HTTP server, in this process, on 127.0.0.1."""
    server = ApiServer(create_app(api.service), f"127.0.0.1:{free_port()}")
    server.start()
    yield api, server.address
    server.stop()


def _get(address: str, path: str, headers: list[tuple[str, str]] = (), timeout: float = 2.0):
    """(status, headers, body) of one GET on a fresh connection; headers may repeat a name."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


# -- 4: slow clients hold no worker ----------------------------------------------------------------
def _trickle(address: str, sockets: list[socket.socket], stop: threading.Event, until: float) -> None:
    """Half the sockets send a header line, half a body byte, every 0.5 s until told or ``until``."""
    n = 0
    while not stop.wait(0.5) and time.monotonic() < until:
        n += 1
        for i, sock in enumerate(sockets):
            try:
                sock.sendall(f"X-Slow-{n}: {i}\r\n".encode() if i % 2 == 0 else b"x")
            except OSError:
                pass  # the server may close a slow client: that is allowed


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_healthz_and_the_api_answer_within_2_s_while_64_connections_trickle(served):
    api, address = served
    host, port = address.rsplit(":", 1)
    sockets = []
    stop = threading.Event()
    try:
        for i in range(64):
            sock = socket.create_connection((host, int(port)), timeout=5)
            if i % 2 == 0:  # headers that never end
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            else:  # a body that never ends
                sock.sendall(b"POST /api/scheduler/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\nx")
            sockets.append(sock)
        trickler = threading.Thread(target=_trickle, args=(address, sockets, stop, time.monotonic() + 30),
                                    daemon=True)
        trickler.start()
        time.sleep(1.0)  # every slow connection has sent something and been taken up by the server
        for _ in range(3):
            for path, headers in (("/healthz", []), (JOBS, [("Authorization", f"Bearer {api.token}")])):
                began = time.monotonic()
                try:
                    status, _, _ = _get(address, path, headers, timeout=2.0)
                except TimeoutError:
                    pytest.fail(f"{path} did not answer within 2 s while 64 connections trickled")
                assert status == 200 and time.monotonic() - began < 2.0, path
            time.sleep(0.5)
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
