"""NLU benchmark: accuracy, escalation, speed and memory of the project's pipeline.

    python bench/nlu.py sample   # the bundled sample FAQ, held-out citizen questions
    python bench/nlu.py clinc    # CLINC150 "Full" (Larson et al., 2019), ../shared/datasets
    python bench/nlu.py sample --first-only             # what generated variants buy
    python bench/nlu.py sample --keep-per-language 3 --min-own-examples 11   # ... 3 + 3

Each run trains with the project's pipeline (rasa_project/config.yml, or --config),
tunes the decision thresholds on the development data only (the sample's three
sample_dev*.jsonl files and sample_test.jsonl; CLINC's val + oos_val) to clear the data
set's targets in issue 2 by the most standard errors, then reports on the test data
(sample_confirm.jsonl; test + oos_test).
Figures are printed and written to bench/results/nlu-<dataset>.json.

--first-only keeps only the first example question of each sample entry (as an FAQ page
imported with `tanya import` gives), --keep-per-language N the first N of each language;
either trains twice, without and with the variants generated for entries with few
examples (bot/nlu/variants.py), and writes bench/results/fewshot*.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.cli import ASK_BATCH  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.core.answerer import Answerer  # noqa: E402
from bot.core.language import LanguageGuesser  # noqa: E402
from bot.core.replies import Replies  # noqa: E402
from bot.evaluation import CachedParser, Example, evaluate, read_examples  # noqa: E402
from bot.faq.loader import read_faq  # noqa: E402
from bot.faq.model import Entry  # noqa: E402
from bot.nlu import trainingdata  # noqa: E402
from bot.nlu.calibration import Calibration  # noqa: E402
from bot.nlu.model import NluModel  # noqa: E402
from bot.nlu.train import train  # noqa: E402
from bot.nlu.trainingdata import generated_variants  # noqa: E402
from bot.nlu.variants import MAX_VARIANTS, MAX_VARIANTS_PER_LANGUAGE  # noqa: E402
from bot.service import with_thresholds  # noqa: E402

WORK = ROOT / "bench" / "work"
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "bench" / "data"
SHARED = ROOT.parent / "shared" / "datasets"


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def prepare_project(name: str, config: Path, data_files: dict[str, str] | None) -> Path:
    """A scratch copy of rasa_project with ``config`` and, optionally, other data files."""
    project = WORK / name / "rasa_project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(ROOT / "rasa_project", project, ignore=shutil.ignore_patterns("models"))
    shutil.copy(config, project / "config.yml")
    if data_files is not None:
        shutil.rmtree(project / "data")
        (project / "data").mkdir()
        for filename, text in data_files.items():
            (project / "data" / filename).write_text(text, encoding="utf-8")
    return project


def train_and_load(
    faq_dir: Path, project: Path, variants: bool = False
) -> tuple[NluModel, dict[str, Any]]:
    model_path = project / "models" / "model.tar.gz"
    started = time.monotonic()
    result = train(
        faq_dir, project, model_path, progress=lambda line: print("  " + line), variants=variants
    )
    seconds = time.monotonic() - started
    model = NluModel.load(model_path)
    return model, {
        "train_seconds": round(seconds, 1),
        "intents": result.intents,
        "training_examples": result.examples,
        "model_bytes": model_path.stat().st_size,
        "train_peak_rss_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
    }


def make_answerer(
    faq_dir: Path,
    project: Path,
    parser: Any,
    languages: tuple[str, ...],
    calibration: Calibration | None = None,
) -> Answerer:
    """The answerer as `tanya run` builds it: config.yml's settings (thresholds from the
    model's calibration unless config.yml sets them)."""
    settings = load_settings(ROOT / "config.yml")
    guesser = LanguageGuesser(languages)
    guesser.warm_up()
    return Answerer(
        read_faq(faq_dir),
        parser,
        settings.nlu,
        Replies.load(project / "domain.yml"),
        guesser,
        calibration=calibration,
    )


@dataclass(frozen=True)
class Target:
    """A benchmark target: ``metric`` (a key of the evaluation report) at least ``bound``,
    or at most if ``most``; ``population`` names the report's count it is a share of."""

    metric: str
    bound: float
    population: str
    most: bool = False

    def margin(self, report: dict[str, Any]) -> float:
        """How far ``report`` clears the target, in standard errors of the metric."""
        value = float(report[self.metric])
        # The error is taken at the value or the bound, whichever is larger, so that a
        # rate of 0 (no wrong answers) or 1 does not count as infinitely far.
        share = min(max(value, self.bound), 1 - 1e-9)
        error = (share * (1 - share) / max(int(report[self.population]), 1)) ** 0.5
        return (self.bound - value if self.most else value - self.bound) / max(error, 1e-9)


# The targets of issue 2: the sample FAQ's held-out questions, and CLINC150 Full.
SAMPLE_TARGETS = (
    Target("in_scope_accuracy", 0.90, "in_scope"),
    Target("wrong_answer_rate", 0.05, "questions", most=True),
)
STACKFAQ_TARGETS = (
    Target("in_scope_accuracy", 0.80, "in_scope"),
    Target("wrong_answer_rate", 0.03, "questions", most=True),
)
CLINC_TARGETS = (
    Target("in_scope_accuracy", 0.935, "in_scope"),
    Target("out_of_scope_recall", 0.60, "out_of_scope"),
)


def target_key(targets: Sequence[Target]) -> Callable[[dict[str, Any]], float]:
    """Choose the thresholds that clear every target by the most standard errors on dev.

    Taking the best accuracy within a bound on another figure picks a point on that
    bound, and unseen questions then miss it about half the time; the figures move
    together with the threshold, so the point to ship is the one with room on both sides.
    Margins are counted in standard errors because the dev subsets differ in size: CLINC's
    oos_val has 100 sentences (one is a point of recall), val 3,000.
    """
    return lambda report: min(target.margin(report) for target in targets)


def tune(
    answerer: Answerer,
    dev: Sequence[Example],
    allow_clarify: bool,
    key: Callable[[dict[str, Any]], float],
) -> dict[str, float]:
    """The thresholds with the highest ``key`` on dev."""
    grid = itertools.product(
        [round(0.05 * i, 2) for i in range(1, 20)],
        [0.0, 0.1, 0.2, 0.3] if allow_clarify else [0.0],
    )
    candidates = [
        {
            "answer_threshold": answer_t,
            "clarify_margin": margin,
            "clarify_threshold": answer_t / 2 if allow_clarify else 1.01,
        }
        for answer_t, margin in grid
    ]

    def value(thresholds: dict[str, float]) -> float:
        return key(evaluate(with_thresholds(answerer, **thresholds), dev))

    return max(candidates, key=value)


def latency(model: NluModel, texts: Sequence[str]) -> dict[str, float]:
    """Single-message parse latency and batch throughput of the loaded model."""
    model.parse_batch(list(texts[:8]))  # warm up
    timings = []
    for text in texts[:300]:
        started = time.perf_counter()
        model.parse(text)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    batch = list(texts[:512])
    started = time.perf_counter()
    model.parse_batch(batch)
    batch_seconds = time.perf_counter() - started
    return {
        "parse_p50_ms": round(statistics.median(timings), 2),
        "parse_p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        "batch_questions_per_second": round(len(batch) / batch_seconds, 1),
    }


def ask_throughput(answerer: Answerer, model: NluModel, texts: Sequence[str]) -> float:
    """Decisions per second as `tanya ask` makes them: batches of piped lines, uncached."""
    live = with_thresholds(answerer)
    live.parser = model
    started = time.perf_counter()
    for start in range(0, len(texts), ASK_BATCH):
        live.decide_batch([(text, None) for text in texts[start : start + ASK_BATCH]])
    return round(len(texts) / (time.perf_counter() - started), 1)


def ranking_quality(parser: CachedParser, examples: Sequence[Example]) -> dict[str, float]:
    """How often the right entry is the model's first (or among its first three) FAQ guesses,
    whatever the thresholds: the ceiling that threshold tuning works under."""
    in_scope = [e for e in examples if e.expected]
    parses = parser.parse_batch([e.text for e in in_scope])
    hits1 = hits3 = 0
    for example, parse in zip(in_scope, parses, strict=True):
        faq = [s.name for s in parse.ranking if s.name.startswith("faq.")]
        hits1 += faq[:1] == [f"faq.{example.expected}"]
        hits3 += f"faq.{example.expected}" in faq[:3]
    n = len(in_scope) or 1
    return {"top1_in_scope": round(hits1 / n, 4), "top3_in_scope": round(hits3 / n, 4)}


def run(
    name: str,
    faq_dir: Path,
    project: Path,
    dev: list[Example],
    test: list[Example],
    languages: tuple[str, ...],
    allow_clarify: bool,
    key: Callable[[dict[str, Any]], float],
    variants: bool = False,
    extra_tests: dict[str, list[Example]] | None = None,
) -> dict[str, Any]:
    print(f"Training {name} ...")
    model, training = train_and_load(faq_dir, project, variants)
    parser = CachedParser(model)
    answerer = make_answerer(faq_dir, project, parser, languages, model.info.calibration)
    # The figures that count: the thresholds `tanya train` calibrated on the FAQ itself.
    dev_report = evaluate(answerer, dev)
    report = evaluate(answerer, test)
    # For reference only: the thresholds that would have been best on dev.
    thresholds = tune(answerer, dev, allow_clarify, key)
    tuned = with_thresholds(answerer, **thresholds)
    speed = latency(model, [e.text for e in test])
    speed["ask_questions_per_second"] = ask_throughput(answerer, model, [e.text for e in test])
    report["ranking"] = ranking_quality(parser, test)
    calibration = model.info.calibration
    extra = {
        label: evaluate(answerer, examples) | {"ranking": ranking_quality(parser, examples)}
        for label, examples in (extra_tests or {}).items()
    }
    return {
        **{f"test_{label}": report for label, report in extra.items()},
        "dataset": name,
        "pipeline": (project / "config.yml").read_text(encoding="utf-8"),
        "calibration": calibration.to_json() if calibration else None,
        "thresholds_tuned_on_dev": thresholds,
        "test_with_thresholds_tuned_on_dev": brief(evaluate(tuned, test)),
        "dev": brief(dev_report) | {"ranking": ranking_quality(parser, dev)},
        "test": report,
        "training": training,
        "speed": speed,
        "serve_peak_rss_mb": round(peak_rss_mb(resource.RUSAGE_SELF), 1),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }


def brief(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("per_topic", "confused_pairs")}


def sample_dev() -> list[Example]:
    """The sample's development data: every held-out file but ``sample_confirm.jsonl``.

    ``sample_dev.jsonl`` alone (74 questions in scope) was too small to tune on: one
    question moved dev accuracy by 1.4 points. ``sample_dev_extra.jsonl`` was worded close
    to the FAQ, and with the multilingual encoder its questions became too easy to tell
    thresholds apart; ``sample_dev_hard.jsonl`` words questions the way citizens describe
    their own situation, and became easy in turn once the FAQ had examples written that
    way. ``sample_test.jsonl`` was the test file until it had been looked at in several
    rounds of choosing the pipeline (docs/nlu.md); it is tuned on now, and
    ``sample_confirm.jsonl``, written afresh, is the test. See bench/data/README.md.
    """
    names = (
        "sample_dev.jsonl",
        "sample_dev_extra.jsonl",
        "sample_dev_hard.jsonl",
        "sample_test.jsonl",
    )
    return [example for name in names for example in read_examples(DATA / name)]


def sample_test() -> list[Example]:
    return read_examples(DATA / "sample_confirm.jsonl")


def sample(config: Path) -> dict[str, Any]:
    project = prepare_project("sample", config, None)
    dev = sample_dev()
    test = sample_test()
    return run(
        "sample",
        ROOT / "faq",
        project,
        dev,
        test,
        ("id", "en"),
        allow_clarify=True,
        key=target_key(SAMPLE_TARGETS),
        extra_tests={"confirm2": read_examples(DATA / "sample_confirm2.jsonl")},
    )


def reduced_faq(directory: Path, keep: Callable[[Entry], dict[str, list[str]]]) -> int:
    """Write the sample FAQ with only the example questions ``keep`` picks; return the
    number of entries. A `source` lets the loader accept an entry with one question."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    faq = read_faq(ROOT / "faq")
    for topic in faq.topics:
        lines = [f"topic: {topic.slug}", f"title: {json.dumps(dict(topic.titles))}", "entries:"]
        for entry in topic.entries:
            lines += [f"  - id: {entry.id}", f"    questions: {json.dumps(keep(entry))}"]
            lines += [f"    answer: {json.dumps(dict(entry.answers))}"]
            lines += ['    source: "bench: the sample FAQ with few example questions"']
            if entry.valid_until:
                lines += [f"    valid_until: {entry.valid_until.isoformat()}"]
        (directory / f"{topic.slug}.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(faq)


def first_only(entry: Entry) -> dict[str, list[str]]:
    language, question = next(entry.all_questions())
    return {language: [question]}


def fewshot(
    config: Path, keep_per_language: int | None, min_own_examples: int | None
) -> dict[str, Any]:
    """The sample FAQ cut down to few example questions, trained without and with variants.

    ``min_own_examples`` replaces the threshold below which entries get variants, to
    measure what they would do to entries that have more questions (where to set it).
    """
    if min_own_examples is not None:
        trainingdata.MIN_OWN_EXAMPLES = min_own_examples
    if keep_per_language is None:
        name, setting, keep = "fewshot", "first example question of each entry", first_only
    else:
        n = keep_per_language
        name, setting = f"fewshot-keep{n}", f"first {n} example questions of each language"

        def keep(entry: Entry) -> dict[str, list[str]]:
            return {lang: list(qs[:n]) for lang, qs in entry.questions.items()}

    faq_dir = WORK / name / "faq"
    reduced_faq(faq_dir, keep)
    project = prepare_project(name, config, None)
    dev = sample_dev()
    test = sample_test()
    runs = {}
    for variants in (False, True):
        label = "with_variants" if variants else "without_variants"
        runs[label] = run(
            f"sample, {setting}, {label.replace('_', ' ')}",
            faq_dir,
            project,
            dev,
            test,
            ("id", "en"),
            allow_clarify=True,
            variants=variants,
            key=target_key(SAMPLE_TARGETS),
        )
    generated = generated_variants(read_faq(faq_dir))
    return {
        "setting": setting,
        "min_own_examples": trainingdata.MIN_OWN_EXAMPLES,
        "max_variants": MAX_VARIANTS,
        "max_variants_per_language": MAX_VARIANTS_PER_LANGUAGE,
        "entries_with_variants": len(generated),
        "generated_variants": sum(len(v) for v in generated.values()),
        **runs,
    }


def print_fewshot(result: dict[str, Any]) -> None:
    print(f"\nSample FAQ, {result['setting']} ({result['generated_variants']} variants generated)")
    print("| training data | in-scope acc. | wrong answers | out-of-scope recall | ranked first |")
    print("|---|---|---|---|---|")
    for label in ("without_variants", "with_variants"):
        test = result[label]["test"]
        print(
            f"| {label.replace('_', ' ')} | {test['in_scope_accuracy']:.1%} "
            f"| {test['wrong_answer_rate']:.1%} | {test['out_of_scope_recall']:.1%} "
            f"| {test['ranking']['top1_in_scope']:.1%} |"
        )


def clinc_faq(data: dict[str, list[list[str]]], directory: Path) -> None:
    """Write CLINC150's training intents as one FAQ topic (answers name the intent)."""
    seen: set[str] = set()
    by_intent: dict[str, list[str]] = {}
    for text, label in data["train"]:
        key = " ".join(text.casefold().split())
        if key not in seen:
            seen.add(key)
            by_intent.setdefault(label, []).append(text)
    lines = ["topic: clinc", "title: {en: CLINC150}", "entries:"]
    for label, texts in sorted(by_intent.items()):
        lines += [f"  - id: {label.replace('_', '-')}", "    questions:", "      en:"]
        lines += [f"        - {json.dumps(t)}" for t in texts]
        lines += ["    answer:", f"      en: {json.dumps('Intent ' + label)}"]
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / "clinc.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def clinc(config: Path) -> dict[str, Any]:
    data = json.loads((SHARED / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    faq_dir = WORK / "clinc" / "faq"
    clinc_faq(data, faq_dir)
    # The paper's "oos-train" setting: CLINC's own out-of-scope training sentences form the
    # out-of-scope class; the sample's small talk does not belong to this data set.
    oos = "\n".join(f"    - {' '.join(t.split())}" for t, _ in data["oos_train"])
    oos_file = f'version: "3.1"\nnlu:\n- intent: out_of_scope\n  examples: |\n{oos}\n'
    project = prepare_project("clinc", config, {"out_of_scope.yml": oos_file})

    def examples(*splits: str) -> list[Example]:
        return [
            Example(text, None if label == "oos" else label.replace("_", "-"), "en")
            for split in splits
            for text, label in data[split]
        ]

    return run(
        "clinc",
        faq_dir,
        project,
        examples("val", "oos_val"),
        examples("test", "oos_test"),
        ("en",),
        allow_clarify=False,
        key=target_key(CLINC_TARGETS),
    )


def stackfaq_rows() -> tuple[list[dict[str, str]], list[Example]]:
    """StackFAQ's 125 threads as FAQ rows (question, first answer) and its rephrasings as
    in-scope questions; ``*`` marks an empty slot in the data."""
    data = json.loads((SHARED / "stackfaq" / "stackExchange-FAQ.json").read_text("utf-8"))
    rows: list[dict[str, str]] = []
    questions: list[Example] = []
    for number, pair in enumerate(data["root"]["qapair"], start=1):
        entry_id = f"thread-{number:03d}"
        rows.append({"id": entry_id, "question": pair["question"], "answer": pair["answer"][0]})
        questions += [
            Example(text, entry_id, "en") for text in pair["rephr"] if text and text.strip("* ")
        ]
    return rows, questions


def import_rows(rows: Sequence[dict[str, str]], directory: Path, topic: str) -> None:
    """Write ``rows`` as a CSV and import it the way `tanya import FILE --lang en` does."""
    import csv

    from bot.faq.importing import import_faq

    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    table = directory.parent / f"{topic}.csv"
    with table.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["topic", "id", "question_en", "answer_en"])
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "topic": topic,
                    "id": row["id"],
                    "question_en": row["question"],
                    "answer_en": row["answer"],
                }
            )
    report = import_faq(table, directory, topic=topic, language="en", dry_run=False)
    if report.imported != len(rows):
        raise SystemExit(f"{table}: only {report.imported} of {len(rows)} rows imported")


def halves(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """Every other question per entry for dev, the rest for test (a fixed split)."""
    seen: dict[str | None, int] = {}
    dev: list[Example] = []
    test: list[Example] = []
    for example in examples:
        seen[example.expected] = seen.get(example.expected, 0) + 1
        (dev if seen[example.expected] % 2 else test).append(example)
    return dev, test


def stackfaq(config: Path) -> dict[str, Any]:
    """StackFAQ imported as a city would import its FAQ page: one question per entry.

    The thresholds are the ones `tanya train` calibrates on the FAQ itself; the rephrasings
    are only asked. Half of them (``dev``) are reported apart so that a reader can see how
    much the figures move between two sets of the same kind.
    """
    rows, questions = stackfaq_rows()
    faq_dir = WORK / "stackfaq" / "faq"
    import_rows(rows, faq_dir, "stackfaq")
    project = prepare_project("stackfaq", config, None)
    dev, test = halves(questions)
    return run(
        "stackfaq",
        faq_dir,
        project,
        dev,
        test,
        ("en",),
        allow_clarify=True,
        key=target_key(STACKFAQ_TARGETS),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["sample", "clinc", "stackfaq"])
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / "rasa_project" / "config.yml",
        help="Rasa pipeline to measure (default: the project's).",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON results file.")
    few = parser.add_mutually_exclusive_group()
    few.add_argument(
        "--first-only",
        action="store_true",
        help="sample only: keep the first example question of each entry; train without "
        "and with generated variants",
    )
    few.add_argument(
        "--keep-per-language",
        type=int,
        default=None,
        metavar="N",
        help="sample only: keep the first N example questions of each language; the same "
        "comparison",
    )
    parser.add_argument(
        "--min-own-examples",
        type=int,
        default=None,
        metavar="N",
        help="with --first-only/--keep-per-language: generate variants for entries with "
        "fewer than N example questions (default: bot/nlu/variants.py's threshold)",
    )
    args = parser.parse_args()
    if args.first_only or args.keep_per_language is not None:
        if args.dataset != "sample":
            parser.error("--first-only and --keep-per-language apply to the sample FAQ")
        few_result = fewshot(args.config, args.keep_per_language, args.min_own_examples)
        print_fewshot(few_result)
        suffix = "" if args.first_only else f"-keep{args.keep_per_language}"
        out = args.out or RESULTS / f"fewshot{suffix}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(few_result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"written {out}")
        return
    result = {"sample": sample, "clinc": clinc, "stackfaq": stackfaq}[args.dataset](args.config)
    test = result["test"]
    print(
        f"\n{args.dataset}: in-scope accuracy {test['in_scope_accuracy']:.1%}, "
        f"out-of-scope recall {test['out_of_scope_recall']:.1%}, "
        f"wrong answers {test['wrong_answer_rate']:.1%}, "
        f"clarify {test['clarify_rate']:.1%}; right entry ranked first "
        f"{test['ranking']['top1_in_scope']:.1%}, in top 3 {test['ranking']['top3_in_scope']:.1%}"
    )
    dev = result["dev"]
    print(
        f"dev: in-scope accuracy {dev['in_scope_accuracy']:.1%}, out-of-scope recall "
        f"{dev['out_of_scope_recall']:.1%}, wrong answers {dev['wrong_answer_rate']:.1%}, "
        f"ranked first {dev['ranking']['top1_in_scope']:.1%}"
    )
    calibration = result["calibration"]
    if calibration:
        print(
            f"calibrated at training: answer {calibration['answer_threshold']}, choices from "
            f"{calibration['clarify_threshold']}; expected {calibration['expected']}"
        )
    print(
        f"test with thresholds tuned on dev {result['thresholds_tuned_on_dev']}: "
        f"{result['test_with_thresholds_tuned_on_dev']}"
    )
    print(f"resolved in one tap (test, in scope): {test['resolved_in_one_tap']:.1%}")
    for key, extra in result.items():
        if key.startswith("test_") and isinstance(extra, dict) and "ranking" in extra:
            print(
                f"{key}: in-scope accuracy {extra['in_scope_accuracy']:.1%}, wrong answers "
                f"{extra['wrong_answer_rate']:.1%}, out-of-scope recall "
                f"{extra['out_of_scope_recall']:.1%}, resolved in one tap "
                f"{extra['resolved_in_one_tap']:.1%}, ranked first "
                f"{extra['ranking']['top1_in_scope']:.1%}"
            )
    print(
        f"training {result['training']['train_seconds']} s, "
        f"model {result['training']['model_bytes'] / 1e6:.1f} MB, "
        f"parse p50 {result['speed']['parse_p50_ms']} ms / "
        f"p99 {result['speed']['parse_p99_ms']} ms, "
        f"batch {result['speed']['batch_questions_per_second']} q/s, "
        f"peak memory train {result['training']['train_peak_rss_mb']} MB / "
        f"serve {result['serve_peak_rss_mb']} MB"
    )
    out = args.out or RESULTS / f"nlu-{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
