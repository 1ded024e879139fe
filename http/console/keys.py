"""The console's application and request keys (its shared objects live on the root app)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from timetracker.http.console.sessions import Session, SessionStore
from timetracker.http.rate_limit import RateLimiter, Window

session_store_key = web.AppKey("session_store_key", SessionStore)
signin_limiter_key = web.AppKey("signin_limiter_key", RateLimiter)
signin_windows_key = web.AppKey("signin_windows_key", dict[str, Window])

# Per request: the browser's session, and the signed-in admin's users row.
session_key = web.RequestKey("session_key", Session)
console_user_key = web.RequestKey("console_user_key", dict[str, Any])
