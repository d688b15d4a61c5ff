"""The shopper's widget in a real browser (Playwright for Python driving Debian's chromium,
fake Rasa): timestamps, the emoji picker, order cards, image zoom, 已读 once the serving
agent has opened the conversation, the unread badge on the launcher, and the phone layout.
Screenshots a person can look at go to docs/screenshots/shopper-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from desk import create_app
from tests.desk.conftest import handoff
from tests.desk.test_e2e_browser import CHROMIUM, browser, login, page_of, png  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "screenshots"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/ensure-chromium.sh)")

ORDERS = [
    {
        "text": "亲,您最近的订单有这些,请问是哪一个呢?",
        "buttons": [
            {"title": "DD20241117001 待发货 星耀65W氮化镓充电器(白色) ×1", "payload": "DD20241117001"},
            {
                "title": "DD20241115001 运输中 星耀降噪蓝牙耳机(黑色) ×1、星耀编织数据线(白色 / 1米) ×2",
                "payload": "DD20241115001",
            },
        ],
    }
]


def replies(text):
    if "订单" in text and "DD" not in text:
        return ORDERS
    if "投诉" in text:
        return [{"text": "非常抱歉给您添麻烦了,我们会在2小时内给您答复。"}, handoff(summary="耳机一边没声音")]
    return [{"text": f"收到:{text}"}]


async def panel_shot(page, name):
    """The widget panel only (small files), or the whole viewport when `name` says so."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    box = await page.locator(".xw-panel").bounding_box()
    await page.screenshot(path=str(SHOTS / f"{name}.png"), clip=box)


async def open_widget(page, base, buyer="buyer_004"):
    await page.goto(base + "/")
    await page.select_option("select[name=buyer_id]", buyer)
    await page.click("form.login button")
    await page.click("#xw-launcher")
    await page.wait_for_selector(".xw-welcome")


async def says(page, text):
    await page.fill("#xw-input", text)
    await page.click("#xw-send")


async def test_the_shoppers_widget_extras(aiohttp_server, make_config, browser, fake_rasa, tmp_path, buyers_shop):  # noqa: F811
    fake_rasa.replies = replies
    server = await aiohttp_server(create_app(make_config(shop=buyers_shop)))
    base = str(server.make_url("")).rstrip("/")
    errors: list = []
    # the desk's clock says 2026-11-20 06:00 UTC; the shopper is in Shanghai
    shop = await page_of(browser, errors, viewport={"width": 720, "height": 760}, timezone_id="Asia/Shanghai")
    await open_widget(shop, base)
    assert await shop.inner_text("#xw-launcher") == "咨询客服"  # the words came from messages.yml

    # an emoji from the picker goes where the cursor is
    await shop.fill("#xw-input", "谢谢")
    await shop.click("#xw-emoji")
    await shop.wait_for_selector("#xw-emoji-panel", state="visible")
    assert await shop.locator(".xw-emoji-item").count() >= 12
    await shop.click(".xw-emoji-item:text-is('👍')")
    assert await shop.input_value("#xw-input") == "谢谢👍"
    await shop.click("#xw-send")
    await shop.wait_for_function(
        "[...document.querySelectorAll('.xw-bot')].some(e => e.textContent.includes('收到:谢谢👍'))"
    )
    assert await shop.locator("#xw-emoji-panel").is_hidden()

    # every message carries its time in the shopper's time zone (an earlier day with its date)
    times = await shop.eval_on_selector_all(".xw-msg .xw-time", "ts => ts.map(t => t.textContent)")
    assert times == ["11-20 14:00", "11-20 14:00"]

    # the order list: cards with a thumbnail, the product, the order number and its status
    await says(shop, "我的订单")
    await shop.wait_for_selector(".xw-card")
    cards = shop.locator(".xw-card")
    assert await cards.count() == 2
    first = await cards.nth(0).inner_text()
    assert "星耀65W氮化镓充电器" in first and "待发货" in first and "DD20241117001" in first
    assert await cards.nth(0).locator(".xw-card-thumb").inner_text() == "🔌"
    assert "等2件" in await cards.nth(1).inner_text() and "运输中" in await cards.nth(1).inner_text()
    await panel_shot(shop, "shopper-order-cards")
    await cards.nth(1).click()  # a card sends its order number, like the button did
    await shop.wait_for_function(
        "[...document.querySelectorAll('.xw-shopper')].some(e => e.textContent.startsWith('DD20241115001'))"
    )

    # a photo: a preview in the list, enlarged on a click, Esc or the close button closes it
    photo = tmp_path / "earphone.png"
    photo.write_bytes(png(900, 600))
    await shop.set_input_files("#xw-file", str(photo))
    await shop.wait_for_function(
        "[...document.querySelectorAll('.xw-img')].some(i => i.complete && i.naturalWidth === 900)"
    )
    preview = await shop.locator(".xw-img").bounding_box()
    assert preview["width"] <= 180
    await shop.click(".xw-img")
    await shop.wait_for_selector("#xw-zoom", state="visible")
    big = await shop.locator(".xw-zoom-img").bounding_box()
    assert big["width"] > 2 * preview["width"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    await shop.screenshot(path=str(SHOTS / "shopper-image-zoom.png"))
    await shop.keyboard.press("Escape")
    await shop.wait_for_selector("#xw-zoom", state="hidden")
    await shop.click(".xw-img")
    await shop.click(".xw-zoom-close")
    await shop.wait_for_selector("#xw-zoom", state="hidden")

    # a complaint goes to the queue; once the agent has claimed and opened it, the shopper sees 已读
    await says(shop, "耳机一边没声音,我要投诉")
    await shop.wait_for_function(
        "[...document.querySelectorAll('.xw-bot')].some(e => e.textContent.includes('2小时内'))"
    )
    assert await shop.locator(".xw-read").count() == 0
    agent = await page_of(browser, errors, viewport={"width": 1400, "height": 900})
    await login(agent, base, "agent8")
    await agent.wait_for_function("document.querySelectorAll('#queue li').length === 1")
    await agent.click("#queue li")
    await agent.wait_for_selector("#claim:not([disabled])")
    await agent.click("#claim")
    await agent.wait_for_selector("#send:not([disabled])")
    await shop.wait_for_function(
        "document.querySelectorAll('.xw-shopper .xw-read').length === document.querySelectorAll('.xw-shopper').length"
    )
    assert "已读" in await shop.locator(".xw-shopper .xw-meta").last.inner_text()
    await agent.fill("#draft", "您好,请问是哪一边耳机没有声音呢?")
    await agent.press("#draft", "Enter")
    await shop.wait_for_function(
        "[...document.querySelectorAll('.xw-agent')].some(e => e.textContent.includes('哪一边耳机'))"
    )
    # the agent has the conversation open: the shopper's next message is read as it arrives,
    # without the agent clicking or replying
    await says(shop, "左边的,完全没声音")
    await agent.wait_for_function(
        "[...document.querySelectorAll('#transcript .m.shopper')]"
        ".some(e => e.textContent.includes('左边的,完全没声音'))"
    )
    await shop.wait_for_function(
        "document.querySelectorAll('.xw-shopper .xw-read').length === document.querySelectorAll('.xw-shopper').length"
    )
    await panel_shot(shop, "shopper-read-and-times")

    # the shopper closes the widget: the agent's next reply shows as a count on the launcher
    await shop.click(".xw-close")
    await agent.fill("#draft", "我们这边为您安排换新,好吗?")
    await agent.press("#draft", "Enter")
    await shop.wait_for_selector("#xw-unread", state="visible")
    assert await shop.inner_text("#xw-unread") == "1"
    launcher = await shop.locator("#xw-launcher").bounding_box()
    await shop.screenshot(
        path=str(SHOTS / "shopper-unread-badge.png"),
        clip={
            "x": launcher["x"] - 20,
            "y": launcher["y"] - 20,
            "width": launcher["width"] + 40,
            "height": launcher["height"] + 40,
        },
    )
    await shop.click("#xw-launcher")
    await shop.wait_for_selector("#xw-unread", state="hidden")

    # a reload keeps the times, the cards and the read marks (the desk's copy is the truth)
    await shop.reload()
    await shop.wait_for_function("document.querySelectorAll('.xw-agent').length === 2")
    assert await shop.locator(".xw-card").count() == 2 and await shop.locator(".xw-shopper .xw-read").count() >= 4
    assert errors == []


async def test_the_widget_takes_the_whole_phone_screen(aiohttp_server, make_config, browser, fake_rasa, buyers_shop):  # noqa: F811
    fake_rasa.replies = replies
    server = await aiohttp_server(create_app(make_config(shop=buyers_shop)))
    base = str(server.make_url("")).rstrip("/")
    errors: list = []
    phone = await page_of(browser, errors, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    await open_widget(phone, base)
    panel = await phone.locator(".xw-panel").bounding_box()
    assert (panel["x"], panel["y"], panel["width"], panel["height"]) == (0, 0, 390, 844)
    assert await phone.locator("#xw-launcher").is_hidden()  # nothing of the page peeks through
    await phone.fill("#xw-input", "我的订单")
    await phone.tap("#xw-send")
    await phone.wait_for_selector(".xw-card")
    card = await phone.locator(".xw-card").first.bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= 390 and card["height"] >= 44
    for sel in (".xw-close", "#xw-emoji", "#xw-send"):
        box = await phone.locator(sel).bounding_box()
        assert box["height"] >= 40, sel  # big enough for a thumb
    assert await phone.eval_on_selector("#xw-input", "e => getComputedStyle(e).fontSize") == "16px"
    await phone.tap("#xw-emoji")
    await phone.wait_for_selector("#xw-emoji-panel", state="visible")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await phone.screenshot(path=str(SHOTS / "shopper-mobile.png"))
    await phone.tap(".xw-close")
    await phone.wait_for_selector("#xw-launcher", state="visible")
    assert errors == []
