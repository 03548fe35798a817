"""systemd's notify protocol for ``taskconsole run`` under ``Type=notify``: READY once the process
leads or stands by, STATUS with its role, WATCHDOG while its loop is alive, STOPPING when it
stops. A datagram to $NOTIFY_SOCKET, nothing more (no libsystemd needed); without the variable
every call does nothing."""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    def __init__(self, environ=os.environ):
        self.path = environ.get("NOTIFY_SOCKET") or None
        usec = environ.get("WATCHDOG_USEC", "")
        # systemd's advice: ping at half the watchdog interval.
        self.every_s = int(usec) / 2_000_000 if usec.isdigit() and int(usec) > 0 else None
        self._last = 0.0

    def send(self, *states: str) -> bool:
        if not self.path:
            return False
        address = "\0" + self.path[1:] if self.path.startswith("@") else self.path  # abstract namespace
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(address)
                sock.sendall("\n".join(states).encode())
            return True
        except OSError:
            return False  # systemd went away: nothing to tell

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def alive(self) -> None:
        """Called from the run loop: a WATCHDOG ping when one is due."""
        if self.every_s is not None and time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping: running jobs finish first")
