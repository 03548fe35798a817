"""The failure webhook (``alerts.webhook_url``): a JSON POST when a job fails for good, misses its
firing or is abandoned by a process that ended.

Sending never holds up or fails a job: events go on a small queue that one background thread
posts, each try within a deadline (console.notify.http_post), a few tries in all; what cannot be
sent is logged, one line a failed try, never raised, and the thread goes on with the next alert
whatever a receiver answered. The log names only the URL's scheme and host, since a webhook URL
often carries its secret in its user, password or path (Slack, Teams, a chat bot).
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import socket
import ssl
import threading
from datetime import datetime, timezone
from typing import Any

from console.domain.webhook_url import parse_webhook_url
from console.notify.http_post import post

log = logging.getLogger("console.notify")

TIMEOUT_S = 10.0  # for the whole of a try: connect, send, answer; not for each read
RETRY_DELAYS_S = (1.0, 3.0)  # three tries in all
QUEUE_SIZE = 100
HOST = socket.gethostname()
HEADERS = {"Content-Type": "application/json", "User-Agent": "taskconsole"}


def _reason(exc: BaseException, timeout_s: float) -> str:
    """Why a try failed, in words that quote nothing of the URL or of what the receiver sent."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed without an answer"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer: {type(exc).__name__}"
    return type(exc).__name__


class Webhook:
    def __init__(self, url: str | None, *, timeout_s: float = TIMEOUT_S,
                 retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S):
        """``url`` as settings validate it (a ValueError otherwise: not http(s), no host, a bad
        port); ``timeout_s`` bounds each try as a whole."""
        self.url = url
        self._target = parse_webhook_url(url) if url else None
        self._tls = ssl.create_default_context() if self._target and self._target.scheme == "https" else None
        self._timeout = timeout_s
        self._delays = retry_delays_s
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def send(self, event: str, job_id: str, **fields: Any) -> None:
        """Queue one alert; returns at once. ``event``: job_failed, job_missed or job_abandoned."""
        if self._target is None:
            return
        body = {"event": event, "job_id": job_id, "at": datetime.now(timezone.utc).isoformat(), "host": HOST,
                **fields}
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            log.error("webhook %s: %d alerts waiting; %s of %s not sent", self._target.where, QUEUE_SIZE, event, job_id)
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
            except Exception as exc:  # noqa: BLE001 - _post logs its own failures; this keeps the thread
                log.error("webhook %s: %s of %s not sent (%s)", self._target.where, body.get("event"),
                          body.get("job_id"), type(exc).__name__)
            finally:
                self._queue.task_done()

    def _post(self, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        where, tries = self._target.where, len(self._delays) + 1
        for attempt, delay in enumerate((*self._delays, None), start=1):
            try:
                status = post(self._target, data, HEADERS, self._timeout, self._tls)
            except Exception as exc:  # noqa: BLE001 - whatever a receiver does is a failed try, never the thread's end
                last = _reason(exc, self._timeout)
            else:
                if 200 <= status < 300:
                    log.info("webhook %s: %s of %s sent", where, body["event"], body["job_id"])
                    return
                # A redirect is not followed: it could point anywhere the scheduler's network reaches.
                last = f"HTTP {status}" + (", a redirect, not followed" if 300 <= status < 400 else "")
            if delay is None:
                break
            log.warning("webhook %s: %s of %s: try %d of %d failed (%s); again in %g s", where, body["event"],
                        body["job_id"], attempt, tries, last, delay)
            if self._stop.wait(delay):
                break
        log.error("webhook %s: %s of %s not sent after %d tries (%s)", where, body["event"],
                  body["job_id"], attempt, last)
