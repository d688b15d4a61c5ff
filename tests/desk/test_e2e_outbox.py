"""The widget's outbox in a real browser (Playwright driving Debian's chromium, issue 12):
a message the desk has not stored yet shows 发送中, stays through a page reload
(localStorage), is sent again on the new socket and is stored and answered once,
although the old socket had delivered it too."""

from __future__ import annotations

import asyncio
import json

import pytest

from desk import create_app
from tests.desk.test_e2e_browser import CHROMIUM, browser, page_of  # noqa: F401 (fixture)
from tests.desk.test_e2e_widget import open_widget, says
from tests.desk.test_nolost import HeldRasa, rows_of

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/ensure-chromium.sh)")


async def test_the_outbox_keeps_a_message_through_a_reload_and_sends_it_once(  # noqa: F811
    aiohttp_server, make_config, browser, tmp_path, buyers_shop
):
    rasa = HeldRasa()
    rasa_server = await aiohttp_server(rasa.app())
    config = make_config(shop=buyers_shop, rasa_url=str(rasa_server.make_url("")).rstrip("/"))
    server = await aiohttp_server(create_app(config))
    errors: list = []
    page = await page_of(browser, errors, viewport={"width": 720, "height": 760})
    await open_widget(page, str(server.make_url("")).rstrip("/"))

    rasa.hold = True  # the bot is slow with the first message: the desk reads nothing else meanwhile
    await says(page, "什么时候发货")
    await asyncio.wait_for(rasa.arrived.wait(), 10)
    await says(page, "能开发票吗")
    await page.wait_for_selector(".xw-pending .xw-sending")
    assert await page.inner_text(".xw-pending .xw-text") == "能开发票吗"
    assert await page.inner_text(".xw-pending .xw-sending") == "发送中"

    kept = json.loads(await page.evaluate("localStorage.getItem('xw-outbox')"))
    assert [m["text"] for m in kept] == ["能开发票吗"]

    # the shopper reloads: the panel opens again and sends what the desk's history lacks
    # (a test server cancels the old socket's handler, a running desk lets it finish: either way)
    rasa.hold = False
    await page.reload()
    await page.wait_for_selector(".xw-shopper")
    rasa.release.set()
    await page.wait_for_function(
        "[...document.querySelectorAll('.xw-bot')].some(e => e.textContent.includes('收到:能开发票吗'))"
    )
    await asyncio.sleep(0.5)  # nothing doubled arrives late
    assert await page.locator(".xw-pending").count() == 0
    assert await page.evaluate("localStorage.getItem('xw-outbox')") == "[]"
    bots = await page.eval_on_selector_all(".xw-bot .xw-text", "es => es.map(e => e.textContent)")
    assert bots == ["收到:什么时候发货", "收到:能开发票吗"]
    texts = await page.eval_on_selector_all(".xw-shopper .xw-text", "es => es.map(e => e.textContent)")
    assert texts == ["什么时候发货", "能开发票吗"]
    said = [(r[1], r[2]) for r in rows_of(tmp_path / "desk.db") if r[1] in ("shopper", "bot")]
    assert said == [
        ("shopper", "什么时候发货"),
        ("bot", "收到:什么时候发货"),
        ("shopper", "能开发票吗"),
        ("bot", "收到:能开发票吗"),
    ]
    assert errors == []
