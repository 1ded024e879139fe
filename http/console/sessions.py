"""Console sessions, kept server-side in Redis so that every worker process shares them.

The browser holds only a random id (256 bits) in an HttpOnly, SameSite=Strict cookie; Redis
holds, under the SHA-256 of that id, who signed in, when, when they were last seen, and
the session's CSRF token. A key's Redis TTL is the idle timeout, renewed on every request;
the absolute expiry is checked against the stored sign-in time. Signing in always starts a
new session (a new id), and signing out deletes the key: the old cookie is then worthless.

Before sign-in, the login form has a session too (no user yet): it carries the CSRF token
of the form, so that even the sign-in POST is protected against cross-site forgery.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

COOKIE_NAME = "tt_console"
COOKIE_PATH = "/admin"
PRE_SIGNIN_SECONDS = 15 * 60  # how long a login form may stay open


@dataclass(frozen=True)
class Session:
    """One browser's session: anonymous (the login form) or of a signed-in user."""

    id: str
    csrf_token: str
    user_id: int | None
    created_at: float
    last_seen: float
    flash: str | None = None
    username: str = ""  # as at sign-in: what the console trusts while a restore runs

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class SessionStore:
    """Creates, finds, renews and ends sessions in Redis."""

    def __init__(self, redis: Redis, prefix: str, idle_seconds: int, max_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}console:session:{_digest(session_id)}"

    async def start(self, user_id: int | None, username: str = "") -> Session:
        """A new session with a new id and CSRF token."""
        now = time.time()
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), user_id, now, now, None, username
        )
        ttl = self.idle_seconds if user_id is not None else PRE_SIGNIN_SECONDS
        fields: dict[Any, Any] = {
            "csrf_token": session.csrf_token,
            "user_id": "" if user_id is None else str(user_id),
            "created_at": repr(now),
            "last_seen": repr(now),
            "username": username,
        }
        key = self._key(session.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, ttl)
            await pipe.execute()
        return session

    async def find(self, session_id: str | None, activity: bool = True) -> Session | None:
        """The live session with this id; None if unknown, idle too long or too old.

        A request by the person (`activity`) renews it and takes its one-time message; one a
        page makes by itself (a live refresh) does neither, so an open dashboard does not
        keep an unattended session alive.
        """
        if not session_id or len(session_id) > 128:
            return None
        key = self._key(session_id)
        raw = await self.redis.hgetall(key)
        if not raw:
            return None
        values = {_text(k): _text(v) for k, v in raw.items()}
        now = time.time()
        user_id = int(values["user_id"]) if values.get("user_id") else None
        created_at = float(values["created_at"])
        last_seen = float(values["last_seen"])
        idle = self.idle_seconds if user_id is not None else PRE_SIGNIN_SECONDS
        # Redis expires idle keys by itself; the checks here hold between its expiry passes.
        if now - last_seen > idle or (user_id is not None and now - created_at > self.max_seconds):
            await self.redis.delete(key)
            return None
        if not activity:
            return Session(
                session_id,
                values["csrf_token"],
                user_id,
                created_at,
                last_seen,
                None,
                values.get("username", ""),
            )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "last_seen", repr(now))
            pipe.hdel(key, "flash")
            pipe.expire(key, idle)
            await pipe.execute()
        return Session(
            session_id,
            values["csrf_token"],
            user_id,
            created_at,
            now,
            values.get("flash") or None,
            values.get("username", ""),
        )

    async def flash(self, session: Session, message: str) -> None:
        """A message shown once, on the next page this session loads."""
        await self.redis.hset(self._key(session.id), "flash", message)

    async def end(self, session_id: str) -> None:
        """Forget the session: its cookie no longer signs anyone in."""
        await self.redis.delete(self._key(session_id))
