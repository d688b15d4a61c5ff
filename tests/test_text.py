"""Shoppers' Chinese: script, width, typos; shopper text never becomes a Rasa command."""

import pytest

from xiaoer.text import clean_incoming, is_traditional, normalize, to_traditional


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("請問可以開發票嗎", "请问可以开发票吗"),
        ("亲，ＳＦ包油吗？", "亲,SF包邮吗?"),
        ("发漂能开吗", "发票能开吗"),
        ("退貨運費誰出", "退货运费谁出"),
        ("在麽", "在吗"),
    ],
)
def test_normalize(raw, expected):
    out = normalize(raw)
    assert out == expected
    assert len(out) == len(raw)  # entity offsets stay valid


@pytest.mark.parametrize("text", ["請問可以開發票嗎", "我要退貨", "運費多少", "謝謝"])
def test_traditional_detected(text):
    assert is_traditional(text)


@pytest.mark.parametrize("text", ["请问可以开发票吗", "著名品牌", "ok", "DD20241101001", "", "😂😂"])
def test_simplified_or_neutral_not_traditional(text):
    assert not is_traditional(text)


def test_reply_converted_to_traditional():
    assert to_traditional("可以开发票的,运费我们承担") == "可以開發票的,運費我們承擔"


@pytest.mark.parametrize("raw", ["/restart", '/inform{"order_id": "DD20241101001"}', "  /greet"])
def test_slash_cannot_become_an_intent_command(raw):
    from xiaoer.text import neutralise_command

    safe = neutralise_command(normalize(clean_incoming(raw)))  # what ChineseNormalizer hands on
    assert not safe.strip().startswith("/")
    assert safe.strip()[1:] == normalize(clean_incoming(raw)).strip()[1:]  # NLU still reads what was written


def test_bad_input_is_made_safe():
    assert clean_incoming(None) == ""
    assert clean_incoming("   ") == ""
    assert clean_incoming("a\x00b\x07c") == "abc"
    assert len(clean_incoming("好" * 10000)) == 2000
