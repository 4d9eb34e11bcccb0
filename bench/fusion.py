"""How the ranking's parts should be combined, on FAQs with one question per entry.

    python bench/fusion.py            # StackFAQ, the sample cut to one question, the sample
    python bench/fusion.py --extra e5-static   # another encoder in e5's place

Each FAQ is trained once with the project's pipeline and its classifier inputs cached
(bench/replay.py); the classifier's SVM is fitted on them again and independent rankers
are computed beside it:

- ``svm``: the SVM's score (n-grams and USE-m embeddings);
- ``knn_q`` / ``knn_a``: the highest USE-m cosine to one of the entry's questions / answer
  sentences;
- ``bm25_q`` / ``bm25_a``: BM25 over the entry's questions / answer sentences, word weights
  from the FAQ (bot/nlu/lexical.py);
- ``e5_q`` / ``e5_a``: as ``knn_*`` with multilingual-e5-small (bot/nlu/e5.py), or with
  the encoder ``--extra`` names (bench/cheap_encoders.py: cheaper forms of e5), whose name
  then stands for e5's in the labels and which writes bench/results/fusion-NAME.json;

then combined as the classifier does (the raw sum ``svm + knn * nearest + lexical *
bm25``, over a grid of weights), as a weighted sum of z-scores (each ranker standardised
over the entries, weights 0 / 0.5 / 1 each) and by reciprocal rank (k = 60). The measure
is how often the right entry is ranked first; a combination is chosen by the highest mean
over the three FAQs' dev questions (StackFAQ: every other rephrasing per thread; the
sample: its dev files); test questions are only reported. Writes bench/results/fusion.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.preprocessing import normalize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cheap_encoders  # noqa: E402
import replay  # noqa: E402
from nlu import RESULTS, WORK  # noqa: E402

from bot.nlu.classifier import FaqClassifier  # noqa: E402
from bot.nlu.lexical import LexicalIndex  # noqa: E402

CONFIG = {
    "C": 0.5,
    "temperature": 0.2,
    "knn_weight": 1.0,
    "lexical_weight": 1.5,
    "shared_share": 0.5,
    "class_weight": "balanced",
}
Rankers = dict[str, np.ndarray]


def e5_vectors(texts: list[str], name: str = "e5") -> np.ndarray:
    """``name``'s vectors of ``texts`` (bench/cheap_encoders.py), cached in bench/work."""
    path = WORK / f"fusion-{name}.pickle"
    cache: dict[str, np.ndarray] = pickle.loads(path.read_bytes()) if path.is_file() else {}
    missing = [t for t in dict.fromkeys(texts) if t not in cache]
    if missing:
        print(f"  {name}: encoding {len(missing)} texts", flush=True)
        encoded = cheap_encoders.encoder(name).encode(missing)
        cache.update(zip(missing, encoded, strict=True))
        path.write_bytes(pickle.dumps(cache))
    return np.stack([cache[t] for t in texts])


def rankers(data: replay.FaqData, extra: str = "e5") -> dict[str, tuple[Rankers, np.ndarray]]:
    """Per question set: each ranker's scores (questions x entries) and the right entry."""
    classifier = FaqClassifier(CONFIG, None, None)  # type: ignore[arg-type]
    classifier._fit(data.train.sparse, data.train.dense, data.train.stems, data.labels)
    classes = [str(c) for c in classifier.clf.classes_]
    entries = [i for i, c in enumerate(classes) if c.startswith("faq.")]
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[label] for label in data.labels])
    answer = np.array([kind == "answer" for kind, _ in data.kinds])
    is_entry = np.array([c.startswith("faq.") for c in classes])

    def lexical(rows: np.ndarray) -> LexicalIndex:
        stems = [s for s, keep in zip(data.train.stems, rows, strict=True) if keep]
        return LexicalIndex.fit(stems, list(labels[rows]), len(classes), is_entry)

    bm25_q, bm25_a, bm25_all = lexical(~answer), lexical(answer), lexical(answer | ~answer)
    use = normalize(data.train.dense)
    e5 = normalize(e5_vectors(data.train.texts, extra))

    def nearest(similarities: np.ndarray, rows: np.ndarray) -> np.ndarray:
        result = np.full((similarities.shape[0], len(classes)), -1.0, dtype=np.float32)
        for c in range(len(classes)):
            mine = np.where((labels == c) & rows)[0]
            if len(mine):
                result[:, c] = similarities[:, mine].max(axis=1)
        return result

    sets = {}
    for key, (examples, features) in data.sets.items():
        keep = [i for i, e in enumerate(examples) if e.expected]
        design = classifier._design(features.sparse[keep], features.dense[keep], fit=False)
        stems = [features.stems[i] for i in keep]
        use_similarities = normalize(features.dense[keep]) @ use.T
        e5_similarities = normalize(e5_vectors([features.texts[i] for i in keep], extra)) @ e5.T
        scores = {
            "svm": classifier.clf.decision_function(design),
            "knn_q": nearest(use_similarities, ~answer),
            "knn_a": nearest(use_similarities, answer),
            "bm25_q": bm25_q.scores(stems),
            "bm25_a": bm25_a.scores(stems),
            "bm25_all": bm25_all.scores(stems),
            "e5_q": nearest(e5_similarities, ~answer),
            "e5_a": nearest(e5_similarities, answer),
        }
        scores["knn_all"] = np.maximum(scores["knn_q"], scores["knn_a"])
        gold = np.array([entries.index(index[f"faq.{examples[i].expected}"]) for i in keep])
        sets[key] = ({name: s[:, entries] for name, s in scores.items()}, gold)
    return sets


def zscore(scores: np.ndarray) -> np.ndarray:
    centred = scores - scores.mean(axis=1, keepdims=True)
    return np.asarray(centred / (scores.std(axis=1, keepdims=True) + 1e-9))


def reciprocal_rank(scores: np.ndarray, k: int = 60) -> np.ndarray:
    ranks = np.argsort(np.argsort(-scores, axis=1), axis=1)
    return np.asarray(1.0 / (k + ranks + 1))


def combinations() -> dict[str, Callable[[Rankers], np.ndarray]]:
    result: dict[str, Callable[[Rankers], np.ndarray]] = {}
    singles = ["svm", "knn_q", "knn_a", "bm25_q", "bm25_a", "e5_q", "e5_a"]
    for name in [*singles, "bm25_all", "knn_all"]:
        result[name] = lambda r, name=name: r[name]
    for lexical, knn in itertools.product((0.0, 0.5, 1.0, 1.5, 2.0, 3.0), (0.5, 1.0, 2.0)):
        result[f"sum: svm + {knn:g} knn + {lexical:g} bm25"] = lambda r, lexical=lexical, knn=knn: (
            r["svm"] + knn * r["knn_all"] + lexical * r["bm25_all"]
        )
    for e5_weight in (0.5, 1.0, 2.0):
        result[f"sum: svm + 1 knn + 1.5 bm25 + {e5_weight:g} e5"] = lambda r, w=e5_weight: (
            r["svm"] + r["knn_all"] + 1.5 * r["bm25_all"] + w * np.maximum(r["e5_q"], r["e5_a"])
        )
    for weights in itertools.product((0.0, 0.5, 1.0), repeat=len(singles)):
        if any(weights):
            chosen = {n: w for n, w in zip(singles, weights, strict=True) if w}
            label = "z: " + " + ".join(f"{w:g} {n}" for n, w in chosen.items())
            result[label] = lambda r, chosen=chosen: sum(
                w * zscore(r[n]) for n, w in chosen.items()
            )
    for label, names in (
        ("rrf: svm, knn_q, bm25_q", ["svm", "knn_q", "bm25_q"]),
        ("rrf: svm, knn_q, knn_a, bm25_q, bm25_a", ["svm", "knn_q", "knn_a", "bm25_q", "bm25_a"]),
        ("rrf: all seven", singles),
    ):
        result[label] = lambda r, names=names: sum(reciprocal_rank(r[n]) for n in names)
    return result


def results_json(chosen: dict[str, Any], rows: list[dict[str, Any]], top: int = 100) -> str:
    """The chosen rows, then one line per combination: every one but the z-score grid,
    and of the grid's 2,000-odd the best ``top`` and the unweighted sums (all of it would
    be a megabyte)."""

    def kept(index: int, label: str) -> bool:
        unweighted = " 0.5 " not in f" {label[3:]}"
        return index < top or not label.startswith("z:") or unweighted

    kept_rows = [r for i, r in enumerate(rows) if kept(i, r["combination"])]
    lines = ",\n".join("  " + json.dumps(r) for r in kept_rows)
    return (
        "{\n"
        + "".join(f"{json.dumps(k)}: {json.dumps(v)},\n" for k, v in chosen.items())
        + f'"rows": [\n{lines}\n]\n}}\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="e5", help="e5 (default), e5-static or e5-lN")
    args = parser.parse_args()
    faqs = {
        name: rankers(replay.DATASETS[name](), args.extra)
        for name in ("stackfaq", "sample-first", "sample")
    }
    rows: list[dict[str, Any]] = []
    for label, combine in combinations().items():
        if args.extra != "e5":
            label = label.replace("e5", args.extra)
        row: dict[str, Any] = {"combination": label}
        for name, sets in faqs.items():
            for key, (scores, gold) in sets.items():
                fused = combine(scores)
                top = np.argsort(-fused, axis=1)[:, :3]
                row[f"{name}/{key}"] = {
                    "first": round(float((top[:, 0] == gold).mean()), 4),
                    "top3": round(float((top == gold[:, None]).any(axis=1).mean()), 4),
                }
        row["mean_dev_first"] = round(float(np.mean([row[f"{n}/dev"]["first"] for n in faqs])), 4)
        rows.append(row)
    rows.sort(key=lambda r: -r["mean_dev_first"])
    for row in rows[:15] + [
        r for r in rows if r["combination"].startswith("sum: svm + 1 knn + 1.5 bm25")
    ]:
        print(
            f"{row['combination'][:58]:58} mean dev {row['mean_dev_first']:.1%}  "
            + "  ".join(f"{k} {v['first']:.1%}" for k, v in row.items() if isinstance(v, dict))
        )
    # e5 encodes about six times slower than USE-m (bot/nlu/e5.py), which the bot's
    # throughput target cannot afford: the best combination without it is reported apart.
    without_e5 = next(r for r in rows if args.extra not in r["combination"])
    shipped = next(r for r in rows if r["combination"] == "sum: svm + 1 knn + 1.5 bm25")
    out = RESULTS / ("fusion.json" if args.extra == "e5" else f"fusion-{args.extra}.json")
    out.write_text(
        results_json({"best": rows[0], "best_without_e5": without_e5, "shipped": shipped}, rows),
        encoding="utf-8",
    )
    print(
        f"best on dev: {rows[0]['combination']} ({rows[0]['mean_dev_first']:.1%}); without "
        f"{args.extra}: "
        f"{without_e5['combination']} ({without_e5['mean_dev_first']:.1%}); shipped "
        f"{shipped['mean_dev_first']:.1%}\nwritten {out}"
    )


if __name__ == "__main__":
    main()
