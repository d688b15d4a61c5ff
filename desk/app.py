"""The desk's aiohttp application: `create_app(config)`.

One cleanup context per resource (aiohttp runs them in this order and closes them in
the reverse one): the live hub, the database, the HTTP session to Rasa, the shop
backend, the Desk service over them, the escalation timer. Start-up steps that are
not resources (the guard's warm-up, the demo accounts) are on_startup handlers.
Routes: desk/routes.py; handlers: desk/views/.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from desk import demo
from desk.config import DeskConfig
from desk.db import open_engine
from desk.hub import Hub
from desk.keys import CONFIG, DESK, ENGINE, HUB, RASA_SESSION, SHOP, UPLOAD_LIMITS
from desk.middlewares import errors, security_headers
from desk.rasa import RasaClient
from desk.routes import setup_routes
from desk.service import Desk
from desk.views.console import warm_guard

log = logging.getLogger("xiaoer.desk")
WARM_GUARD_DELAY = 30.0  # seconds after start-up (issue 12)


async def hub_ctx(app: web.Application):
    # the live updates shared with the other desk processes (Redis), when there are any
    await app[HUB].start()
    yield
    await app[HUB].close_all()


async def database_ctx(app: web.Application):
    app[ENGINE] = await open_engine(app[CONFIG].db_url)
    yield
    await app[ENGINE].dispose()


async def rasa_session_ctx(app: web.Application):
    async with aiohttp.ClientSession() as session:
        app[RASA_SESSION] = session
        yield


async def shop_ctx(app: web.Application):
    config = app[CONFIG]
    shop, owned = config.shop, False
    if shop is None and config.shop_enabled:
        try:
            from shop.config import load_backend

            shop = load_backend()
            await shop.start()
            owned = True
        except Exception as e:  # the desk runs without buyer details rather than not at all
            log.warning("shop backend unavailable: %s", e)
            shop = None
    app[SHOP] = shop
    yield
    if owned:
        await shop.close()


async def desk_ctx(app: web.Application):
    config = app[CONFIG]
    rasa = RasaClient(app[RASA_SESSION], config.rasa_url, config.rasa_token, config.rasa_timeout, config.channel_secret)
    app[DESK] = Desk(config, app[ENGINE], rasa, app[HUB], app[SHOP])
    yield


async def escalation_ctx(app: web.Application):
    config = app[CONFIG]
    if not config.start_escalation_task:
        yield
        return
    task = asyncio.ensure_future(_escalation_loop(app[DESK], float(config.escalation.get("check_seconds", 30))))
    yield
    task.cancel()


async def _escalation_loop(desk: Desk, every: float) -> None:
    while True:
        try:
            await desk.tick()
        except Exception:
            log.exception("escalation tick failed")
        await asyncio.sleep(every)


async def warm_up_guard(app: web.Application) -> None:
    # the guard's first use loads spaCy and compiles the rule book (seconds, holding the GIL):
    # started now, off the loop, but not waited for: only agents' drafts need it, and a
    # restarted desk serves its shoppers again at once instead of after the warm-up
    # (10-30 s on a busy 2-core machine; issue 12)
    if app[CONFIG].warm_guard:
        # later, once the desk listens: its ~6 s of CPU (spaCy, jieba's words) competed with a
        # restarted desk's reconnecting shoppers (and, with two desks, with the other one taking
        # the dead one's shoppers). An agent's draft checked before then loads it, off the loop.
        loop = asyncio.get_running_loop()
        loop.call_later(WARM_GUARD_DELAY, loop.run_in_executor, None, warm_guard)


def create_app(config: DeskConfig) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=16 * 1024 * 1024)
    app[CONFIG] = config
    app[HUB] = Hub(config.hub_url)
    app[UPLOAD_LIMITS] = {}
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.extend([hub_ctx, database_ctx, rasa_session_ctx, shop_ctx, desk_ctx, escalation_ctx])
    app.on_startup.append(demo.create_demo_accounts)
    app.on_startup.append(warm_up_guard)
    setup_routes(app)
    from desk import followups  # F1-F4: scheduler (one cleanup_ctx) + console routes, desk/followups.py

    followups.setup(app)
    from desk import trainer_views  # issue 14: the bot trainer's loop (routes + one cleanup_ctx)

    trainer_views.setup(app)
    from desk import team_views  # issue 13: search, history, take-over, reports (desk/team_views.py)

    team_views.setup(app)
    from desk import widget  # issue 13: the widget's words (desk/widget.py)

    widget.setup(app)
    from desk import recovery  # issue 12: heartbeat + finishing a dead desk's turns (desk/recovery.py)

    recovery.setup(app)
    return app
