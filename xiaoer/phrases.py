"""lexicon/phrases.yml: wording the actions and the NLG match or compose that
is not a keyword list (how to address a shopper, the regular expressions for
order references and addresses). No Rasa import."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, Pattern

import yaml

from xiaoer.lexicon import ORDER_ID_RE
from xiaoer.text import LEXICON_DIR

PHRASES_PATH = LEXICON_DIR / "phrases.yml"


@lru_cache(maxsize=1)
def phrases() -> Dict[str, Any]:
    data = yaml.safe_load(PHRASES_PATH.read_text(encoding="utf-8")) or {}
    for key in ("addressing", "patterns", "quality_category"):
        if not data.get(key):
            raise ValueError(f"lexicon/phrases.yml: {key} is required")
    return data


def addressing() -> Dict[str, Any]:
    return phrases()["addressing"]


def default_address() -> str:
    """How a reply addresses a shopper whose name we do not know ({address})."""
    return str(addressing()["default"])


@lru_cache(maxsize=None)
def pattern(name: str) -> Pattern[str]:
    """A regular expression of lexicon/phrases.yml `patterns`, {order_id} filled in."""
    source = phrases()["patterns"].get(name)
    if not source:
        raise KeyError(f"lexicon/phrases.yml: patterns.{name} is missing")
    return re.compile(str(source).replace("{order_id}", ORDER_ID_RE.pattern))
