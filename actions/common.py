"""Helpers shared by the actions: store access, entities, subtopic keywords."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import yaml
from rasa_sdk import Tracker

from xiaoer.lexicon import ORDER_ID_RE
from xiaoer.phrases import pattern
from xiaoer.store_config import StoreConfig, get_store
from xiaoer.text import LEXICON_DIR, normalize

# Set by the order actions when they list the buyer's orders as buttons: what
# the list is for (query, change, cancel, return, quality) and the request in
# the shopper's words (actions.orders.Turn.remember_purpose).
ORDER_PURPOSE_SLOT = "order_purpose"
ORDER_REQUEST_SLOT = "order_request"
# An order button shows the order and posts only its number: the shopper's
# bubble (and the agents' transcript) reads "DD20241101001", the number printed
# on the button they pressed, never words they did not type. What the list was
# for is kept in the order_purpose / order_request slots by the action that
# listed it; a bare number in the next message continues that request
# (order_pick), whatever intent the NLU gives the number.
PURPOSE_ACTION = {
    "query": "action_look_up_order",
    "delay": "action_look_up_order",
    "change": "action_change_order",
    "cancel": "action_cancel_order",
    "return": "action_request_return",
    "quality": "action_report_quality_issue",
}


def store() -> StoreConfig:
    return get_store()


@lru_cache(maxsize=1)
def subtopics() -> Dict[str, Dict[str, List[str]]]:
    data = yaml.safe_load((LEXICON_DIR / "subtopics.yml").read_text(encoding="utf-8")) or {}
    return {group: {k: [str(w).lower() for w in v] for k, v in topics.items()} for group, topics in data.items()}


def set_in_last_turn(tracker: Tracker, slot: str) -> bool:
    """Did the bot's last turn (between the previous shopper message and this one)
    set `slot` to a true value? What the bot asked or showed several turns ago
    (before talking about something else) no longer counts."""
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                return False
        elif users == 1 and event.get("event") == "slot" and event.get("name") == slot:
            return bool(event.get("value"))
    return False


def _listed_in_last_turn(tracker: Tracker) -> bool:
    """Did the bot's last turn show an order list? A number typed later starts afresh."""
    return set_in_last_turn(tracker, ORDER_PURPOSE_SLOT)


def order_pick(tracker: Tracker) -> Optional[Tuple[str, str]]:
    """(purpose, earlier request) when the latest message only names an order
    (a button of the list we just showed, or the number typed), else None."""
    raw = normalize(tracker.latest_message.get("text") or "")
    if not ORDER_ID_RE.search(raw):
        return None
    rest = pattern("pick_filler").sub("", ORDER_ID_RE.sub("", raw))  # "就是这个DD…吧"
    if re.search(r"[\u4e00-\u9fffA-Za-z0-9]", rest):
        return None
    purpose = tracker.get_slot(ORDER_PURPOSE_SLOT)
    if not purpose or not _listed_in_last_turn(tracker):
        return None
    return str(purpose), str(tracker.get_slot(ORDER_REQUEST_SLOT) or "")


def picked_order_action(tracker: Tracker) -> Optional[str]:
    """The action that continues the request an order list was shown for, when
    this message is only an order number picked from it."""
    pick = order_pick(tracker)
    return PURPOSE_ACTION.get(pick[0]) if pick else None


def text_of(tracker: Tracker) -> str:
    """The latest shopper message, normalised (simplified, half-width, lower-case).
    An order picked from our list reads as the request it answers plus the
    number ("数据线坏了 dd20241101001"), so every keyword choice sees the request."""
    text = normalize(tracker.latest_message.get("text") or "").lower()
    pick = order_pick(tracker)
    if pick and pick[1]:
        return f"{normalize(pick[1]).lower()} {text}"
    return text


def subtopic(tracker: Tracker, group: str, order: Optional[List[str]] = None) -> Optional[str]:
    """First subtopic of `group` whose keywords occur in the latest message."""
    text = text_of(tracker)
    topics = subtopics().get(group, {})
    for name in order or list(topics):
        if any(k in text for k in topics.get(name, [])):
            return name
    return None


def matches(tracker: Tracker, group: str, name: str) -> bool:
    text = text_of(tracker)
    return any(k in text for k in subtopics().get(group, {}).get(name, []))


def latest_entity(tracker: Tracker, entity: str) -> Optional[str]:
    """Value of `entity` in the latest message, else None (slots may be stale)."""
    for e in tracker.latest_message.get("entities") or []:
        if e.get("entity") == entity and e.get("value"):
            return str(e["value"])
    return None


def entity_or_slot(tracker: Tracker, entity: str) -> Optional[str]:
    return latest_entity(tracker, entity) or tracker.get_slot(entity)


def metadata(tracker: Tracker) -> Dict[str, Any]:
    return dict(tracker.latest_message.get("metadata") or {})
