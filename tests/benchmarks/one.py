"""One measurement in a fresh process, so its peak RSS is its own: prints one JSON object."""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from datetime import datetime, timezone

from sqlalchemy import event

from console.db.engine import make_engine
from console.jobs import JOBS, JobContext
from console.settings import Settings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_job(url: str, job_id: str, now: datetime, run_id: int) -> dict:
    engine = make_engine(url)
    settings = Settings()
    longest = [0.0]
    began: dict[int, float] = {}

    @event.listens_for(engine, "begin")
    def _begin(conn):
        began[id(conn)] = time.perf_counter()

    @event.listens_for(engine, "commit")
    def _commit(conn):
        start = began.pop(id(conn), None)
        if start is not None:
            longest[0] = max(longest[0], time.perf_counter() - start)

    side: dict = {}
    if job_id == "cleanup_old_data":
        # Another job runs meanwhile: cleanup's short transactions must not hold it up.
        def other():
            time.sleep(0.5)
            t = time.perf_counter()
            JOBS["update_time_progress"].run(JobContext(engine=make_engine(url), settings=settings, now=now,
                                                        run_id=run_id + 1))
            side["other_job_s"] = round(time.perf_counter() - t, 3)

        thread = threading.Thread(target=other)
        thread.start()
    t = time.perf_counter()
    counts = JOBS[job_id].run(JobContext(engine=engine, settings=settings, now=now, run_id=run_id))
    duration = time.perf_counter() - t
    if job_id == "cleanup_old_data":
        thread.join()
    return {"duration_s": round(duration, 3), "counts": counts, "peak_rss_mb": round(peak_rss_mb(), 1),
            "longest_transaction_s": round(longest[0], 3), **side}


def run_seed(url: str, which: str, now: datetime) -> dict:
    from tests.benchmarks import seed_algorithm

    engine = make_engine(url)
    t = time.perf_counter()
    touched = getattr(seed_algorithm, which)(engine, now)
    return {"duration_s": round(time.perf_counter() - t, 3), "counts": {"rows": touched},
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def panels(url: str, now: datetime) -> dict:
    from console.service import Service

    service = Service(Settings(), make_engine(url), clock=lambda: now)
    out = {}
    for name, call in (("jobs", service.jobs), ("warning_stats", service.warning_stats),
                       ("near_tasks", lambda: service.near_tasks(50)), ("whole refresh", service.dashboard)):
        call()  # warm the connection and the caches, as a running console has them
        best = min(_timed(call) for _ in range(3))
        out[name] = round(best, 4)
    return {"panels_s": out, "peak_rss_mb": round(peak_rss_mb(), 1)}


def _timed(call) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def main() -> None:
    kind, url, now_iso = sys.argv[1], sys.argv[2], sys.argv[3]
    now = datetime.fromisoformat(now_iso).astimezone(timezone.utc)
    if kind.startswith("job:"):
        result = run_job(url, kind[4:], now, int(sys.argv[4]))
    elif kind.startswith("seed:"):
        result = run_seed(url, kind[5:], now)
    else:
        result = panels(url, now)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
