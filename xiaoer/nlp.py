"""spaCy text-processing layer: a blank `zh` pipeline built by our code.

No pretrained Chinese model can be downloaded here, so the pipeline is
`spacy.blank("zh")` with the jieba segmenter (the same global jieba and
domain dictionary as NLU) and an EntityRuler for couriers, products,
colours and places from lexicon/entities.yml. The policy guard builds its
Matcher / PhraseMatcher rules on `get_nlp()`.
"""

from __future__ import annotations

import threading
from typing import List

from xiaoer.lexicon import load_lexicon, register_with_jieba
from xiaoer.text import normalize

_lock = threading.Lock()
_nlp = None

LABELS = {"courier": "COURIER", "product": "PRODUCT", "color": "COLOR", "city": "GPE"}


def build_nlp(with_entity_ruler: bool = True):
    """A fresh blank zh pipeline with jieba + the domain dictionary (+ EntityRuler)."""
    import spacy

    register_with_jieba()
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    if with_entity_ruler:
        ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
        lex = load_lexicon()
        patterns = []
        for entity, label in LABELS.items():
            for surface, canonical in lex.surfaces(entity).items():
                if len(surface) < 2:
                    continue
                patterns.append({"label": label, "pattern": surface, "id": canonical})
        ruler.add_patterns(patterns)
    return nlp


def get_nlp():
    """Process-wide shared pipeline (building it takes about a second)."""
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                _nlp = build_nlp()
    return _nlp


def tokens(text: str) -> List[str]:
    return [t.text for t in get_nlp().make_doc(normalize(text)) if not t.is_space]


def doc(text: str, normalise: bool = True):
    return get_nlp()(normalize(text) if normalise else text)


def entities(text: str) -> List[dict]:
    """EntityRuler matches: [{label, text, value, start, end}] on normalised text."""
    d = doc(text)
    return [
        {"label": e.label_, "text": e.text, "value": e.ent_id_ or e.text, "start": e.start_char, "end": e.end_char}
        for e in d.ents
    ]
