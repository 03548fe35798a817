"""The container's health check: GET /healthz on the port the settings listen on (``http.listen``,
file or environment), exit 0 on 200, 1 otherwise. ``python -m console.cli.healthcheck``."""

from __future__ import annotations

import sys
import urllib.request

from console.settings import load_settings, parse_listen

TIMEOUT_S = 4.0


def main() -> int:
    try:
        listen = load_settings().http.listen
        if not listen:
            sys.stderr.write("healthcheck: http.listen is not set: nothing to ask\n")
            return 1
        host, port = parse_listen(listen)
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:  # noqa: S310 - our own loopback port
            return 0 if answer.status == 200 else 1
    except Exception as exc:  # noqa: BLE001 - unhealthy, for whatever reason; one line, no traceback
        sys.stderr.write(f"healthcheck: {type(exc).__name__}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
