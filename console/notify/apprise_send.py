"""Sending one message through Apprise (issue #28): the channel's URL with its ``${VAR}`` read from
the environment and, for a personal channel, the handler's address in ``{email}``; each send
within ``delivery.send_timeout`` (Apprise's connect and read timeouts). A failure is a
``DeliveryError`` whose text quotes nothing secret: neither the URL nor what the environment held.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import quote, quote_plus

from console.settings.schema import ENV_VAR

ADDRESS = re.compile(r"\{email\}")
# Apprise's own log lines stay with Apprise: each send captures them, and the sender says what
# failed in one line of its own, with the URL's secrets out (a command's error stays one line).
logging.getLogger("apprise").propagate = False


class DeliveryError(Exception):
    """A send that did not go; the message is safe to store and show."""


def expand(url: str, address: str | None = None) -> tuple[str, list[str]]:
    """The URL to send to, and the secrets it now holds (the environment's values), for redaction."""
    secrets: list[str] = []

    def var(m: re.Match) -> str:
        value = os.environ.get(m[1])
        if value is None:
            raise DeliveryError(f"environment variable {m[1]} is not set")
        if value:
            secrets.append(value)
        return value

    expanded = ENV_VAR.sub(var, url)
    if address is not None:
        expanded = ADDRESS.sub(lambda _: quote(address, safe="@"), expanded)
    return expanded, secrets


def parses(url: str) -> bool:
    """Whether Apprise knows how to send to ``url`` (nothing is sent)."""
    import apprise

    return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None


def _redact(text: str, secrets: list[str]) -> str:
    # Each secret as written and percent-encoded both ways, as url_secrets gives a database URL's.
    forms = {f for s in secrets if s for f in (s, quote(s, safe=""), quote_plus(s))}
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, "***")
    # Apprise writes URLs it logs privatized, but a receiver's answer may quote anything: no URL at all.
    return re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", "<url>", text, flags=re.IGNORECASE)[:300]


def send(url: str, title: str, body: str, markdown: bool, timeout_s: float, secrets: list[str]) -> None:
    """Send through Apprise; DeliveryError (safe text) if it did not go."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise DeliveryError("Apprise cannot parse the channel's URL")
    plugin.socket_connect_timeout = timeout_s
    plugin.socket_read_timeout = timeout_s
    sender = apprise.Apprise(asset=apprise.AppriseAsset(app_id="taskconsole", app_desc="taskconsole"))
    sender.add(plugin)
    fmt = apprise.NotifyFormat.MARKDOWN if markdown else apprise.NotifyFormat.TEXT
    with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as logs:
        try:
            ok = sender.notify(body=body, title=title, body_format=fmt)
        except Exception as exc:  # noqa: BLE001 - whatever a plugin raises is a failed send
            raise DeliveryError(f"not sent: {type(exc).__name__}") from None
        captured = logs.getvalue().strip()
    if not ok:
        first = captured.splitlines()[0] if captured else "the receiver did not accept it"
        raise DeliveryError(_redact(first, secrets))
