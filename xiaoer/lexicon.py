"""The domain lexicon (lexicon/*.yml, lexicon/words.txt) and entity extraction.

One source for three users: jieba's user dictionary (so 顺丰 / 转人工 stay
whole words for NLU and for the spaCy pipeline), the spaCy EntityRuler, and
the regular-expression entities (order numbers, phones, spec sizes).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

import yaml

from xiaoer.geo import all_place_names
from xiaoer.text import LEXICON_DIR

# DD + yyyymmdd + 3-5 digit serial, or a 16-19 digit platform order number.
ORDER_ID_RE = re.compile(r"(?<![A-Za-z0-9])(?:[Dd][Dd]\d{11,13}|\d{16,19})(?![A-Za-z0-9])")
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
SURNAME_RE = re.compile(
    r"(?:我姓|免贵姓|本人姓|叫我)([\u4e00-\u9fff])(?:先生|女士|小姐)?"
    r"|(?:我是)([\u4e00-\u9fff])(先生|女士|小姐)"
)

_lock = threading.Lock()
_registered = False


@dataclass(frozen=True)
class Lexicon:
    synonyms: Dict[str, Dict[str, str]]  # entity -> surface form -> canonical value
    size_patterns: List[re.Pattern]
    words: List[Tuple[str, Optional[int], Optional[str]]]

    def surfaces(self, entity: str) -> Dict[str, str]:
        return self.synonyms.get(entity, {})


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    data = yaml.safe_load((LEXICON_DIR / "entities.yml").read_text(encoding="utf-8")) or {}
    synonyms: Dict[str, Dict[str, str]] = {}
    for entity in ("courier", "product", "color"):
        table: Dict[str, str] = {}
        for canonical, variants in (data.get(entity) or {}).items():
            table[str(canonical)] = str(canonical)
            for v in variants or []:
                table[str(v)] = str(canonical)
        synonyms[entity] = table
    synonyms["city"] = {name: name for name in all_place_names()}
    patterns = [re.compile(p, re.IGNORECASE) for p in data.get("size_patterns") or []]
    words = []
    for line in (LEXICON_DIR / "words.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        tag = parts[2] if len(parts) > 2 else None
        words.append((parts[0], freq, tag))
    return Lexicon(synonyms, patterns, words)


def register_with_jieba() -> None:
    """Add the domain words to the process-wide jieba dictionary (idempotent).

    jieba is global: Rasa's tokenizer and spaCy's zh tokenizer both see this.
    Without it jieba merges "发顺丰" into one token and splits "转人工".
    """
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        import jieba

        jieba.setLogLevel(60)
        lex = load_lexicon()
        for word, freq, tag in lex.words:
            jieba.add_word(word, freq or 1000, tag)
        for table in lex.synonyms.values():
            for surface in table:
                if len(surface) >= 2 and not surface.isascii():
                    jieba.add_word(surface, 1500)
                elif surface.isascii() and len(surface) >= 2:
                    jieba.add_word(surface, 800)
        _registered = True


def _overlaps(spans: List[dict], start: int, end: int) -> bool:
    return any(not (end <= s["start"] or start >= s["end"]) for s in spans)


_surface_indexes: Dict[int, Tuple[Lexicon, Dict[str, List[tuple]]]] = {}


def _surface_index(lex: Lexicon) -> Dict[str, List[tuple]]:
    """First character of a lower-cased surface -> (lexicon order, surface, length, entity, value)."""
    hit = _surface_indexes.get(id(lex))
    if hit is not None and hit[0] is lex:
        return hit[1]
    index: Dict[str, List[tuple]] = {}
    order = 0
    for entity in ("courier", "product", "color", "city"):
        for surface, canonical in lex.surfaces(entity).items():
            if len(surface) == 1 and entity != "color":
                continue
            s_low = surface.lower()
            index.setdefault(s_low[:1], []).append((order, s_low, len(surface), entity, canonical))
            order += 1
    _surface_indexes.clear()
    _surface_indexes[id(lex)] = (lex, index)
    return index


def extract_entities(text: str) -> List[dict]:
    """Entities in normalised text: [{entity, start, end, value, text}].

    Order numbers and phones by pattern; couriers, products, colours and
    places by longest lexicon match; spec sizes by pattern. Values are
    canonical (SF -> 顺丰速运); `text` is what was written.
    """
    found: List[dict] = []
    for m in ORDER_ID_RE.finditer(text):
        found.append({"entity": "order_id", "start": m.start(), "end": m.end(), "value": m.group().upper()})
    for m in PHONE_RE.finditer(text):
        if not _overlaps(found, m.start(), m.end()):
            found.append({"entity": "phone", "start": m.start(), "end": m.end(), "value": m.group()})
    lex = load_lexicon()
    lowered = text.lower()
    candidates = []
    # only the surfaces whose first character is in the text can be found in it (in lexicon order)
    index = _surface_index(lex)
    for _order, s_low, length, entity, canonical in sorted(e for ch in {"", *lowered} for e in index.get(ch, ())):
        start = lowered.find(s_low)
        while start != -1:
            candidates.append((start, start + length, entity, canonical))
            start = lowered.find(s_low, start + 1)
    for rx in lex.size_patterns:
        for m in rx.finditer(lowered):
            candidates.append((m.start(), m.end(), "size", text[m.start() : m.end()].strip()))
    # longest match first, then leftmost
    candidates.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
    for start, end, entity, value in candidates:
        if _overlaps(found, start, end):
            continue
        if entity == "color" and end - start == 1:
            # a bare 黑/白 counts only next to a product word or 色/的 ("要黑的", "黑色")
            nxt = text[end : end + 1]
            if nxt not in ("色", "的", "款", " ", "") and not nxt.isascii():
                continue
        if entity == "size" and text[start:end].strip().lower() in {"s", "m", "l"}:
            # single-letter sizes only when written as a size ("L码", "要M的")
            after = text[end : end + 1]
            before = text[max(0, start - 1) : start]
            if after not in ("码", "号", "的") and before not in ("要", " ", "选"):
                continue
        found.append({"entity": entity, "start": start, "end": end, "value": value})
    m = SURNAME_RE.search(text)
    if m:
        surname = m.group(1) or m.group(2)
        title = m.group(3) if m.group(2) else None
        found.append({"entity": "surname", "start": m.start(), "end": m.end(), "value": surname + (title or "")})
    for e in found:
        e["text"] = text[e["start"] : e["end"]]
    return sorted(found, key=lambda e: e["start"])
