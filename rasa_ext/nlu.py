"""Custom NLU components for shoppers' Chinese.

Pipeline order in config.yml: ChineseNormalizer -> DomainJiebaTokenizer ->
featurizers -> DIET -> LexiconEntityExtractor.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from xiaoer.lexicon import extract_entities, register_with_jieba
from xiaoer.text import normalize


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class ChineseNormalizer(GraphComponent):
    """Traditional -> simplified (OpenCC), full-width -> half-width, known typos
    (发漂 -> 发票) fixed, before anything tokenises. Length-preserving, so
    entity offsets stay valid on the shopper's original text."""

    @staticmethod
    def required_packages() -> List[Text]:
        return ["opencc"]

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ChineseNormalizer":
        return cls()

    def _normalize(self, message: Message) -> None:
        text = message.get(TEXT)
        if text:
            message.set(TEXT, normalize(text))

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
        return {"intent_tokenization_flag": False, "intent_split_symbol": "_", "token_pattern": None,
                "prefix_separator_symbol": None}

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["jieba"]

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "DomainJiebaTokenizer":
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
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LexiconEntityExtractor":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            found = []
            for e in extract_entities(text):
                found.append({"entity": e["entity"], "start": e["start"], "end": e["end"],
                              "value": e["value"], "confidence": 1.0, "extractor": "LexiconEntityExtractor"})
            existing = [e for e in message.get(ENTITIES, []) if e.get("extractor") != "LexiconEntityExtractor"]
            message.set(ENTITIES, existing + found, add_to_output=True)
        return messages
