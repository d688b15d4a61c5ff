"""A real browser: a shopper complains in the widget, an agent logs in, claims
and replies; the reply appears in the widget; a reload keeps the history;
resolving shows the satisfaction question. Fake Rasa, so it runs in seconds."""
from __future__ import annotations

import json

import pytest

from desk import create_app
from tests.desk.cdp import Browser, find_chromium
from tests.desk.conftest import PASSWORD

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium and scripts/ensure-chromium.sh could not install it (needs root/sudo and Debian's apt)")

XSS = '<img src=x onerror="window.__pwned=1">我要投诉'


@pytest.fixture
async def browser():
    b = Browser(CHROMIUM)
    await b.start()
    yield b
    await b.close()


def js(value) -> str:
    return json.dumps(value, ensure_ascii=False)


async def test_shopper_agent_round_trip_in_a_real_browser(aiohttp_server, make_config, browser, fake_rasa):
    server = await aiohttp_server(create_app(make_config()))
    base = str(server.make_url("")).rstrip("/")
    shop = await browser.new_page()

    # the shopper logs in as a demo buyer and opens the widget
    await shop.goto(base + "/")
    await shop.eval("document.querySelector('select[name=buyer_id]').value='buyer_004';"
                    "document.querySelector('form.login').submit()")
    await shop.wait("!!document.getElementById('xw-launcher')", what="widget")
    await shop.eval("document.getElementById('xw-launcher').click()")
    await shop.wait("document.querySelector('.xw-status').textContent === ''", what="widget connected")

    async def shopper_says(text):
        await shop.eval(f"document.getElementById('xw-input').value={js(text)};"
                        "document.getElementById('xw-send').click()")

    await shopper_says("你好")
    await shop.wait("[...document.querySelectorAll('.xw-bot')].some(e => e.textContent.includes('收到:你好'))",
                    what="bot reply")
    # a quick-reply button sends its payload as text
    await shop.eval("document.querySelector('.xw-button').click()")
    await shop.wait("[...document.querySelectorAll('.xw-shopper')].some(e => e.textContent === '我的订单到哪了')",
                    what="button payload sent")
    await shopper_says(XSS)
    await shop.wait("[...document.querySelectorAll('.xw-bot')].some(e => e.textContent.includes('2小时内'))",
                    what="complaint acknowledged")
    assert await shop.eval("document.body.innerText.includes('handoff')") is False
    assert await shop.eval("document.getElementById('xw-human').classList.contains('xw-hidden')") is True

    # the agent logs in, sees the queue, claims
    agent = await browser.new_page()
    await agent.goto(base + "/console")
    await agent.wait("!document.getElementById('login').classList.contains('hidden')", what="login form")
    await agent.eval(f"document.getElementById('login-name').value='agent8';"
                     f"document.getElementById('login-password').value={js(PASSWORD)};"
                     "document.getElementById('login-submit').click()")
    await agent.wait("document.querySelectorAll('#queue li').length === 1", what="queue item")
    assert "投诉" in await agent.eval("document.querySelector('#queue li').textContent")
    await agent.wait("document.querySelector('#queue .countdown').textContent.includes('剩余')", what="countdown")
    await agent.eval("document.querySelector('#queue li').click()")
    await agent.wait("!document.getElementById('claim').disabled", what="claim button")
    # the shopper's HTML is shown as text in the console, not run
    await agent.wait(f"[...document.querySelectorAll('#transcript .m.shopper')].some(e => e.textContent.includes({js(XSS)}))",
                     what="transcript")
    assert await agent.eval("document.querySelectorAll('#transcript img[src=\"x\"]').length") == 0
    await agent.eval("document.getElementById('claim').click()")
    await agent.wait("!document.getElementById('send').disabled", what="claimed")
    await shop.wait("!document.getElementById('xw-human').classList.contains('xw-hidden')", what="人工客服 badge")
    await shop.wait("document.getElementById('xw-list').textContent.includes('工号 8 为您服务')", what="工号")

    # a draft the guard blocks does not go out
    await agent.eval("document.getElementById('draft').value='亲,这个没有发票哦';"
                     "document.getElementById('send').click()")
    # the guard's first check may still be loading spaCy and the rule book
    await agent.wait("document.getElementById('guard').textContent.includes('block')", timeout=90, what="guard finding")
    # a quick reply goes out
    await agent.eval("[...document.querySelectorAll('#quick button')].find(b => b.textContent.startsWith('非常抱歉给您添麻烦了')).click()")
    await agent.wait("document.getElementById('draft').value.startsWith('非常抱歉')", what="quick reply in draft")
    await agent.eval("document.getElementById('send').click()")
    await shop.wait("[...document.querySelectorAll('.xw-agent')].some(e => e.textContent.includes('人工客服 工号 8')"
                    " && e.textContent.includes('非常抱歉给您添麻烦了'))", what="agent reply in widget")
    assert await shop.eval("document.getElementById('xw-list').textContent.includes('没有发票')") is False

    # reload: the history is still there
    await shop.reload()
    await shop.wait("document.querySelectorAll('.xw-agent').length === 1", what="history after reload")
    assert await shop.eval(f"document.getElementById('xw-list').textContent.includes({js(XSS)})")
    assert await shop.eval("window.__pwned === undefined") and await agent.eval("window.__pwned === undefined")

    # resolve: the satisfaction question, then the rating is stored
    await agent.eval("document.getElementById('resolve').click()")
    await shop.wait("!document.getElementById('xw-rating').classList.contains('xw-hidden')", what="satisfaction")
    await shop.eval("document.getElementById('xw-comment').value='服务很好';"
                    "document.querySelector('.xw-star[data-score=\"5\"]').click()")
    await shop.wait("document.getElementById('xw-list').textContent.includes('谢谢您的评价')", what="thanks")
    assert fake_rasa.tracker_posts[0]["events"] == [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
    assert shop.console == [] and agent.console == []
