"""Rules that follow meaning: refusals in any word order, offers parsed into
amounts and checked against store.yml, wording that fits the store's category."""

from __future__ import annotations

import pytest

from guard.offers import Offer, parse_offers
from xiaoer.wording import store_category, wording_values


def _ids(checker, text, context):
    return {f.rule_id for f in checker.check(text, context).findings}


def _blocked(checker, text, context):
    return checker.check(text, context).blocked


# ---- refusal + object in any order, informal negation ------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "发票真没有",
        "我们店不开发票的",
        "票暂时开不出来,机器坏了",
        "退款是办不了的",
        "确认收货了就退不了款了哦",
        "分期付款我们这里不支持哈",
        "信用卡付不了的",
        "你买的是耳机,发票只能开成办公用品",
    ],
)
def test_refusals_of_what_the_shopper_is_owed_are_blocked(checker, ctx, text):
    assert _blocked(checker, text, ctx("tmall", speaker="agent"))


@pytest.mark.parametrize(
    "text",
    [
        "特价款也一样可以开票哦,不收任何费用",
        "发票这边晚了点,3天内给您补开补寄",
        "确认收货了也可以申请退货的",
        "信用卡可以付款的,不用额外手续费",
    ],
)
def test_the_same_words_giving_it_pass(checker, ctx, text):
    assert not _blocked(checker, text, ctx("tmall", speaker="agent"))


# ---- offers against the store's limits -------------------------------------------------------
def test_offers_are_parsed_into_amounts():
    assert parse_offers("给您打8折") == [Offer("cut_percent", percent=20.0)]
    assert parse_offers("100元的订单帮您少10块")[0].amount == 10
    gift = parse_offers("满50就送手机支架")[0]
    assert (gift.kind, gift.item, gift.threshold) == ("gift", "手机支架", 50)
    assert parse_offers("送您两个手机支架")[0].quantity == 2
    assert parse_offers("补偿您50元优惠券")[0] == Offer("coupon", amount=50)


@pytest.mark.parametrize("speaker", ["bot", "agent"])
def test_price_cuts_follow_the_store_limit(checker, ctx, speaker):
    assert _blocked(checker, "给您打个9折吧", ctx("tmall", speaker=speaker))  # max_discount_percent 0
    assert not _blocked(checker, "给您打个9折吧", ctx("tmall", speaker=speaker, max_discount_percent=10))
    # Pinduoduo: the store's order cut (10 %), the order amount said in the sentence is the base
    assert not _blocked(checker, "100元的订单可以帮您改价少10块", ctx("pdd", speaker=speaker))
    assert _blocked(checker, "100的订单给您减15块", ctx("pdd", speaker=speaker))
    assert _blocked(checker, "拼单的话给你改价打7折", ctx("pdd", speaker=speaker))
    assert not _blocked(checker, "帮您打个9.5折", ctx("pdd", speaker=speaker))


@pytest.mark.parametrize("speaker", ["bot", "agent"])
def test_gifts_and_coupons_follow_the_store(checker, ctx, speaker):
    c = ctx("tmall", speaker=speaker)
    assert not _blocked(checker, "单笔满99元送手机支架一个", c)
    assert _blocked(checker, "满50就送手机支架", c)  # below gift_min_amount 99
    assert _blocked(checker, "再送您一个充电宝", c)  # not the store's gift
    assert _blocked(checker, "送您两个手机支架", c)  # more than one
    assert _blocked(checker, "买一根数据线也送支架给您", c)  # whatever the amount
    assert not _blocked(checker, "给您补一张10元优惠券,真的抱歉", c)  # compensation_coupon 10
    assert _blocked(checker, "补偿您50元优惠券", c)
    assert not _blocked(checker, "钢化膜送贴膜工具", c)  # what is in the box, not an offer
    # the limits are read from the store: another gift and minimum
    other = ctx("tmall", speaker=speaker, gift="数据线一根", gift_min_amount=49)
    assert not _blocked(checker, "满50就送数据线", other)
    assert _blocked(checker, "满50就送手机支架", other)


def test_promises_beyond_the_stores_policy(checker, ctx):
    c = ctx("tmall", speaker="agent")
    assert _blocked(checker, "这款保修两年", c)
    assert not _blocked(checker, "保修12个月,期间质量问题免费换新", c)
    assert not _blocked(checker, "这款保修两年", ctx("tmall", speaker="agent", warranty_months=24))
    assert _blocked(checker, "30天内不满意都可以无理由退", c)
    assert _blocked(checker, "新疆也给你免运费", c)
    assert not _blocked(checker, "新疆属于偏远地区,需要补10元运费,其他地区都包邮", c)


# ---- off-platform payment and contact by channel, on every platform -------------------------
@pytest.mark.parametrize("platform", ["taobao", "tmall", "jd", "pdd"])
@pytest.mark.parametrize(
    "text",
    [
        "直接支付宝转给我就行",
        "你把钱打到我银行卡上",
        "差价我微信红包返给你",
        "你打我手机吧",
        "售后找我私人号",
        "搜一下公众号星耀数码",
        "留个电话,我打给你说",
    ],
)
def test_off_platform_payment_and_contact_on_every_platform(checker, ctx, platform, text):
    assert _blocked(checker, text, ctx(platform, speaker="agent"))


# ---- wording from the store's category ------------------------------------------------------
def test_category_wording_comes_from_the_store(store):
    from dataclasses import replace

    assert store_category(store) == "数码配件"
    assert "断码" not in wording_values(store).values()
    inferred = replace(store, category="", product_categories=["连衣裙", "T恤", "运动鞋"])
    assert store_category(inferred) == "服装鞋包"
    assert wording_values(inferred)["out_of_stock"] == "断码"
    with pytest.raises(ValueError, match="store.category"):
        store_category(replace(store, category="宠物"))


def test_a_phone_accessory_shop_never_gets_duanma_suggested(checker, ctx):
    for text in ("这个颜色缺货了", "这款已经卖完了", "白色没有货了"):
        result = checker.check(text, ctx("tmall"))
        assert "断码" not in result.safe_text
        assert all("断码" not in f.suggestion for f in result.findings)
    assert checker.check("这个颜色缺货了", ctx("tmall", category="服装鞋包")).safe_text == "这个颜色断码了"
