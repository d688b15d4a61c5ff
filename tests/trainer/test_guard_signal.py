"""The guard-rewrite signal: when the policy guard rewrites a bot reply on its
way out (rasa_ext/nlg.py), Rasa keeps the rule ids in the bot event's metadata,
the shopper never sees them, and the trainer's inbox ranks the conversation."""

from __future__ import annotations

import time

from rasa.core.actions.action import create_bot_utterance
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ext.nlg import StoreNLG
from trainer.review import load_conversations, rank

DOMAIN = Domain.from_dict(
    {"responses": {"utter_bad": [{"text": "亲,特价商品没有发票哦"}], "utter_fine": [{"text": "亲,可以开电子发票的"}]}}
)


async def bot_event(name: str, shopper: str):
    tr = DialogueStateTracker.from_events("s", [UserUttered(shopper)], slots=[])
    message = await StoreNLG(domain=DOMAIN).generate(name, tr, "rest")
    message["utter_action"] = name  # what Rasa's ActionBotResponse adds
    return create_bot_utterance(message)


async def test_a_rewritten_reply_is_a_signal_in_the_inbox(tmp_path):
    rewritten = await bot_event("utter_bad", "能开票吗")
    assert "没有发票" not in rewritten.text
    assert rewritten.metadata["guard"], rewritten.metadata  # the rule ids, e.g. ["R4"]
    fine = await bot_event("utter_fine", "能开票吗")
    assert "guard" not in fine.metadata

    # what the shopper's channel gets: the rewritten text, no trace of the guard
    out = CollectingOutputChannel()
    await out.send_response("s", rewritten.message())
    assert out.messages == [{"recipient_id": "s", "text": rewritten.text}]

    db = tmp_path / "tracker.db"
    store = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    t0 = time.time() - 60
    for sid, bot in (("guarded", rewritten), ("plain", fine)):
        bot.timestamp = t0 + 2
        evs = [
            ActionExecuted("action_listen", timestamp=t0),
            UserUttered(
                "能开票吗",
                {"name": "ask_invoice", "confidence": 0.97},
                parse_data={"intent": {"name": "ask_invoice", "confidence": 0.97}, "entities": []},
                timestamp=t0 + 1,
            ),
            ActionExecuted("utter_bad", timestamp=t0 + 2),
            bot,
        ]
        await store.save(DialogueStateTracker.from_events(sid, evs))
    convs = load_conversations(f"sqlite:///{db}")
    ranked = rank(convs)
    assert [c.sender_id for c in ranked] == ["guarded"]
    assert ranked[0].signals == {"guard_rewrite": 1} and ranked[0].turns[0].signals == ["guard_rewrite"]
    assert ranked[0].turns[0].guard == rewritten.metadata["guard"]  # which rules, for the trainer to read
    assert [c.sender_id for c in rank(convs, signal="guard_rewrite")] == ["guarded"]
