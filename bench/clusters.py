"""Clustering benchmark: how well unanswered questions are grouped by what they ask.

    python bench/clusters.py                  # all 150 CLINC150 intents
    python bench/clusters.py --intents 40     # a random sample of 40 intents

Labelled questions stand in for unanswered ones, their intent (or FAQ entry) being the
"true" cluster, and are grouped by ``bot.core.clusters`` exactly as the desk does:

- CLINC150's in-scope utterances (``../shared/datasets/clinc150/data_full.json``, English):
  the validation split to choose parameters, the test split to report;
- the sample FAQ's example questions (``faq/``, Indonesian and English in chat spelling,
  ~30 per entry) to choose parameters too, since the bot's citizens write Indonesian,
  and the held-out in-scope questions of ``bench/data/sample_test.jsonl`` to report.

The word weight and the distance are swept on the two choosing sets and chosen by their
mean adjusted Rand index; the reporting sets are scored at the chosen values and at those
in config.yml (``insight.cluster_distance``, ``insight.cluster_word_weight``): adjusted
Rand index, purity, clusters found against true intents, run time; also at the desk's
bound (``insight.max_questions``), with embeddings only, and for a greedy one-pass
"leader" algorithm as the faster alternative. The rumours page's hoax matching is
measured on the sample's held-out questions too (threshold chosen on sample_dev,
reported on sample_test), and how many of them the rumour patterns tag. Printed and
written to bench/results/clusters.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.core.clusters import comparable, cut, group, similarities  # noqa: E402
from bot.core.insight import HoaxMatcher  # noqa: E402
from bot.core.rumours import asks_if_true  # noqa: E402
from bot.evaluation import read_examples  # noqa: E402
from bot.faq.loader import read_faq  # noqa: E402
from bot.nlu.embedding_cache import cached_encode  # noqa: E402
from bot.nlu.minilm import shared_model  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "bench" / "work" / "clusters" / "embeddings.npz"
CLINC = ROOT.parent / "shared" / "datasets" / "clinc150" / "data_full.json"
THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(11)]  # 0.30 ... 0.80
DISTANCES = [round(0.40 + 0.025 * i, 3) for i in range(21)]  # 0.400 ... 0.900
WEIGHTS = [0.0, 0.3, 0.5, 0.7]


@dataclass
class Questions:
    name: str
    texts: list[str]
    truth: list[str]
    vectors: np.ndarray

    def subset(self, rows: Sequence[int]) -> Questions:
        return Questions(
            self.name,
            [self.texts[i] for i in rows],
            [self.truth[i] for i in rows],
            self.vectors[list(rows)],
        )


def purity(truth: Sequence[str], labels: Sequence[int]) -> float:
    """Share of questions whose cluster's most common intent is their own."""
    by_cluster: dict[int, Counter[str]] = {}
    for label, intent in zip(labels, truth, strict=True):
        by_cluster.setdefault(label, Counter())[intent] += 1
    return sum(c.most_common(1)[0][1] for c in by_cluster.values()) / len(truth)


def leader_labels(vectors: np.ndarray, distance: float) -> list[int]:
    """Greedy one pass: join the closest cluster mean within ``distance``, else start one."""
    sums = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    labels = []
    for vector in vectors:
        if len(sums):
            means = sums / np.linalg.norm(sums, axis=1, keepdims=True)
            scores = means @ vector
            best = int(np.argmax(scores))
            if 1.0 - float(scores[best]) <= distance:
                sums[best] += vector
                labels.append(best)
                continue
        sums = np.vstack([sums, vector[None]])
        labels.append(len(sums) - 1)
    return labels


def figures(data: Questions, labels: Sequence[int], seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "questions": len(data.texts),
        "true_intents": len(set(data.truth)),
        "clusters": len(set(labels)),
        "adjusted_rand_index": round(float(adjusted_rand_score(data.truth, labels)), 4),
        "purity": round(purity(data.truth, labels), 4),
        "largest_cluster": max(Counter(labels).values()),
        "seconds": round(seconds, 3),
    }


def sweep(data: Questions) -> list[dict[str, Any]]:
    """Every (word weight, distance) pair; the similarity matrix is built once per weight."""
    rows = []
    for weight in WEIGHTS:
        similarity = similarities(data.texts, data.vectors, weight)
        for distance in DISTANCES:
            labels = cut(similarity, distance)
            rows.append(figures(data, labels, 0.0, word_weight=weight, distance=distance))
    return rows


def desk(data: Questions, distance: float, weight: float, min_size: int) -> dict[str, Any]:
    """What the desk does, timed whole (similarities, clustering, ordering)."""
    started = time.perf_counter()
    clusters, rest = group(data.texts, data.vectors, distance, weight, min_size)
    seconds = time.perf_counter() - started
    labels = [0] * len(data.texts)
    for number, rows in enumerate(clusters):
        for row in rows:
            labels[row] = number
    for number, row in enumerate(rest, start=len(clusters)):
        labels[row] = number  # leftovers count as clusters of their own
    return figures(
        data,
        labels,
        seconds,
        word_weight=weight,
        distance=distance,
        clusters_listed=len(clusters),
        in_other_bucket=len(rest),
    )


def centre(data: Questions) -> Questions:
    """The questions with their embeddings' mean removed (and normalised again)."""
    centred = data.vectors - data.vectors.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    return Questions(data.name, data.texts, data.truth, centred)


def leader(data: Questions, distance: float) -> dict[str, Any]:
    started = time.perf_counter()
    labels = leader_labels(data.vectors, distance)
    return figures(data, labels, time.perf_counter() - started, distance=distance)


ENCODER = "minilm"  # or "usem" (--encoder): which sentence encoder gives the meaning


def encoder() -> Any:
    if ENCODER == "usem":
        from bot.nlu.usem import shared_encoder

        return shared_encoder()
    return shared_model()


def embed(texts: Sequence[str]) -> np.ndarray:
    model = encoder()
    return cached_encode(texts, model.encode, model.identity, CACHE)


def embedding_speed(texts: Sequence[str]) -> float:
    """Questions per second the encoder embeds, without the cache (what the desk pays)."""
    model = encoder()
    started = time.perf_counter()
    model.encode(texts)
    return round(len(texts) / (time.perf_counter() - started), 1)


def clinc(split: str, intents: set[str] | None) -> Questions:
    data = json.loads(CLINC.read_text(encoding="utf-8"))
    rows = [(t, label) for t, label in data[split] if label != "oos"]
    rows = [(t, label) for t, label in rows if intents is None or label in intents]
    texts = [comparable(t) for t, _ in rows]  # as the desk does (personal numbers out)
    return Questions(f"clinc150_{split}", texts, [label for _, label in rows], embed(texts))


def sample_faq() -> tuple[Questions, Questions]:
    faq = read_faq(ROOT / "faq")
    pairs = [(comparable(q), e.id) for e in faq.entries for _, q in e.all_questions()]
    held_out = [
        (comparable(e.text), str(e.expected))
        for e in read_examples(ROOT / "bench" / "data" / "sample_test.jsonl")
        if e.expected is not None
    ]
    return tuple(  # type: ignore[return-value]
        Questions(
            name, [t for t, _ in rows], [label for _, label in rows], embed([t for t, _ in rows])
        )
        for name, rows in (("sample_faq_examples", pairs), ("sample_test_in_scope", held_out))
    )


def hoax_matching(topic: str, word_weight: float, configured: float) -> dict[str, Any]:
    """The rumours page's "best-matching clarification" on the sample's held-out
    questions: those about a hoax entry should match it, the others nothing. The
    threshold is chosen on sample_dev by F1 (a match to a wrong entry, or any match of
    a question about something else, counts as a false one), reported on sample_test."""
    entries = [e for e in read_faq(ROOT / "faq").entries if e.topic == topic]
    matcher = HoaxMatcher(embed, word_weight)
    results: dict[str, Any] = {"word_weight": word_weight, "entries": len(entries)}
    sweeps = {}
    for split in ("dev", "test"):
        examples = read_examples(ROOT / "bench" / "data" / f"sample_{split}.jsonl")
        texts = [comparable(e.text) for e in examples]
        scores = matcher.scores(texts, embed(texts), entries)
        rows = []
        for threshold in THRESHOLDS:
            right = wrong = 0
            for example, row in zip(examples, scores, strict=True):
                index = int(np.argmax(row))
                if row[index] < threshold:
                    continue
                if entries[index].id == example.expected:
                    right += 1
                else:
                    wrong += 1
            about = sum(1 for e in examples if (e.expected or "") in {x.id for x in entries})
            rows.append(
                {
                    "threshold": threshold,
                    "hoax_questions": about,
                    "matched_right": right,
                    "false_matches": wrong,
                    "questions": len(examples),
                    "f1": round(2 * right / (right + wrong + about), 4) if about else 0.0,
                }
            )
        sweeps[split] = rows
    chosen = max(sweeps["dev"], key=lambda r: (r["f1"], r["threshold"]))["threshold"]
    results["chosen_on_dev"] = chosen
    results["test_at_chosen"] = next(r for r in sweeps["test"] if r["threshold"] == chosen)
    results["test_at_configured"] = next(
        (r for r in sweeps["test"] if abs(r["threshold"] - configured) < 1e-9), None
    )
    results["sweeps"] = sweeps
    return results


def rumour_patterns(topic: str) -> dict[str, Any]:
    """How many of the sample's held-out questions the "is it true / hoaks?" patterns tag:
    among those about a hoax clarification, and among the others."""
    hoax_ids = {e.id for e in read_faq(ROOT / "faq").entries if e.topic == topic}
    examples = [
        e
        for split in ("dev", "test")
        for e in read_examples(ROOT / "bench" / "data" / f"sample_{split}.jsonl")
    ]
    about = [e.text for e in examples if e.expected in hoax_ids]
    others = [e.text for e in examples if e.expected not in hoax_ids]
    return {
        "hoax_questions": len(about),
        "hoax_questions_tagged": sum(map(asks_if_true, about)),
        "other_questions": len(others),
        "other_questions_tagged": sum(map(asks_if_true, others)),
    }


SIMILAR_POOL = 100  # open tickets on the desk at once (a busy day)
SIMILAR_POOLS = 30
OLD_SIMILAR = 0.8  # the desk's former rule: MiniLM cosine alone at least this


def similar_questions(data: Questions, distance: float, weight: float, seed: int) -> dict[str, Any]:
    """The ticket page's "similar open questions" on pools of ``SIMILAR_POOL`` questions
    standing in for the open tickets: for each, the others the rule offers. Precision:
    offered questions with the same intent; recall: same-intent questions offered;
    "found": tickets offered at least one right question, of those that had one.
    Rules: the former MiniLM cosine >= 0.8; the clusters' measure (meaning and words)
    with its pairwise similarity >= 1 - distance; and the same cluster as Clusters
    would make of the pool (what the desk now does)."""
    rng = random.Random(seed)
    counts: dict[str, Counter[str]] = {}
    for _ in range(SIMILAR_POOLS):
        pool = data.subset(rng.sample(range(len(data.texts)), SIMILAR_POOL))
        meaning = pool.vectors @ pool.vectors.T
        mixed = similarities(pool.texts, pool.vectors, weight)
        labels = cut(mixed, distance)
        rules = {
            "minilm_cosine_0.8": meaning >= OLD_SIMILAR,
            "measure_pairwise": mixed >= 1 - distance,
            "same_cluster": np.equal.outer(np.array(labels), np.array(labels)),
        }
        intents = np.array([hash(t) for t in pool.truth])
        truth = np.equal.outer(intents, intents)
        np.fill_diagonal(truth, False)
        for name, offered in rules.items():
            offered = offered.copy()
            np.fill_diagonal(offered, False)
            tally = counts.setdefault(name, Counter())
            tally["offered"] += int(offered.sum())
            tally["right"] += int((offered & truth).sum())
            tally["relevant"] += int(truth.sum())
            having = truth.any(axis=1)
            tally["tickets_with_a_match"] += int(having.sum())
            tally["found"] += int(((offered & truth).any(axis=1) & having).sum())
    return {
        name: {
            "precision": round(t["right"] / t["offered"], 4) if t["offered"] else None,
            "recall": round(t["right"] / t["relevant"], 4) if t["relevant"] else None,
            "tickets_found": round(t["found"] / t["tickets_with_a_match"], 4)
            if t["tickets_with_a_match"]
            else None,
            "offered_per_ticket": round(t["offered"] / (SIMILAR_POOL * SIMILAR_POOLS), 2),
        }
        for name, t in counts.items()
    }


def best(rows: list[dict[str, Any]], weight: float | None = None) -> dict[str, Any]:
    rows = [r for r in rows if weight is None or r["word_weight"] == weight]
    return max(rows, key=lambda r: r["adjusted_rand_index"])


def run(intent_count: int | None, seed: int) -> dict[str, Any]:
    settings = load_settings(ROOT / "config.yml").insight
    intents = None
    if intent_count is not None:
        everything = sorted({label for _, label in json.loads(CLINC.read_text())["train"]})
        intents = set(random.Random(seed).sample(everything, intent_count))
    clinc_val, clinc_test = clinc("val", intents), clinc("test", intents)
    faq_examples, faq_test = sample_faq()
    sweeps = {data.name: sweep(data) for data in (clinc_val, faq_examples)}
    mean = [
        {**a, "adjusted_rand_index": (a["adjusted_rand_index"] + b["adjusted_rand_index"]) / 2}
        for a, b in zip(*sweeps.values(), strict=True)
    ]
    chosen = best(mean)
    weight, distance = chosen["word_weight"], chosen["distance"]
    configured = (settings.cluster_word_weight, settings.cluster_distance)
    min_size = settings.min_cluster_size
    # Embeddings alone, at the distance best for them on the choosing sets.
    alone = best([r for r in mean if r["word_weight"] == 0.0])["distance"]
    leader_distance = max(
        DISTANCES[:12],
        key=lambda d: adjusted_rand_score(clinc_val.truth, leader_labels(clinc_val.vectors, d)),
    )
    bound = random.Random(seed).sample(
        range(len(clinc_test.texts)), min(settings.max_questions, len(clinc_test.texts))
    )
    report: dict[str, Any] = {}
    for data in (clinc_test, faq_test):
        report[data.name] = {
            "at_chosen": desk(data, distance, weight, min_size),
            "at_configured": desk(data, configured[1], configured[0], min_size),
            "embeddings_only": desk(data, alone, 0.0, min_size),
        }
    report[clinc_test.name]["at_desk_bound"] = desk(
        clinc_test.subset(sorted(bound)), configured[1], configured[0], min_size
    )
    report[clinc_test.name]["leader_embeddings_only"] = leader(clinc_test, leader_distance)
    # Not used by the desk, measured as a candidate: embeddings centred on the questions'
    # mean, which removes what all Indonesian chat messages share (see the report).
    centred = [centre(data) for data in (clinc_val, faq_examples)]
    centred_sweeps = [[r for r in sweep(data) if r["word_weight"] == weight] for data in centred]
    centred_distance = max(
        zip(*centred_sweeps, strict=True),
        key=lambda pair: pair[0]["adjusted_rand_index"] + pair[1]["adjusted_rand_index"],
    )[0]["distance"]
    for data in (clinc_test, faq_test):
        report[data.name]["centred_embeddings"] = desk(
            centre(data), centred_distance, weight, min_size
        )
    hoaxes = hoax_matching(settings.hoax_topic, configured[0], settings.hoax_similarity)
    similar = {
        data.name: similar_questions(data, configured[1], configured[0], seed)
        for data in (clinc_test, faq_test)
    }
    return {
        "intents": len(set(clinc_test.truth)),
        "encoder": ENCODER,
        "seed": seed,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "embedding_questions_per_second": embedding_speed(clinc_test.texts[:512]),
        "chosen": {
            "word_weight": weight,
            "distance": distance,
            "mean_ari": round(chosen["adjusted_rand_index"], 4),
        },
        "configured": {"word_weight": configured[0], "distance": configured[1]},
        "choosing_sets_best_per_weight": {
            name: {str(w): best(rows, w) for w in WEIGHTS} for name, rows in sweeps.items()
        },
        "report": report,
        "hoax_matching": hoaxes,
        "rumour_patterns": rumour_patterns(settings.hoax_topic),
        "similar_questions": similar,
        "sweeps": sweeps,
    }


def print_result(result: dict[str, Any]) -> None:
    print(f"clustering benchmark ({result['intents']} CLINC150 intents, seed {result['seed']})")
    print("best per word weight on the choosing sets (ARI / purity / clusters @ distance):")
    for name, rows in result["choosing_sets_best_per_weight"].items():
        for weight, row in rows.items():
            print(
                f"  {name:22} weight {weight}: ARI {row['adjusted_rand_index']:.3f} "
                f"purity {row['purity']:.3f} clusters {row['clusters']} @ {row['distance']:.3f}"
            )
    chosen = result["chosen"]
    print(f"chosen: word weight {chosen['word_weight']}, distance {chosen['distance']:.3f}")
    print(f"configured: {result['configured']}")
    for name, rows in result["report"].items():
        for key, row in rows.items():
            print(
                f"  {name} {key}: weight {row.get('word_weight', 0.0)} distance "
                f"{row['distance']:.3f}, {row['questions']} questions, ARI "
                f"{row['adjusted_rand_index']:.3f}, purity {row['purity']:.3f}, "
                f"{row['clusters']} clusters for {row['true_intents']} intents "
                f"(largest {row['largest_cluster']}), "
                f"{row['seconds']:.2f} s"
            )
    hoaxes = result["hoax_matching"]
    for key in ("test_at_chosen", "test_at_configured"):
        row = hoaxes[key]
        if row:
            print(
                f"hoax matching {key} (threshold {row['threshold']}): "
                f"{row['matched_right']}/{row['hoax_questions']} hoax questions matched to "
                f"their clarification, {row['false_matches']} false matches among "
                f"{row['questions']} questions, F1 {row['f1']:.2f}"
            )
    tags = result["rumour_patterns"]
    print(
        f"rumour patterns: {tags['hoax_questions_tagged']}/{tags['hoax_questions']} hoax "
        f"questions tagged, {tags['other_questions_tagged']}/{tags['other_questions']} others"
    )
    print(f"similar open questions ({SIMILAR_POOLS} pools of {SIMILAR_POOL} tickets):")
    for name, rules in result["similar_questions"].items():
        for rule, row in rules.items():
            print(
                f"  {name} {rule}: precision {row['precision']}, recall {row['recall']}, "
                f"tickets found {row['tickets_found']}, {row['offered_per_ticket']} offered "
                "per ticket"
            )
    print(f"embedding: {result['embedding_questions_per_second']} questions/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=None, help="sample this many intents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--similar-only", action="store_true", help="only the similar questions (printed)"
    )
    parser.add_argument("--encoder", choices=("minilm", "usem"), default="minilm")
    args = parser.parse_args()
    global ENCODER
    ENCODER = args.encoder
    if args.similar_only:
        settings = load_settings(ROOT / "config.yml").insight
        for data in (clinc("test", None), sample_faq()[1]):
            found = similar_questions(
                data, settings.cluster_distance, settings.cluster_word_weight, args.seed
            )
            print(data.name, json.dumps(found, indent=1))
        return
    result = run(args.intents, args.seed)
    print_result(result)
    out = args.out or RESULTS / "clusters.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
