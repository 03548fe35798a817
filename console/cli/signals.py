"""SIGTERM and Ctrl-C for the headless scheduler: both ask it to stop gracefully."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("console.cli")


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the scheduler finishes what runs, then exits)."""
    def _handler(signum, _frame):
        log.info("received %s, stopping gracefully", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
