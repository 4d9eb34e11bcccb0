"""Tanya's own Rasa graph components, referenced by module path in rasa_project/config.yml."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import e5
from bot.nlu.embedding_cache import cache_path, cached_encode
from bot.nlu.minilm import BACKENDS, DEFAULT_BACKEND, shared_model
from bot.nlu.normalize import fold, normalise_word, stem
from bot.nlu.usem import shared_encoder


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class ChatTokenizer(WhitespaceTokenizer):
    """Whitespace tokens in the standard spelling, with the Indonesian stem as lemma.

    Featurizers with ``use_lemma: true`` (the default) see stems; set ``use_lemma: false``
    on a featurizer to give it the normalised surface form instead (better for char n-grams).
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **WhitespaceTokenizer.get_default_config(),
            # Fold chat spelling ("gmn", "yg", "ilaaang", "anak2") to standard words.
            "normalise": True,
            # Put the Sastrawi stem in each token's lemma ("pembuatan" -> "buat").
            "stem": True,
        }

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        result = []
        for token in tokens:
            words = normalise_word(token.text) if self._config["normalise"] else [fold(token.text)]
            for word in words:
                lemma = stem(word) if self._config["stem"] else word
                result.append(Token(word, token.start, token.end, lemma=lemma))
        return result or tokens


ENCODERS = ("usem", "minilm", "e5")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence embeddings of the normalised message text.

    They add meaning beyond shared words: "where do I pay property tax" lands near
    "how to pay PBB", and with the multilingual encoder (``usem``, the default) an
    Indonesian question lands near its English paraphrase. Only sentence features are set;
    the project's classifier does not use per-token features, and storing hundreds of
    floats per token would multiply memory.
    """

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # "usem": Universal Sentence Encoder, multilingual (bot/nlu/usem.py);
            # "minilm": all-MiniLM-L6-v2, English (bot/nlu/minilm.py); "e5":
            # multilingual-e5-small (bot/nlu/e5.py: ranks better, six times slower).
            "encoder": "usem",
            # MiniLM only: sentences per pass, grouped by length (more means more padding).
            "batch_size": 16,
            # MiniLM only: "int8" (ONNX Runtime, 8-bit weights: fastest), "float32" (ONNX
            # Runtime) or "numpy" (the reference).
            "backend": DEFAULT_BACKEND,
        }

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceFeaturizer:
        return cls(name=execution_context.node_name, config=config)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        name = cls.__name__
        if config.get("encoder", "usem") not in ENCODERS:
            raise ValueError(f"{name}: encoder must be one of {', '.join(ENCODERS)}")
        if int(config.get("batch_size", 16)) < 1:
            raise ValueError(f"{name}: batch_size must be at least 1")
        if config.get("backend", DEFAULT_BACKEND) not in BACKENDS:
            raise ValueError(f"{name}: backend must be one of {', '.join(BACKENDS)}")

    def _encoder(self) -> Any:
        if self._config["encoder"] == "minilm":
            return shared_model(self._config["backend"])
        if self._config["encoder"] == "e5":
            return e5.shared_encoder()
        return shared_encoder()

    def _encode(self, texts: list[str], training: bool) -> np.ndarray:
        model = self._encoder()
        batch_size = int(self._config["batch_size"])
        cache = cache_path() if training else None
        if cache is None:
            return model.encode(texts, batch_size=batch_size)
        return cached_encode(
            texts, lambda t: model.encode(t, batch_size=batch_size), model.identity, cache
        )

    def _embed(self, messages: list[Message], training: bool = False) -> None:
        messages = [m for m in messages if m.get(TEXT)]
        if not messages:
            return
        texts = []
        for message in messages:
            tokens = message.get(TOKENS_NAMES[TEXT]) or []
            texts.append(" ".join(t.text for t in tokens) or message.get(TEXT))
        vectors = self._encode(texts, training)
        for message, vector in zip(messages, vectors, strict=True):
            self.add_features_to_message(
                sequence=None, sentence=vector.reshape(1, -1), attribute=TEXT, message=message
            )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._embed(training_data.training_examples, training=True)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._embed(messages)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(SentenceFeaturizer):
    """all-MiniLM-L6-v2 embeddings: the pipeline's encoder before the multilingual one
    (pipelines that name this component keep working)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**SentenceFeaturizer.get_default_config(), "encoder": "minilm"}
