"""F4: a promise in an agent's reply ("2小时内给您答复") -> its duration.
Units and verbs come from lexicon/followups.yml `promise:`."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Optional

import yaml

from followup.optout import LEXICON

DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
NEAR = 8  # characters between the duration and the verb


def _number(text: str) -> Optional[float]:
    if text == "半":
        return 0.5
    if text.isdigit():
        return float(text)
    if text == "十":
        return 10.0
    if len(text) == 2 and text[0] == "十":
        return 10.0 + DIGITS.get(text[1], 0)
    if len(text) == 2 and text[1] == "十":
        return DIGITS.get(text[0], 0) * 10.0
    if len(text) == 1:
        return float(DIGITS.get(text, 0)) or None
    return None


class PromiseParser:
    def __init__(self, units, verbs) -> None:
        self.units = {str(k): float(v) for k, v in units.items()}
        self.verbs = [str(v) for v in verbs]
        alt = "|".join(sorted(map(re.escape, self.units), key=len, reverse=True))
        self.re = re.compile(rf"(\d+|[一二两三四五六七八九十]{{1,2}}|半)\s*({alt})(?:之)?内")

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "PromiseParser":
        data = (yaml.safe_load((path or LEXICON).read_text(encoding="utf-8")) or {}).get("promise") or {}
        return cls(data.get("units") or {}, data.get("verbs") or [])

    def duration(self, text: str) -> Optional[timedelta]:
        """The shortest duration promised in `text`, or None when nothing is promised."""
        found = []
        for m in self.re.finditer(text or ""):
            n = _number(m.group(1))
            tail = text[m.end() : m.end() + NEAR + 4]
            if n and any(v in tail for v in self.verbs):
                found.append(timedelta(minutes=n * self.units[m.group(2)]))
        return min(found) if found else None
