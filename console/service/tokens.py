"""Tokens of the HTTP API: made for an admin user, shown once, kept as hashes, revocable.

A token is 32 random bytes (URL-safe text with a ``tc_`` prefix so it is recognisable in a leak
scan). Only its SHA-256 is stored: a random secret of that length needs no slow hash, and the
lookup stays one indexed probe. The hash found is compared again with ``hmac.compare_digest``,
so no answer depends on how much of a guess was right. A token is good while it is not revoked
and while its user is still an admin of the task system (``users.is_admin``, read at every check,
so removing the flag in the task system takes effect at once).

A token belongs to the user it was made for, not to an id: ``api_tokens.user_name`` keeps the
user's name (migration 0013), and a check needs a users row with that id *and* that name. A user
deleted while their token lives, whose id the task system later gives to someone else, does not
make the token good again. A token made before 0013 (no name kept) is bound at its next good use
to the name its user has then. Where the mapping has no users name column (or a user has no
name), a token stays bound to the id alone, as before 0013.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, null, select, update

from console.db.engine import read_only
from console.db.models import ApiToken
from console.db.task_tables import is_set, tables_for
from console.scheduler.ledger import os_user, utcnow
from console.settings import Settings

PREFIX = "tc_"
NAME_MAX = 100
# A token header longer than this is not one of ours: refused before hashing.
TOKEN_MAX = 200
# api_tokens.user_name's width: a longer name is kept (and compared) cut to it.
USER_NAME_MAX = 255


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
    user_name: str | None = None  # the name it is bound to; None: not bound yet (see above)


@dataclass(frozen=True)
class UserRow:
    """A user as the token checks see them; ``name`` None where there is none (or no column)."""

    id: int
    name: str | None
    admin: bool


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
                     created_by=row.created_by, revoked_at=row.revoked_at, user_name=row.user_name)


def _bound_name(name: str | None) -> str | None:
    return None if name is None else str(name)[:USER_NAME_MAX]


class Tokens:
    def __init__(self, engine: Engine, settings: Settings):
        self._engine = engine
        self._settings = settings

    def _users(self):
        users = tables_for(self._engine, self._settings).users
        # The mapping may have no name column: then tokens are bound to the id alone.
        name = users.c.name if "name" in users.c else null()
        return users, name

    def user(self, user_id: int) -> UserRow | None:
        """The user ``user_id`` in the task system's users table; None if there is none."""
        users, name = self._users()
        with read_only(self._engine).connect() as conn:
            row = conn.execute(select(name.label("name"), is_set(users.c.is_admin).label("admin"))
                               .where(users.c.id == user_id)).first()
        return UserRow(user_id, row.name, bool(row.admin)) if row is not None else None

    def create(self, user_id: int, name: str | None = None, *, actor: str | None = None) -> tuple[TokenInfo, str]:
        """A new token for admin ``user_id``: its record and the token itself (shown once)."""
        user = self.user(user_id)
        if user is None:
            raise TokenRefused(f"user {user_id} is not in the task system's users table")
        if not user.admin:
            raise TokenRefused(f"user {user_id} is not an admin (users.is_admin): only admins may hold API tokens")
        name = (name if name is not None else f"user {user_id}").strip()
        if not name or len(name) > NAME_MAX or not name.isprintable():
            raise TokenRefused(f"a token name is 1 to {NAME_MAX} printable characters")
        token = PREFIX + secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            token_id = conn.execute(insert(ApiToken).values(
                name=name, user_id=user_id, user_name=_bound_name(user.name), token_hash=_hash(token),
                created_at=utcnow(), created_by=actor or os_user()).returning(ApiToken.id)).scalar_one()
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
        users, name = self._users()
        # The token, its user's name and admin flag in one statement: it runs at every request.
        with read_only(self._engine).connect() as conn:
            row = conn.execute(
                select(ApiToken.id, ApiToken.name, ApiToken.user_id, ApiToken.user_name, ApiToken.token_hash,
                       ApiToken.revoked_at, users.c.id.label("user_found"), name.label("current_name"),
                       is_set(users.c.is_admin).label("admin"))
                .select_from(ApiToken.__table__.outerjoin(users, users.c.id == ApiToken.user_id))
                .where(ApiToken.token_hash == digest)
            ).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise Unauthorized("unknown token")
        if row.revoked_at is not None:
            raise Unauthorized("token revoked")
        current = _bound_name(row.current_name)
        if row.user_found is None or (row.user_name is not None and current != row.user_name):
            # Its user is gone; an id given to someone since is not the user it was made for.
            raise Unauthorized("the token's user is gone from the users table")
        if not row.admin:
            raise Forbidden(f"user {row.user_id} is no longer an admin")
        if row.user_name is None and current is not None:
            self._bind(row.id, current)
        return Caller(user_id=row.user_id, token_id=row.id, token_name=row.name)

    def _bind(self, token_id: int, user_name: str) -> None:
        """A token made before names were kept, bound at this good use to its user's name now."""
        with self._engine.begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.user_name.is_(None))
                         .values(user_name=user_name))

    def require_admin(self, user_id: int) -> None:
        """For a caller the host application signed in: still an admin, or Forbidden."""
        user = self.user(user_id)
        if user is None or not user.admin:
            raise Forbidden(f"user {user_id} is {'no longer an admin' if user else 'gone from the users table'}")
