"""The operations kit: the systemd unit verifies and `run` speaks systemd's notify protocol; the
container files hold what docs/operations.md promises (an image builds only where a Docker engine runs)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "taskconsole.service"
TASKCONSOLE = Path(sys.executable).with_name("taskconsole")


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    # Where docs/operations.md installs it (/opt/taskconsole/venv) is this test's virtual environment.
    unit = tmp_path / "taskconsole.service"
    unit.write_text(UNIT.read_text().replace("/opt/taskconsole/venv/bin/taskconsole", str(TASKCONSOLE)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "taskconsole.service" not in result.stderr, result.stderr


def test_the_unit_is_supervised_and_hardened():
    lines = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
             if "=" in line and not line.startswith("#")}
    assert lines["Type"] == "notify" and lines["Restart"] == "on-failure" and lines["User"] == "taskconsole"
    assert lines["EnvironmentFile"] == "/etc/taskconsole/env" and lines["ExecStart"].endswith("taskconsole run")
    assert lines["NoNewPrivileges"] == "yes" and lines["ProtectSystem"] == "strict" and lines["PrivateTmp"] == "yes"
    assert lines["RestartPreventExitStatus"] == "2"  # a settings mistake is not retried


def test_run_tells_systemd_it_is_ready_alive_and_stopping(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    listener.bind(str(path))
    listener.settimeout(30)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000",
           "TASKCONSOLE_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"}
    assert run_cli(["db", "upgrade"], env=env, cwd=tmp_path).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "console", "run"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("WATCHDOG=1" in s for s in seen):
            seen.append(listener.recv(4096).decode())
        assert "READY=1" in seen[0] and "STATUS=leading" in seen[0] and f"MAINPID={proc.pid}" in seen[0]
        assert any("WATCHDOG=1" in s for s in seen)
        proc.send_signal(signal.SIGTERM)
        while not any("STOPPING=1" in s for s in seen):
            seen.append(listener.recv(4096).decode())
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


def test_the_container_files_hold_what_the_readme_says():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "USER taskconsole" in dockerfile
    assert "pip install --no-cache-dir /src" in dockerfile  # the package, from this source tree
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile and "taskconsole run" in dockerfile
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "taskconsole-1", "taskconsole-2"} <= set(services)
    assert services["taskconsole-1"]["ports"] == ["5000:5000"]
    env = {"PATH": "/usr/bin:/bin", "TASKCONSOLE_CONFIG": str(ROOT / "deploy" / "container" / "settings.yaml")}
    check = run_cli(["config", "check", "--show"], env=env, cwd=ROOT)
    assert check.returncode == 0 and "listen: 0.0.0.0:5000" in check.stdout and "format: json" in check.stdout


def test_the_image_builds_where_a_docker_engine_runs():
    if shutil.which("docker") is None:
        pytest.skip("no docker client here")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("the docker client is here but no Docker engine runs (see docs/operations.md, Containers)")
    result = subprocess.run(["docker", "build", "-t", "taskconsole-test", str(ROOT)], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_settings_mistake_stops_the_service_instead_of_restarting_forever():
    unit = UNIT.read_text()
    lines = [line for line in unit.splitlines() if not line.startswith("#")]
    # RestartPreventExitStatus covers the main process only: a check in ExecStartPre would loop.
    assert not any(line.startswith("ExecStartPre") for line in lines)
    assert "StartLimitBurst=5" in lines and "StartLimitIntervalSec=300" in lines
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    for name in ("taskconsole-1", "taskconsole-2"):
        policy = compose[name]["restart"]
        assert policy.startswith("on-failure:") and int(policy.split(":")[1]) <= 5, policy
    assert "demo" not in " ".join(compose["migrate"]["command"])  # demo data only when asked
    assert compose["demo"]["profiles"] == ["demo"]


def test_the_health_check_asks_the_port_the_settings_listen_on(tmp_path):
    import http.server
    import threading

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "settings.yaml"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TASKCONSOLE_CONFIG": str(config)}
    try:
        for listen, code in ((f"0.0.0.0:{server.server_port}", 0), ("127.0.0.1:1", 1)):
            config.write_text(f"http: {{listen: '{listen}'}}\n")
            result = subprocess.run([sys.executable, "-m", "console.cli.healthcheck"], env=env, capture_output=True,
                                    text=True, timeout=60)
            assert result.returncode == code, (listen, result.stderr)
            assert "Traceback" not in result.stderr
    finally:
        server.shutdown()
    assert "console.cli.healthcheck" in (ROOT / "Dockerfile").read_text()
    assert "5000/healthz" not in (ROOT / "Dockerfile").read_text()
