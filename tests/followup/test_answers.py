"""F1: each answer to the 回访 gets its seed script (000 篇1), rendered as the
shopper would see it; "not received" opens the O5 courier investigation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from followup_helpers import T0, new_order

from followup import Renderer
from followup.answers import CASES, RESPONSES, answer
from followup.optout import OptOutWords
from shop.models import RecordKind
from shop.status import OrderStatus
from xiaoer.store_config import get_store


@pytest.fixture(scope="module")
def renderer():
    return Renderer(get_store())


def see(renderer, name, values):
    out = renderer.render(name, values)
    assert "{" not in out["text"] and "XX" not in out["text"] and out["findings"] == []
    return out


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "intent,expected",
    [
        (
            "praise",
            "谢谢您对我们产品的认可!使用过程中遇到任何问题或者疑问,随时联系我们的在线客服,我们都会尽全力帮助您。"
            "方便的话给我们一个5分好评哦,也希望您多多关注星耀数码旗舰店,非常感谢~",
        ),
        (
            "complain",
            "很抱歉没能让您满意,给您带来不便了。您有什么意见和建议可以告诉我,我这边马上登记;如果需要退换货,"
            "说一下遇到的问题,我马上帮您处理,确实是质量问题的话来回运费都由我们承担。我们一定会把产品做得更好!",
        ),
        (
            "followup_signed_by_other",
            "好的亲,如果是家人朋友代收的,记得请他们先检查好商品哦!如果您对我们的产品满意,"
            "记得给我们一个5分好评;如果不满意,请及时联系在线客服,我们都会尽全力帮您处理好的~",
        ),
        (
            "followup_about_to_sign",
            "好的亲,签收的时候记得先检查好商品哦!有任何问题随时找我们,我们都会尽全力帮助您。"
            "如果满意的话,记得给我们一个5分好评哦,祝您生活愉快~",
        ),
    ],
)
async def test_each_answer_gets_its_script(renderer, shop, intent, expected):
    name, values = await answer(
        CASES[intent],
        shop=shop,
        buyer_id="buyer_001",
        order_id="DD20261117021",
        now=T0,
        tz="Asia/Shanghai",
        follow_up_hours=24,
    )
    assert see(renderer, name, values)["text"] == expected


@pytest.mark.asyncio
async def test_unsatisfied_offers_after_sales_buttons(renderer):
    out = see(renderer, RESPONSES["unsatisfied"], {})
    assert [b["payload"] for b in out["buttons"]] == ["我要退换货", "转人工客服"]


@pytest.mark.asyncio
async def test_not_received_opens_the_courier_investigation_and_a_promise(renderer, shop, clock):
    await new_order(shop, clock, "DD20261117021", status=OrderStatus.DELIVERED, at=T0, signed_by="驿站")
    name, values = await answer(
        "not_received",
        shop=shop,
        buyer_id="buyer_001",
        order_id="DD20261117021",
        now=T0,
        tz="Asia/Shanghai",
        follow_up_hours=24,
        conversation_id="c1",
        text="显示签收了但我没收到",
    )
    assert see(renderer, name, values)["text"] == (
        "好的亲,麻烦您先和代收的人确认一下包裹哦~同时我也已经为您的订单DD20261117021联系中通快递核实签收情况,"
        "2026-11-21 10:00前给您回复结果,请您放心~"
    )
    [inv] = await shop.records_for("buyer_001", kind=RecordKind.COURIER_INVESTIGATION)
    assert inv.order_id == "DD20261117021" and inv.data["signed_by"] == "驿站"
    [promise] = await shop.records_for("buyer_001", kind=RecordKind.FOLLOW_UP)
    assert promise.due_at == T0 + timedelta(hours=24)  # and the scheduler tracks it (F4)


@pytest.mark.asyncio
async def test_not_received_of_someone_elses_order_reveals_nothing(renderer, shop, clock):
    await new_order(shop, clock, "DD20261117022", status=OrderStatus.DELIVERED, at=T0, buyer="buyer_002")
    name, values = await answer(
        "not_received",
        shop=shop,
        buyer_id="buyer_001",
        order_id="DD20261117022",
        now=T0,
        tz="Asia/Shanghai",
        follow_up_hours=24,
    )
    assert name == "utter_followup_no_order" and values == {}
    assert await shop.records_for("buyer_002", kind=RecordKind.COURIER_INVESTIGATION) == []


def test_the_action_declares_every_response_it_can_send():
    src = (__import__("pathlib").Path(__file__).parents[2] / "actions" / "followups.py").read_text(encoding="utf-8")
    import re

    sends = set(re.findall(r'"(utter_\w+)"', src.split("SENDS = (", 1)[1].split(")", 1)[0]))
    assert sends == set(RESPONSES.values())


@pytest.mark.parametrize(
    "text,stop",
    [
        ("别再发了", True),
        ("以后不要再给我发消息了", True),
        ("別再發了", True),
        ("不需要回访", True),
        ("还没发就别发了，我不要了", False),
        ("发货了吗", False),
        ("收到了,很满意", False),
    ],
)
def test_opt_out_words(text, stop):
    assert OptOutWords.load().match(text) is stop
