"""Hostile webhook receivers (#24 items 8 and 9), each a real socket server on 127.0.0.1: garbage
for an answer, 101 header lines, an over-long header line, a reset, a redirect to another local
port, a byte a second past the deadline, a check of the Basic auth header; and URLs the sender
cannot or must not request (ftp, a bad port) refused at load without quoting their password.

The webhook is the outbox's ``json://`` channel named ``webhook`` (issue #28): after each hostile
answer the channel backs off, then the failed alert and the one queued behind it both reach the
receiver; the failure is one log line without a traceback, and nothing reached standard error. Only 127.0.0.1 is ever connected to; every loop is bounded in count and time.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import struct
import threading
import time
from datetime import timedelta

import pytest

from console.db.task_tables import tables_for
from console.domain.deliveries import DeliveryEvent
from console.domain.webhook_url import parse_webhook_url
from console.notify.outbox import queue_job_event
from console.notify.sender import DeliverySender
from console.settings import Settings, SettingsError, load_settings
from tests.conftest import NOW
from tests.integration.deliveries_helpers import deliveries
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
    """A good answer, a byte every 0.3 s, for at most 3 s."""
    for byte in GOOD[:10]:
        conn.sendall(bytes([byte]))
        if stop.wait(0.3):
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
    """The sender's log records; and an exception that ends a thread printed to standard error
    as in production (pytest otherwise turns it into a warning), for capfd to see."""
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    caplog.set_level(logging.INFO, logger="console.notify")
    return lambda: [r for r in caplog.records if r.name == "console.notify"]


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


def webhook_outbox(engine, url: str, timeout: str = "PT2S") -> tuple[DeliverySender, Clock]:
    """``alerts.webhook_url`` = ``url``: a job failure and a missed firing queued for it, in that order."""
    settings = Settings.model_validate({"alerts": {"webhook_url": url}, "delivery": {"send_timeout": timeout}})
    tables = tables_for(engine, settings)
    with engine.begin() as conn:
        for event, job_id, name in ((DeliveryEvent.JOB_FAILURE, "check_task_warnings", "job_failed"),
                                    (DeliveryEvent.JOB_MISSED, "cleanup_old_data", "job_missed")):
            queue_job_event(conn, tables, settings, event, job_id=job_id, detail="meets the receiver", run_id=None,
                            now=NOW, fields={"event": name, "job_id": job_id})
    clock = Clock()
    return DeliverySender(settings, engine, clock=clock), clock


def hostile_then_good(engine, url: str, timeout: str = "PT2S") -> DeliverySender:
    """The first send meets the hostile answer; once the channel's backoff has passed, both go."""
    sender, clock = webhook_outbox(engine, url, timeout)
    assert sender.run_once() == {"webhook": 0}
    late = sender._late.get("webhook")
    if late is not None:  # a loaded machine: the send passed its deadline; marked once it has ended
        assert sender.run_once() == {}
        late.thread.join(15)
        sender.run_once()
    failed, waiting = deliveries(engine)
    assert (failed.state, failed.tries, waiting.state, waiting.tries) == ("pending", 1, "pending", 0)
    clock.now += timedelta(seconds=61)
    assert sender.run_once() == {"webhook": 2}
    assert [d.state for d in deliveries(engine)] == ["sent", "sent"]
    return sender


def assert_one_failure_then_delivered(receiver: RawReceiver, records, capfd, reason: str) -> None:
    assert [r.json()["event"] for r in receiver.requests] == ["job_failed", "job_failed", "job_missed"]
    failed = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert len(failed) == 1 and failed[0].startswith("channel webhook: 1 delivery(ies) not sent ("), failed
    assert reason in failed[0] and "secret-token-xyz" not in failed[0], failed
    assert all(r.exc_info is None for r in records)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception in thread" not in err, err


@pytest.mark.parametrize("answer", [hello_there, header_lines_101, header_line_70k, reset, silent])
def test_a_malformed_answer_is_one_failed_try_and_the_next_alert_goes(sqlite_db, receivers, notify_log, capfd, answer):
    receiver = receivers(answer)
    hostile_then_good(sqlite_db.engine, receiver.url())
    assert_one_failure_then_delivered(receiver, notify_log(), capfd, "A Connection error occurred sending JSON")


@pytest.mark.parametrize("code", [301, 302, 303, 307])
def test_a_redirect_is_not_followed(sqlite_db, receivers, notify_log, capfd, code):
    elsewhere = receivers()
    receiver = receivers(redirect_to(code, elsewhere.url("/internal/admin")))
    hostile_then_good(sqlite_db.engine, receiver.url())
    time.sleep(0.2)  # a follower would have connected by now
    assert elsewhere.connections == 0 and elsewhere.requests == []
    assert_one_failure_then_delivered(receiver, notify_log(), capfd, f"error={code}")


def test_a_receiver_that_trickles_is_cut_at_the_deadline_of_the_whole_send(sqlite_db, receivers, notify_log, capfd):
    receiver = receivers(trickle)
    # Each read gets a byte within 0.3 s, well inside the 1 s read timeout: only the deadline of the
    # whole send (twice send_timeout) ends the sender's wait.
    began = time.monotonic()
    sender, clock = webhook_outbox(sqlite_db.engine, receiver.url(), timeout="PT1S")
    assert sender.run_once() == {"webhook": 0}
    assert time.monotonic() - began < 2.0 + 1.0
    failed = [r.getMessage() for r in notify_log() if r.levelno >= logging.WARNING]
    assert failed == ["channel webhook: 1 delivery(ies) past the send's deadline (no answer within 2 s); "
                      "marked when it ends"]
    assert [d.state for d in deliveries(sqlite_db.engine)] == ["sending", "pending"]
    assert sender.run_once() == {}  # one send at a time per channel: not again while it goes on
    sender._late["webhook"].thread.join(10)  # the trickle ends with half an answer: not sent
    sender.run_once()
    row = deliveries(sqlite_db.engine)[0]
    assert (row.state, row.tries, row.last_error) == ("pending", 1, "no answer within 2 s")
    clock.now += timedelta(seconds=61)
    assert sender.run_once() == {"webhook": 2}
    assert [r.json()["event"] for r in receiver.requests] == ["job_failed", "job_failed", "job_missed"]


def test_a_send_that_ends_well_after_its_deadline_is_marked_sent_never_sent_again(sqlite_db, receivers, notify_log):
    def slow_but_whole(conn, request, stop) -> None:
        for byte in GOOD:  # a whole good answer, a byte every 0.05 s: about 3 s in all
            conn.sendall(bytes([byte]))
            if stop.wait(0.05):
                return

    receiver = receivers(slow_but_whole)
    sender, clock = webhook_outbox(sqlite_db.engine, receiver.url(), timeout="PT1S")
    assert sender.run_once() == {"webhook": 0}  # past the 2 s deadline: the channel waits for it
    sender._late["webhook"].thread.join(10)
    sender.run_once()
    clock.now += timedelta(seconds=61)
    sender.run_once()
    assert [d.state for d in deliveries(sqlite_db.engine)] == ["sent", "sent"]
    assert [r.json()["event"] for r in receiver.requests] == ["job_failed", "job_missed"]  # none twice


def test_user_and_password_are_sent_as_basic_auth_and_shown_nowhere(sqlite_db, receivers, notify_log, capfd, tmp_path):
    expected = "Basic " + base64.b64encode(b"hook@user:pa:ss/w0rd").decode()

    def basic_auth_or_401(conn, request, stop):
        conn.sendall(GOOD if request.headers.get("authorization") == expected else
                     b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")

    receiver = receivers(basic_auth_or_401, basic_auth_or_401)
    url = receiver.url("/hooks/t0ken?x=1", userinfo="hook%40user:pa%3Ass%2Fw0rd@")
    sender, _ = webhook_outbox(sqlite_db.engine, url)
    assert sender.run_once() == {"webhook": 2}
    assert [r.json()["event"] for r in receiver.requests] == ["job_failed", "job_missed"]
    request = receiver.requests[0]
    assert request.line == "POST /hooks/t0ken?x=1 HTTP/1.1"  # no user or password in what is requested
    assert request.headers["host"] == f"{LOCAL}:{receiver.port}"
    records = notify_log()
    assert not [r for r in records if r.levelno >= logging.WARNING]

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
    ("http://u:s3cret@{here}/a%2Fs3cret", "encoded /"),
    ("http://u:s3cret@{here}/x?t=s3cret&t=2", "query key given twice"),
])
def test_a_url_that_cannot_be_requested_is_refused_at_load_quoting_none_of_it(receivers, tmp_path, url, words):
    receiver = receivers()
    url = url.format(here=f"{LOCAL}:{receiver.port}", host=LOCAL)
    with pytest.raises(ValueError, match=words):
        parse_webhook_url(url)
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
