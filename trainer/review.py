"""Conversations as a trainer reviews them: per shopper message the intent
ranking, entities and what the bot did, and the signals that something went
wrong. Everything here is masked (trainer.masking)."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional

from trainer.masking import mask_entities, mask_text
from trainer.sources import read_desk, read_events

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTION = "action_handle_fallback"
UNRESOLVED = "utter_unresolved"  # the C7 reply (second miss in a row)
LOW_CONFIDENCE = 0.5
# how much each signal weighs in the ranking: a person's judgement (a bad rating,
# a handoff) counts more than the model's own doubt
WEIGHTS = {
    "rating_low": 5,
    "c7_miss": 4,
    "handoff": 3,
    "nlu_fallback": 3,
    "rephrase": 2,
    "guard_rewrite": 2,
    "low_confidence": 1,
}
SIGNALS = tuple(WEIGHTS)
SKIP_ACTIONS = {"action_listen", "action_session_start", "action_unlikely_intent"}


@dataclass
class Turn:
    index: int  # position among the shopper messages of the conversation
    ts: float
    text: str  # masked
    intent: Optional[str]
    confidence: float
    ranking: List[Dict[str, Any]]
    entities: List[Dict[str, Any]]
    actions: List[str] = field(default_factory=list)  # actions and active_loop markers, in order
    bot: List[str] = field(default_factory=list)  # what the bot said (masked)
    signals: List[str] = field(default_factory=list)
    guard: List[str] = field(default_factory=list)  # rules the policy guard rewrote or blocked replies for


@dataclass
class Conversation:
    sender_id: str
    started: float
    last: float
    turns: List[Turn]
    signals: Dict[str, int]
    handoffs: List[str]
    ratings: List[int]

    @property
    def score(self) -> int:
        return sum(WEIGHTS[s] * n for s, n in self.signals.items())

    def summary(self) -> Dict[str, Any]:
        first = next((t.text for t in self.turns), "")
        return {
            "sender_id": self.sender_id,
            "started": iso(self.started),
            "last": iso(self.last),
            "score": self.score,
            "signals": self.signals,
            "messages": len(self.turns),
            "first_message": first[:60],
            "handoffs": self.handoffs,
            "ratings": self.ratings,
            "intents": sorted({t.intent for t in self.turns if t.intent}),
        }

    def to_dict(self) -> Dict[str, Any]:
        d = self.summary()
        d["turns"] = [asdict(t) for t in self.turns]
        return d


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else ""


def _similar(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if len(a) < 3 or len(b) < 3:
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.5


def build(
    sender_id: str,
    events: List[Dict[str, Any]],
    desk: Optional[Dict[str, Any]] = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> Conversation:
    turns: List[Turn] = []
    for e in events:
        kind = e.get("event")
        if kind == "user":
            text = e.get("text") or ""
            parse = e.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            conf = float((parse.get("intent") or {}).get("confidence") or 0.0)
            masked = mask_text(text)
            ranking = [
                {"name": r.get("name"), "confidence": round(float(r.get("confidence") or 0), 4)}
                for r in (parse.get("intent_ranking") or [])[:5]
            ]
            t = Turn(
                len(turns),
                float(e.get("timestamp") or 0),
                masked,
                intent,
                round(conf, 4),
                ranking,
                mask_entities(text, masked, parse.get("entities") or []),
            )
            if intent == FALLBACK_INTENT:
                t.signals.append("nlu_fallback")
            elif intent and conf < low_confidence:
                t.signals.append("low_confidence")
            if turns and _similar(turns[-1].text, masked):
                t.signals.append("rephrase")
            turns.append(t)
        elif not turns:
            continue
        elif kind == "action" and e.get("name") not in SKIP_ACTIONS:
            turns[-1].actions.append(e["name"])
        elif kind == "active_loop":
            turns[-1].actions.append({"active_loop": e.get("name")})
        elif kind == "bot":
            meta = e.get("metadata") or {}
            turns[-1].bot.append(mask_text(e.get("text") or ""))
            if UNRESOLVED in (meta.get("utter_action"), meta.get("template_name")):
                turns[-1].signals.append("c7_miss")
            if meta.get("guard"):  # rule ids, written by rasa_ext/nlg.py when the guard changed the reply
                turns[-1].signals.append("guard_rewrite")
                turns[-1].guard += [str(r) for r in meta["guard"] if str(r) not in turns[-1].guard]
            custom = (e.get("data") or {}).get("custom") or {}
            if isinstance(custom, dict) and custom.get("handoff"):
                turns[-1].signals.append("handoff")
    # the C7 miss is also visible without response metadata: two fallbacks in a row
    for prev, cur in zip(turns, turns[1:], strict=False):
        if FALLBACK_ACTION in prev.actions and FALLBACK_ACTION in cur.actions and "c7_miss" not in cur.signals:
            cur.signals.append("c7_miss")
    desk = desk or {}
    handoffs = list(desk.get("handoffs") or [])
    ratings = list(desk.get("ratings") or [])
    signals: Dict[str, int] = {}
    for t in turns:
        for s in t.signals:
            signals[s] = signals.get(s, 0) + 1
    if handoffs and "handoff" not in signals:
        signals["handoff"] = len(handoffs)
    low = sum(1 for r in ratings if r <= 2)
    if low:
        signals["rating_low"] = low
    stamps = [float(e.get("timestamp") or 0) for e in events if e.get("timestamp")]
    return Conversation(sender_id, min(stamps, default=0), max(stamps, default=0), turns, signals, handoffs, ratings)


def load_conversations(
    tracker_url: str,
    desk_url: Optional[str] = None,
    *,
    since: Optional[float] = None,
    until: Optional[float] = None,
    sender_id: Optional[str] = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> List[Conversation]:
    per_sender = read_events(tracker_url, since=since, until=until, sender_id=sender_id)
    desk = read_desk(desk_url, list(per_sender)) if desk_url else {}
    return [build(sid, evs, desk.get(sid), low_confidence) for sid, evs in per_sender.items()]


def rank(
    conversations: Iterable[Conversation],
    *,
    signal: Optional[str] = None,
    intent: Optional[str] = None,
    corrected: Optional[Dict[str, Dict[int, str]]] = None,
    include_clean: bool = False,
) -> List[Conversation]:
    """Most worrying first. `intent` matches the predicted or the corrected intent
    of any message; without `include_clean` a conversation without signals is left out."""
    out = []
    for c in conversations:
        if signal and signal not in c.signals:
            continue
        if not include_clean and not c.signals and not signal:
            continue
        if intent:
            fixed = (corrected or {}).get(c.sender_id, {})
            if not any(t.intent == intent or fixed.get(t.index) == intent for t in c.turns):
                continue
        out.append(c)
    return sorted(out, key=lambda c: (-c.score, -c.last))
