"""The desk application's typed keys (`app[DESK]`), cookie names and static folder, shared by
the views, the middlewares and the modules that add routes (desk/followups.py, trainer_views.py)."""

from __future__ import annotations

from typing import Any, Dict

import aiohttp
from aiohttp import web

from desk.config import HERE, DeskConfig
from desk.hub import Hub
from desk.service import Desk

CONFIG = web.AppKey("config", DeskConfig)
DESK = web.AppKey("desk", Desk)
HUB = web.AppKey("hub", Hub)
ENGINE = web.AppKey("engine", object)  # desk.db.Database
RASA_SESSION = web.AppKey("rasa_session", aiohttp.ClientSession)
SHOP = web.AppKey("shop", object)  # a shop.backend.ShopBackend, or None
UPLOAD_LIMITS = web.AppKey("upload_limits", Dict[str, Any])  # buyer id -> RateLimit
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
SESSION_COOKIE = "xiaoer_agent"
SHOPPER_COOKIE = "xiaoer_shopper"
