"""Opt-out phrases ("别再发了" …) from lexicon/followups.yml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Optional

import yaml

LEXICON = Path(__file__).resolve().parent.parent / "lexicon" / "followups.yml"
SPACE_RE = re.compile(r"[\s,，。.!！?？~、]+")


class OptOutWords:
    def __init__(self, phrases: Iterable[str]) -> None:
        self.phrases = [self._norm(p) for p in phrases if str(p).strip()]

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "OptOutWords":
        data = yaml.safe_load((path or LEXICON).read_text(encoding="utf-8")) or {}
        return cls(data.get("opt_out") or [])

    @staticmethod
    def _norm(text: str) -> str:
        from xiaoer.text import to_simplified

        return SPACE_RE.sub("", to_simplified(str(text)))

    def match(self, text: str) -> bool:
        t = self._norm(text or "")
        return any(p in t for p in self.phrases)
