"""Tanya's own Rasa graph components, referenced by module path in rasa_project/config.yml."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.normalize import fold, normalise_word, stem


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
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
