"""Custom NLU components for shoppers' Chinese.

Pipeline order in config.yml: ChineseNormalizer -> DomainJiebaTokenizer ->
CharNgramIntentEnsemble -> LexiconEntityExtractor -> FallbackClassifier (no
featurizer and no DIET: README, "How well the model does").
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

import joblib
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from xiaoer.lexicon import extract_entities, register_with_jieba
from xiaoer.text import LEXICON_DIR, has_han, neutralise_command, normalize


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class ChineseNormalizer(GraphComponent):
    """Traditional -> simplified (OpenCC), full-width -> half-width, known typos
    (发漂 -> 发票) fixed, before anything tokenises. Length-preserving, so
    entity offsets stay valid on the shopper's original text."""

    @staticmethod
    def required_packages() -> List[Text]:
        return ["opencc"]

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ChineseNormalizer":
        return cls()

    def _normalize(self, message: Message) -> None:
        text = message.get(TEXT)
        if text:
            # the one "/" guard, after all normalisation (RegexMessageHandler runs later)
            message.set(TEXT, neutralise_command(normalize(text)))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for m in messages:
            self._normalize(m)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class DomainJiebaTokenizer(Tokenizer):
    """jieba with the shop's dictionary (lexicon/), the same segmentation the
    spaCy pipeline and the policy guard use."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["jieba"]

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "DomainJiebaTokenizer":
        register_with_jieba()
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        import jieba

        text = message.get(attribute)
        tokens = [Token(word, start) for word, start, _ in jieba.tokenize(text) if word.strip()]
        return self._apply_token_pattern(tokens)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LexiconEntityExtractor(GraphComponent, EntityExtractorMixin):
    """order_id / phone / size by pattern, courier / product / color / city by
    the lexicon (canonical values: "SF" -> 顺丰速运), surname from "我姓王".
    Deterministic: a new courier or product is a lexicon line, not retraining data."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LexiconEntityExtractor":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            found = []
            for e in extract_entities(text):
                found.append(
                    {
                        "entity": e["entity"],
                        "start": e["start"],
                        "end": e["end"],
                        "value": e["value"],
                        "confidence": 1.0,
                        "extractor": "LexiconEntityExtractor",
                    }
                )
            existing = [e for e in message.get(ENTITIES, []) if e.get("extractor") != "LexiconEntityExtractor"]
            message.set(ENTITIES, existing + found, add_to_output=True)
        return messages


# Where a message may be cut into two questions: after a question particle
# (lexicon/clauses.yml) or at punctuation and spaces.
_CLAUSE_PUNCT = r"\s，,。.？?!！～~、"


@lru_cache(maxsize=1)
def _clause_end() -> "re.Pattern[str]":
    data = yaml.safe_load((LEXICON_DIR / "clauses.yml").read_text(encoding="utf-8")) or {}
    particles = "".join(re.escape(str(p)) for p in data.get("question_particles") or [])
    if not particles:
        raise ValueError("lexicon/clauses.yml: question_particles is required")
    return re.compile(rf"[{particles}][{_CLAUSE_PUNCT}]*|[{_CLAUSE_PUNCT};；]+")


_TRIM = " ，,。.？?!！～~、;；"


def clause_splits(text: str) -> List[tuple]:
    """(left, right) candidates for a two-question message, each part >= 2 chars."""
    cuts = sorted({m.end() for m in _clause_end().finditer(text) if 2 <= m.end() <= len(text) - 2})
    pairs = []
    for cut in cuts:
        left, right = text[:cut].strip(_TRIM), text[cut:].strip(_TRIM)
        if len(left) >= 2 and len(right) >= 2:
            pairs.append((left, right))
    return pairs


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class CharNgramIntentEnsemble(GraphComponent, IntentClassifier):
    """A logistic regression on TF-IDF character n-grams of the whole
    normalised message, optionally combined with an intent ranking an earlier
    classifier (DIET) left on the message; config.yml serves it alone
    (`weight: 1.0`).

    Measured on the development set (README, "How well the model does"): on a
    few thousand hand-written examples the linear model generalises better
    than DIET to unseen colloquial phrasing, and alone it is as accurate as
    the combination. With a DIETClassifier before it, `weight` < 1 mixes in
    DIET's ranking (`weight: 0` serves DIET alone)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "weight": 0.7,
            "min_ngram": 1,
            "max_ngram": 3,
            "C": 30.0,
            "ranking_length": 10,
            "min_familiarity": 0.35,
            "class_weight": None,
            # Chinese text whose character pairs were (almost) never seen in
            # training is keyboard mashing or far off-topic: its score moves
            # to `unfamiliar_intent` instead of to whatever class the linear
            # model happens to prefer (measured: gibberish got 0.60 `goodbye`).
            "han_min_familiarity": 0.0,
            "han_min_grams": 7,
            "unfamiliar_intent": "out_of_scope",
            # Two questions in one message: when the message splits at a
            # clause boundary into two parts that each get a different
            # confident intent, and "a+b" is a trained multi-intent, serve it.
            "multi_intent_min_confidence": 0.5,
            "multi_intent_override_below": 0.9,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vectorizer: Any = None,
        model: Any = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.vectorizer = vectorizer
        self.model = model
        self._weights = None
        self._fast_tfidf: Optional[bool] = None
        self._idf: Any = None

    def features(self, texts: List[str]) -> Any:
        """`self.vectorizer.transform(texts)`, faster and bit for bit the same.

        sklearn's TF-IDF transform spends three quarters of its time validating
        (check_is_fitted, `idf_` rebuilt from its diagonal matrix on every call,
        dtype checks) around four array operations. Here: the same counts
        (CountVectorizer), the same log + 1, each count times its idf in the order
        scipy's product with the idf diagonal lists a row (last column first),
        the same in-place l2 normalisation. The scores that follow sum the row
        in that order, so the order is part of "the same". A vectorizer this does
        not cover, or a library whose product orders differently (checked on
        first use), gets sklearn's transform."""
        fast = self._fast_tfidf
        if fast is None:
            fast = self._fast_tfidf = self._fast_tfidf_applies()
        return self._tfidf_features(texts) if fast else self.vectorizer.transform(texts)

    def _fast_tfidf_applies(self) -> bool:
        import numpy as np

        v = self.vectorizer
        tfidf = getattr(v, "_tfidf", None)
        if not (
            tfidf is not None
            and tfidf.use_idf
            and tfidf.sublinear_tf
            and tfidf.norm == "l2"
            and not v.binary
            and v.dtype in (np.float64, "float64")
        ):
            return False
        self._idf = np.asarray(tfidf.idf_, dtype=np.float64)
        # messages made of the vectorizer's own n-grams: rows with many columns, some repeated
        grams = sorted(v.vocabulary_, key=v.vocabulary_.get)
        probes = ["".join(grams[i : i + 6]) for i in range(0, len(grams), max(1, len(grams) // 7))]
        probes += ["".join(grams[:3]) * 3, "abc 123 ok", ""]
        ours, theirs = self._tfidf_features(probes), v.transform(probes)
        return (
            np.array_equal(ours.indptr, theirs.indptr)
            and np.array_equal(ours.indices, theirs.indices)
            and ours.data.tobytes() == theirs.data.tobytes()
        )

    def _tfidf_features(self, texts: List[str]) -> Any:
        import numpy as np
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

        counts = CountVectorizer.transform(self.vectorizer, texts)  # sorted columns per row
        weights = np.log(counts.data.astype(np.float64))
        weights += 1
        ptr, columns = counts.indptr, counts.indices
        out_columns, out_data = np.empty_like(columns), np.empty_like(weights)
        for row in range(len(ptr) - 1):
            a, b = ptr[row], ptr[row + 1]
            out_columns[a:b] = columns[a:b][::-1]
            out_data[a:b] = weights[a:b][::-1] * self._idf[out_columns[a:b]]
        features = sp.csr_matrix((out_data, out_columns, ptr.copy()), shape=counts.shape)
        inplace_csr_row_normalize_l2(features)
        return features

    def predict_proba(self, features: Any) -> Any:
        """`self.model.predict_proba(features)`, faster: sklearn multiplies the sparse
        features by `coef_.T`, a transposed view that scipy copies on every call (27 of a
        28 ms parse under load, README "How fast"); here it is transposed once. Same
        softmax of the same scores; the one-vs-rest case is left to sklearn."""
        import numpy as np

        m = self.model
        ovr = m.multi_class in ("ovr", "warn") or (
            m.multi_class == "auto" and (len(m.classes_) <= 2 or m.solver == "liblinear")
        )
        if ovr:
            return m.predict_proba(features)
        if self._weights is None:
            self._weights = np.ascontiguousarray(m.coef_.T)
        scores = np.asarray(features @ self._weights) + m.intercept_
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CharNgramIntentEnsemble":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self._weights, self._fast_tfidf = None, None  # both follow the model trained here
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        texts = [(m.get(TEXT) or "").lower() for m in examples]
        labels = [m.get(INTENT) for m in examples]
        self.vectorizer = TfidfVectorizer(
            analyzer="char", sublinear_tf=True, ngram_range=(self._config["min_ngram"], self._config["max_ngram"])
        )
        features = self.vectorizer.fit_transform(texts)
        self.model = LogisticRegression(
            C=self._config["C"], max_iter=3000, random_state=7, class_weight=self._config["class_weight"]
        ).fit(features, labels)
        with self._model_storage.write_to(self._resource) as model_dir:
            joblib.dump((self.vectorizer, self.model), model_dir / "ensemble.joblib")
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "CharNgramIntentEnsemble":
        with model_storage.read_from(resource) as model_dir:
            vectorizer, model = joblib.load(model_dir / "ensemble.joblib")
        return cls(config, model_storage, resource, vectorizer, model)

    def familiarity(self, text: str, min_grams: int = 3) -> float:
        """Share of the message's 2-3 character n-grams seen in training."""
        grams = [g for g in self.vectorizer.build_analyzer()(text) if len(g.strip()) >= 2]
        if len(grams) < min_grams:
            return 1.0
        vocabulary = self.vectorizer.vocabulary_
        return sum(1 for g in grams if g in vocabulary) / len(grams)

    def two_questions(self, text: str) -> Optional[tuple]:
        """("a+b", confidence) when the message is two questions we answer together."""
        classes = set(self.model.classes_)
        if not any("+" in c for c in classes):
            return None
        pairs = clause_splits(text)
        if not pairs:
            return None
        parts = [p for pair in pairs for p in pair]
        probs = self.predict_proba(self.features(parts))
        best = None
        for i in range(len(pairs)):
            pl, pr = probs[2 * i], probs[2 * i + 1]
            left, right = self.model.classes_[pl.argmax()], self.model.classes_[pr.argmax()]
            if left == right or "+" in left or "+" in right:
                continue
            score = float(min(pl.max(), pr.max()))
            for combo in (f"{left}+{right}", f"{right}+{left}"):
                if combo in classes and score >= self._config["multi_intent_min_confidence"]:
                    if best is None or score > best[1]:
                        best = (combo, score)
        return best

    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None:
            return messages
        w = float(self._config["weight"])
        texts = [(m.get(TEXT) or "").lower() for m in messages]
        probs = self.predict_proba(self.features(texts))
        for message, text, row in zip(messages, texts, probs, strict=False):
            scores = {label: w * float(p) for label, p in zip(self.model.classes_, row, strict=False)}
            for r in message.get(INTENT_RANKING_KEY) or []:
                scores[r["name"]] = scores.get(r["name"], 0.0) + (1 - w) * float(r.get("confidence") or 0.0)
            if has_han(text):
                familiar = self.familiarity(text, int(self._config["han_min_grams"]))
                floor = float(self._config["han_min_familiarity"])
                target = self._config["unfamiliar_intent"]
                if familiar < floor and target:
                    share = familiar / floor
                    scores = {k: v * share for k, v in scores.items()}
                    scores[target] = scores.get(target, 0.0) + (1 - share)
            else:
                familiar = self.familiarity(text)
                if familiar < self._config["min_familiarity"]:
                    # Keyboard mashing or a language we were not trained on: no
                    # intent deserves confidence; the fallback asks to rephrase.
                    scores = {k: v * familiar for k, v in scores.items()}
            if scores and len(text) >= 5:
                top_name = max(scores, key=scores.get)
                if "+" in top_name or scores[top_name] < self._config["multi_intent_override_below"]:
                    found = self.two_questions(text)
                    if found:
                        combo, score = found
                        scores[combo] = max(scores.get(combo, 0.0), score, scores[top_name] + 1e-6)
            if not text.strip():
                scores = {}
            ranking = sorted(({"name": k, "confidence": v} for k, v in scores.items()), key=lambda r: -r["confidence"])[
                : self._config["ranking_length"]
            ]
            top = ranking[0] if ranking else {"name": None, "confidence": 0.0}
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
