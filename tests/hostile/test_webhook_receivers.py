"""Hostile webhook receivers (#24 items 8 and 9), each a real socket server on 127.0.0.1: garbage
for an answer, 101 header lines, an over-long header line, a reset, a redirect to another local
port, a byte a second past the deadline, a check of the Basic auth header; and URLs the sender
cannot or must not request (ftp, a bad port) refused at load without quoting their password.

After each hostile answer an alert queued behind it still reaches the receiver (the one sender
thread lives on), the failure is one log line without a traceback, and nothing reached standard
error. Only 127.0.0.1 is ever connected to; every loop is bounded in count and time.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import struct
import threading
import time

import pytest

from console.notify.webhook import Webhook
from console.settings import SettingsError, load_settings
from tests.unit.test_config_check import check

LOCAL = "127.0.0.1"
GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_REQUEST = 64 * 1024


class Request:
    """What a receiver read: the request line, headers (names in lower case) and body."""

    def __init__(self, head: bytes, body: bytes):
        lines = head.decode("latin-1").split("\r\n")
        self.line = lines[0]
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        self.body = body

    def json(self) -> dict:
        return json.loads(self.body)


def read_request(conn: socket.socket) -> Request:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_REQUEST:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(Request(head, b"").headers.get("content-length", 0))
    while len(body) < min(length, MAX_REQUEST):
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return Request(head, body)


class RawReceiver:
    """A TCP server on 127.0.0.1 that reads each request, then answers the n-th connection with
    ``answers[n]`` (a function of the connection, the request and a stop event), and later ones
    with a good 200. ``connections`` counts every connection, even one that sent nothing."""

    def __init__(self, *answers, max_connections: int = 20):
        self.answers = list(answers)
        self.requests: list[Request] = []
        self.connections = 0
        self._stop = threading.Event()
        self._server = socket.create_server((LOCAL, 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, args=(max_connections,), daemon=True)
        self._accepting.start()

    def url(self, path: str = "/hooks/secret-token-xyz", userinfo: str = "", scheme: str = "http") -> str:
        return f"{scheme}://{userinfo}{LOCAL}:{self.port}{path}"

    def _accept(self, limit: int) -> None:
        give_up = time.monotonic() + 60
        while not self._stop.is_set() and self.connections < limit and time.monotonic() < give_up:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            answer = self.answers.pop(0) if self.answers else good
            # A thread each, so a receiver still trickling to a sender that gave up does not
            # keep the next (good) connection waiting.
            thread = threading.Thread(target=self._serve, args=(conn, answer), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket, answer) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = read_request(conn)
                self.requests.append(request)
                answer(conn, request, self._stop)
            except OSError:
                pass  # the sender gave up first: what these tests expect of a hostile receiver

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)


def good(conn, request, stop) -> None:
    conn.sendall(GOOD)


def hello_there(conn, request, stop) -> None:
    conn.sendall(b"HELLO THERE\r\n\r\n")


def header_lines_101(conn, request, stop) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Line-%d: v\r\n" % i for i in range(101)) + b"\r\n")


def header_line_70k(conn, request, stop) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")


def reset(conn, request, stop) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST


def silent(conn, request, stop) -> None:
    pass  # closes with no answer at all


def redirect_to(code: int, location: str):
    def answer(conn, request, stop) -> None:
        conn.sendall(f"HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
    return answer


def trickle(conn, request, stop) -> None:
    """A good answer, a byte a second, for at most 10 s."""
    for byte in GOOD[:10]:
        conn.sendall(bytes([byte]))
        if stop.wait(1.0):
            return


@pytest.fixture
def receivers():
    made: list[RawReceiver] = []

    def make(*answers) -> RawReceiver:
        made.append(RawReceiver(*answers))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def notify_log(caplog, monkeypatch):
    """The webhook's log records; and an exception that ends a thread printed to standard error
    as in production (pytest otherwise turns it into a warning), for capfd to see."""
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    caplog.set_level(logging.INFO, logger="console.notify")
    return lambda: [r for r in caplog.records if r.name == "console.notify"]


def hostile_then_good(url: str, timeout_s: float = 2.0) -> Webhook:
    """One alert to meet the hostile answer, one queued behind it; both given up or sent."""
    webhook = Webhook(url, timeout_s=timeout_s, retry_delays_s=())
    webhook.send("job_failed", "check_task_warnings", error="meets the hostile answer")
    thread = webhook._thread
    webhook.send("job_missed", "cleanup_old_data")
    assert webhook.drain(timeout_s + 8), "the alert queued behind the hostile answer was never sent"
    assert webhook._thread is thread and thread.is_alive(), "the sender thread ended"
    return webhook


def assert_one_failure_then_delivered(receiver: RawReceiver, records, capfd, reason: str) -> None:
    assert [r.json()["event"] for r in receiver.requests] == ["job_failed", "job_missed"]
    failed = [r for r in records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in failed] == [
        f"webhook http://{LOCAL}: job_failed of check_task_warnings not sent after 1 tries ({reason})"]
    assert all(r.exc_info is None for r in records)
    assert any(r.getMessage().endswith("job_missed of cleanup_old_data sent") for r in records)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception in thread" not in err, err


@pytest.mark.parametrize("answer, reason", [
    (hello_there, "not an HTTP answer: BadStatusLine"),
    (header_lines_101, "not an HTTP answer: HTTPException"),  # "got more than 100 headers"
    (header_line_70k, "not an HTTP answer: LineTooLong"),
    (reset, "ConnectionResetError"),
    (silent, "closed without an answer"),  # http.client's RemoteDisconnected: no status line came
])
def test_a_malformed_answer_is_one_failed_try_and_the_next_alert_goes(receivers, notify_log, capfd, answer, reason):
    receiver = receivers(answer)
    hostile_then_good(receiver.url())
    assert_one_failure_then_delivered(receiver, notify_log(), capfd, reason)


@pytest.mark.parametrize("code", [301, 302, 303])
def test_a_redirect_is_not_followed(receivers, notify_log, capfd, code):
    elsewhere = receivers()
    receiver = receivers(redirect_to(code, elsewhere.url("/internal/admin")))
    hostile_then_good(receiver.url())
    time.sleep(0.2)  # a follower would have connected by now
    assert elsewhere.connections == 0 and elsewhere.requests == []
    assert_one_failure_then_delivered(receiver, notify_log(), capfd, f"HTTP {code}, a redirect, not followed")


def test_a_receiver_that_trickles_is_cut_at_the_deadline_of_the_whole_try(receivers, notify_log, capfd):
    receiver = receivers(trickle)
    deadline_s = 1.5  # each read gets a byte within a second: only a deadline for the whole try ends it
    began = time.monotonic()
    hostile_then_good(receiver.url(), timeout_s=deadline_s)
    assert time.monotonic() - began < deadline_s + 1.0
    assert_one_failure_then_delivered(receiver, notify_log(), capfd, "no answer within 1.5 s")


def test_user_and_password_are_sent_as_basic_auth_and_shown_nowhere(receivers, notify_log, capfd, tmp_path):
    expected = "Basic " + base64.b64encode(b"hook@user:pa:ss/w0rd").decode()

    def basic_auth_or_401(conn, request, stop):
        conn.sendall(GOOD if request.headers.get("authorization") == expected else
                     b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")

    receiver = receivers(basic_auth_or_401, basic_auth_or_401)
    url = receiver.url("/hooks/t0ken?x=1", userinfo="hook%40user:pa%3Ass%2Fw0rd@")
    webhook = Webhook(url, timeout_s=2.0, retry_delays_s=())
    webhook.send("job_failed", "check_task_warnings")
    webhook.send("job_missed", "cleanup_old_data")
    assert webhook.drain(10)
    assert [r.json()["event"] for r in receiver.requests] == ["job_failed", "job_missed"]
    request = receiver.requests[0]
    assert request.line == "POST /hooks/t0ken?x=1 HTTP/1.1"  # no user or password in what is requested
    assert request.headers["host"] == f"{LOCAL}:{receiver.port}"
    records = notify_log()
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]

    shown = check(tmp_path, "--show", text=f"alerts:\n  webhook_url: '{url}'\n")
    assert shown.returncode == 0, shown.stderr
    assert f"webhook_url: http://***@{LOCAL}:{receiver.port}/***" in shown.stdout
    out = capfd.readouterr()
    everything = "\n".join([r.getMessage() for r in records] + [out.out, out.err, shown.stdout, shown.stderr])
    for secret in ("pa:ss", "pa%3Ass", "w0rd", "hook@user", "hook%40user", "t0ken", expected.split()[1]):
        assert secret not in everything


@pytest.mark.parametrize("url, words", [
    ("ftp://u:s3cret@{here}/x", "must be an http:// or https:// URL"),
    ("file:///etc/s3cret", "must be an http:// or https:// URL"),
    ("http://u:s3cr/et@{here}/x", "port from 1 to 65535"),  # an unencoded "/" cuts the password
    ("http://u:s3cret@{host}:99999/x", "port from 1 to 65535"),
    ("http://u:s3cret@ho st/x", "no spaces"),
    ("http://u:s3cret@{host}:0/x", "port from 1 to 65535"),
])
def test_a_url_that_cannot_be_requested_is_refused_at_load_quoting_none_of_it(receivers, tmp_path, url, words):
    receiver = receivers()
    url = url.format(here=f"{LOCAL}:{receiver.port}", host=LOCAL)
    with pytest.raises(ValueError, match=words):
        Webhook(url)
    path = tmp_path / "settings.yaml"
    path.write_text(f"alerts:\n  webhook_url: '{url}'\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, env={})
    assert ": alerts.webhook_url: " in str(err.value) and words in str(err.value)
    assert "s3cr" not in str(err.value)
    assert receiver.connections == 0


def test_config_check_refuses_an_ftp_webhook_with_exit_2_and_no_password(tmp_path):
    result = check(tmp_path, text="alerts:\n  webhook_url: 'ftp://ops:s3cret@127.0.0.1/x'\n")
    assert result.returncode == 2
    assert ": alerts.webhook_url: must be an http:// or https:// URL" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr and "Traceback" not in result.stderr
