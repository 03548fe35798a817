"""Serving an app on waitress (the Pylons project's production WSGI server) in a thread of this
process.

Why waitress: a slow client must not cost a worker thread. waitress reads every request, headers
and body, in one asynchronous loop and hands a worker only a complete request, so a client that
trickles its headers or its body holds a socket (up to ``CONNECTIONS`` of them), never one of the
``THREADS`` that run the app. cheroot, used before, gives a connection to a worker as soon as its
first bytes arrive, and the worker then reads the rest with blocking reads whose timeout is per
read: eight clients sending a header line every 3 s held all eight threads, and /healthz, the
container's health check, went unanswered for as long as they did (issue #24).

``start()`` binds at once, so a port in use is said before anything else starts; ``stop()`` stops
taking connections and lets the requests in flight finish (up to ``SHUTDOWN_S``), which is what
``taskconsole run`` and ``serve`` do on SIGTERM. waitress's own messages go to the log (the
``waitress`` logger), never to the terminal (the console draws there).
"""

from __future__ import annotations

import logging
import threading
import time

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from console.settings import parse_listen

log = logging.getLogger("console.web")
THREADS = 8
SHUTDOWN_S = 5
MAX_HEADERS = 64 * 1024
MAX_BODY = 64 * 1024
# Connections held at once, slow ones included; past it new ones wait in the listen backlog. A
# socket is one file descriptor and a few KB, so this is far above THREADS and far below the
# usual descriptor limits.
CONNECTIONS = 500
# A connection silent this long is closed (checked every CLEANUP_S).
IDLE_S = 30
CLEANUP_S = 5
# How long one turn of the serving loop waits for sockets before it looks at stop() again.
LOOP_S = 0.2
FLUSH_S = 1.0

# "Task queue depth is N" is logged at WARNING whenever every thread is busy for a moment, which a
# poll of /metrics under load makes routine: it says nothing an operator acts on.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class ListenError(Exception):
    """The address cannot be listened on (in use, not this host's, no permission)."""


class ApiServer:
    def __init__(self, app, listen: str, *, threads: int = THREADS):
        self.listen = listen
        self._host, self._port = parse_listen(listen)
        self._app = app
        self._threads = threads
        self._map: dict = {}  # waitress's socket map: the listening sockets and every connection
        self._server = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._address: str | None = None

    def _listeners(self) -> list[BaseWSGIServer]:
        return [d for d in list(self._map.values()) if isinstance(d, BaseWSGIServer)]

    @property
    def address(self) -> str:
        """host:port bound (the first address, where a host name has several)."""
        if self._address is None:
            host, port = self._listeners()[0].socket.getsockname()[:2]
            self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return self._address

    def start(self) -> str:
        try:
            self._server = create_server(
                self._app, map=self._map, host=self._host, port=self._port, threads=self._threads,
                ident="taskconsole", connection_limit=CONNECTIONS, channel_timeout=IDLE_S,
                cleanup_interval=CLEANUP_S, max_request_header_size=MAX_HEADERS,
                max_request_body_size=MAX_BODY,
                # poll(2), not select(2): select cannot watch a descriptor numbered past 1023.
                asyncore_use_poll=True)
        except OSError as exc:
            raise ListenError(f"cannot listen on {self.listen}: {exc.strerror or exc}") from None
        except ValueError:  # waitress: the host name does not resolve
            raise ListenError(f"cannot listen on {self.listen}: no such host") from None
        self._thread = threading.Thread(target=self._serve, name="http-api", daemon=True)
        self._thread.start()
        return self.address

    def _serve(self) -> None:
        # waitress's own run() loops until its socket map is empty; this loop also sees stop().
        while not self._stopping.is_set():
            wasyncore.loop(timeout=LOOP_S, use_poll=True, map=self._map, count=1)
        self._drain()

    def _drain(self) -> None:
        """On the loop's own thread: no new connections; the requests being served finish (up to
        SHUTDOWN_S) and their answers are sent (up to FLUSH_S); then every connection is closed."""
        for listener in self._listeners():
            # The listening socket only: the server's own close() also closes the trigger that
            # the threads still serving pull when they finish (close_all closes it at the end).
            wasyncore.dispatcher.close(listener)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=SHUTDOWN_S)
        deadline = time.monotonic() + FLUSH_S
        while any(d.writable() for d in list(self._map.values())) and time.monotonic() < deadline:
            wasyncore.loop(timeout=0.05, use_poll=True, map=self._map, count=1)
        wasyncore.close_all(self._map)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(SHUTDOWN_S + FLUSH_S + 1)
