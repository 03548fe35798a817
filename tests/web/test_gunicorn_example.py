"""The Flask embedding under gunicorn with four workers (examples/flask_app): exactly one worker
leads, each firing of a job that fires every 2 s runs once over 30 s, the API answers throughout,
and SIGTERM to the master stops every worker cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from console.db import schema
from console.db.engine import make_engine
from console.settings import JOB_IDS
from tests.conftest import Rows
from tests.faults.conftest import wait_for
from tests.web.conftest import free_port
from tests.web.test_http_serving import Http

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app"
JOB = "check_task_warnings"


@pytest.mark.slow
def test_four_gunicorn_workers_one_leads_and_each_firing_runs_once(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed (pip install -e '.[test]')")
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    admin = Rows(engine).user("admin", admin=True)
    jobs = {job_id: {"enabled": False} for job_id in JOB_IDS if job_id != JOB}
    jobs[JOB] = {"trigger": {"every": 2}, "retries": 0}
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": url}, "jobs": jobs}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env.update(TASKCONSOLE_CONFIG=str(config), PYTHONPATH=str(EXAMPLE))
    port = free_port()
    with open(tmp_path / "gunicorn.err", "wb") as err:
        master = subprocess.Popen([str(gunicorn), "-w", "4", "-b", f"127.0.0.1:{port}", "--chdir", str(tmp_path),
                                   "app:create_app()"], env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        http = Http(port)
        wait_for(http.up, timeout=60, what="gunicorn to answer")

        def four_nodes():
            with engine.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM scheduler_nodes WHERE kind = 'web'")).scalar() == 4

        wait_for(four_nodes, timeout=60, what="four worker nodes", every=0.2)
        began = time.monotonic()
        token = _token(tmp_path, url, admin)
        while time.monotonic() - began < 30:
            status, body, _ = http.call("GET", "/api/scheduler/status", token)
            assert status == 200, body
            time.sleep(0.5)
        with engine.connect() as conn:
            roles = conn.execute(text("SELECT role, count(*) FROM scheduler_nodes GROUP BY role")).all()
            runs = conn.execute(text("SELECT scheduled_for, pid, status FROM job_runs WHERE job_id = :j "
                                     "AND trigger_kind = 'scheduled'"), {"j": JOB}).all()
        assert dict(roles) == {"leader": 1, "standby": 3}
        firings = [r.scheduled_for for r in runs]
        assert len(firings) >= 12, runs  # a firing every 2 s for 30 s
        assert len(firings) == len(set(firings)), "a firing ran twice"
        assert len({r.pid for r in runs}) == 1, "runs came from more than one worker"
        assert {r.status for r in runs} <= {"success", "running"}
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=40)
        except subprocess.TimeoutExpired:
            master.kill()
        engine.dispose()
    assert master.returncode == 0, (tmp_path / "gunicorn.err").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "gunicorn.err").read_text()


def _token(cwd: Path, url: str, admin: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env["TASKCONSOLE_DATABASE_URL"] = url
    done = subprocess.run([sys.executable, "-m", "console", "tokens", "create", "--user", str(admin), "--json"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)["token"]

