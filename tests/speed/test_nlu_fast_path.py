"""The intent classifier's own predict_proba gives sklearn's probabilities, on the trained model."""

from pathlib import Path

import joblib
import numpy as np
import pytest

from rasa_ext.nlu import CharNgramIntentEnsemble

MODEL = Path(__file__).resolve().parents[2] / "models" / "current.tar.gz"
TEXTS = [
    "我的订单到哪了",
    "发什么快递",
    "能便宜点吗",
    "你好",
    "可以开发票吗 什么时候发货",
    "asdfgh",
    "謝謝",
    "",
    "衣服有质量问题,我要退货",
]


def trained(tmp_path):
    import tarfile

    if not MODEL.exists():
        pytest.skip("no trained model (make train)")
    with tarfile.open(MODEL) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("ensemble.joblib"))
        tar.extract(member, tmp_path)
    vectorizer, model = joblib.load(tmp_path / member.name)
    return CharNgramIntentEnsemble({}, None, None, vectorizer, model)


def test_same_probabilities_as_sklearn(tmp_path):
    c = trained(tmp_path)
    x = c.vectorizer.transform(TEXTS)
    ours, theirs = c.predict_proba(x), c.model.predict_proba(x)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-9
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()


def test_one_vs_rest_is_left_to_sklearn():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    v = TfidfVectorizer(analyzer="char")
    x = v.fit_transform(["你好", "在吗", "发什么快递", "几天到"])
    m = LogisticRegression().fit(x, ["greet", "greet", "ask_courier", "ask_courier"])  # two classes: one-vs-rest
    c = CharNgramIntentEnsemble({}, None, None, v, m)
    assert np.abs(c.predict_proba(x) - m.predict_proba(x)).max() < 1e-12
