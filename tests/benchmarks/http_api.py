"""The HTTP API under load: ``python -m tests.benchmarks.http_api [--tasks 1000000] [--seconds 30]``.

Loads N demo tasks into a fresh PostgreSQL database (taskconsole creates the schema, so `db tune`'s
indexes are applied), starts ``taskconsole run`` with ``http.listen`` and a token,
and drives ``GET /api/scheduler/jobs`` and ``GET /metrics`` with 10 concurrent keep-alive
clients for the given time: once with no job running, once while ``update_time_progress`` runs
(started again over the API each time it ends). Prints p50/p95/p99 latency, throughput and the
serving process's RSS before and after each phase as a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.conftest import fresh_pg_database
CLIENTS = 10


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(port: int, path: str, token: str, seconds: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            began = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            answer = conn.getresponse()
            answer.read()
            mine.append(time.perf_counter() - began)
            if answer.status != 200:
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 1)

    return {"requests": len(latencies), "errors": errors[0], "rps": round(len(latencies) / took, 1),
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 1)}


def keep_running(port: int, token: str, stop: threading.Event, runs: list) -> None:
    """Start update_time_progress over the API whenever it is not running, until ``stop``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        conn.request("POST", "/api/scheduler/jobs/update_time_progress/run", headers={"Authorization": f"Bearer {token}"})
        answer = conn.getresponse()
        body = json.loads(answer.read())
        if answer.status == 200:
            runs.append(body["data"]["outcome"])
        stop.wait(0.5)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with fresh_pg_database("taskconsole_http") as url:
        bench(url, args)


def bench(url: str, args) -> None:
    work = Path(tempfile.mkdtemp(prefix="taskconsole-http-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env["TASKCONSOLE_DATABASE_URL"] = url
    port = free_port()
    (work / "settings.yaml").write_text(f"http:\n  listen: 127.0.0.1:{port}\n")
    env["TASKCONSOLE_CONFIG"] = str(work / "settings.yaml")
    proc = None
    try:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "console", "demo", "--tasks", str(args.tasks)], env=env, cwd=work,
                       check=True, capture_output=True)
        print(f"demo of {args.tasks:,} tasks loaded in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        made = subprocess.run([sys.executable, "-m", "console", "tokens", "create", "--user", "1", "--json"],
                              env=env, cwd=work, check=True, capture_output=True, text=True)
        token = json.loads(made.stdout)["token"]
        with open(work / "run.err", "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "console", "run"], env=env, cwd=work,
                                    stdout=subprocess.DEVNULL, stderr=err)
        for _ in range(300):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        rows = []
        for phase in ("no job running", "update_time_progress running"):
            stop, runs = threading.Event(), []
            runner = None
            if phase != "no job running":
                runner = threading.Thread(target=keep_running, args=(port, token, stop, runs))
                runner.start()
                time.sleep(1)
            for path in ("/api/scheduler/jobs", "/metrics"):
                before = rss_mb(proc.pid)
                result = load(port, path, token, args.seconds)
                rows.append((phase, path, result, before, rss_mb(proc.pid)))
                print(f"{phase} {path}: {result}", file=sys.stderr, flush=True)
            stop.set()
            if runner is not None:
                runner.join()
                print(f"  update_time_progress started {len(runs)} times during the phase", file=sys.stderr)
        print(f"\n{args.tasks:,} demo tasks, PostgreSQL, {CLIENTS} clients, {args.seconds:.0f} s each\n")
        print("| phase | endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors | RSS before → after MB |")
        print("|---|---|---|---|---|---|---|---|---|")
        for phase, path, r, before, after in rows:
            print(f"| {phase} | `GET {path}` | {r['requests']:,} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | "
                  f"{r['p99_ms']} | {r['errors']} | {before} → {after} |")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
