"""A guest who reaches the HTTP API's port (issue #24, "A safe guest"): slow clients, odd
requests, a database that fails mid-request, a token outliving its user, and many clients asking
for the same run at once. Real HTTP where the server is the point, Flask's test client where the
app is; a real database throughout (SQLite and PostgreSQL), and only ever 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, insert, text, update

from console.db.engine import make_engine
from console.db.models import ApiToken, User
from console.scheduler.locks import JobLocks
from console.web import ApiServer, create_app
from tests.conftest import Rows
from tests.web.conftest import api, free_port, leading_api  # noqa: F401  (fixtures, found by name)

JOBS = "/api/scheduler/jobs"
ECHO_MAX = 200  # console.web.answers.ECHO_MAX


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


# -- 5: odd requests ----------------------------------------------------------------------------
def test_a_limit_of_any_length_is_400_json(api):
    for path in (f"{JOBS}/cleanup_old_data/runs", "/api/tasks/near"):
        for digits in ("1" * 5000, "9" * 40, "0" * 5000 + "5"):
            answer = api.get(f"{path}?limit={digits}")
            assert answer.status_code == 400, (path, len(digits), answer.data[:300])
            assert answer.json["code"] == 400 and "limit" in answer.json["message"]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_two_authorization_headers_are_400_over_real_http(served):
    api, address = served
    bad = "tc_" + "x" * 43
    for first, second in ((bad, api.token), (api.token, bad), (api.token, api.token)):
        status, _, body = _get(address, JOBS, [("Authorization", f"Bearer {first}"),
                                                ("Authorization", f"Bearer {second}")])
        assert status == 400, body[:300]
        assert json.loads(body)["code"] == 400
    # And through Flask's test client (as a host's own server hands them to the app).
    answer = api.client.get(JOBS, headers=[("Authorization", f"Bearer {bad}"), ("Authorization", f"Bearer {api.token}")])
    assert answer.status_code == 400


def test_a_double_slash_is_404_json_never_a_redirect(api):
    for path in ("/api/scheduler//jobs", "//api/scheduler/jobs", "/api/scheduler/jobs//cleanup_old_data/runs"):
        answer = api.client.get(path, headers={"Authorization": f"Bearer {api.token}", "Host": "evil.example"})
        assert answer.status_code == 404, (path, answer.status_code)
        assert "Location" not in answer.headers
        assert answer.json["code"] == 404


def test_no_answer_echoes_more_than_200_characters_of_the_request(api):
    long_id = "j" * 60_000
    for method, path in (("post", f"{JOBS}/{long_id}/run"), ("get", f"{JOBS}/{long_id}/runs"),
                         ("post", f"{JOBS}/{long_id}/pause"), ("get", f"/api/{long_id}")):
        answer = getattr(api, method)(path)
        assert answer.status_code == 404, (method, answer.status_code)
        assert "j" * (ECHO_MAX + 1) not in answer.get_data(as_text=True)
        assert all("j" * (ECHO_MAX + 1) not in v for v in answer.headers.values())
    answer = api.post(f"{JOBS}/{long_id}/run")
    assert answer.json["message"] == "任务不存在"


def _locked_then_cut(api, pg_url: str, method: str, path: str):
    """``path`` asked while a lock holds its first statement; its session is then ended by the
    server (as a restart does), and the database is back at once. The answer."""
    locker = make_engine(pg_url)
    answers = []
    try:
        with locker.connect() as conn:
            conn.execute(text("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE"))
            asking = threading.Thread(target=lambda: answers.append(getattr(api, method)(path)), daemon=True)
            asking.start()
            waiting = []
            deadline = time.monotonic() + 10
            while not waiting and time.monotonic() < deadline:
                waiting = conn.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalars().all()
                time.sleep(0.02)
            assert waiting, "the request never waited on the lock"
            for pid in waiting:
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            conn.rollback()
        asking.join(20)
    finally:
        locker.dispose()
    assert answers, f"{path} did not answer"
    return answers[0]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_database_that_fails_mid_request_is_503_never_500(api, db):
    for method, path in (("get", JOBS), ("get", "/api/scheduler/status"), ("get", "/api/tasks/near"),
                         ("get", "/metrics"), ("get", f"{JOBS}/cleanup_old_data/runs"),
                         ("post", f"{JOBS}/cleanup_old_data/pause")):
        answer = _locked_then_cut(api, db.url, method, path)
        assert answer.status_code == 503, (path, answer.status_code, answer.data[:300])
        assert set(answer.json) == {"code", "message", "data"} and answer.json["code"] == 503
        assert api.client.get("/healthz").status_code == 200  # and it was back at once


# -- 6: a token belongs to its user, not to an id --------------------------------------------------
def _reuse_id(api, user_id: int, name: str) -> None:
    """The user deleted, and the id given to a new admin called ``name``."""
    with api.service.engine.begin() as conn:
        conn.execute(delete(User).where(User.id == user_id))
        conn.execute(insert(User).values(id=user_id, name=name, is_admin=True))


def test_a_token_does_not_come_back_to_life_with_its_users_id(api):
    rows = Rows(api.service.engine)
    alice = rows.user("alice", admin=True)
    info, token = api.service.tokens.create(alice, "alice's")
    assert api.get(JOBS, token=token).status_code == 200
    _reuse_id(api, alice, "mallory")
    answer = api.post(f"{JOBS}/cleanup_old_data/run", token=token)
    assert answer.status_code == 401, answer.json
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert api.scalar("SELECT count(*) FROM scheduler_commands") == 0
    # Gone without a successor is the same; and the name it was bound to is on record.
    with api.service.engine.begin() as conn:
        conn.execute(delete(User).where(User.id == alice))
    assert api.get(JOBS, token=token).status_code == 401
    assert api.scalar("SELECT user_name FROM api_tokens WHERE id = :i", i=info.id) == "alice"


def test_a_token_made_before_0013_is_bound_at_its_next_good_use(api):
    rows = Rows(api.service.engine)
    carol = rows.user("carol", admin=True)
    info, token = api.service.tokens.create(carol)
    with api.service.engine.begin() as conn:
        conn.execute(update(ApiToken).where(ApiToken.id == info.id).values(user_name=None))
    assert api.get(JOBS, token=token).status_code == 200
    assert api.scalar("SELECT user_name FROM api_tokens WHERE id = :i", i=info.id) == "carol"
    _reuse_id(api, carol, "mallory")
    assert api.get(JOBS, token=token).status_code == 401


def test_a_view_that_forgets_to_ask_who_calls_is_closed_all_the_same(api):
    """Authentication is the blueprint's, before any view: a view that never looks at the caller
    (here, one put in place of /api/scheduler/status) is not open."""
    from console.web.answers import answer

    app = create_app(api.service)
    app.view_functions["taskconsole.status"] = lambda: answer({"secret": "open"})
    client = app.test_client()
    answer_ = client.get("/api/scheduler/status")
    assert answer_.status_code == 401 and "secret" not in answer_.get_data(as_text=True)
    assert client.get("/api/scheduler/status", headers={"Authorization": f"Bearer {api.token}"}).status_code == 200
    assert client.get("/healthz").status_code == 200  # the one public endpoint stays public
    assert client.get("/metrics").status_code == 401


# -- 7: "任务已触发" only for a run the leader started ---------------------------------------------
def _manual_runs(api, job_id: str) -> dict[int, str]:
    return dict(api.all("SELECT id, status FROM job_runs WHERE job_id = :j AND trigger_kind = 'manual'", j=job_id))


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_five_clients_asking_for_one_run_at_once_are_told_the_truth(leading_api):
    api = leading_api
    job = "cleanup_old_data"
    told = []
    with ThreadPoolExecutor(5) as pool:
        deadline = time.monotonic() + 90
        for _ in range(10):
            if time.monotonic() > deadline:
                break
            told += pool.map(lambda _: api.post(f"{JOBS}/{job}/run"), range(5))
    started = {a.json["data"]["run_id"] for a in told if a.status_code == 200}
    assert all(a.status_code in (200, 202, 409) for a in told), [(a.status_code, a.json) for a in told]
    assert all(a.json["message"] == "任务正在运行" for a in told if a.status_code == 409)
    assert len(started) == sum(a.status_code == 200 for a in told), "two callers were told of one run"
    runs = _manual_runs(api, job)
    ran = {run_id for run_id, status in runs.items() if status != "skipped"}
    assert started <= ran, "a caller was told of a run the ledger does not hold"
    queued = sum(a.status_code == 202 for a in told)
    assert len(ran) - len(started) <= queued, "a run started that no caller was told of"


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_run_the_leader_refuses_slowly_is_409_not_200(leading_api, db):
    """The leader takes the command at once but its refusal (the job's lock is held elsewhere)
    is written late: the caller waits for the refusal rather than guessing a start."""
    api = leading_api
    job = "cleanup_old_data"
    held = JobLocks(api.service.engine).try_acquire(f"job:{job}")
    blocker = make_engine(db.url)
    try:
        with blocker.connect() as conn:
            conn.execute(text("LOCK TABLE job_runs IN EXCLUSIVE MODE"))  # the ledger's writes wait
            release = threading.Timer(1.0, conn.rollback)
            release.start()
            answer = api.post(f"{JOBS}/{job}/run")
            release.join()
    finally:
        blocker.dispose()
        held.release()
    assert answer.status_code == 409, answer.json
    assert answer.json["data"]["outcome"] == "already_running" and answer.json["data"]["detail"]
    assert list(_manual_runs(api, job).values()) == ["skipped"]
