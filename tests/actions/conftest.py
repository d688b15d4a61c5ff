"""Action test kit: trackers built in code, a temporary shop backend.

tracker = make_tracker("我要开发票", intent="ask_invoice", entities=[...], slots={...},
                       metadata={"buyer_id": "buyer_001"})
events = await run_action(ActionAnswerInvoice(), tracker)
dispatcher.messages[0]["response"] == "utter_invoice_delay"
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import records


def make_tracker(
    text: str = "",
    intent: Optional[str] = None,
    entities: Optional[List[Dict[str, Any]]] = None,
    slots: Optional[Dict[str, Any]] = None,
    metadata: Optional[Dict[str, Any]] = None,
    events: Optional[List[Dict[str, Any]]] = None,
    sender_id: str = "test-shopper",
    confidence: float = 0.95,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    history = list(events or [])
    history.append({"event": "user", "text": text, "parse_data": latest, "metadata": metadata or {}})
    return Tracker(sender_id, dict(slots or {}), latest, history, False, None, {}, "action_listen")


def previous_turn(text: str, intent: str, action: str) -> List[Dict[str, Any]]:
    """Events of an earlier exchange, for actions that look back."""
    return [
        {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}},
        {"event": "action", "name": action},
        {"event": "bot", "text": "..."},
        {"event": "action", "name": "action_listen"},
    ]


async def run_action(action, tracker: Tracker, domain: Optional[Dict[str, Any]] = None):
    """Run `action` on `tracker`; every message it dispatched is also rendered
    through the real StoreNLG and must come out whole (assert_rendered)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain or {})
    await assert_rendered(dispatcher, tracker)
    return dispatcher, events


@pytest.fixture()
async def shop_backend(tmp_path):
    """A fresh shop database per test, injected where the actions look for it."""
    from shop.sql import SqlShop

    backend = SqlShop(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    await backend.start()
    records.set_backend(backend)
    yield backend
    records.set_backend(None)
    await backend.close()


# ---- what the shopper sees ---------------------------------------------------------------

_domain_cache: Dict[str, Any] = {}


def _domain():
    from pathlib import Path

    from rasa.shared.core.domain import Domain

    if "domain" not in _domain_cache:
        _domain_cache["domain"] = Domain.load(str(Path(__file__).resolve().parents[2] / "domain"))
    return _domain_cache["domain"]


async def shopper_sees(
    dispatcher: CollectingDispatcher, text: str = "", slots: Optional[Dict[str, Any]] = None
) -> List[Dict[str, Any]]:
    """The bot messages an action dispatched, as Rasa turns them into what the
    shopper gets: Rasa's own RemoteAction code fills each `response=` through
    the project's NLG (rasa_ext.nlg.StoreNLG: store values, policy guard,
    script) and adds the action's buttons and custom payloads."""
    import copy

    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.shared.core.events import SlotSet as CoreSlotSet
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from rasa_ext.nlg import StoreNLG

    domain = _domain()
    events = [UserUttered(text)] + [CoreSlotSet(k, v) for k, v in (slots or {}).items()]
    tracker = DialogueStateTracker.from_events("shopper", events, slots=domain.slots)
    bots = await RemoteAction._utter_responses(
        copy.deepcopy(dispatcher.messages), CollectingOutputChannel(), StoreNLG(domain=domain), tracker
    )
    return [
        {
            "text": b.text or "",
            "buttons": b.data.get("buttons") or [],
            "custom": b.data.get("custom"),
            "response": (b.metadata or {}).get("utter_action"),
        }
        for b in bots
    ]


def texts(seen: List[Dict[str, Any]]) -> List[str]:
    """Only the messages with words in them (not the hidden handoff payload)."""
    return [m["text"] for m in seen if m["text"]]


UNFILLED_RE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*\}")


async def assert_rendered(dispatcher: CollectingDispatcher, tracker: Optional[Tracker] = None) -> List[Dict[str, Any]]:
    """Render what an action dispatched as the shopper would get it
    (shopper_sees: Rasa's RemoteAction + rasa_ext.nlg.StoreNLG, the tracker's
    slots as they were when the action ran) and fail on a response the domain
    does not have or a `{placeholder}` left unfilled — a renamed placeholder or
    a value the action forgot to pass. Returns what the shopper sees."""
    slots: Dict[str, Any] = {}
    if tracker is not None:
        known = {s.name for s in _domain().slots}
        slots = {k: v for k, v in (tracker.slots or {}).items() if k in known and v is not None}
    text = (tracker.latest_message.get("text") or "") if tracker is not None else ""
    seen = await shopper_sees(dispatcher, text, slots)
    sent = [m["response"] for m in dispatcher.messages if m.get("response")]
    rendered = [m["response"] for m in seen if m["response"]]
    assert rendered == sent, f"responses missing from the domain: {sorted(set(sent) - set(rendered))}"
    unfilled = [
        (m["response"], part)
        for m in seen
        for part in [m["text"], *(b.get("title") or "" for b in m["buttons"])]
        if UNFILLED_RE.search(part)
    ]
    assert unfilled == [], f"placeholders left unfilled: {unfilled}"
    return seen
