"""Issue 13, defect 4: when an agent resolves (or hands back), the bot is told
what was resolved, so the shopper's next message about the same problem is
continued, not answered as out of scope (actions/handback.py, domain/handback.yml).

Rasa's extension point: the external event EXTERNAL_handback posted with
trigger_intent after the resume; its entities are the agent's resolution."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from xiaoer.handback import shorten

INTENT = "EXTERNAL_handback"
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def resolution_summary(messages: List[Dict[str, Any]], given: Optional[str] = None) -> str:
    """What the agent resolved, in the agent's words: the summary the agent typed when
    resolving, else their last reply that says more than a closing formula."""
    given = CONTROL_RE.sub("", given or "")
    if given.strip():
        return shorten(given)
    replies = [m["text"].strip() for m in messages if m["sender"] == "agent" and (m.get("text") or "").strip()]
    for text in reversed(replies):
        if len(text) >= 6:  # "好的" / "不客气" say nothing about the case
            return shorten(text)
    return shorten(replies[-1]) if replies else ""


def entities(
    conv: Dict[str, Any],
    agent: Dict[str, Any],
    messages: List[Dict[str, Any]],
    order_id: Optional[str],
    summary: Optional[str] = None,
) -> Dict[str, str]:
    out = {"handback_summary": resolution_summary(messages, summary), "handback_agent": str(agent.get("number") or "")}
    if conv.get("category"):
        out["handback_category"] = str(conv["category"])
    if order_id:
        out["order_id"] = order_id
    return {k: v for k, v in out.items() if v}
