"""The desk's web layer, by concern since issue #10 (as aio-libs/aiohttp-demos lays it out):

- desk/app.py          create_app(config), one cleanup_ctx per resource
- desk/routes.py       every add_get / add_post
- desk/views/          storefront.py, shopper.py (the shopper's socket), media.py, console.py
- desk/middlewares.py  errors, security headers, origin check, agent_required
- desk/keys.py         the app keys; desk/httputil.py JSON helpers; desk/queries.py read-only SQL
- desk/demo.py         the demo accounts of a fresh desk

This module keeps the names other modules import from it (desk/followups.py,
desk/trainer_views.py, the tests)."""

from desk.app import create_app
from desk.httputil import dumps, json_object, jsonr, parse_json
from desk.keys import (
    CONFIG,
    DESK,
    ENGINE,
    HUB,
    RASA_SESSION,
    SESSION_COOKIE,
    SHOP,
    SHOPPER_COOKIE,
    STATIC,
    UPLOAD_LIMITS,
)
from desk.middlewares import agent_required, current_agent, origin_allowed, supervisor_required
from desk.views.console import guard_check

__all__ = [
    "CONFIG",
    "DESK",
    "ENGINE",
    "HUB",
    "RASA_SESSION",
    "SESSION_COOKIE",
    "SHOP",
    "SHOPPER_COOKIE",
    "STATIC",
    "UPLOAD_LIMITS",
    "agent_required",
    "create_app",
    "current_agent",
    "dumps",
    "guard_check",
    "json_object",
    "jsonr",
    "origin_allowed",
    "parse_json",
    "supervisor_required",
]
