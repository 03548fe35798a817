"""Run events on Redis pub/sub, best effort: Redis only ever speeds things up, never decides.

A publish that fails is logged once and Redis is left alone for a while, so a Redis outage
costs the jobs no time and changes no result.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from console.settings import redact_url

log = logging.getLogger("console.redis")
CHANNEL = "taskconsole:events"
_BACKOFF_S = 30.0


class EventBus:
    def __init__(self, url: str | None):
        self.url = url
        self._client = None
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

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

    def publish(self, event: dict[str, Any]) -> bool:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener must not break a run
                log.exception("event listener failed")
        if not self.url or time.monotonic() < self._down_until:
            return False
        try:
            with self._lock:
                self._get().publish(CHANNEL, json.dumps(event, default=str))
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
