"""One HTTP POST with a deadline for the whole of it (connect, TLS handshake, request, answer's
status line and headers), for the failure webhook.

Why not urllib: it follows redirects to any host (a POST to our receiver becomes a GET wherever
a 302 points, from the scheduler's network), takes ``user:password@host`` for the host name, and
its timeout is per socket operation, so a receiver that trickles a byte within each one holds the
sender as long as it likes. Here every send and read gets what is left of the try as its timeout,
redirects are never followed (a 3xx is returned like any status, for the caller to judge) and the
user and password go in an ``Authorization`` header, never in the request line.

The environment's ``http_proxy`` / ``https_proxy`` are not used (urllib used them).
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time

from console.domain.webhook_url import WebhookTarget


class DeadlinePassed(TimeoutError):
    """The try's deadline passed before the answer's headers were read."""


class _DeadlineSocket:
    """A connected socket whose every send and read waits at most until ``deadline``
    (time.monotonic()). Only what http.client calls on its socket is here."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock = sock
        self._deadline = deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed()
        self._sock.settimeout(left)

    def sendall(self, data: bytes) -> None:
        self._arm()
        self._sock.sendall(data)  # since Python 3.5 its timeout bounds the whole call

    def recv_into(self, buffer) -> int:
        self._arm()
        return self._sock.recv_into(buffer)

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        # http.client reads the status line and headers through this file, a line and a buffer at
        # a time; each of its reads from the socket comes through recv_into above.
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket):
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._sock.recv_into(buffer)


class _Connection(http.client.HTTPConnection):
    """http.client's request writing and answer parsing over a socket held to the deadline."""

    def __init__(self, target: WebhookTarget, deadline: float, tls: ssl.SSLContext | None):
        super().__init__(target.host, target.port)
        self._deadline = deadline
        self._tls = tls

    def connect(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed()
        sock = socket.create_connection((self.host, self.port), timeout=left)
        try:
            if self._tls is not None:
                # The handshake's timeout bounds the whole handshake (CPython's do_handshake keeps
                # its own deadline), so a trickled handshake ends by the try's deadline too.
                sock.settimeout(max(self._deadline - time.monotonic(), 0.001))
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(sock, self._deadline)


def post(target: WebhookTarget, body: bytes, headers: dict[str, str], deadline_s: float,
         tls: ssl.SSLContext | None = None) -> int:
    """POST ``body`` to ``target`` and return the answer's status code, all within ``deadline_s``.
    Raises whatever went wrong: OSError (refused, reset, TimeoutError, DeadlinePassed, TLS),
    http.client.HTTPException (a malformed answer, an over-long line, more than 100 headers)."""
    deadline = time.monotonic() + deadline_s
    if target.scheme == "https" and tls is None:
        tls = ssl.create_default_context()
    connection = _Connection(target, deadline, tls if target.scheme == "https" else None)
    sent = dict(headers, Connection="close")
    if target.authorization:
        sent["Authorization"] = target.authorization
    try:
        connection.request("POST", target.target, body=body, headers=sent)
        # The status says all we need; the body is not read, so a receiver cannot hold us there.
        return connection.getresponse().status
    finally:
        connection.close()
