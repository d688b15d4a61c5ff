"""Entities as shoppers write them, with canonical values for the actions."""

import pytest

from xiaoer.lexicon import extract_entities
from xiaoer.text import normalize


def ents(text):
    return {(e["entity"], e["value"]) for e in extract_entities(normalize(text))}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("能发顺丰吗,寄到苏州", {("courier", "顺丰速运"), ("city", "苏州")}),
        ("能發SF嗎", {("courier", "顺丰速运")}),
        ("订单DD20241101001怎么还没发货", {("order_id", "DD20241101001")}),
        ("我的单号是3812749201837462,电话13812345678", {("order_id", "3812749201837462"), ("phone", "13812345678")}),
        ("要黑色 XL", {("color", "黑色"), ("size", "XL")}),
        ("有没有白的充电宝 20000毫安", {("color", "白色"), ("product", "充电宝"), ("size", "20000毫安")}),
        ("寄到新疆要加运费吗", {("city", "新疆")}),
        ("我姓王", {("surname", "王")}),
        ("我是李女士", {("surname", "李女士")}),
    ],
)
def test_entities(text, expected):
    assert expected <= ents(text)


def test_two_order_numbers_in_one_message():
    found = [e["value"] for e in extract_entities("DD20241101001和DD20241101002都没到") if e["entity"] == "order_id"]
    assert found == ["DD20241101001", "DD20241101002"]


@pytest.mark.parametrize("text", ["12345", "DD2024", "1234567890123", "' OR 1=1 --", "<script>alert(1)</script>"])
def test_no_order_number_invented(text):
    assert not [e for e in extract_entities(text) if e["entity"] == "order_id"]


@pytest.mark.parametrize("group", ["payment", "invoice"])
def test_every_reply_choosing_subtopic_has_its_reply(group):
    """lexicon/subtopics.yml payment/invoice: subtopic `x` answers with utter_<group>_x
    (actions/payment.py, actions/invoice.py); a subtopic without it would answer nothing."""
    from actions.common import subtopics
    from xiaoer.replies import load_domain_responses

    responses = load_domain_responses()
    names = list(subtopics()[group])
    assert names
    assert [n for n in names if f"utter_{group}_{n}" not in responses] == []
