"""Run events on Redis pub/sub, best effort: Redis only ever speeds things up, never decides.

A publish that fails is logged once and Redis is left alone for a while, so a Redis outage
costs the jobs no time and changes no result.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Callable

from console.scheduler.ledger import HOST
from console.settings import redact_url

log = logging.getLogger("console.redis")
CHANNEL = "taskconsole:events"
_BACKOFF_S = 30.0
_RECONNECT_S = 3.0


class EventBus:
    def __init__(self, url: str | None):
        self.url = url
        self._client = None
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._origin = f"{HOST}:{os.getpid()}:{id(self):x}"
        self._receiver: threading.Thread | None = None
        self._closed = threading.Event()

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Called in this process for every event (on the thread that publishes it)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _get(self):
        if self._client is None and self.url:
            import redis  # only when configured: keeps start-up fast without Redis

            self._client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return self._client

    def _deliver(self, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener must not break a run
                log.exception("event listener failed")

    def publish(self, event: dict[str, Any]) -> bool:
        self._deliver(event)
        if not self.url or time.monotonic() < self._down_until:
            return False
        try:
            with self._lock:
                self._get().publish(CHANNEL, json.dumps({**event, "origin": self._origin}, default=str))
            return True
        except Exception as exc:  # noqa: BLE001 - Redis is optional
            self._down_until = time.monotonic() + _BACKOFF_S
            log.warning("redis at %s unreachable (%s); carrying on without it", redact_url(self.url),
                        type(exc).__name__)
            return False

    def health(self) -> str:
        """``off`` (not configured), ``ok`` or ``down``."""
        if not self.url:
            return "off"
        try:
            with self._lock:
                return "ok" if self._get().ping() else "down"
        except Exception:  # noqa: BLE001
            return "down"

    def receive_remote(self) -> None:
        """Also hand listeners the events other processes publish (a thread reads Redis pub/sub).

        Without Redis nothing arrives this way and callers poll the database instead; a lost
        connection is retried every few seconds.
        """
        if not self.url or self._receiver is not None:
            return
        self._receiver = threading.Thread(target=self._receive, name="redis-events", daemon=True)
        self._receiver.start()

    def close(self) -> None:
        self._closed.set()
        if self._receiver is not None:
            self._receiver.join(timeout=3)

    def _receive(self) -> None:
        import redis

        while not self._closed.is_set():
            try:
                client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    try:
                        event = json.loads(message["data"])
                    except ValueError:
                        continue  # not one of ours
                    if isinstance(event, dict) and event.get("origin") != self._origin:
                        self._deliver(event)
                pubsub.close()
            except Exception:  # noqa: BLE001 - Redis is optional: poll on, try again later
                self._closed.wait(_RECONNECT_S)
