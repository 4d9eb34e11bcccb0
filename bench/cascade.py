"""e5 only where USE-m is unsure: what a cascade would gain in ranking, and what it costs.

    python bench/cascade.py            # StackFAQ, the sample cut to one question, the sample

multilingual-e5-small ranks one-question FAQs better than the shipped ranking
(bench/fusion.py: the z-score sum of the SVM, USE-m and e5 cosines, +1.3 points of the dev
mean "ranked first", +4 on StackFAQ's test) but encodes five times slower than USE-m
(bench/encoders.py), too slow for every message. A cascade would encode with e5 only the
messages whose shipped confidence is below the FAQ's calibrated answer threshold (the
ones the bot does not answer outright): those get the e5 ranking, the others keep theirs.

On each FAQ's cached features (bench/replay.py) this calibrates as `tanya train` does,
then reports, per question set: how often the right entry is ranked first and among the
first three (the choices offered) with the shipped ranking, with the cascade and with e5
for every message; the share of all messages (out-of-scope ones too) the cascade would
encode twice; and the encoder time per message this implies, in units of USE-m's, from
the speeds in bench/results/encoders.json (1 + share x USE-m speed / e5 speed). Writes
bench/results/cascade.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import probe_kinds  # noqa: E402
import replay  # noqa: E402
from fusion import rankers, zscore  # noqa: E402
from nlu import RESULTS  # noqa: E402

from bot.nlu.calibration import calibrate  # noqa: E402

# bench/fusion.py's best combination on the dev questions (bench/results/fusion.json).
E5_WEIGHTS = {"svm": 1.0, "knn_q": 0.5, "e5_q": 1.0, "e5_a": 0.5}


def ranks(scores: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per question: right entry first; right entry among the first three."""
    top = np.argsort(-scores, axis=1)[:, :3]
    return top[:, 0] == gold, (top == gold[:, None]).any(axis=1)


def measure(name: str, e5_cost: float) -> dict[str, Any]:
    in_scope, out_of_scope, probe_sets = probe_kinds.probes_of(name)
    answer = calibrate(in_scope, out_of_scope).answer_threshold
    result: dict[str, Any] = {"answer_threshold": answer}
    for key, (scores, gold) in rankers(replay.DATASETS[name]()).items():
        probes = probe_sets[key]
        unsure_all = np.array([not p.confidences or p.confidences[0] < answer for p in probes])
        inside = np.array([bool(p.expected) for p in probes])
        unsure = unsure_all[inside]  # rankers() keeps the in-scope questions, in order
        shipped = scores["svm"] + scores["knn_all"] + 1.5 * scores["bm25_all"]
        with_e5 = np.sum([w * zscore(scores[n]) for n, w in E5_WEIGHTS.items()], axis=0)
        first_s, top3_s = ranks(shipped, gold)
        first_e, top3_e = ranks(with_e5, gold)
        first_c = np.where(unsure, first_e, first_s)
        top3_c = np.where(unsure, top3_e, top3_s)
        share = float(unsure_all.mean())
        result[key] = {
            "questions": len(probes),
            "in_scope": int(inside.sum()),
            "shipped": {"first": _pct(first_s), "top3": _pct(top3_s)},
            "cascade": {"first": _pct(first_c), "top3": _pct(top3_c)},
            "e5_everywhere": {"first": _pct(first_e), "top3": _pct(top3_e)},
            "unsure_in_scope": {
                "share": _pct(unsure),
                "first_shipped": _pct(first_s[unsure]),
                "first_e5": _pct(first_e[unsure]),
            },
            "encoded_by_e5": round(share, 4),
            "encoder_time_vs_usem": round(1 + share * e5_cost, 2),
        }
        r = result[key]
        print(
            f"{name} {key}: answer from {answer}; first {r['shipped']['first']:.1%} -> cascade "
            f"{r['cascade']['first']:.1%} (e5 everywhere {r['e5_everywhere']['first']:.1%}); "
            f"top 3 {r['shipped']['top3']:.1%} -> {r['cascade']['top3']:.1%}; e5 for "
            f"{share:.0%} of messages, encoder time x{r['encoder_time_vs_usem']}",
            flush=True,
        )
    return result


def _pct(hits: np.ndarray) -> float:
    return round(float(hits.mean()), 4) if len(hits) else 0.0


def main() -> None:
    speeds = json.loads((RESULTS / "encoders.json").read_text(encoding="utf-8"))["median"]
    e5_cost = float(speeds["usem"]) / float(speeds["e5"])
    results: dict[str, Any] = {"e5_time_vs_usem": round(e5_cost, 2), "weights": E5_WEIGHTS}
    for name in sys.argv[1:] or ["stackfaq", "sample-first", "sample"]:
        results[name] = measure(name, e5_cost)
    out = RESULTS / "cascade.json"
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
