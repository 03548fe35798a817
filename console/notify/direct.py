"""Job alerts sent straight to the rooms, when the outbox could not take them.

A job's failure, missed firing or abandoned run is queued in the outbox (``deliveries``) with the
run's end; the leader's sender delivers it. When that write fails, the database is likely what
failed, and an outbox in it cannot carry the alert: it is then sent at once from memory to every
group channel that takes the event (the failure webhook among them; a personal channel needs the
admins' addresses, which are in that database), a few tries each, on a background thread, so
sending never holds up or fails a job. What cannot be sent is one log line, never raised; logs
name only the channel.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Callable

from console.domain.deliveries import ChannelTarget, DeliveryEvent
from console.notify import apprise_send, messages
from console.notify.apprise_send import DeliveryError
from console.settings import ChannelSettings, Settings

log = logging.getLogger("console.notify")

RETRY_DELAYS_S = (1.0, 3.0)  # three tries in all
QUEUE_SIZE = 100
Send = Callable[[str, messages.Message, float, list], None]


class DirectAlerts:
    def __init__(self, settings: Settings, *, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
                 transport: Send = apprise_send.send):
        self.settings = settings
        self._delays = retry_delays_s
        self._transport = transport
        self._queue: queue.Queue[tuple[ChannelSettings, messages.Message]] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def send(self, event: DeliveryEvent, job_id: str, *, detail: str, run_id: int | None, now: datetime,
             fields: dict[str, Any]) -> int:
        """Queue the alert for every group channel taking ``event``; returns at once, with how many."""
        row = SimpleNamespace(event=str(event), subject=job_id, detail=detail, run_id=run_id, created_at=now,
                              task_id=None, level=None, deadline=None, progress=None, address=None, held=False,
                              fields=json.dumps(fields, ensure_ascii=False, default=str))
        queued = 0
        for channel in self.settings.delivery_channels:
            if event not in channel.events or channel.to != ChannelTarget.GROUP:
                continue
            try:
                self._queue.put_nowait((channel, messages.one(self.settings, channel, row)))
                queued += 1
            except queue.Full:
                log.error("channel %s: %d alerts waiting; %s of %s not sent", channel.name, QUEUE_SIZE, event, job_id)
        if queued:
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._send_all, name="direct-alerts", daemon=True)
                    self._thread.start()
        return queued

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for what is queued to be sent or given up (a graceful stop, tests);
        True if none is left."""
        if self._queue.unfinished_tasks == 0:
            return True
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout_s)

    def _send_all(self) -> None:
        while True:
            try:
                channel, message = self._queue.get(timeout=30)
            except queue.Empty:
                return  # idle: the thread ends; the next alert starts another
            try:
                self._send(channel, message)
            except Exception as exc:  # noqa: BLE001 - _send logs its own failures; this keeps the thread
                log.error("channel %s: an alert not sent (%s)", channel.name, type(exc).__name__)
            finally:
                self._queue.task_done()

    def _send(self, channel: ChannelSettings, message: messages.Message) -> None:
        timeout = self.settings.delivery.send_timeout.total_seconds()
        tries = len(self._delays) + 1
        for attempt, delay in enumerate((*self._delays, None), start=1):
            try:
                url, secrets = apprise_send.expand(channel.url)
                self._transport(url, message, timeout, secrets)
            except DeliveryError as exc:
                last = str(exc)
            else:
                log.info("channel %s: an alert sent straight (the outbox could not take it)", channel.name)
                return
            if delay is None:
                break
            log.warning("channel %s: an alert: try %d of %d failed (%s); again in %g s", channel.name, attempt,
                        tries, last, delay)
            if self._stop.wait(delay):
                break
        log.error("channel %s: an alert not sent after %d tries (%s)", channel.name, attempt, last)
