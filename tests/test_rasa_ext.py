"""Rasa glue: every bot message is store-filled, guarded and in the shopper's
script; shopper text never acts as a Rasa command; NLU components."""

from types import SimpleNamespace

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message

from rasa_ext.channels import ShopperRestInput
from rasa_ext.nlg import StoreNLG


@pytest.fixture(scope="module")
def nlg():
    return StoreNLG(domain=Domain.load("domain"))


def tracker(*texts, slots=None):
    events = []
    for t in texts:
        events += [UserUttered(t), BotUttered("...")]
    tr = DialogueStateTracker.from_events("shopper", events, slots=[])
    return tr


async def test_reply_is_filled_from_the_store(nlg):
    out = await nlg.generate("utter_specified_courier", tracker("能发顺丰吗"), "rest")
    assert "顺丰速运" in out["text"] and "14元" in out["text"] and "22元" in out["text"]
    assert "{" not in out["text"]


async def test_store_variations_survive_rasa_reassigning_responses(nlg):
    # rasa.core.agent.Agent.load_model does `nlg.responses = domain.responses`
    nlg.responses = Domain.load("domain").responses
    for _ in range(10):
        out = await nlg.generate("utter_return_policy", tracker("我要退货"), "rest")
        assert "当时发货产生的运费" in out["text"]  # store.yml: nonquality_original_shipping: buyer


async def test_greeting_menu_buttons_are_plain_text(nlg):
    out = await nlg.generate("utter_greet", tracker("在吗"), "rest")
    assert "星耀数码旗舰店" in out["text"]
    assert out["buttons"] and all(not b["payload"].startswith("/") for b in out["buttons"])


async def test_traditional_shopper_gets_traditional_reply(nlg):
    out = await nlg.generate("utter_ask_invoice", tracker("請問可以開發票嗎"), "rest")
    assert "發票" in out["text"] and "发票" not in out["text"]


async def test_simplified_shopper_gets_simplified_reply(nlg):
    out = await nlg.generate("utter_ask_invoice", tracker("請問可以開發票嗎", "好的,那运费呢"), "rest")
    assert "发票" in out["text"]


async def test_action_values_fill_the_reply(nlg):
    out = await nlg.generate("utter_unresolved", tracker("?"), "rest", question="无人机能充吗")
    assert "「无人机能充吗」" in out["text"]


async def test_forbidden_wording_never_leaves():
    domain = Domain.from_dict({"responses": {"utter_bad": [{"text": "亲,特价商品没有发票哦"}]}})
    out = await StoreNLG(domain=domain).generate("utter_bad", tracker("能开票吗"), "rest")
    assert "没有发票" not in out["text"]


def req(body):
    return SimpleNamespace(json=body)


@pytest.mark.parametrize("raw", ["/restart", '/inform{"buyer_id": "buyer_009"}', "/nlu_fallback"])
def test_channel_never_passes_intent_commands(raw):
    from rasa_ext.nlu import ChineseNormalizer

    m = Message(data={"text": ShopperRestInput()._extract_message(req({"sender": "a", "message": raw}))})
    ChineseNormalizer().process([m])  # the one "/" guard sits there, after normalisation
    assert not m.get("text").strip().startswith("/")


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"sender": "a"}, ""),
        ({"sender": "a", "message": None}, ""),
        ({"sender": "a", "message": 12345}, "12345"),
        ({"sender": "a", "message": "好" * 10000}, "好" * 2000),
        ({"sender": "a", "message": "\x00\x01在吗"}, "在吗"),
    ],
)
def test_channel_bad_input(body, expected):
    assert ShopperRestInput()._extract_message(req(body)) == expected


def test_channel_metadata_must_be_an_object():
    ch = ShopperRestInput()
    assert ch.get_metadata(req({"metadata": {"buyer_id": "buyer_001"}})) == {"buyer_id": "buyer_001"}
    assert ch.get_metadata(req({"metadata": "buyer_001"})) is None


def test_nlu_components_normalise_segment_and_extract():
    from rasa_ext.nlu import ChineseNormalizer, DomainJiebaTokenizer, LexiconEntityExtractor

    m = Message(data={"text": "能發ＳＦ到蘇州嗎,訂單DD20241101001"})
    ChineseNormalizer().process([m])
    assert m.get("text") == "能发SF到苏州吗,订单DD20241101001"
    tok = DomainJiebaTokenizer(DomainJiebaTokenizer.get_default_config())
    tok.process([m])
    words = [t.text for t in m.get("text_tokens")]
    assert "SF" in words and "苏州" in words
    LexiconEntityExtractor().process([m])
    found = {(e["entity"], e["value"]) for e in m.get("entities")}
    assert {("courier", "顺丰速运"), ("city", "苏州"), ("order_id", "DD20241101001")} <= found


@pytest.mark.parametrize("raw", ["/restart", "／restart", "/greet"])
def test_nlu_never_sees_a_command_prefix(raw):
    from rasa_ext.nlu import ChineseNormalizer
    from xiaoer.text import clean_incoming

    m = Message(data={"text": clean_incoming(raw)})
    ChineseNormalizer().process([m])
    assert not m.get("text").startswith("/")


@pytest.mark.parametrize("text", ["看看这个 https://item.example.com/123 有货吗", "www.example.cn/abc 这个呢"])
def test_links_get_the_unopenable_reply(text):
    from rasa_ext.channels import link_reply

    assert "点不开" in link_reply(text)


def test_no_link_no_extra_reply():
    from rasa_ext.channels import link_reply

    assert link_reply("这个有货吗") is None
    assert "點不開" in link_reply("請問這個 https://a.example.com/x 有貨嗎")


async def test_channel_adds_the_link_reply_after_the_bot_answer():
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    async def bot(message):
        await message.output_channel.send_text_message(message.sender_id, "bot answer")

    handle = ShopperRestInput.with_link_reply(bot)
    out = CollectingOutputChannel()
    await handle(UserMessage("看下 https://x.example.com/1 这个有货吗", out, "s1"))
    texts = [m["text"] for m in out.messages]
    assert texts[0] == "bot answer" and "点不开" in texts[1]
    out = CollectingOutputChannel()
    await handle(UserMessage("这个有货吗", out, "s2"))
    assert [m["text"] for m in out.messages] == ["bot answer"]


async def test_buttons_an_action_adds_get_the_guard_and_the_shoppers_script():
    # Rasa appends an action's buttons after StoreNLG has run: the channel finishes them.
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    async def bot(message):
        await message.output_channel.send_text_with_buttons(
            message.sender_id, "请选择", [{"title": "这款缺货了", "payload": "1"}, {"title": "查订单", "payload": "2"}]
        )

    handle = ShopperRestInput.with_link_reply(bot)
    out = CollectingOutputChannel()
    await handle(UserMessage("请问这个有货吗", out, "s1"))
    titles = [b["title"] for b in out.messages[0]["buttons"]]
    assert "缺货" not in titles[0] and titles[1] == "查订单"
    out = CollectingOutputChannel()
    await handle(UserMessage("請問這個有貨嗎", out, "s2"))
    assert [b["title"] for b in out.messages[0]["buttons"]][1] == "查訂單"
