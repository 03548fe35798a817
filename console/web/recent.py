"""Answers shared by the requests of the same second.

``GET /api/scheduler/jobs`` reads four statements' worth of rows for the same few jobs; under a
dashboard or a load balancer polling it many times a second, one read serves every request of the
same ``MAX_AGE_S``, and a request that comes while a read is under way waits for that read rather
than starting its own. A change made through this app (run, pause, resume) clears it, so the
caller that made it sees it at once; other nodes' changes show within ``MAX_AGE_S``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

MAX_AGE_S = 1.0


class Recent:
    def __init__(self, max_age_s: float = MAX_AGE_S):
        self._max_age = max_age_s
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, read: Callable[[], Any]) -> Any:
        with self._lock:  # one read at a time: the others wait for it and take its answer
            found = self._values.get(key)
            if found is not None and time.monotonic() - found[0] < self._max_age:
                return found[1]
            value = read()
            self._values[key] = (time.monotonic(), value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
