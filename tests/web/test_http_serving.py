"""Real HTTP to real processes: ``taskconsole run`` with ``http.listen`` set, and ``taskconsole
serve`` beside it, on SQLite and PostgreSQL. The design document's section 10.2 curl lines, with a
token made by ``taskconsole tokens create``."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from tests.conftest import Rows
from tests.faults.conftest import processes, wait_for
from tests.integration.helpers import invoke
from tests.web.conftest import free_port


class Http:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, token: str | None = None) -> tuple[int, dict, Message]:
        """(status, body, headers); the headers are looked up by name in any case, as HTTP's are."""
        request = urllib.request.Request(self.base + path, method=method,
                                         headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read()), answer.headers
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read()), error.headers

    def up(self) -> bool:
        try:
            urllib.request.urlopen(self.base + "/healthz", timeout=1).close()
            return True
        except (urllib.error.URLError, ConnectionError, OSError):
            return False


@pytest.fixture
def node(db, tmp_path):
    """Starts taskconsole processes on the test's database (either backend); ends them after."""
    with processes(db.url, tmp_path) as start:
        yield start


def cli(db, tmp_path: Path, *args: str) -> str:
    done = invoke(args, url=db.url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_design_documents_curl_lines_against_taskconsole_run(db, tmp_path, node):
    admin = Rows(db.engine).user("admin", admin=True)
    token = json.loads(cli(db, tmp_path, "tokens", "create", "--user", str(admin), "--json"))["token"]
    port = free_port()
    run = node("run", config={"http": {"listen": f"127.0.0.1:{port}"}})
    http = Http(port)
    wait_for(http.up, timeout=30, proc=run, what="the HTTP API to answer")
    before = {j["id"]: j["next_run_time"] for j in json.loads(cli(db, tmp_path, "jobs", "list", "--json"))}

    # curl -X POST http://localhost:5000/api/scheduler/jobs/reset_periodic_tasks/run -H "Authorization: Bearer <admin_token>"
    status, body, _ = http.call("POST", "/api/scheduler/jobs/reset_periodic_tasks/run", token)
    assert status == 200 and body["code"] == 0 and body["message"] == "任务已触发", body
    # curl http://localhost:5000/api/scheduler/jobs -H "Authorization: Bearer <admin_token>"
    status, body, _ = http.call("GET", "/api/scheduler/jobs", token)
    assert status == 200 and body["code"] == 0
    assert [j["id"] for j in body["data"]][0] == "reset_periodic_tasks"
    assert {"id", "name", "next_run_time", "trigger"} <= set(body["data"][0])

    def finished():
        runs = json.loads(cli(db, tmp_path, "jobs", "history", "reset_periodic_tasks", "--json"))
        return runs if runs and runs[0]["status"] != "running" else None

    runs = wait_for(finished, timeout=30, proc=run, what="the run to finish", every=0.2)
    assert len(runs) == 1
    assert (runs[0]["trigger_kind"], runs[0]["actor"], runs[0]["status"]) == ("manual", f"user:{admin}", "success")
    after = {j["id"]: j["next_run_time"] for j in json.loads(cli(db, tmp_path, "jobs", "list", "--json"))}
    assert after == before, "a manual run moved a job's schedule"

    status, body, headers = http.call("POST", "/api/scheduler/jobs/reset_periodic_tasks/run")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = http.call("POST", "/api/scheduler/jobs/nope/run", token)
    assert (status, body["code"], body["message"]) == (404, 404, "任务不存在")

    run.signal(signal.SIGTERM)
    assert run.wait(timeout=20) == 0, run.stderr[-2000:]
    assert not http.up()
    assert "Traceback" not in run.stderr


def test_serve_takes_no_part_in_the_election_and_its_runs_go_to_the_leader(db, tmp_path, node):
    admin = Rows(db.engine).user("admin", admin=True)
    token = json.loads(cli(db, tmp_path, "tokens", "create", "--user", str(admin), "--json"))["token"]
    port = free_port()
    leader = node("run", config={})
    serve = node("serve", "--listen", f"127.0.0.1:{port}", config={})
    http = Http(port)
    wait_for(http.up, timeout=30, proc=serve, what="serve to answer")
    wait_for(lambda: (http.call("GET", "/api/scheduler/status", token)[1]["data"]["leader"] or {}).get("pid")
             == leader.pid, timeout=30, proc=leader, what="the run process to lead", every=0.2)
    status, body, _ = http.call("GET", "/api/scheduler/status", token)
    assert serve.pid not in [n["pid"] for n in body["data"]["standbys"]]
    status, body, _ = http.call("POST", "/api/scheduler/jobs/cleanup_old_data/run", token)
    assert status == 200, body

    def carried_out():
        runs = json.loads(cli(db, tmp_path, "jobs", "history", "cleanup_old_data", "--json"))
        return runs if runs and runs[0]["status"] != "running" else None

    runs = wait_for(carried_out, timeout=30, proc=leader, what="the leader to run it", every=0.2)
    with db.engine.connect() as conn:
        pid = conn.execute(text("SELECT pid FROM job_runs WHERE id = :id"), {"id": runs[0]["run_id"]}).scalar()
    assert pid == leader.pid
    serve.signal(signal.SIGTERM)
    assert serve.wait(timeout=20) == 0, serve.stderr[-2000:]


def test_a_port_in_use_exits_2_in_one_line(db, tmp_path, node):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = node("serve", "--listen", f"127.0.0.1:{port}", config={})
        assert proc.wait(timeout=30) == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("taskconsole: error: cannot listen on 127.0.0.1:") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("listen", ["nohost", "host:99999", "a b:80"])
def test_a_bad_listen_address_is_refused_before_anything_starts(sqlite_db, tmp_path, listen):
    db = sqlite_db
    done = invoke(("serve", "--listen", listen), url=db.url, cwd=tmp_path, timeout=30)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"http": {"listen": listen}}))
    done = invoke(("run",), url=db.url, cwd=tmp_path, config=config, timeout=30)
    assert done.returncode == 2 and "http.listen" in done.stderr
