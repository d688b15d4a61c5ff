"""Issue 13, defect 4: the bot continues from what an agent resolved.

When an agent presses 解决 (or 交还机器人) the desk tells Rasa with the external
event EXTERNAL_handback, whose entities carry the agent's resolution: a short
summary, the complaint category, the order under discussion and the agent's
number. actions/handback.py keeps them in slots; on the shopper's next message
that the bot could not otherwise answer, the case is continued (the agent's
resolution acknowledged, a human chat offered again) when the message is about
it. This module decides that, with no Rasa import: words in lexicon/handback.yml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import yaml

from xiaoer.lexicon import ORDER_ID_RE

LEXICON = Path(__file__).resolve().parents[1] / "lexicon" / "handback.yml"
SUMMARY_CHARS = 60
HAN_RUN_RE = re.compile(r"[\u4e00-\u9fff]{2,}")


@dataclass(frozen=True)
class Words:
    fresh_hours: float
    back_references: tuple
    summary_stopwords: frozenset


@lru_cache(maxsize=1)
def words() -> Words:
    data = yaml.safe_load(LEXICON.read_text(encoding="utf-8")) or {}
    return Words(
        fresh_hours=float(data.get("fresh_hours", 24)),
        back_references=tuple(str(w).lower() for w in data.get("back_references") or ()),
        summary_stopwords=frozenset(str(w) for w in data.get("summary_stopwords") or ()),
    )


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "……"


def _text(value: Any) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


@dataclass(frozen=True)
class Handback:
    summary: str = ""
    category: Optional[str] = None
    order_id: Optional[str] = None
    agent_number: Optional[str] = None
    at: Optional[datetime] = None

    @classmethod
    def from_entities(cls, entities: Iterable[Dict[str, Any]], at: datetime) -> "Handback":
        """From the external event's entities (desk/handback.py writes them)."""
        values = {e.get("entity"): e.get("value") for e in entities or () if isinstance(e, dict)}
        order = _text(values.get("order_id"))
        return cls(
            summary=shorten(_text(values.get("handback_summary")) or ""),
            category=_text(values.get("handback_category")),
            order_id=order if order and ORDER_ID_RE.fullmatch(order) else None,
            agent_number=_text(values.get("handback_agent")),
            at=at,
        )

    def fresh(self, now: datetime, hours: Optional[float] = None) -> bool:
        if self.at is None:
            return False
        hours = words().fresh_hours if hours is None else hours
        return timedelta(0) <= now - self.at <= timedelta(hours=hours)

    def summary_terms(self) -> List[str]:
        """Two-character pieces of the summary's Chinese runs, without the polite words:
        "已为您申请补发耳机" gives 补发, 耳机 ... for matching the shopper's message."""
        stop = words().summary_stopwords
        terms = []
        for run in HAN_RUN_RE.findall(self.summary):
            for i in range(len(run) - 1):
                piece = run[i : i + 2]
                if piece not in stop:
                    terms.append(piece)
        return terms

    def about(self, text: str, category_words: Iterable[str] = ()) -> bool:
        """Is the shopper's (normalised) message about this case? Another order number
        says no; this order, a word pointing back ("刚才那个问题"), a word of the
        agent's summary or of the case's category says yes."""
        text = (text or "").lower()
        named = {o.lower() for o in ORDER_ID_RE.findall(text)}
        if named:
            return bool(self.order_id) and self.order_id.lower() in named
        if any(w in text for w in words().back_references):
            return True
        if any(t in text for t in self.summary_terms()):
            return True
        return any(w and w in text for w in category_words)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_at(value: Any) -> Optional[datetime]:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
