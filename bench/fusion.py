"""How the ranking's parts should be weighed: the lexical score and the nearest example.

    python bench/fusion.py          # StackFAQ and the sample FAQ cut to one question each

Trains each FAQ once with the project's pipeline (the lexical index is always built), then
re-weighs the parts of the trained classifier's score without retraining and measures
how often the right entry is ranked first and among the first three. The weights are
chosen on the development questions of both FAQs together (StackFAQ: every other
rephrasing per thread; the sample: its dev files, bench/nlu.py's), by the highest mean
"ranked first"; the test questions are only reported. Writes bench/results/fusion.json.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from nlu import (  # noqa: E402
    RESULTS,
    WORK,
    first_only,
    halves,
    import_rows,
    prepare_project,
    reduced_faq,
    sample_dev,
    sample_test,
    stackfaq_rows,
)

from bot.evaluation import Example  # noqa: E402
from bot.nlu.model import NluModel  # noqa: E402
from bot.nlu.train import train  # noqa: E402

LEXICAL = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
KNN = (0.5, 1.0, 2.0)


def classifier_of(model: NluModel) -> Any:
    nodes = model._runner._instantiated_nodes  # the trained classifier, for measurement
    return next(
        n._component for n in nodes.values() if "FaqClassifier" in type(n._component).__name__
    )


def ranked(model: NluModel, examples: list[Example]) -> tuple[float, float]:
    in_scope = [e for e in examples if e.expected]
    parses = model.parse_batch([e.text for e in in_scope])
    first = top3 = 0
    for example, parse in zip(in_scope, parses, strict=True):
        faq = [s.name for s in parse.ranking if s.name.startswith("faq.")]
        first += faq[:1] == [f"faq.{example.expected}"]
        top3 += f"faq.{example.expected}" in faq[:3]
    return first / len(in_scope), top3 / len(in_scope)


def trained(name: str, faq_dir: Path) -> NluModel:
    config = yaml.safe_load((ROOT / "rasa_project" / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"].endswith("FaqClassifier"):
            component["lexical_weight"] = 1.0
    path = WORK / f"fusion-{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    project = prepare_project(f"fusion-{name}", path, None)
    out = project / "models" / "model.tar.gz"
    train(faq_dir, project, out, progress=lambda line: None)
    return NluModel.load(out)


def main() -> None:
    rows, questions = stackfaq_rows()
    stack_faq = WORK / "fusion-stackfaq" / "faq"
    import_rows(rows, stack_faq, "stackfaq")
    stack_dev, stack_test = halves(questions)
    sample_faq = WORK / "fusion-sample" / "faq"
    reduced_faq(sample_faq, first_only)
    sets = {
        "stackfaq": (trained("stackfaq", stack_faq), stack_dev, stack_test),
        "sample-first-only": (trained("sample", sample_faq), sample_dev(), sample_test()),
    }
    grid = []
    for lexical, knn in itertools.product(LEXICAL, KNN):
        row: dict[str, Any] = {"lexical_weight": lexical, "knn_weight": knn}
        for name, (model, dev, test) in sets.items():
            classifier = classifier_of(model)
            classifier.config["lexical_weight"] = lexical
            classifier.config["knn_weight"] = knn
            row[name] = {"dev": ranked(model, dev), "test": ranked(model, test)}
        row["mean_dev_first"] = sum(row[n]["dev"][0] for n in sets) / len(sets)
        grid.append(row)
        print(
            f"lexical {lexical:>3} knn {knn:>3}: "
            + "  ".join(
                f"{n} dev {row[n]['dev'][0]:.1%}/{row[n]['dev'][1]:.1%} "
                f"test {row[n]['test'][0]:.1%}/{row[n]['test'][1]:.1%}"
                for n in sets
            ),
            flush=True,
        )
    best = max(grid, key=lambda r: r["mean_dev_first"])
    print(
        f"chosen on dev: lexical_weight {best['lexical_weight']}, knn_weight {best['knn_weight']}"
    )
    out = RESULTS / "fusion.json"
    out.write_text(json.dumps({"grid": grid, "chosen": best}, indent=2) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
