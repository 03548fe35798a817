"""Database URLs without their secrets: found as SQLAlchemy reads the URL (``make_url``), never by
searching the text, so every form it accepts is covered (``user:password@``, ``?password=``,
percent-encoded). Used by settings validation, logs, errors and screens."""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL, make_url

from console.domain.text import printable

# Query parameters that carry a secret (libpq's password and sslpassword, and their kin).
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth", re.IGNORECASE)
UNPARSABLE_URL = ("is not a URL SQLAlchemy can read (scheme://user:password@host:port/database; "
                  "write @ : / ? # in a password as %40 %3A %2F %3F %23)")


def parse_url(url: str) -> URL:
    """The URL as SQLAlchemy reads it; a ValueError that quotes no part of it (no password) if it
    cannot be read."""
    try:
        return make_url(url)
    except Exception:  # noqa: BLE001 - ArgumentError, or ValueError for a port that is not a number
        raise ValueError(UNPARSABLE_URL) from None


def url_secrets(url: str | URL | None) -> list[str]:
    """Every secret in ``url`` as SQLAlchemy reads it: the password and secret query parameters,
    decoded and as written in the text, longest first (so a part is never replaced first)."""
    if not url:
        return []
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:  # noqa: BLE001 - an unreadable URL is refused when settings load
        return [str(url)]
    found = [str(parsed.password)] if parsed.password else []
    for key, value in parsed.query.items():
        if _SECRET_KEY.search(key):
            found += [value] if isinstance(value, str) else list(value)
    found += [quote(s, safe="") for s in found] + [quote_plus(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(url: str | URL | None) -> str:
    """The URL with its password and secret parameters replaced by ``***``, and no control or
    bidirectional characters, for logs, errors and screens."""
    if not url:
        return ""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:  # noqa: BLE001 - nothing of it is shown: any part may be the password
        return "<a database URL that cannot be read>"
    query = {k: ("***" if _SECRET_KEY.search(k) else v) for k, v in parsed.query.items()}
    text = parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    for secret in url_secrets(parsed):
        text = text.replace(secret, "***")
    return printable(text)
