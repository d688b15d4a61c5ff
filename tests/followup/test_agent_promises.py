"""F4: a time an agent promises in a reply becomes a tracked promise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from followup_helpers import T0, FakeChannel

from followup.promises import PromiseParser


@pytest.mark.parametrize(
    "text,minutes",
    [
        ("好的,我们2小时内给您答复", 120),
        ("已经登记了,半小时内回复您", 30),
        ("我去核实一下,两个小时内联系您", 120),
        ("请您稍等,10分钟内给您结果", 10),
        ("3个工作日内处理好", 3 * 1440),
        ("我们的商品7天内可以无理由退货", None),  # a policy, not a promise
        ("亲,收到货后24小时内", None),
        ("谢谢您的耐心等待", None),
    ],
)
def test_promise_durations(text, minutes):
    d = PromiseParser.load().duration(text)
    assert d == (timedelta(minutes=minutes) if minutes is not None else None)


@pytest.mark.asyncio
async def test_an_agents_promise_is_tracked_once(make, shop, clock):
    ch = FakeChannel()
    ch.agent_inbox += [
        (11, "buyer_001", "conv-buyer_001", "我帮您联系仓库,2小时内给您答复", T0),
        (12, "buyer_001", "conv-buyer_001", "好的亲", T0),
    ]
    a, b = await make(ch, owner="a"), await make(ch, owner="b")
    await a.scan()
    await b.scan()  # another process sees the same messages
    [p] = await a.promises()
    assert p["due_at"] == T0 + timedelta(hours=2) and p["topic"].startswith("agent: 我帮您联系仓库")
    assert p["conversation_id"] == "conv-buyer_001"
