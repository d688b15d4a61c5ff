"""What an action is shown of a long conversation (endpoints.yml `tracker_store:
action_turns`, rasa_ext/tracker_store.Tracker): the session's last shopper turns of
events, every slot, and the same answers from our actions and from rasa-sdk as with
the whole session. Issue #11: Rasa posted every event of the session with each action
call, and that grew with the conversation.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk.interfaces import Tracker as SdkTracker

from actions.common import ORDER_PURPOSE_SLOT, set_in_last_turn
from actions.fallback import FALLBACK_ACTION, previous_turn_was_fallback
from rasa_ext.tracker_store import CachingSQLTrackerStore, Tracker
from tests.test_turn_calls import MODEL, bot, say, shop  # noqa: F401  (the fixtures: agent + action server)

REPO = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(str(REPO / "domain"))


def _conversation(rng: random.Random, turns: int):
    """Shopper turns as Rasa stores them: a message, now and then a fallback, an order
    list (the purpose slot), a form with its loop events, the reply, action_listen."""
    ts = 1_700_000_000.0
    for i in range(turns):
        ts += 5
        intent = rng.choice(["ask_shipping_time", "nlu_fallback", "check_order", "greet"])
        channel = rng.choice(["widget", "rest"])
        yield UserUttered(f"第{i}句", {"name": intent, "confidence": 0.9}, input_channel=channel, timestamp=ts)
        if intent == "nlu_fallback":
            yield ActionExecuted(FALLBACK_ACTION, timestamp=ts + 0.1)
        elif intent == "check_order":
            yield ActionExecuted("action_look_up_order", timestamp=ts + 0.1)
            yield SlotSet(ORDER_PURPOSE_SLOT, rng.choice(["status", None, "refund"]), timestamp=ts + 0.1)
        elif rng.random() < 0.2:
            yield ActionExecuted("address_form", timestamp=ts + 0.1)
            yield ActiveLoop(rng.choice(["address_form", None]), timestamp=ts + 0.1)
            yield SlotSet("order_id", rng.choice([None, "DD20261117031"]), timestamp=ts + 0.1)
        else:
            yield ActionExecuted("utter_greet", timestamp=ts + 0.1)
        yield BotUttered("亲", {"elements": None}, {"utter_action": "utter_greet"}, timestamp=ts + 0.2)
        yield ActionExecuted("action_listen", timestamp=ts + 0.3)


def _shown(tracker: DialogueStateTracker) -> SdkTracker:
    """The tracker as the action server builds it from what Rasa posts."""
    return SdkTracker.from_dict(tracker.copy().current_state(EventVerbosity.ALL))


def _answers(t: SdkTracker):
    return (
        previous_turn_was_fallback(t),
        set_in_last_turn(t, ORDER_PURPOSE_SLOT),
        t.slots_to_validate(),
        t.get_latest_input_channel(),
        t.latest_message,
        t.slots,
        t.active_loop,
        t.latest_action_name,
        t.followup_action,
        t.is_paused(),
    )


@pytest.mark.parametrize("turns", [2, 10])
def test_an_action_sees_the_last_turns_and_answers_as_with_the_whole_session(turns):
    rng = random.Random(turns)
    ours, rasas = Tracker("p1", DOMAIN.slots), DialogueStateTracker("p1", DOMAIN.slots)
    ours.action_turns = turns
    largest = 0
    for event in _conversation(rng, 60):
        ours.update(event, DOMAIN)
        rasas.update(event, DOMAIN)
        if not isinstance(event, (UserUttered, ActionExecuted)):
            continue  # an action runs after a message or after another action
        shown, whole = _shown(ours), SdkTracker.from_dict(rasas.current_state(EventVerbosity.ALL))
        assert _answers(shown) == _answers(whole)
        users = sum(1 for e in shown.events if e["event"] == "user")
        assert users == min(turns, sum(1 for e in rasas.events if isinstance(e, UserUttered)))
        largest = max(largest, len(shown.events))
        # everything but the events is Rasa's own state
        state, full = ours.copy().current_state(EventVerbosity.ALL), rasas.current_state(EventVerbosity.ALL)
        assert {k: v for k, v in state.items() if k != "events"} == {k: v for k, v in full.items() if k != "events"}
        assert state["events"] == full["events"][-len(state["events"]) :]
    assert largest <= 7 * turns  # and not the 300-odd events of the whole session
    # the tracker itself (what the store keeps and the HTTP API shows) has every event
    assert ours.current_state(EventVerbosity.ALL)["events"] == rasas.current_state(EventVerbosity.ALL)["events"]


def test_one_turn_would_lose_the_previous_turn_and_is_refused(tmp_path):
    # the window our actions need: with one turn, a second miss in a row looks like a first
    ours = Tracker("p2", DOMAIN.slots)
    ours.action_turns = 1
    for event in [
        UserUttered("嗯", {"name": "nlu_fallback", "confidence": 0.2}),
        ActionExecuted(FALLBACK_ACTION),
        ActionExecuted("action_listen"),
        UserUttered("嗯嗯", {"name": "nlu_fallback", "confidence": 0.2}),
    ]:
        ours.update(event, DOMAIN)
    assert previous_turn_was_fallback(SdkTracker.from_dict(ours.current_state(EventVerbosity.ALL)))
    assert not previous_turn_was_fallback(_shown(ours))
    with pytest.raises(ValueError, match="action_turns"):
        CachingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"), action_turns=1)


needs_model = pytest.mark.skipif(not MODEL.exists(), reason=f"no trained model at {MODEL}: make train")


@needs_model
async def test_a_long_conversation_posts_its_last_turns_and_keeps_every_event(bot):  # noqa: F811
    agent, server = bot
    bodies = []
    run = server.executor.run

    async def recording(body):
        bodies.append(body)
        return await run(body)

    server.executor.run = recording
    questions = ["包邮吗", "发什么快递", "能开发票吗", "几天能到"]
    first, _ = await say(bot, "long-1", questions[0])
    for i in range(1, 15):
        replies, _ = await say(bot, "long-1", questions[i % len(questions)])
        assert replies, f"turn {i + 1} got no reply"
    last, calls = await say(bot, "long-1", questions[0])
    assert last == first and calls == ["action_answer_shipping_fee"]  # turn 16 answered as turn 1

    tracker = await agent.tracker_store.retrieve("long-1")
    said = [e.text for e in tracker.events if isinstance(e, UserUttered)]
    assert len(said) == 16  # the stored conversation is whole
    body = bodies[-1]["tracker"]
    users = [e["text"] for e in body["events"] if e["event"] == "user"]
    assert users == said[-10:]  # endpoints.yml action_turns: 10
    assert body["latest_message"]["text"] == "包邮吗"
    assert body["slots"] == tracker.current_slot_values()
