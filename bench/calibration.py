"""How far the calibration's expectation is from what is measured, and which rule to use.

    python bench/calibration.py [stackfaq sample-first sample clinc]
                                [--budgets 0.05,0.1] [--reuse]

Trains each FAQ once with the project's pipeline, keeping the probes `tanya train`
calibrates on (held-out questions or answer sentences, left-out entries as near misses,
held-out out-of-scope lines), then re-runs the calibration on them for each rule below
and measures the thresholds it picks on the FAQ's held-out questions with the bot's own
decision code. A rule is chosen on the dev questions of all FAQs together: the most
questions answered right among the rules whose measured wrong answers stay within the
budget on every FAQ. ``--budgets`` also measures the shipped rule at other budgets of
wrong answers (``nlu.max_wrong_answers``), ``--reuse`` takes the model and probes of an
earlier run instead of training again. Writes bench/results/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from nlu import (  # noqa: E402
    RESULTS,
    SHARED,
    WORK,
    Example,
    clinc_faq,
    first_only,
    halves,
    import_rows,
    make_answerer,
    prepare_project,
    reduced_faq,
    sample_dev,
    sample_test,
    stackfaq_rows,
    train_and_load,
)

from bot.evaluation import CachedParser, evaluate  # noqa: E402
from bot.nlu.calibration import (  # noqa: E402
    DEFAULT_MAX_WRONG_ANSWERS,
    PROBES_ENV,
    Mix,
    Probe,
    calibrate,
)
from bot.nlu.model import NluModel  # noqa: E402
from bot.service import with_thresholds  # noqa: E402

# How the probes are weighed to choose the answer threshold (bot/nlu/calibration.py
# ANSWER_MIX): the share of in-scope questions, and the share of the out-of-scope ones that
# near misses (questions of left-out entries) stand for. Choices are chosen as shipped.
RULES = {
    "in scope 2/3, near misses 1/3 (before)": Mix(2 / 3, 1 / 3),
    "in scope 2/3, near misses 1/6": Mix(2 / 3, 1 / 6),
    "in scope 3/4, near misses 1/6": Mix(3 / 4, 1 / 6),
    "in scope 4/5, near misses 1/6": Mix(4 / 5, 1 / 6),
    "in scope 4/5, near misses 1/3": Mix(4 / 5, 1 / 3),
    "in scope 3/4, no near misses": Mix(3 / 4, 0.0),
    "in scope 4/5, no near misses": Mix(4 / 5, 0.0),
}
CONFIG = ROOT / "rasa_project" / "config.yml"


def stackfaq() -> tuple[Path, Path, list[Example], list[Example], tuple[str, ...]]:
    rows, questions = stackfaq_rows()
    faq_dir = WORK / "calibration-stackfaq" / "faq"
    import_rows(rows, faq_dir, "stackfaq")
    dev, test = halves(questions)
    return faq_dir, prepare_project("calibration-stackfaq", CONFIG, None), dev, test, ("en",)


def sample_first() -> tuple[Path, Path, list[Example], list[Example], tuple[str, ...]]:
    faq_dir = WORK / "calibration-sample-first" / "faq"
    reduced_faq(faq_dir, first_only)
    project = prepare_project("calibration-sample-first", CONFIG, None)
    return faq_dir, project, sample_dev(), sample_test(), ("id", "en")


def sample() -> tuple[Path, Path, list[Example], list[Example], tuple[str, ...]]:
    project = prepare_project("calibration-sample", CONFIG, None)
    return ROOT / "faq", project, sample_dev(), sample_test(), ("id", "en")


def clinc() -> tuple[Path, Path, list[Example], list[Example], tuple[str, ...]]:
    data = json.loads((SHARED / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    faq_dir = WORK / "calibration-clinc" / "faq"
    clinc_faq(data, faq_dir)
    oos = "\n".join(f"    - {' '.join(t.split())}" for t, _ in data["oos_train"])
    oos_file = f'version: "3.1"\nnlu:\n- intent: out_of_scope\n  examples: |\n{oos}\n'
    project = prepare_project("calibration-clinc", CONFIG, {"out_of_scope.yml": oos_file})

    def examples(*splits: str) -> list[Example]:
        return [
            Example(text, None if label == "oos" else label.replace("_", "-"), "en")
            for split in splits
            for text, label in data[split]
        ]

    return faq_dir, project, examples("val", "oos_val"), examples("test", "oos_test"), ("en",)


FAQS = {"stackfaq": stackfaq, "sample-first": sample_first, "sample": sample, "clinc": clinc}


def figures(report: dict[str, Any]) -> dict[str, float]:
    keys = ("in_scope_accuracy", "wrong_answer_rate", "out_of_scope_recall")
    return {key: report[key] for key in keys} | {
        "resolved_in_one_tap": report["resolved_in_one_tap"]
    }


def measure(
    name: str, budgets: list[float], earlier: dict[str, Any] | None, reuse: bool
) -> dict[str, Any]:
    faq_dir, project, dev, test, languages = FAQS[name]()
    probes_file = WORK / f"calibration-{name}.probes.json"
    # Kept outside the project, which the next run's set-up replaces.
    kept_model = WORK / f"calibration-{name}.model.tar.gz"
    if reuse and earlier and probes_file.is_file() and kept_model.is_file():
        model, training = NluModel.load(kept_model), earlier["training"]
    else:
        os.environ[PROBES_ENV] = str(probes_file)
        try:
            model, training = train_and_load(faq_dir, project)
        finally:
            del os.environ[PROBES_ENV]
        shutil.copyfile(project / "models" / "model.tar.gz", kept_model)
    data = json.loads(probes_file.read_text(encoding="utf-8"))

    def probes(key: str) -> list[Probe]:
        return [
            Probe(tuple(p["ranking"]), tuple(p["confidences"]), p["expected"], p["near_miss"])
            for p in data[key]
        ]

    in_scope, out_of_scope = probes("in_scope"), probes("out_of_scope")
    answerer = make_answerer(faq_dir, project, CachedParser(model), languages)
    result: dict[str, Any] = {"training": training, "rules": {}, "budgets": {}}
    for budget in budgets:
        calibration = calibrate(in_scope, out_of_scope, budget)
        tuned = with_thresholds(
            answerer,
            answer_threshold=calibration.answer_threshold,
            clarify_threshold=calibration.clarify_threshold,
        )
        result["budgets"][str(budget)] = {
            "calibration": calibration.to_json(),
            "dev": figures(evaluate(tuned, dev)),
            "test": figures(evaluate(tuned, test)),
        }
        report = result["budgets"][str(budget)]["test"]
        print(
            f"{name:13} budget {budget:.0%}: answer {calibration.answer_threshold:.3f} "
            f"choices {calibration.clarify_threshold:.3f} expected wrong "
            f"{calibration.expected.answered_wrong:.1%} | test: in scope "
            f"{report['in_scope_accuracy']:.1%} wrong {report['wrong_answer_rate']:.1%} "
            f"oos recall {report['out_of_scope_recall']:.1%}",
            flush=True,
        )
    for rule, mix in RULES.items():
        calibration = calibrate(in_scope, out_of_scope, DEFAULT_MAX_WRONG_ANSWERS, mix=mix)
        tuned = with_thresholds(
            answerer,
            answer_threshold=calibration.answer_threshold,
            clarify_threshold=calibration.clarify_threshold,
        )
        result["rules"][rule] = {
            "calibration": calibration.to_json(),
            "dev": figures(evaluate(tuned, dev)),
            "test": figures(evaluate(tuned, test)),
        }
        print(
            f"{name:13} {rule:39} answer {calibration.answer_threshold:.3f} choices "
            f"{calibration.clarify_threshold:.3f} expected right "
            f"{calibration.expected.answered_right:.1%} wrong "
            f"{calibration.expected.answered_wrong:.1%} | "
            + " | ".join(
                f"{split}: in scope {r['in_scope_accuracy']:.1%} wrong "
                f"{r['wrong_answer_rate']:.1%} oos recall {r['out_of_scope_recall']:.1%}"
                for split, r in (
                    ("dev", result["rules"][rule]["dev"]),
                    ("test", result["rules"][rule]["test"]),
                )
            ),
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"of {', '.join(FAQS)}")
    parser.add_argument("--budgets", default="", help="comma-separated, e.g. 0.05,0.1")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    names = args.names or ["stackfaq", "sample-first", "sample"]
    if unknown := [name for name in names if name not in FAQS]:
        parser.error(f"unknown FAQ: {', '.join(unknown)}")
    budgets = [float(b) for b in args.budgets.split(",") if b]
    out = RESULTS / "calibration.json"
    results = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    for name in names:
        results[name] = measure(name, budgets, results.get(name), args.reuse)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    faqs = {key: value for key, value in results.items() if isinstance(value, dict)}
    eligible = [
        rule
        for rule in RULES
        if all(
            r["rules"][rule]["dev"]["wrong_answer_rate"] <= DEFAULT_MAX_WRONG_ANSWERS
            for r in faqs.values()
        )
    ]
    best = max(
        eligible or list(RULES),
        key=lambda rule: sum(r["rules"][rule]["dev"]["in_scope_accuracy"] for r in faqs.values()),
    )
    print(f"chosen on dev ({', '.join(faqs)}): {best}")
    results["chosen"] = best
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
