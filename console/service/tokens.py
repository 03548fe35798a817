"""Tokens of the HTTP API: made for an admin user, shown once, kept as hashes, revocable.

A token is 32 random bytes (URL-safe text with a ``tc_`` prefix so it is recognisable in a leak
scan). Only its SHA-256 is stored: a random secret of that length needs no slow hash, and the
lookup stays one indexed probe. The hash found is compared again with ``hmac.compare_digest``,
so no answer depends on how much of a guess was right. A token is good while it is not revoked
and while its user is still an admin of the task system (``users.is_admin``, read at every check,
so removing the flag in the task system takes effect at once).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from console.db.engine import read_only
from console.db.models import ApiToken
from console.db.task_tables import is_set, tables_for
from console.scheduler.ledger import os_user, utcnow
from console.settings import Settings

PREFIX = "tc_"
NAME_MAX = 100
# A token header longer than this is not one of ours: refused before hashing.
TOKEN_MAX = 200


class TokenRefused(Exception):
    """A token cannot be made (unknown user, not an admin, a bad name): the message says why."""


class Unauthorized(Exception):
    """No token, or not a good one (HTTP 401)."""


class Forbidden(Exception):
    """A good token whose user is no longer an admin (HTTP 403)."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    user_id: int
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


@dataclass(frozen=True)
class Caller:
    """Who an authenticated request comes from."""

    user_id: int
    token_id: int | None = None  # None: the host application authenticated it
    token_name: str | None = None

    @property
    def actor(self) -> str:
        """The name the run ledger and the audit record (``user:<id>``)."""
        return f"user:{self.user_id}"

    @property
    def via(self) -> str:
        if self.token_id is None:
            return "HTTP API, authenticated by the host application"
        return f"HTTP API, token {self.token_name!r} (id {self.token_id})"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _info(row) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, user_id=row.user_id, created_at=row.created_at,
                     created_by=row.created_by, revoked_at=row.revoked_at)


class Tokens:
    def __init__(self, engine: Engine, settings: Settings):
        self._engine = engine
        self._settings = settings

    def user(self, user_id: int) -> tuple[bool, bool]:
        """(the user exists, the user is an admin) in the task system's users table."""
        users = tables_for(self._engine, self._settings).users
        with read_only(self._engine).connect() as conn:
            row = conn.execute(select(is_set(users.c.is_admin).label("admin"))
                               .where(users.c.id == user_id)).first()
        return (row is not None, bool(row.admin) if row is not None else False)

    def create(self, user_id: int, name: str | None = None, *, actor: str | None = None) -> tuple[TokenInfo, str]:
        """A new token for admin ``user_id``: its record and the token itself (shown once)."""
        exists, admin = self.user(user_id)
        if not exists:
            raise TokenRefused(f"user {user_id} is not in the task system's users table")
        if not admin:
            raise TokenRefused(f"user {user_id} is not an admin (users.is_admin): only admins may hold API tokens")
        name = (name if name is not None else f"user {user_id}").strip()
        if not name or len(name) > NAME_MAX or not name.isprintable():
            raise TokenRefused(f"a token name is 1 to {NAME_MAX} printable characters")
        token = PREFIX + secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            token_id = conn.execute(insert(ApiToken).values(
                name=name, user_id=user_id, token_hash=_hash(token), created_at=utcnow(),
                created_by=actor or os_user()).returning(ApiToken.id)).scalar_one()
            row = conn.execute(select(ApiToken).where(ApiToken.id == token_id)).one()
        return _info(row), token

    def all(self) -> list[TokenInfo]:
        with read_only(self._engine).connect() as conn:
            return [_info(r) for r in conn.execute(select(ApiToken).order_by(ApiToken.id))]

    def revoke(self, token_id: int) -> TokenInfo | None:
        """Revoked (at once, for every node); None if there is no such token. Revoking twice keeps
        the first time."""
        with self._engine.begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                         .values(revoked_at=utcnow()))
            row = conn.execute(select(ApiToken).where(ApiToken.id == token_id)).first()
        return _info(row) if row else None

    def check(self, token: str) -> Caller:
        """The caller a presented token stands for; Unauthorized or Forbidden."""
        if not token or len(token) > TOKEN_MAX:
            raise Unauthorized("unknown token")
        digest = _hash(token)
        users = tables_for(self._engine, self._settings).users
        # The token and its user's admin flag in one statement: it runs at every request.
        with read_only(self._engine).connect() as conn:
            row = conn.execute(
                select(ApiToken.id, ApiToken.name, ApiToken.user_id, ApiToken.token_hash, ApiToken.revoked_at,
                       users.c.id.label("user_found"), is_set(users.c.is_admin).label("admin"))
                .select_from(ApiToken.__table__.outerjoin(users, users.c.id == ApiToken.user_id))
                .where(ApiToken.token_hash == digest)
            ).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise Unauthorized("unknown token")
        if row.revoked_at is not None:
            raise Unauthorized("token revoked")
        if not row.admin:
            gone = row.user_found is None
            raise Forbidden(f"user {row.user_id} is {'gone from the users table' if gone else 'no longer an admin'}")
        return Caller(user_id=row.user_id, token_id=row.id, token_name=row.name)

    def require_admin(self, user_id: int) -> None:
        """For a caller the host application signed in: still an admin, or Forbidden."""
        exists, admin = self.user(user_id)
        if not admin:
            raise Forbidden(f"user {user_id} is {'no longer an admin' if exists else 'gone from the users table'}")
