"""The checker's behaviour as the bot, the agent desk and a trainer see it."""

from __future__ import annotations

import json
import logging

import pytest

from guard import Context, check_agent_draft, inbound_links, mask_phone, mask_phones, outbound
from guard.cli import main as cli_main


def rule_ids(result):
    return {f.rule_id for f in result.findings}


# ---- context-dependent rules ------------------------------------------------------------------
def test_not_free_shipping_fires_only_for_a_free_shipping_item(checker, ctx):
    text = "这款不包邮哦,运费6元"
    assert "R3.10" in rule_ids(checker.check(text, ctx(item={"free_shipping": True})))
    assert "R3.10" not in rule_ids(checker.check(text, ctx(item={"free_shipping": False})))
    # without item facts the store decides: free only when there is no threshold
    assert "R3.10" in rule_ids(checker.check(text, ctx()))
    assert "R3.10" not in rule_ids(checker.check(text, ctx(free_shipping_threshold=99)))
    assert "R3.10" not in rule_ids(checker.check(text, ctx(free_shipping=False)))


def test_remote_areas_from_store_are_not_a_broken_free_shipping_promise(checker, ctx):
    text = "海南地区不包邮,需补运费10元"
    assert "R3.10" in rule_ids(checker.check(text, ctx()))
    assert "R3.10" not in rule_ids(checker.check(text, ctx(remote_areas=["海南"])))


def test_instalments_and_credit_cards_only_when_the_store_offers_them(checker, ctx):
    assert "R3.07" in rule_ids(checker.check("我们不支持分期付款", ctx(instalments=True)))
    assert "R3.07" not in rule_ids(checker.check("我们不支持分期付款", ctx(instalments=False)))
    assert "R3.08" in rule_ids(checker.check("不能用信用卡哦", ctx(credit_card=True)))
    assert "R3.08" not in rule_ids(checker.check("不能用信用卡哦", ctx(credit_card=False)))


def test_closing_an_order_is_fine_only_when_the_buyer_asked(checker, ctx):
    text = "好的,已经帮您取消订单了"
    assert checker.check(text, ctx()).blocked
    assert not checker.check(text, ctx(conversation={"buyer_requested_close": True})).blocked


def test_masked_phone_is_fine_and_a_full_one_is_masked(checker, ctx):
    assert checker.check("您的收货电话是138****5678对吗?", ctx()).ok
    result = checker.check("您的收货电话是13812345678对吗?", ctx())
    assert [f.rule_id for f in result.findings] == ["R6.01"]
    assert not result.blocked
    assert result.safe_text == "您的收货电话是138****5678对吗?"


def test_a_phone_given_as_contact_is_blocked(checker, ctx):
    result = checker.check("有事打我电话13812345678", ctx())
    assert result.blocked and "R4.03" in rule_ids(result)
    assert "1381234" not in result.safe_text


@pytest.mark.parametrize("platform,blocked", [("taobao", False), ("tmall", False), ("jd", False), ("pdd", True)])
def test_store_hotline_allowed_except_on_pinduoduo(checker, ctx, platform, blocked):
    result = checker.check("您也可以拨打我们的客服热线400-820-5566", ctx(platform))
    assert result.blocked is blocked
    assert ("R4.04" in rule_ids(result)) is blocked


def test_another_number_than_the_store_hotline_is_blocked_everywhere(checker, ctx):
    for platform in ("taobao", "tmall", "jd", "pdd"):
        assert checker.check("请拨打400-111-2222", ctx(platform)).blocked


@pytest.mark.parametrize(
    "text",
    [
        "最迟48小时发货",
        "最快明天就能发出",
        "有物流更新会第一时间通知您",
        "最近下单的人比较多",
        "最多可以分12期",
        "您最好先确认手机型号",
    ],
)
def test_time_and_limit_statements_are_not_superlatives_on_pdd(checker, ctx, text):
    assert checker.check(text, ctx("pdd")).ok


@pytest.mark.parametrize("text", ["我们是全网最低价", "这是最好的充电器", "行业第一", "绝对正品", "100%纯铜"])
def test_superlatives_are_blocked_on_pdd_only(checker, ctx, text):
    assert checker.check(text, ctx("pdd")).blocked
    assert checker.check(text, ctx("tmall")).ok


def test_other_platform_names_on_pdd_but_not_the_stores_courier(checker, ctx):
    assert checker.check("我们淘宝店也有", ctx("pdd")).blocked
    assert checker.check("默认发中通快递,也可以发京东快递", ctx("pdd")).ok
    assert checker.check("京东同款", ctx("pdd")).blocked


def test_discount_limit_comes_from_the_store(checker, ctx):
    assert checker.check("给您打9折", ctx(max_discount_percent=0)).blocked
    assert not checker.check("给您打9折", ctx(max_discount_percent=10)).blocked
    assert checker.check("给您打8折", ctx(max_discount_percent=10)).blocked
    # Pinduoduo caps an order cut at 10 % whatever the store allows
    assert checker.check("给您打八五折", ctx("pdd", max_discount_percent=20)).blocked
    assert not checker.check("给您打八五折", ctx("tmall", max_discount_percent=20)).blocked
    # an amount is compared with the item's price when it is known
    assert not checker.check("可以给您便宜5元", ctx(max_discount_percent=10, item={"price": 100})).blocked
    assert checker.check("可以给您便宜30元", ctx(max_discount_percent=10, item={"price": 100})).blocked


# ---- safe text --------------------------------------------------------------------------------
def test_a_blocked_message_is_replaced_by_the_rules_safe_wording(checker, ctx, store):
    result = checker.check("亲,这个没有发票哦", ctx("tmall"))
    assert result.blocked
    assert [f.rule_id for f in result.findings] == ["R3.01"]
    f = result.findings[0]
    assert f.span == (4, 8) and f.text == "没有发票" and f.seed.startswith("003")
    assert "发票" in f.message and f.suggestion == result.safe_text
    assert result.safe_text.startswith("亲,可以开发票的哦")
    assert "电子普通发票" in result.safe_text  # filled from store.yml invoice types


def test_rewrites_are_applied_and_the_rest_is_kept(checker, ctx):
    result = checker.check("宝贝已经发出了,白色缺货了", ctx("pdd"))
    assert not result.blocked
    assert result.safe_text == "商品已经发出了,白色没有现货了"  # a phone-accessory store: no 断码
    assert checker.check("宝贝已经发出了", ctx("tmall")).safe_text == "宝贝已经发出了"


def test_platform_centred_phrasing_is_rewritten_customer_centred(checker, ctx):
    assert (
        checker.check("这是公司规定,必须提供订单号", ctx()).safe_text
        == "为了保障您的权益,我们的流程是这样的,必须提供订单号"
    )
    assert checker.check("我们规定7天内可以退换", ctx()).safe_text == "为了保障您的权益,我们的流程是7天内可以退换"


def test_block_wins_over_rewrite(checker, ctx):
    result = checker.check("宝贝绝对是最好的", ctx("pdd"))
    assert result.blocked
    assert "宝贝" not in result.safe_text and "最" not in result.safe_text


def test_a_traditional_message_gets_a_traditional_safe_reply(checker, ctx):
    result = checker.check("這個沒有發票哦", ctx("jd"))
    assert result.blocked
    assert "發票" in result.safe_text
    assert checker.check("這個顏色缺貨了", ctx("jd")).safe_text == "這個顏色沒有現貨了"
    assert checker.check("這個顏色缺貨了", ctx("jd", category="服装鞋包")).safe_text == "這個顏色斷碼了"


def test_an_unknown_platform_is_an_error(checker, store):
    with pytest.raises(ValueError, match="platform"):
        checker.check("你好", Context(platform="weibo", store=store))


# ---- send paths -------------------------------------------------------------------------------
def test_outbound_sends_the_safe_alternative_and_logs_without_the_number(ctx, caplog):
    with caplog.at_level(logging.INFO, logger="xiaoer.guard"):
        text, findings = outbound("加我微信吧,电话13812345678", ctx("tmall"))
    assert "微信" not in text and "13812345678" not in text
    assert {"R4.01", "R4.02", "R4.03"} & {f.rule_id for f in findings}
    assert any(r.levelno == logging.WARNING and "blocked" in r.getMessage() for r in caplog.records)
    assert "13812345678" not in caplog.text


def test_outbound_rewrites_and_passes_warnings_unchanged(ctx):
    assert outbound("这个颜色缺货了", ctx())[0] == "这个颜色没有现货了"
    text, findings = outbound("请留下您的联系电话", ctx("pdd"))
    assert text == "请留下您的联系电话" and [f.severity for f in findings] == ["warn"]
    assert outbound("亲,已经为您安排发货了", ctx()) == ("亲,已经为您安排发货了", [])


def test_agent_draft_check_is_json_ready(store):
    data = check_agent_draft("绝对正品,全网最低价", {"platform": "pdd"})
    json.dumps(data, ensure_ascii=False)
    assert data["blocked"] is True and data["severity"] == "block"
    assert {f["rule_id"] for f in data["findings"]} >= {"R5.04"}
    assert all(
        set(f) >= {"rule_id", "span", "text", "severity", "seed", "message", "suggestion"} for f in data["findings"]
    )
    ok = check_agent_draft("亲,您好,请问有什么可以帮您?", Context(platform="tmall", store=store))
    assert ok == {
        "text": "亲,您好,请问有什么可以帮您?",
        "blocked": False,
        "safe_text": "亲,您好,请问有什么可以帮您?",
        "severity": None,
        "findings": [],
    }


# ---- privacy helpers --------------------------------------------------------------------------
def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138 1234 5678") == "138****5678"
    assert mask_phones("电话13812345678,备用13987654321") == "电话138****5678,备用139****4321"
    assert mask_phones("已是138****5678") == "已是138****5678"


def test_inbound_links():
    text = "这个有货吗 https://item.taobao.com/item.htm?id=123 还有 www.example.com/x 和 m.tb.cn/h.abc"
    assert inbound_links(text) == ["https://item.taobao.com/item.htm?id=123", "www.example.com/x", "m.tb.cn/h.abc"]
    assert inbound_links(text, platform="taobao") == ["www.example.com/x"]
    assert inbound_links("我的邮箱是abc@qq.com,订单号123456") == []
    assert inbound_links("1.5米的线有吗") == []
    code = "复制这段话￥AbCd1234Xy￥打开手机淘宝"
    assert inbound_links(code) == ["￥AbCd1234Xy￥"]
    assert inbound_links(code, platform="tmall") == []


# ---- command line -----------------------------------------------------------------------------
def test_cli_check_prints_findings_and_exits_1_on_block(capsys):
    assert cli_main(["check", "亲,这个没有发票哦", "--platform", "tmall"]) == 1
    out = capsys.readouterr().out
    assert "R3.01" in out and "block" in out and "没有发票" in out
    assert cli_main(["check", "亲,可以开发票的哦", "--platform", "tmall"]) == 0
    assert "通过" in capsys.readouterr().out


def test_cli_check_takes_item_facts(capsys):
    assert cli_main(["check", "这款不包邮", "--item", "free_shipping=false", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
    assert cli_main(["check", "这款不包邮", "--item", "free_shipping=true", "--json"]) == 1


def test_cli_rules_counts_by_platform(capsys):
    assert cli_main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "R5.03" in out and "pdd" in out
