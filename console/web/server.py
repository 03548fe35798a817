"""Serving an app on cheroot (CherryPy's production WSGI server) in a thread of this process.

``start()`` binds at once, so a port in use is said before anything else starts; ``stop()`` stops
taking connections and lets the requests in flight finish (up to ``SHUTDOWN_S``), which is what
``taskconsole run`` and ``serve`` do on SIGTERM. cheroot's own messages go to the log, never to
the terminal (the console draws there).
"""

from __future__ import annotations

import logging
import threading

from cheroot import wsgi

from console.settings import parse_listen

log = logging.getLogger("console.web")
THREADS = 8
SHUTDOWN_S = 5
MAX_HEADERS = 64 * 1024
MAX_BODY = 64 * 1024


class ListenError(Exception):
    """The address cannot be listened on (in use, not this host's, no permission)."""


class ApiServer:
    def __init__(self, app, listen: str, *, threads: int = THREADS):
        self.listen = listen
        host, port = parse_listen(listen)
        self._server = wsgi.Server((host, port), app, numthreads=threads, shutdown_timeout=SHUTDOWN_S,
                                   server_name="taskconsole")
        self._server.error_log = self._error_log
        # No endpoint takes a body, and no good request has headers this large: refused (413/431)
        # before any of it is held in memory.
        self._server.max_request_header_size = MAX_HEADERS
        self._server.max_request_body_size = MAX_BODY
        self._thread: threading.Thread | None = None

    @staticmethod
    def _error_log(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        log.log(level if level >= logging.WARNING else logging.DEBUG, "http server: %s", msg)

    @property
    def address(self) -> str:
        """host:port bound."""
        host, port = self._server.bind_addr[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> str:
        try:
            self._server.prepare()
        except OSError as exc:
            raise ListenError(f"cannot listen on {self.listen}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._server.serve, name="http-api", daemon=True)
        self._thread.start()
        return self.address

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(SHUTDOWN_S + 1)
