"""Issue 8, point 2: no invisible, blank, full-width or combining character lets
shopper text act as a Rasa intent command ("/restart", "/inform{...}").

The one guard is xiaoer.text.neutralise_command, applied by ChineseNormalizer
after every normalisation step; these tests drive Rasa's own command parser
(YAMLStoryReader.unpack_regex_message, what RegexMessageHandler calls) and the
real trained model behind the real shopper channel."""

from __future__ import annotations

import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.training_data.message import Message

from rasa_ext.nlu import ChineseNormalizer
from xiaoer.text import clean_incoming, neutralise_command, normalize

INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u034f",
    "\u061c",
    "\u180e",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2061",
    "\u2062",
    "\u2063",
    "\u2064",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\ufe0f",
    "\ufe00",
    "\u3164",
    "\u115f",
    "\u1160",
    "\uffa0",
    "\u2800",
    "\U000e0001",
    "\U000e0020",
]
BLANK = [
    " ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\x85",
    "\u00a0",
    "\u1680",
    "\u2000",
    "\u2001",
    "\u2002",
    "\u2003",
    "\u2004",
    "\u2005",
    "\u2006",
    "\u2007",
    "\u2008",
    "\u2009",
    "\u200a",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
]
COMBINING = ["\u0300", "\u0301", "\u0338", "\u20d2", "\u0489", "\u3099"]
SLASHES = ["/", "\uff0f", "\u2215", "\u2044", "\u29f8", "\ufe68"]
COMMANDS = [
    "restart",
    'inform{"surname": "黑客"}',
    "ｒｅｓｔａｒｔ",
    "restart\u200b",
    "session_start",
    'inform{"pending_step": "cancel", "pending_order": "DD20241101001"}',
]
PREFIXES = [""] + INVISIBLE + BLANK + COMBINING + ["\u200b\u200b", " \u200b\t", "\ufeff\u3000", "\u200d\u0301"]


def nlu_text(raw: str) -> str:
    """What reaches RegexMessageHandler: the channel's cleaning, then ChineseNormalizer."""
    m = Message(data={"text": clean_incoming(raw)})
    ChineseNormalizer().process([m])
    return m.get("text")


def acts_as_command(text: str) -> bool:
    return YAMLStoryReader.unpack_regex_message(Message(data={"text": text})).get("intent") is not None


def test_the_bare_command_is_a_command_for_rasa():
    # the check below would prove nothing if Rasa did not parse these
    assert acts_as_command("/restart") and acts_as_command(" \u3000/restart")
    assert acts_as_command('/inform{"surname": "黑客"}')


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda p: "+".join(f"U{ord(c):04X}" for c in p) or "none")
@pytest.mark.parametrize("slash", SLASHES, ids=lambda s: f"U{ord(s):04X}")
def test_no_prefix_and_no_slash_revives_a_command(prefix, slash):
    for command in COMMANDS:
        raw = prefix + slash + command
        text = nlu_text(raw)
        assert not acts_as_command(text), repr(raw)
        assert len(text) == len(clean_incoming(raw))  # entity offsets stay valid


def test_combining_after_the_slash_and_repeats():
    for raw in [
        "/\u0338restart",
        "/\u0301restart",
        "//restart",
        "\u200b/\u200b/restart",
        "/ /restart",
        "\u3000／\u3000/restart",
    ]:
        assert not acts_as_command(nlu_text(raw)), repr(raw)


_ALPHABET = st.sampled_from(INVISIBLE + BLANK + COMBINING + SLASHES + list('ab{}"再吗'))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.text(_ALPHABET, max_size=6), command=st.sampled_from(COMMANDS))
def test_fuzz_nothing_before_a_command_revives_it(prefix, command):
    raw = prefix + "/" + command
    assert not acts_as_command(nlu_text(raw)), repr(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_fuzz_any_text_after_normalisation_is_no_command(text):
    safe = neutralise_command(normalize(clean_incoming(text)))
    assert not acts_as_command(safe)
    assert neutralise_command(safe) == safe


# ---- the real model behind the real channel -----------------------------------------------
VARIANTS = [
    p + s + "restart"
    for p in [
        "",
        "\u200b",
        "\u200c",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u3000",
        " ",
        "\u00a0",
        "\u2028",
        "\u0301",
        "\u200b\u3000",
    ]
    for s in ["/", "\uff0f"]
]


async def test_real_rasa_parses_no_variant_as_a_command(rasa_server):
    async with aiohttp.ClientSession() as s:
        for raw in VARIANTS + [p + '/inform{"surname": "黑客"}' for p in ("", "\u200b", "\ufeff", "\u3000")]:
            async with s.post(
                f"{rasa_server.url}/model/parse",
                params={"token": rasa_server.api_token},
                json={"text": clean_incoming(raw)},
            ) as r:
                assert r.status == 200
                parse = await r.json()
            assert parse["intent"]["name"] not in ("restart", "session_start"), repr(raw)
            assert parse["intent"].get("confidence", 0) < 0.9999 or parse["intent"]["name"] != "inform", repr(raw)
            assert not any(e.get("value") == "黑客" for e in parse.get("entities") or []), repr(raw)


async def test_restart_through_the_channel_never_wipes_the_conversation(rasa_server):
    hook = f"{rasa_server.url}/webhooks/rest/webhook"
    headers = {"X-Xiaoer-Channel-Secret": rasa_server.channel_secret}
    sender = "sec-restart"
    async with aiohttp.ClientSession() as s:

        async def say(text):
            async with s.post(
                hook, headers=headers, json={"sender": sender, "message": text, "metadata": {"buyer_id": "buyer_001"}}
            ) as r:
                assert r.status == 200
                return await r.json()

        assert await say("你好")
        for raw in [
            "\u200b/restart",
            "\ufeff/restart",
            "\u3000/restart",
            "\u2060／restart",
            '\u200d/inform{"surname": "黑客"}',
        ]:
            await say(raw)
        async with s.get(
            f"{rasa_server.url}/conversations/{sender}/tracker", params={"token": rasa_server.api_token}
        ) as r:
            tracker = await r.json()
    kinds = [e["event"] for e in tracker["events"]]
    assert "restart" not in kinds
    assert "黑客" not in json.dumps(tracker["slots"], ensure_ascii=False)
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert len(users) == 6 and users[0]["text"] == "你好"  # the history is all there
