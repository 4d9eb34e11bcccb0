"""Which of the calibration's probes stand for citizens' questions, and which do not.

    python bench/probe_kinds.py [stackfaq sample-first sample] [--kept]

`tanya train` calibrates on probes cut from the FAQ itself (bot/nlu/classifier.py,
``FaqClassifier._probes``): held-out questions, or answer sentences for entries with one
question (in scope); questions of left-out entries (near misses); held-out small-talk and
out-of-scope lines. This replays that cross-validation on a FAQ's cached features
(bench/replay.py) and puts each kind beside what the same thresholds do to the held-out
question sets (dev and test, bench/nlu.py's), for a range of answer thresholds: how often
in-scope questions are answered right and wrong, and how often out-of-scope ones are
answered. Where a kind of probe does much worse or better than the questions it stands
for, the calibration's expectation is off by as much. Then it calibrates for the default
budget with each assumed share of near misses among out-of-scope questions and measures
the chosen thresholds on the held-out sets, and with the mix shipped (ANSWER_MIX).
``--kept`` takes the probes and models bench/calibration.py kept instead (no training:
also CLINC150, as "NAME (kept)"). Writes bench/results/probe_kinds.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import replay  # noqa: E402
from nlu import RESULTS, WORK  # noqa: E402

from bot.nlu.calibration import (  # noqa: E402
    ANSWER_MIX,
    CHOICE_MIX,
    DEFAULT_MAX_WRONG_ANSWERS,
    Mix,
    Probe,
    Thresholds,
    _outcomes,
    calibrate,
)
from bot.nlu.classifier import FaqClassifier  # noqa: E402

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
NEAR_SHARES = {"1/2": 0.5, "1/3": 1 / 3, "0": 0.0}
MARGIN = 0.1  # config.yml's clarify_margin


def classifier_config() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "rasa_project" / "config.yml").read_text(encoding="utf-8"))
    component = next(c for c in config["pipeline"] if c["name"].endswith("FaqClassifier"))
    return {key: value for key, value in component.items() if key != "name"}


def kept_probes_of(name: str) -> tuple[list[Probe], list[Probe], dict[str, list[Probe]]]:
    """:func:`probes_of` from what bench/calibration.py kept: the probes `tanya train`
    wrote, and the held-out sets parsed by the model it trained."""
    import calibration

    from bot.nlu.classifier import SMALLTALK_PREFIX, SMALLTALK_THRESHOLD
    from bot.nlu.model import NluModel

    _, _, dev, test, _ = calibration.FAQS[name]()
    data = json.loads((WORK / f"calibration-{name}.probes.json").read_text(encoding="utf-8"))
    model = NluModel.load(WORK / f"calibration-{name}.model.tar.gz")
    sets: dict[str, list[Probe]] = {}
    for key, examples in (("dev", dev), ("test", test)):
        sets[key] = []
        for example, parse in zip(
            examples, model.parse_batch([e.text for e in examples]), strict=True
        ):
            expected = f"faq.{example.expected}" if example.expected else None
            top = parse.top
            smalltalk = top is not None and top.name.startswith(SMALLTALK_PREFIX)
            if smalltalk and top is not None and top.confidence >= SMALLTALK_THRESHOLD:
                sets[key].append(Probe((), (), expected))
                continue
            faq = [s for s in parse.ranking if s.name.startswith("faq.")]
            ranking = tuple(s.name for s in faq)
            sets[key].append(Probe(ranking, tuple(s.confidence for s in faq), expected))
    probes = {
        key: [
            Probe(tuple(p["ranking"]), tuple(p["confidences"]), p["expected"], p["near_miss"])
            for p in data[key]
        ]
        for key in ("in_scope", "out_of_scope")
    }
    return probes["in_scope"], probes["out_of_scope"], sets


def probes_of(name: str) -> tuple[list[Probe], list[Probe], dict[str, list[Probe]]]:
    """The calibration's probes (in scope, out of scope) and the held-out sets' rankings
    from the model trained on the whole FAQ."""
    data = replay.DATASETS[name]()
    classifier = FaqClassifier(classifier_config(), None, None)  # type: ignore[arg-type]
    probes = classifier._probes(
        data.kinds, data.train.sparse, data.train.dense, data.train.stems, data.labels
    )
    assert probes is not None
    classifier._fit(data.train.sparse, data.train.dense, data.train.stems, data.labels)
    sets = {}
    for key, (examples, features) in data.sets.items():
        rows = classifier._scores(features.sparse, features.dense, features.stems)
        sets[key] = [
            classifier._probe(row, f"faq.{e.expected}" if e.expected else None)
            for e, row in zip(examples, rows, strict=True)
        ]
    return probes[0], probes[1], sets


def rates(probes: list[Probe], thresholds: Thresholds) -> dict[str, float | None]:
    """In scope: answered right / wrong; out of scope: answered; all: wrong answers."""
    inside = [p for p in probes if p.expected]
    outside = [p for p in probes if not p.expected]
    right, wrong = _outcomes(inside, thresholds)[:2] if inside else (0.0, 0.0)
    answered = _outcomes(outside, thresholds)[1] if outside else None
    total = (wrong * len(inside) + (answered or 0.0) * len(outside)) / max(len(probes), 1)
    return {
        "right": round(right, 4) if inside else None,
        "wrong": round(wrong, 4) if inside else None,
        "out_of_scope_answered": None if answered is None else round(answered, 4),
        "wrong_answers": round(total, 4),
    }


def measure(name: str, kept: bool = False) -> dict[str, Any]:
    in_scope, out_of_scope, sets = (kept_probes_of if kept else probes_of)(name)
    kinds = {
        "in scope": in_scope,
        "near misses": [p for p in out_of_scope if p.near_miss],
        "out-of-scope lines": [p for p in out_of_scope if not p.near_miss],
    }
    result: dict[str, Any] = {
        "probes": {kind: len(probes) for kind, probes in kinds.items()},
        "held_out": {
            key: {
                "in_scope": sum(bool(p.expected) for p in v),
                "out_of_scope": sum(not p.expected for p in v),
            }
            for key, v in sets.items()
        },
        "by_threshold": {},
        "calibrated": {},
    }
    print(f"{name}: probes {result['probes']}, held out {result['held_out']}")
    for threshold in THRESHOLDS:
        thresholds = Thresholds(threshold, threshold, MARGIN)
        row = {kind: rates(probes, thresholds) for kind, probes in kinds.items()}
        row |= {key: rates(probes, thresholds) for key, probes in sets.items()}
        result["by_threshold"][str(threshold)] = row
        print(
            f"  {threshold:.2f}: probes in scope right {row['in scope']['right']:.1%} wrong "
            f"{row['in scope']['wrong']:.1%}, near misses answered "
            f"{row['near misses']['out_of_scope_answered']:.1%}, lines answered "
            f"{row['out-of-scope lines']['out_of_scope_answered']:.1%} | "
            + " | ".join(
                f"{key}: right {row[key]['right']:.1%} wrong {row[key]['wrong']:.1%}"
                + (
                    f" oos answered {row[key]['out_of_scope_answered']:.1%}"
                    if row[key]["out_of_scope_answered"] is not None
                    else ""
                )
                for key in sets
            )
        )
    mixes = {
        f"in scope 2/3, near misses {label}": Mix(CHOICE_MIX.in_scope, share)
        for label, share in NEAR_SHARES.items()
    }
    for label, mix in (mixes | {"shipped": ANSWER_MIX}).items():
        calibration = calibrate(in_scope, out_of_scope, DEFAULT_MAX_WRONG_ANSWERS, mix=mix)
        thresholds = Thresholds(calibration.answer_threshold, calibration.clarify_threshold, MARGIN)
        measured = {key: rates(probes, thresholds) for key, probes in sets.items()}
        result["calibrated"][label] = {"calibration": calibration.to_json(), **measured}
        print(
            f"  {label}: answer {calibration.answer_threshold} choices "
            f"{calibration.clarify_threshold}, expected wrong "
            f"{calibration.expected.answered_wrong:.1%} | "
            + " | ".join(
                f"{key}: right {m['right']:.1%} wrong answers {m['wrong_answers']:.1%}"
                for key, m in measured.items()
            )
        )
    return result


def main() -> None:
    out = RESULTS / "probe_kinds.json"
    results = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    kept = "--kept" in sys.argv
    names = [a for a in sys.argv[1:] if a != "--kept"] or list(replay.DATASETS)
    for name in names:
        results[f"{name} (kept)" if kept else name] = measure(name, kept)
        out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
