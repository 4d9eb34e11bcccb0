"""How much a confidence learned from real, labelled questions would answer.

    python bench/learned_confidence.py   # StackFAQ, the sample cut to one question, the sample
                                         # and CLINC150 (bench/replay.py clinc first)

On one-question FAQs the right entry is ranked first far more often than it is answered
(StackFAQ: 82.5 % against 60.9 %): the confidence does not separate right from wrong
well enough for the 3 % budget of wrong answers. This asks whether features of the
ranking beside the confidence would, if a FAQ had real questions with known answers
(what the desk collects: every ticket an official answers and adds to the FAQ) to learn
from. On each FAQ's cached features (bench/replay.py), the shipped classifier's rankings
of the dev and test questions, and per question: the top confidence, the second, the
nearest example's USE-m cosine for the top entry and for any entry, whether the nearest
example's entry is the top entry, and the number of words. Three rules choose what to
answer, each with its threshold the lowest whose wrong answers on the dev questions stay
within 3 % (of all dev questions, out of scope included):

- ``confidence``: the top confidence alone (one threshold, chosen on real questions);
- ``confidence, other FAQs``: the same threshold chosen on other FAQs' dev questions
  (below);
- ``learned, own dev``: a logistic regression of "the top entry is right" on the features,
  fitted on the FAQ's own dev questions;
- ``learned, other FAQs``: the same fitted on other FAQs' dev questions (the sample's and
  the sample cut to one question ask the same questions, so each of those two learns from
  StackFAQ alone; CLINC150 learns from the three others) and its threshold chosen there:
  whether one learned confidence holds across FAQs.

Measured on the test questions (answered right: share of in-scope questions; wrong: share
of all). Writes bench/results/learned_confidence.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import probe_kinds  # noqa: E402
import replay  # noqa: E402
from nlu import RESULTS  # noqa: E402

from bot.nlu.classifier import FaqClassifier  # noqa: E402

BUDGET = 0.03
NAMES = ("stackfaq", "sample-first", "sample", "clinc")
TEACHERS = {
    "stackfaq": ("sample-first", "sample"),
    "sample-first": ("stackfaq",),
    "sample": ("stackfaq",),
    "clinc": ("stackfaq", "sample-first", "sample"),
}
FEATURES = ("top", "second", "nearest_top", "nearest_any", "nearest_agrees", "words")


def questions(name: str) -> dict[str, dict[str, np.ndarray]]:
    """Per question set: the features, whether the top entry is right, whether in scope."""
    data = replay.DATASETS[name]()
    classifier = FaqClassifier(probe_kinds.classifier_config(), None, None)  # type: ignore[arg-type]
    classifier._fit(data.train.sparse, data.train.dense, data.train.stems, data.labels)
    assert classifier.clf is not None
    column = {str(c): i for i, c in enumerate(classifier.clf.classes_)}
    entry_columns = [c for label, c in column.items() if label.startswith("faq.")]
    result = {}
    for key, (examples, features) in data.sets.items():
        rows = classifier._scores(features.sparse, features.dense, features.stems)
        nearest = classifier._nearest(features.dense)
        assert nearest is not None
        table, right, inside = [], [], []
        for i, (example, row) in enumerate(zip(examples, rows, strict=True)):
            expected = f"faq.{example.expected}" if example.expected else None
            probe = classifier._probe(row, expected)
            top = probe.ranking[0] if probe.ranking else None
            confidences = [*probe.confidences, 0.0, 0.0]
            best_any = entry_columns[int(np.argmax(nearest[i, entry_columns]))]
            table.append(
                [
                    confidences[0],
                    confidences[1],
                    nearest[i, column[top]] if top else 0.0,
                    nearest[i, best_any],
                    float(top is not None and column[top] == best_any),
                    float(len(features.stems[i])),
                ]
            )
            right.append(top is not None and top == expected)
            inside.append(expected is not None)
        result[key] = {
            "x": np.array(table),
            "right": np.array(right),
            "inside": np.array(inside),
            "answerable": np.array([bool(r[0] > 0) for r in table]),
        }
    return result


def lowest_within_budget(scores: np.ndarray, right: np.ndarray, answerable: np.ndarray) -> float:
    """The lowest threshold whose wrong answers stay within the budget (of all questions)."""
    for threshold in np.unique(scores):
        answered = (scores >= threshold) & answerable
        if (answered & ~right).sum() <= BUDGET * len(scores):
            return float(threshold)
    return float("inf")


def outcome(scores: np.ndarray, threshold: float, part: dict[str, np.ndarray]) -> dict[str, float]:
    answered = (scores >= threshold) & part["answerable"]
    return {
        "right": round(float((answered & part["right"]).sum() / part["inside"].sum()), 4),
        "wrong_answers": round(float((answered & ~part["right"]).mean()), 4),
    }


def model(parts: list[dict[str, np.ndarray]]) -> Any:
    x = np.vstack([p["x"] for p in parts])
    y = np.concatenate([p["right"] for p in parts])
    scaler = StandardScaler().fit(x)
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(x), y)
    return lambda z: fitted.predict_proba(scaler.transform(z))[:, 1]


def main() -> None:
    faqs = {name: questions(name) for name in NAMES}
    results: dict[str, Any] = {"budget": BUDGET, "features": FEATURES}
    for name, sets in faqs.items():
        dev, test = sets["dev"], sets["test"]
        own = model([dev])
        teachers = [faqs[t]["dev"] for t in TEACHERS[name]]
        other = model(teachers)
        rules = {
            "confidence": (lambda z: z[:, 0], [dev]),
            "confidence, other FAQs": (lambda z: z[:, 0], teachers),
            "learned, own dev": (own, [dev]),
            "learned, other FAQs": (other, teachers),
        }
        results[name] = {}
        for label, (score, chosen_on) in rules.items():
            scores = np.concatenate([score(p["x"]) for p in chosen_on])
            right = np.concatenate([p["right"] for p in chosen_on])
            answerable = np.concatenate([p["answerable"] for p in chosen_on])
            threshold = lowest_within_budget(scores, right, answerable)
            results[name][label] = {
                "threshold": round(threshold, 4),
                "dev": outcome(score(dev["x"]), threshold, dev),
                "test": outcome(score(test["x"]), threshold, test),
            }
            test_result = results[name][label]["test"]
            print(
                f"{name:13} {label:20} from {threshold:.3f}: test right "
                f"{test_result['right']:.1%} wrong {test_result['wrong_answers']:.1%}",
                flush=True,
            )
    out = RESULTS / "learned_confidence.json"
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
