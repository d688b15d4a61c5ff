"""The desk for a team (issue 13): search and history, live watching and take-over,
supervisor reports with charts and CSV. Handlers only parse and authorise; the work is
in desk/history.py, desk/takeover.py and desk/reports.py.

    GET  /api/search?q=&buyer=&order=&status=&from=&to=   conversations found (masked per role)
    GET  /api/conversations/{id}/cases                    the buyer's earlier cases
    GET  /api/resolved                                    the resolved list, newest first
    GET  /api/live?minutes=30                             conversations active now (supervisors)
    POST /api/conversations/{id}/takeover                 a supervisor takes it over
    GET  /api/reports?period=day|week&from=&to=           the figures (supervisors)
    GET  /api/reports.csv?...                             the same figures as CSV
    GET  /reports, /reports.js, /reports.css              the charts page
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from desk import db, history, presence, reports
from desk.takeover import take_over
from desk.web import CONFIG, DESK, ENGINE, STATIC, agent_required, jsonr, supervisor_required

DEFAULT_DAYS = 14
MAX_DAYS = 366


@agent_required
async def api_search(request: web.Request) -> web.Response:
    try:
        query = history.parse_query(request.query)
    except history.BadQuery as e:
        return jsonr({"error": "bad_query", "field": str(e)}, 400)
    if not any((query.text, query.buyer, query.order, query.status, query.day_from, query.day_to)):
        return jsonr({"error": "bad_query", "field": "q"}, 400)
    desk = request.app[DESK]
    found = await history.search(request.app[ENGINE], query, request["agent"], tz=desk.store.timezone)
    return jsonr({"results": found})


@agent_required
async def api_cases(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    conv = await desk.conversation(request.match_info["id"])
    if conv is None:
        return jsonr({"error": "not_found"}, 404)
    return jsonr(
        {
            "buyer_id": conv["buyer_id"],
            "cases": await history.cases(request.app[ENGINE], conv["buyer_id"], request["agent"]),
        }
    )


@agent_required
async def api_resolved(request: web.Request) -> web.Response:
    return jsonr({"results": await history.resolved(request.app[ENGINE], request["agent"])})


@supervisor_required
async def api_live(request: web.Request) -> web.Response:
    raw = request.query.get("minutes", "30")
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= 24 * 60):
        return jsonr({"error": "bad_query", "field": "minutes"}, 400)
    desk = request.app[DESK]
    return jsonr(
        {"results": await history.live(request.app[ENGINE], request["agent"], now=desk.clock(), minutes=int(raw))}
    )


@supervisor_required
async def api_takeover(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]

    async def agent_name(agent_id: int) -> Optional[str]:
        async with engine.connect() as conn:
            return (await conn.execute(select(db.agents.c.name).where(db.agents.c.id == agent_id))).scalar()

    conv = await take_over(request.app[DESK], request.match_info["id"], request["agent"], agent_name)
    return jsonr({"ok": True, "status": conv["status"]})


def _range(request: web.Request) -> reports.Range:
    desk = request.app[DESK]
    period = request.query.get("period", "day")
    if period not in reports.PERIODS:
        raise ValueError("period")
    today = desk.clock().astimezone(ZoneInfo(desk.store.timezone)).date()

    def day(key: str, default: date) -> date:
        v = request.query.get(key, "")
        if not v:
            return default
        try:
            d = date.fromisoformat(v) if len(v) == 10 else date.fromisoformat("bad")
        except ValueError:
            raise ValueError(key) from None
        if not history.EARLIEST <= d <= history.LATEST:
            raise ValueError(key)
        return d

    last = day("to", today)
    first = day("from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last or (last - first).days >= MAX_DAYS:
        raise ValueError("to")
    return reports.Range(period, first, last, desk.store.timezone)


async def _report(request: web.Request):
    try:
        rng = _range(request)
    except ValueError as e:
        return None, jsonr({"error": "bad_query", "field": str(e)}, 400)
    ladder = list(request.app[CONFIG].escalation.get("ladder") or [])
    return await reports.report(request.app[ENGINE], rng, ladder), None


@supervisor_required
async def api_reports(request: web.Request) -> web.Response:
    rep, error = await _report(request)
    # not `error or ...`: a Response is also a (here empty) mapping, hence falsy
    return error if error is not None else jsonr(rep)


@supervisor_required
async def api_reports_csv(request: web.Request) -> web.Response:
    rep, error = await _report(request)
    if error is not None:
        return error
    words = dict(request.app[CONFIG].labels.get("report") or {})
    body = reports.to_csv(rep, words)
    name = f"xiaoer-report-{rep['period']}-{rep['from']}-{rep['to']}.csv"
    return web.Response(
        text=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def reports_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


async def presence_ctx(app: web.Application):
    """A desk alone (no hub shared with other desk processes) starts with everyone offline:
    a status left 在线 by a crash or a browser closed while the desk was down would
    otherwise get conversations assigned to nobody. With several desks the status is the
    team's, shared in the database, and stays."""
    config = app[CONFIG]
    if not config.hub_url:
        await presence.reset(app[ENGINE], at=config.clock())
    yield


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(presence_ctx)
    r = app.router
    r.add_get("/api/search", api_search)
    r.add_get("/api/conversations/{id}/cases", api_cases)
    r.add_get("/api/live", api_live)
    r.add_get("/api/resolved", api_resolved)
    r.add_post("/api/conversations/{id}/takeover", api_takeover)
    r.add_get("/api/reports", api_reports)
    r.add_get("/api/reports.csv", api_reports_csv)
    r.add_get(
        "/reports", lambda request: web.FileResponse(STATIC / "reports.html", headers={"Cache-Control": "no-cache"})
    )
    r.add_get(r"/{name:(reports\.js|reports\.css)}", reports_file)
