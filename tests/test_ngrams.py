"""BatchCountVectorsFeaturizer (bot/nlu/ngrams.py) gives the sentence features Rasa's
CountVectorsFeaturizer gives, for a whole batch at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components import ChatTokenizer
from bot.nlu.model import NluModel
from bot.nlu.ngrams import BatchCountVectorsFeaturizer

TRAINING = [
    ("bagaimana cara membuat KTP baru", "faq.ktp"),
    ("ktp sy hilang gmn ngurusnya", "faq.ktp"),
    ("jadwal vaksin booster 2026 kapan", "faq.vaksin"),
    ("where can I get vaccinated", "faq.vaksin"),
]
QUESTIONS = [
    "Gmn cara bikin KTP yg baruuu?",
    "vaksin tgl 12 buka jam brp",
    "HOW do I get a new ID card",
    "ktp",
    "kata yang tidak dikenal sama sekali",
]


def _featurizers(tmp_path: Path, config: dict[str, Any]) -> tuple[Any, Any]:
    storage = LocalModelStorage(tmp_path)
    made = []
    for index, cls in enumerate((CountVectorsFeaturizer, BatchCountVectorsFeaturizer)):
        context = ExecutionContext(GraphSchema({}), node_name=f"ngrams{index}")
        made.append(
            cls.create(
                {**cls.get_default_config(), **config},
                storage,
                Resource(f"ngrams{index}"),
                context,
            )
        )
    return made[0], made[1]


def _tokenised(texts: list[str], intents: list[str] | None = None) -> list[Message]:
    tokenizer = ChatTokenizer(ChatTokenizer.get_default_config())
    messages = []
    for i, text in enumerate(texts):
        data = {TEXT: text}
        if intents:
            data[INTENT] = intents[i]
        messages.append(Message(data=data))
    tokenizer.process(messages)
    return messages


def _sentence_rows(messages: list[Message]) -> list[np.ndarray]:
    rows = []
    for message in messages:
        sentence = message.get_sparse_features(TEXT)[1]
        assert sentence is not None, message.get(TEXT)
        rows.append(sentence.features.toarray())
    return rows


@pytest.mark.parametrize(
    "config",
    [
        {"analyzer": "word", "min_ngram": 1, "max_ngram": 2},
        {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 5, "use_lemma": False},
    ],
)
def test_batch_sentence_features_equal_rasas_per_message_ones(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    rasas, ours = _featurizers(tmp_path, config)
    training = TrainingData(_tokenised(*map(list, zip(*TRAINING, strict=True))))
    rasas.train(training)
    ours.train(training)

    expected = _sentence_rows(rasas.process(_tokenised(QUESTIONS)))
    got_messages = ours.process(_tokenised(QUESTIONS))
    got = _sentence_rows(got_messages)

    assert len(got) == len(expected)
    for text, row, want in zip(QUESTIONS, got, expected, strict=True):
        np.testing.assert_array_equal(row, want, err_msg=text)
    assert any(row.sum() > 0 for row in got)
    # Only sentence features: no per-token matrices to build and carry.
    assert all(m.get_sparse_features(TEXT)[0] is None for m in got_messages)


def test_sequence_features_on_behaves_like_rasa(tmp_path: Path) -> None:
    rasas, ours = _featurizers(tmp_path, {"sequence_features": True})
    training = TrainingData(_tokenised(*map(list, zip(*TRAINING, strict=True))))
    rasas.train(training)
    ours.train(training)
    message = ours.process(_tokenised(QUESTIONS[:1]))[0]
    sequence = message.get_sparse_features(TEXT)[0]
    assert sequence is not None
    assert sequence.features.shape[0] == len(message.get("text_tokens"))


def test_blank_text_in_a_batch_does_not_fail_the_others(trained: Path) -> None:
    model = NluModel.load(trained / "rasa_project" / "models" / "tanya.tar.gz")
    parses = model.parse_batch(["ktp hilang", "   ", "", "jadwal vaksin booster"])
    assert [p.ranking for p in parses[1:3]] == [(), ()]
    alone = model.parse_batch(["ktp hilang", "jadwal vaksin booster"])
    assert [p.top for p in (parses[0], parses[3])] == [p.top for p in alone]
    assert all(p.top is not None for p in alone)
