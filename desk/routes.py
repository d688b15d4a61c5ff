"""Every URL of the desk. Modules with their own routes add them with a `setup(app)` /
`routes(r)` of their own (desk/followups.py, desk/trainer_views.py), called by desk/app.py."""

from __future__ import annotations

from aiohttp import web

from desk.views import console, media, shopper, storefront


def setup_routes(app: web.Application) -> None:
    r = app.router
    # public pages and files
    r.add_get("/health", storefront.health)
    r.add_get("/", storefront.storefront)
    r.add_post("/shop/login", storefront.shop_login)
    r.add_get("/console", storefront.console_page)
    r.add_get(r"/{name:(widget\.js|widget\.css|console\.js|console\.css)}", storefront.static_file)
    r.add_get(r"/vendor/chartjs/chart.umd.js", storefront.vendor_chartjs)
    # the shopper
    r.add_get("/ws/shop", shopper.shopper_ws)
    r.add_post("/api/shop/upload", media.shopper_upload)
    r.add_get("/media/{conv}/{name}", media.media)
    # the agents' console
    r.add_post("/api/login", console.api_login)
    r.add_post("/api/logout", console.api_logout)
    r.add_get("/api/me", console.api_me)
    r.add_get("/api/agents", console.api_agents)
    r.add_post("/api/agents/{name}/unlock", console.api_unlock)
    r.add_get("/api/audit", console.api_audit)
    r.add_get("/api/queue", console.api_queue)
    r.add_get("/api/quick_replies", console.api_quick_replies)
    r.add_get("/api/labels", console.api_labels)
    r.add_post("/api/presence", console.api_presence)
    r.add_post("/api/guard/check", console.api_guard)
    r.add_get("/api/conversations/{id}", console.api_conversation)
    r.add_post("/api/conversations/{id}/claim", console.api_claim)
    r.add_post("/api/conversations/{id}/reply", console.api_reply)
    r.add_post("/api/conversations/{id}/note", console.api_note)
    r.add_post("/api/conversations/{id}/transfer", console.api_transfer)
    r.add_post("/api/conversations/{id}/resolve", console.api_resolve)
    r.add_post("/api/conversations/{id}/handback", console.api_handback)
    r.add_post("/api/warnings/{wid}/advance", console.api_warning_advance)
    r.add_get("/ws/console", console.console_ws)
