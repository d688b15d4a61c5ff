"""What every request passes: the error middleware, the security headers, the origin
check and the agent's session (`agent_required`, `supervisor_required`)."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from aiohttp import web

from desk import auth
from desk.httputil import jsonr
from desk.keys import CONFIG, ENGINE, SESSION_COOKIE
from desk.service import DeskError
from desk.tokens import verify_token

log = logging.getLogger("xiaoer.desk")

LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def origin_allowed(request: web.Request) -> bool:
    """The Origin must be one of the configured public origins (or allowed_origins);
    the Host header is the client's to choose and proves nothing."""
    origin = (request.headers.get("Origin") or "").rstrip("/")
    if not origin:
        return False
    config = request.app[CONFIG]
    if origin in config.public_origins or origin in config.allowed_origins:
        return True
    if config.public_origins:
        return False
    try:  # nothing configured: the demo on this machine only
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK and not parts.path
    except ValueError:
        return False


async def current_agent(request: web.Request) -> Optional[Dict[str, Any]]:
    return await auth.session_agent(
        request.app[ENGINE], request.cookies.get(SESSION_COOKIE), at=request.app[CONFIG].clock()
    )


CONSOLE_ROLES = ("agent", "supervisor")  # a trainer's account is for /trainer only (desk/trainer_views.py)


def agent_required(handler, roles=CONSOLE_ROLES):
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        agent = await current_agent(request)
        if agent is None:
            return jsonr({"error": "login_required"}, 401)
        if agent["role"] not in roles:
            return jsonr({"error": "wrong_role"}, 403)
        if request.method != "GET" and not origin_allowed(request):
            # the cookie is SameSite=Strict; the origin check is the second lock against CSRF
            return jsonr({"error": "bad_origin"}, 403)
        request["agent"] = agent
        return await handler(request)

    return wrapper


def supervisor_required(handler):
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if request["agent"]["role"] != "supervisor":
            return jsonr({"error": "supervisor_only"}, 403)
        return await handler(request)

    return agent_required(wrapper)


def shopper_buyer(request: web.Request, token: Optional[str]) -> Optional[str]:
    return verify_token(request.app[CONFIG].secret, token)


@web.middleware
async def errors(request: web.Request, handler):
    """A refused request is a clean JSON 4xx; an unexpected failure a bare 500 with
    the traceback in the log only."""
    try:
        return await handler(request)
    except DeskError as e:
        return jsonr({"error": e.code}, e.status)
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return jsonr({"error": "internal"}, 500)


async def security_headers(request: web.Request, resp: web.StreamResponse) -> None:
    """on_response_prepare: every response, also raised 401/403/404s, files and websockets."""
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'self'",
    )
    if request.app[CONFIG].cookies_secure:
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
