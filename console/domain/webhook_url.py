"""The failure webhook's URL (``alerts.webhook_url``) read once, the same way by settings
validation, the sender and ``config check --show``: http or https only, a host, a port that is a
number, and ``user:password@`` taken out of the URL to be sent as Basic auth.

Error messages and displays never quote the URL: its user, password, path and query may each be
the secret (a Slack or DingTalk token sits in the path).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit

SCHEMES = {"http": 80, "https": 443}
# http.client writes the request line and Host header as ASCII and refuses spaces and controls
# there; refused at load instead, so a URL that passes validation can be requested.
_NOT_PLAIN = re.compile(r"[^\x21-\x7e]")


@dataclass(frozen=True)
class WebhookTarget:
    """Where and how to POST: ``target`` is the path and query (never the user or password)."""

    scheme: str
    host: str
    port: int
    target: str
    authorization: str | None  # "Basic ..." when the URL names a user

    @property
    def where(self) -> str:
        """What logs may name: scheme and host only."""
        return f"{self.scheme}://{_bracketed(self.host)}"


def parse_webhook_url(url: str) -> WebhookTarget:
    """The URL ready to request; a ValueError that quotes no part of it if it cannot be."""
    if not isinstance(url, str) or _NOT_PLAIN.search(url):
        raise ValueError("must be an http:// or https:// URL of ASCII characters with no spaces "
                         "(%-encode others)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        # urlsplit's own messages quote the port, which may be a password cut at an unencoded "/".
        raise ValueError("must be an http:// or https:// URL with a port from 1 to 65535 "
                         "(write @ : / ? # in a user or password as %40 %3A %2F %3F %23)") from None
    if parts.scheme not in SCHEMES:
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host, as https://host/path")
    if port == 0:
        raise ValueError("must be an http:// or https:// URL with a port from 1 to 65535")
    # Sent through Apprise's json:// (apprise_json_url), which decodes the path and keeps one value
    # a query key: refused here rather than posted somewhere else than written.
    if "%2f" in parts.path.lower():
        raise ValueError("an encoded / (%2F) in the path cannot be posted as written; write the path plainly")
    keys = [key for key, _ in parse_qsl(parts.query, keep_blank_values=True)]
    if len(keys) != len(set(keys)):
        raise ValueError("a query key given twice cannot be posted as written (only one value would go)")
    authorization = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookTarget(parts.scheme, parts.hostname, port or SCHEMES[parts.scheme], target, authorization)


def apprise_json_url(url: str) -> str:
    """The webhook as an Apprise ``json://`` (``jsons://``) URL: the same host, port, path, user and
    password; each query parameter kept as a parameter of the request (Apprise's ``-name=value``,
    so no name of the receiver's is read as an Apprise option); redirects not followed."""
    parse_webhook_url(url)  # the same checks, the same messages
    parts = urlsplit(url)
    scheme = "jsons" if parts.scheme == "https" else "json"
    netloc = parts.netloc.rsplit("@", 1)
    user = f"{netloc[0]}@" if len(netloc) == 2 else ""
    host = _bracketed(parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    params = [f"-{quote(k, safe='')}={quote(v, safe='')}" for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    # Braces %-encoded: a channel's URL reads ${VAR} and {email}; the webhook's never did.
    url = f"{scheme}://{user}{host}{parts.path or '/'}?" + "&".join([*params, "redirect=no"])
    return url.replace("{", "%7B").replace("}", "%7D")


def mask_webhook_url(url: str | None) -> str | None:
    """The URL for display: scheme, host and port; a user, password, path or query shows as ***."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<a webhook URL that cannot be read>"
    user = "***@" if "@" in parts.netloc else ""
    hidden = "/***" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{user}{_bracketed(parts.hostname or '')}{f':{port}' if port else ''}{hidden}"


def _bracketed(host: str) -> str:
    """An IPv6 address in brackets, as in a URL, so its colons are not read as a port."""
    return f"[{host}]" if ":" in host else host
