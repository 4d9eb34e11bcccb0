"""Rules that would lower the confidence of near misses answered as if the FAQ covered them.

    python bench/confidence_rules.py   # StackFAQ, the sample cut to one question, the sample
    python bench/confidence_rules.py --rules "knn floor"   # only these, kept beside the rest
    python bench/confidence_rules.py clinc --rules shipped   # CLINC150 (bench/replay.py clinc)

On the sample bot "air pdam mati dari kemarin" (a water outage) is answered with the
PDAM-poison hoax clarification at confidence 1.0, and "surat keterangan domisili usaha"
with moving house at 0.99: the FAQ has no entry for either, and one rare word it does
have ("pdam", "domisili") carries the question to the one entry that uses it. Three
rules that could hold on any FAQ, each applied to the classifier's confidences (so the
calibration at `tanya train` chooses its thresholds on them, as it would in the bot):

- ``coverage``: each entry's confidence times the share of the question's word weight
  (the FAQ's own BM25 IDF, bot/nlu/lexical.py) that the entry's words cover, to a power;
  optionally only words used by at most a given share of the entries ("salient");
- ``knn floor``: confidences halved when the best entry's nearest example (USE-m cosine)
  is below a floor;
- ``background``: a constant "none of them" score beside the entries' in the softmax, so
  a winner with a low absolute score is not certain because its rivals are lower still.

Each is replayed on the FAQs' cached features (bench/replay.py), calibrated as `tanya
train` does, and measured on the held-out questions. Writes bench/results/confidence_rules.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import probe_kinds  # noqa: E402
from nlu import RESULTS  # noqa: E402

from bot.nlu.calibration import Thresholds, _outcomes, calibrate  # noqa: E402
from bot.nlu.classifier import FAQ_PREFIX, FaqClassifier  # noqa: E402

MARGIN = 0.1


class RuleClassifier(FaqClassifier):
    """The shipped classifier with one of the rules applied to its confidences."""

    rule: Callable[[RuleClassifier, np.ndarray, np.ndarray | None, list[list[str]]], np.ndarray]
    background: float | None = None

    def _scores(
        self, sparse_matrix: sp.csr_matrix | None, dense_matrix: np.ndarray | None, stems: Any
    ) -> np.ndarray:
        probabilities = super()._scores(sparse_matrix, dense_matrix, stems)
        return type(self).rule(self, probabilities, dense_matrix, stems)

    def _probabilities(
        self, X: sp.csr_matrix, nearest: np.ndarray | None = None, lexical: Any = None
    ) -> np.ndarray:
        if self.background is None:
            return super()._probabilities(X, nearest, lexical)
        scores = np.atleast_2d(self.clf.decision_function(X))
        if nearest is not None:
            scores = scores + float(self.config["knn_weight"]) * nearest
        if lexical is not None:
            scores = scores + lexical
        none = np.full((scores.shape[0], 1), self.background)
        scores = np.hstack([scores, none]) / float(self.config["temperature"])
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return np.asarray((exp / exp.sum(axis=1, keepdims=True))[:, :-1])


def unchanged(c: RuleClassifier, p: np.ndarray, dense: Any, stems: Any) -> np.ndarray:
    return p


def coverage(power: float, max_share: float = 1.0) -> Callable[..., np.ndarray]:
    def rule(c: RuleClassifier, p: np.ndarray, dense: Any, stems: list[list[str]]) -> np.ndarray:
        lexical = c.lexical
        assert lexical is not None and c.clf is not None
        present = (lexical.weights > 0).astype(np.float32)
        is_entry = np.array([str(k).startswith(FAQ_PREFIX) for k in c.clf.classes_])
        idf = lexical.idf.copy()
        idf[present.sum(axis=0) > max_share * is_entry.sum()] = 0.0
        query = np.zeros((len(stems), len(lexical.vocabulary)), np.float32)
        for row, words in enumerate(stems):
            for word in set(words):
                if (column := lexical.vocabulary.get(word)) is not None:
                    query[row, column] = 1.0
        total = (query @ idf)[:, None]
        covered = (query * idf) @ present.T
        share = np.where(total > 0, covered / np.maximum(total, 1e-9), 1.0)
        return np.asarray(p * np.where(is_entry[None, :], share**power, 1.0))

    return rule


def knn_floor(floor: float) -> Callable[..., np.ndarray]:
    def rule(c: RuleClassifier, p: np.ndarray, dense: Any, stems: Any) -> np.ndarray:
        nearest = c._nearest(dense)
        assert nearest is not None
        best = nearest[np.arange(len(p)), p.argmax(axis=1)]
        return np.asarray(np.where((best < floor)[:, None], p * 0.5, p))

    return rule


def rules() -> dict[str, tuple[Callable[..., np.ndarray], float | None]]:
    result: dict[str, tuple[Callable[..., np.ndarray], float | None]] = {
        "shipped": (unchanged, None)
    }
    for power in (0.5, 1.0, 2.0):
        result[f"coverage^{power:g}, every word"] = (coverage(power), None)
    for share in (0.05, 0.1, 0.2):
        result[f"coverage, words of <= {share:.0%} of entries"] = (coverage(1.0, share), None)
    for floor in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
        result[f"knn floor {floor:g}"] = (knn_floor(floor), None)
    for score in (1.0, 1.5, 2.0):
        result[f"background score {score:g}"] = (unchanged, score)
    return result


def measure(name: str, rule: Callable[..., np.ndarray], background: float | None) -> dict:
    RuleClassifier.rule = rule  # type: ignore[assignment]
    RuleClassifier.background = background
    probe_kinds.FaqClassifier = RuleClassifier  # type: ignore[misc]
    in_scope, out_of_scope, sets = probe_kinds.probes_of(name)
    calibration = calibrate(in_scope, out_of_scope)
    thresholds = Thresholds(calibration.answer_threshold, calibration.clarify_threshold, MARGIN)
    in_share = 2 / 3 if out_of_scope else 1.0
    result: dict[str, Any] = {
        "answer": calibration.answer_threshold,
        "choices": calibration.clarify_threshold,
        "expected_right": round(calibration.expected.answered_right / in_share, 4),
    }
    for key, probes in sets.items():
        inside = [p for p in probes if p.expected]
        rates = probe_kinds.rates(probes, thresholds)
        result[key] = {
            "first": round(sum(p.ranking[:1] == (p.expected,) for p in inside) / len(inside), 4),
            "right": rates["right"],
            "wrong_answers": rates["wrong_answers"],
            "one_tap": round(_outcomes(inside, thresholds)[3], 4),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["stackfaq", "sample-first", "sample"])
    parser.add_argument("--rules", default="", help="only the rules whose names start so")
    args = parser.parse_args()
    out = RESULTS / "confidence_rules.json"
    results: dict[str, Any] = {}
    if args.rules and out.is_file():
        results = json.loads(out.read_text(encoding="utf-8"))
    for label, (rule, background) in rules().items():
        if not label.startswith(args.rules):
            continue
        measured = {name: measure(name, rule, background) for name in args.names}
        results.setdefault(label, {}).update(measured)
        print(
            f"{label:38}"
            + " | ".join(
                f"{n}: right {r['test']['right']:.1%} wrong {r['test']['wrong_answers']:.1%} "
                f"first {r['test']['first']:.1%}"
                for n, r in measured.items()
            ),
            flush=True,
        )
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
