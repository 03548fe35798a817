"""Sending one message through Apprise (issue #28): the channel's URL with its ``${VAR}`` read from
the environment and, for a personal channel, the handler's address in ``{email}``; each send
within ``delivery.send_timeout`` (Apprise's connect and read timeouts). A failure is a
``DeliveryError`` whose text quotes nothing secret: neither the URL nor what the environment held.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

from console.notify.messages import Message
from console.settings.schema import ENV_VAR

ADDRESS = re.compile(r"\{email\}")
RESERVED = frozenset({"version", "title", "message", "attachments", "type"})  # json://'s own keys
# Apprise's own log lines stay with Apprise: each send captures them, and the sender says what
# failed in one line of its own, with the URL's secrets out (a command's error stays one line).
APPRISE_LOG = logging.getLogger("apprise")
APPRISE_LOG.propagate = False
APPRISE_LOG.setLevel(logging.WARNING)


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


class StillSending(DeliveryError):
    """A send past its deadline, its thread still going (``thread``); ``outcome`` says, once the
    thread has ended, whether it went after all (``outcome.get("ok")``)."""

    def __init__(self, message: str, thread: threading.Thread, outcome: dict[str, Any]):
        super().__init__(message)
        self.thread = thread
        self.outcome = outcome


def send(url: str, message: Message, timeout_s: float, secrets: list[str]) -> None:
    """Send through Apprise within ``2 × timeout_s`` in all (its connect and read timeouts are
    ``timeout_s`` each; a receiver that trickles its answer is cut at the whole send's deadline);
    DeliveryError (safe text) if it did not go. Redirects are not followed (they could point
    anywhere the scheduler's network reaches), unless the URL says ``redirect=yes``."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)
    if plugin is None:
        raise DeliveryError("Apprise cannot parse the channel's URL")
    plugin.socket_connect_timeout = timeout_s
    plugin.socket_read_timeout = timeout_s
    if message.fields is not None and hasattr(plugin, "payload_extras"):
        # json://'s extras: each key beside version, title, message and type, as given (not as text).
        plugin.payload_extras.update({k: v for k, v in message.fields.items() if k not in RESERVED})
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=_notify, args=(plugin, message, outcome), name="apprise-send", daemon=True)
    worker.start()
    deadline = 2 * timeout_s
    worker.join(deadline)
    if worker.is_alive():
        raise StillSending(f"no answer within {deadline:g} s", worker, outcome)
    if "error" in outcome:
        raise DeliveryError(f"not sent: {outcome['error']}")
    if not outcome.get("ok"):
        captured = outcome.get("log", "")
        first = captured.splitlines()[0] if captured else "the receiver did not accept it"
        raise DeliveryError(_redact(first, secrets))


def _notify(plugin: Any, message: Message, outcome: dict[str, Any]) -> None:
    import apprise

    sender = apprise.Apprise(asset=plugin.asset)
    sender.add(plugin)
    fmt = apprise.NotifyFormat.MARKDOWN if message.markdown else apprise.NotifyFormat.TEXT
    capture = _ThisThread()
    APPRISE_LOG.addHandler(capture)
    try:
        outcome["ok"] = sender.notify(body=message.body, title=message.title, body_format=fmt,
                                      notify_type=apprise.NotifyType(message.kind))
    except Exception as exc:  # noqa: BLE001 - whatever a plugin raises is a failed send
        outcome["error"] = type(exc).__name__
    finally:
        APPRISE_LOG.removeHandler(capture)
    outcome["log"] = "\n".join(capture.lines)


class _ThisThread(logging.Handler):
    """Apprise's warnings logged by this send's thread only: channels send at once, each on its own
    thread, and one's error must not be read as another's (Apprise's LogCapture takes them all)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


def _asset():
    import apprise

    return apprise.AppriseAsset(app_id="taskconsole", app_desc="taskconsole", http_redirects=False)
