"""A real browser: a trainer logs in at /trainer, corrects two messages (one with
an entity marked by selecting text), exports, starts training (a fake `rasa
train` and comparison: the real ones run in test_real_rasa.py), sees the
comparison with the live model, activates the new model and reads the charts."""

from __future__ import annotations

import asyncio
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
    await page.eval(
        "const f = document.getElementById('login'); f.name.value = 'tina';"
        f"f.password.value = {json.dumps(PASSWORD)}; f.querySelector('button').click()"
    )
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
    await page.wait("document.getElementById('live').textContent === 'current.tar.gz'", what="the live model's name")
    assert "current.tar.gz" in await page.eval("document.getElementById('live-top').textContent")
    # one click: training, then the comparison with the live model, with progress on the way
    await page.eval("document.getElementById('train').click()")
    await page.wait("document.getElementById('job').textContent.includes('步')", what="job progress")
    await page.wait(
        "document.getElementById('compare').textContent.includes('改对')", timeout=30, what="comparison after training"
    )
    compare = await page.eval("document.getElementById('compare').textContent")
    assert "ask_invoice" in compare and "复核过的消息" in compare and "变好: ask_invoice" in compare
    await page.wait(button("document.getElementById('candidates')", "比较") + " !== undefined", what="candidate listed")

    # activate what was compared (the confirm dialog accepted): the live model's name changes
    page.page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.eval("document.getElementById('activate-compared').click()")
    await page.wait("document.getElementById('live').textContent.startsWith('candidate-')", what="activated model")
    assert trainer.rasa.puts and trainer.rasa.puts[-1].endswith(
        await page.eval("document.getElementById('live').textContent")
    )

    # the reports, as charts
    await page.eval(button("document", "报表") + ".click()")
    await page.wait("window.Chart && Chart.getChart(document.getElementById('c-handled'))", what="charts")
    figures = await page.eval("""(() => Object.fromEntries(
        ['c-fallback', 'c-missed', 'c-intents', 'c-confusions', 'c-handled']
        .map((id) => { const c = Chart.getChart(document.getElementById(id));
                       return [id, c ? {labels: c.data.labels, data: c.data.datasets[0].data} : null]; })))()""")
    assert figures["c-handled"]["data"] == [2, 1]  # 2 of 3 conversations without a person
    assert sum(figures["c-fallback"]["data"]) > 0
    assert any("专票" in label for label in figures["c-missed"]["labels"])
    assert "nlu_fallback" in figures["c-intents"]["labels"]
    assert figures["c-confusions"]["labels"] == ["nlu_fallback → ask_invoice"] and figures["c-confusions"]["data"] == [
        2
    ]
    assert "13812345678" not in await page.eval("document.body.innerText") + json.dumps(figures, ensure_ascii=False)
    assert not errors, errors
