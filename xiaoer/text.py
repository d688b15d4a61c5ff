"""Text normalisation for shoppers' Chinese, shared by NLU, the guard and the desk.

`normalize` keeps the length of the text: entity positions found on the
normalised text are valid on what the shopper typed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

import yaml

LEXICON_DIR = Path(__file__).resolve().parent.parent / "lexicon"
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), " ")
_HAN = re.compile(r"[\u3400-\u9fff]")
# Characters that OpenCC maps although they are also ordinary simplified
# characters; on their own they do not mean the shopper writes traditional.
_AMBIGUOUS = set("著乾夥蹟佔")


@lru_cache(maxsize=None)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def _convert_same_length(text: str, config: str) -> str:
    out = _converter(config).convert(text)
    if len(out) == len(text):
        return out
    # A phrase rule changed the length: convert character by character instead.
    conv = _converter(config)
    return "".join(c if len(conv.convert(c)) != 1 else conv.convert(c) for c in text)


@lru_cache(maxsize=1)
def _typos() -> Dict[str, str]:
    path = LEXICON_DIR / "typos.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    bad = [k for k, v in data.items() if len(str(k)) != len(str(v))]
    if bad:
        raise ValueError(f"lexicon/typos.yml: wrong and right spelling differ in length: {bad}")
    return {str(k): str(v) for k, v in data.items()}


def fullwidth_to_halfwidth(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        elif code == 0x3000:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def to_simplified(text: str) -> str:
    return _convert_same_length(text, "t2s")


def to_traditional(text: str) -> str:
    return _converter("s2t").convert(text)


def is_traditional(text: Optional[str]) -> bool:
    """True when the text has characters that only traditional script uses."""
    if not text or not _HAN.search(text):
        return False
    simp = _converter("t2s").convert(text)
    if len(simp) != len(text):
        simp = to_simplified(text)
    changed = [a for a, b in zip(text, simp, strict=False) if a != b and a not in _AMBIGUOUS]
    return len(changed) >= 1


def has_han(text: Optional[str]) -> bool:
    return bool(text and _HAN.search(text))


def normalize(text: str) -> str:
    """Full-width -> half-width, traditional -> simplified, known typos fixed,
    zero-width characters blanked. Same length in, same length out."""
    if not text:
        return ""
    t = text.translate(_ZERO_WIDTH)
    t = fullwidth_to_halfwidth(t)
    t = to_simplified(t)
    for wrong, right in _typos().items():
        if wrong in t:
            t = t.replace(wrong, right)
    return t


# Control characters dropped from anything people type (tab, newline and CR are kept);
# the one definition (desk/service.py still has a copy to replace with this).
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_incoming(text: Optional[str], max_chars: int = 2000) -> str:
    """What a channel should accept from a shopper: control bytes dropped,
    length capped, surrounding blanks trimmed. A leading "/" is left alone here:
    only `neutralise_command`, after every normalisation step, decides that."""
    if text is None:
        return ""
    t = CONTROL_RE.sub("", str(text))
    t = unicodedata.normalize("NFC", t).strip()
    if len(t) > max_chars:
        t = t[:max_chars]
    return t


# Characters nobody sees or that count as blank: Rasa's RegexMessageHandler
# strips whitespace before looking for "/", and a normaliser may blank or drop
# the others, so none of them may hide a command.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Mc", "Me", "Zs", "Zl", "Zp"}
_INVISIBLE_EXTRA = set("\u115f\u1160\u3164\uffa0\u2800\u180e")
SAFE_SLASH = "\uff0f"  # full-width solidus: NLU reads it as text, Rasa as no command


def _invisible(ch: str) -> bool:
    return ch.isspace() or ch in _INVISIBLE_EXTRA or unicodedata.category(ch) in _INVISIBLE_CATEGORIES


def _slash_like(ch: str) -> bool:
    return ch == "/" or unicodedata.normalize("NFKC", ch) == "/" or ch in "\u2044\u2215\u29f8"


def neutralise_command(text: str) -> str:
    """The one guard against shopper text acting as a Rasa intent command
    ("/restart" un-pauses a handoff and wipes the history, "/inform{...}" sets
    slots). Applied once, by ChineseNormalizer after every normalisation step,
    right before Rasa's RegexMessageHandler: the first visible character, if it
    is any kind of slash, becomes a full-width one. Same length out (entity
    offsets stay valid); everything else untouched."""
    if not text:
        return text
    for i, ch in enumerate(text):
        if _invisible(ch):
            continue
        if _slash_like(ch):
            return text[:i] + SAFE_SLASH + text[i + 1 :]
        return text
    return text
