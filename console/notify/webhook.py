"""The failure webhook (``alerts.webhook_url``): a JSON POST when a job fails for good, misses its
firing or is abandoned by a process that ended.

Sending never holds up or fails a job: events go on a small queue that one background thread
posts, each with a short timeout and a few tries; what cannot be sent is logged, never raised.
The log names only the URL's scheme and host, since a webhook URL often carries its secret in
its path (Slack, Teams, a chat bot).
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("console.notify")

TIMEOUT_S = 5.0
RETRY_DELAYS_S = (1.0, 3.0)  # three tries in all
QUEUE_SIZE = 100
HOST = socket.gethostname()


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


class Webhook:
    def __init__(self, url: str | None, *, timeout_s: float = TIMEOUT_S,
                 retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S):
        self.url = url
        self._timeout = timeout_s
        self._delays = retry_delays_s
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def send(self, event: str, job_id: str, **fields: Any) -> None:
        """Queue one alert; returns at once. ``event``: job_failed, job_missed or job_abandoned."""
        if not self.url:
            return
        body = {"event": event, "job_id": job_id, "at": datetime.now(timezone.utc).isoformat(), "host": HOST,
                **fields}
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            log.error("webhook %s: %d alerts waiting; %s of %s not sent", _where(self.url), QUEUE_SIZE, event, job_id)
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._post_all, name="webhook", daemon=True)
                self._thread.start()

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the queued alerts to be sent or given up (for tests and a
        graceful stop); True if none is left."""
        if self._queue.unfinished_tasks == 0:
            return True
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout_s)

    def _post_all(self) -> None:
        while True:
            try:
                body = self._queue.get(timeout=30)
            except queue.Empty:
                return  # idle: the thread ends; the next alert starts another
            try:
                self._post(body)
            finally:
                self._queue.task_done()

    def _post(self, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        last = ""
        for attempt, delay in enumerate((*self._delays, None), start=1):
            request = urllib.request.Request(self.url, data=data, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "User-Agent": "taskconsole"})
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                    answer.read(1024)
                log.info("webhook %s: %s of %s sent", _where(self.url), body["event"], body["job_id"])
                return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = type(getattr(exc, "reason", exc)).__name__
            if delay is None or self._stop.wait(delay):
                break
        log.error("webhook %s: %s of %s not sent after %d tries (%s)", _where(self.url), body["event"],
                  body["job_id"], attempt, last)
