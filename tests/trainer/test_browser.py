"""A real browser: a trainer logs in at /trainer, corrects two messages (one with
an entity marked by selecting text), exports, trains (a fake `rasa train`) and
sees the comparison with the live model."""
from __future__ import annotations

import json

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from tests.desk.test_e2e_browser import CHROMIUM, browser, page_of  # noqa: F401  (Playwright + Debian's chromium)
from tests.trainer.test_api import PASSWORD, trainer  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/ensure-chromium.sh installs it)")


class Page:
    """The few calls this test makes, on a Playwright page."""

    def __init__(self, page):
        self.page = page

    async def goto(self, url):
        await self.page.goto(url)

    async def eval(self, expression):
        return await self.page.evaluate(expression)

    async def wait(self, expression, timeout=10, what=""):
        try:
            await self.page.wait_for_function(expression, timeout=timeout * 1000)
        except Exception as e:  # the message says what the page never showed
            raise AssertionError(f"the page never showed: {what or expression}") from e


def button(scope: str, label: str) -> str:
    return f"[...{scope}.querySelectorAll('button')].find(b => b.textContent.includes({json.dumps(label)}))"


async def test_trainer_corrects_exports_and_compares(trainer, browser):  # noqa: F811
    base = str(trainer.make_url("")).rstrip("/")
    errors: list = []
    page = Page(await page_of(browser, errors))
    await page.goto(base + "/trainer")
    await page.wait("!document.getElementById('login').hidden", what="login form")
    await page.eval("const f = document.getElementById('login'); f.name.value = 'tina';"
                    f"f.password.value = {json.dumps(PASSWORD)}; f.querySelector('button').click()")
    await page.wait("document.querySelectorAll('#inbox .item').length === 2", what="inbox")
    assert "13812345678" not in await page.eval("document.body.innerText")
    await page.eval("document.querySelector('#inbox .item').click()")
    await page.wait("document.querySelectorAll('#conv .turn').length === 2", what="conversation")

    # first message: intent + the entity 专票, selected with the mouse's own API
    await page.eval("""(() => {
        const t = document.querySelectorAll('#conv .turn')[0];
        t.querySelector('input').value = 'ask_invoice';
        t.querySelector('select').value = 'product';
        const node = t.querySelector('.text').firstChild, i = node.textContent.indexOf('专票');
        const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 2);
        const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    })()""")
    await page.eval(button("document.querySelectorAll('#conv .turn')[0]", "标为实体") + ".click()")
    await page.eval(button("document.querySelectorAll('#conv .turn')[0]", "保存修正") + ".click()")
    await page.eval("document.querySelectorAll('#conv .turn')[1].querySelector('input').value = 'ask_invoice'")
    await page.eval(button("document.querySelectorAll('#conv .turn')[1]", "保存修正") + ".click()")
    await page.wait("document.querySelectorAll('#conv .turn.fixed').length === 2", what="two corrections saved")

    await page.eval("document.getElementById('export').click()")
    await page.wait("document.getElementById('export-out').textContent.includes('已写入')", what="export")
    data = load_data(str(trainer.repo / "data" / "nlu" / "reviewed.yml"))
    assert [m.get("intent") for m in data.intent_examples] == ["ask_invoice", "ask_invoice"]
    text = (trainer.repo / "data" / "nlu" / "reviewed.yml").read_text()
    assert [e["value"] for m in data.intent_examples for e in m.get("entities") or []] == ["专票"], text

    await page.eval(button("document", "训练与模型") + ".click()")
    await page.wait("!document.getElementById('train').disabled", what="models tab")
    await page.eval("document.getElementById('train').click()")
    await page.wait(button("document.getElementById('candidates')", "比较") + " !== undefined",
                    timeout=30, what="candidate model")
    await page.eval(button("document.getElementById('candidates')", "比较") + ".click()")
    await page.wait("document.getElementById('compare').textContent.includes('改对')", timeout=30,
                    what="comparison")
    assert "ask_invoice" in await page.eval("document.getElementById('compare').textContent")
