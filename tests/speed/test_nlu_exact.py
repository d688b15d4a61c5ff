"""The faster NLU gives the same parse, bit for bit, on every message we have.

CharNgramIntentEnsemble.features replaces sklearn's TF-IDF transform, and
extract_entities looks only at the lexicon surfaces whose first character is in
the message. Every message of the development, holdout, wild and multi sets and
every training example is parsed by the pipeline's components (normaliser,
ensemble, entity extractor) twice, the new way and the old one (sklearn's
transform, every surface searched): the same features (indices, values to the
last bit), the same intent ranking (names and confidences, exactly) and the same
entities."""

from __future__ import annotations

import tarfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

import xiaoer.lexicon as lexicon
from rasa_ext.nlu import CharNgramIntentEnsemble, ChineseNormalizer, LexiconEntityExtractor

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "current.tar.gz"
CONFIG = {"weight": 1.0, "class_weight": "balanced", "han_min_familiarity": 0.15, "multi_intent_min_confidence": 0.5}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip("no trained model (make train)")
    tmp = tmp_path_factory.mktemp("model")
    with tarfile.open(MODEL) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("ensemble.joblib"))
        tar.extract(member, tmp)
    return joblib.load(tmp / member.name)


@pytest.fixture(scope="module")
def messages():
    texts = []
    for path in sorted((ROOT / "tests" / "nlu").glob("*.yml")) + sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        texts += [m.get(TEXT) for m in load_data(str(path)).training_examples if m.get(TEXT)]
    texts += ["", " ", "/greet", "ＡＢＣ１２３", "訂單DD20261117031到哪了", "13812345678 顺丰 黑色 L码 北京"]
    assert len(texts) > 3000
    return texts


def every_surface(lex):
    """The old search: every surface of the lexicon tried on every message, in lexicon order."""
    index = lexicon._surface_index(lex)
    return {"": sorted(e for entries in index.values() for e in entries)}


def parse(texts, ensemble):
    out = [Message({TEXT: t}) for t in texts]
    ChineseNormalizer().process(out)
    ensemble.process(out)
    LexiconEntityExtractor().process(out)
    return [(m.get(INTENT), m.get(INTENT_RANKING_KEY), m.get(ENTITIES)) for m in out]


def test_same_features_as_sklearn(trained, messages):
    vectorizer, model = trained
    ours = CharNgramIntentEnsemble(CONFIG, None, None, vectorizer, model)
    lowered = [t.lower() for t in messages]
    assert ours._fast_tfidf_applies()
    for batch in [lowered[i : i + 7] for i in range(0, len(lowered), 7)] + [[t] for t in lowered[:500]]:
        a, b = ours.features(batch), vectorizer.transform(batch)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices), batch
        assert a.data.tobytes() == b.data.tobytes() and a.shape == b.shape, batch


def test_same_parse_as_before(trained, messages, monkeypatch):
    vectorizer, model = trained
    new = parse(messages, CharNgramIntentEnsemble(CONFIG, None, None, vectorizer, model))
    old_ensemble = CharNgramIntentEnsemble(CONFIG, None, None, vectorizer, model)
    old_ensemble._fast_tfidf = False  # sklearn's own transform
    table = every_surface(lexicon.load_lexicon())
    monkeypatch.setattr(lexicon, "_surface_index", lambda _lex: table)
    old = parse(messages, old_ensemble)
    with_entities = 0
    for text, a, b in zip(messages, new, old, strict=True):
        assert a == b, text  # intent, ranking with its confidences, entities
        with_entities += bool(a[2])
    assert with_entities > 300


def test_a_library_that_orders_differently_gets_sklearns_transform(trained, monkeypatch):
    vectorizer, model = trained
    c = CharNgramIntentEnsemble(CONFIG, None, None, vectorizer, model)
    real = c._tfidf_features

    def reordered(texts):
        x = real(texts)
        x.sort_indices()  # columns in ascending order: not what scipy's product gives
        return x

    monkeypatch.setattr(c, "_tfidf_features", reordered)
    assert not c._fast_tfidf_applies()
    assert c.features(["发什么快递"]).data.tobytes() == vectorizer.transform(["发什么快递"]).data.tobytes()
