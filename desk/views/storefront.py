"""The public pages: the demo storefront (desk/templates/storefront.html), the demo
buyer login, the widget's and console's static files, and /health."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, List

import jinja2
from aiohttp import web

from desk.httputil import jsonr
from desk.keys import CONFIG, DESK, SHOPPER_COOKIE, STATIC, TEMPLATES
from desk.tokens import issue_token, verify_token

log = logging.getLogger("xiaoer.desk")
MAX_DEMO_BUYERS = 50  # the demo login's list; a real shop's own login issues the token


@functools.lru_cache(maxsize=1)
def _page() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template("storefront.html")


async def health(request: web.Request) -> web.Response:
    return jsonr({"ok": True})


async def storefront(request: web.Request) -> web.Response:
    config, desk = request.app[CONFIG], request.app[DESK]
    token = request.cookies.get(SHOPPER_COOKIE)
    buyer_id = verify_token(config.secret, token)
    products: List[Any] = []
    buyers: List[str] = []
    if desk.shop is not None:
        try:
            products = await asyncio.wait_for(desk.shop.find_products(limit=40), 3)
            if config.demo_login and hasattr(desk.shop, "buyer_ids"):  # the SQL shop lists its buyers
                buyers = list(await asyncio.wait_for(desk.shop.buyer_ids(), 3))[:MAX_DEMO_BUYERS]
        except Exception as e:  # the storefront still works without the catalogue
            log.warning("catalogue unavailable: %s", e)
    page = _page().render(
        store_name=desk.store.name,
        agent_hours=desk.store.agent_hours_text(),
        products=products,
        buyers=buyers,
        buyer_id=buyer_id,
        token=token or "",
        demo_login=config.demo_login,
    )
    return web.Response(text=page, content_type="text/html")


async def shop_login(request: web.Request) -> web.Response:
    """Demo only: be logged in as a demo buyer. A real shop's own login issues the token."""
    config = request.app[CONFIG]
    if not config.demo_login:
        raise web.HTTPNotFound()
    try:
        form = await request.post()
    except (ValueError, AssertionError, UnicodeDecodeError, LookupError):
        raise web.HTTPBadRequest(text="bad form") from None
    buyer_id = str(form.get("buyer_id", ""))
    if not (buyer_id.startswith(("buyer_", "tb_")) and 4 < len(buyer_id) <= 32 and buyer_id.isascii()):
        raise web.HTTPBadRequest(text="unknown buyer")
    resp = web.HTTPFound("/")
    resp.set_cookie(
        SHOPPER_COOKIE,
        issue_token(config.secret, buyer_id, days=config.token_days),
        httponly=True,
        samesite="Lax",
        max_age=config.token_days * 86400,
        secure=config.cookies_secure,
    )
    raise resp


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def vendor_chartjs(request: web.Request) -> web.StreamResponse:
    # Vendored from npm (desk/static/vendor/README.md); versioned by its path, so it may be cached.
    return web.FileResponse(STATIC / "vendor" / "chartjs" / "chart.umd.js", headers={"Cache-Control": "max-age=86400"})


async def console_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})
