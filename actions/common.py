"""Helpers shared by the actions: store access, entities, subtopic keywords."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Optional

import yaml
from rasa_sdk import Tracker

from xiaoer.store_config import StoreConfig, get_store
from xiaoer.text import LEXICON_DIR, normalize


def store() -> StoreConfig:
    return get_store()


@lru_cache(maxsize=1)
def subtopics() -> Dict[str, Dict[str, List[str]]]:
    data = yaml.safe_load((LEXICON_DIR / "subtopics.yml").read_text(encoding="utf-8")) or {}
    return {group: {k: [str(w).lower() for w in v] for k, v in topics.items()} for group, topics in data.items()}


def text_of(tracker: Tracker) -> str:
    """The latest shopper message, normalised (simplified, half-width, lower-case)."""
    return normalize(tracker.latest_message.get("text") or "").lower()


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
