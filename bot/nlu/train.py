"""`tanya train`: FAQ -> generated training data -> a Rasa model, in a subprocess.

Training runs in a child process because it is CPU-heavy, imports TensorFlow and reseeds
global random generators; the bot that asked for it keeps serving with the old model. The
child writes the model under a temporary name and renames it into place, so a reader never
sees half a model, and a failed training leaves the previous model untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.faq.loader import faq_files, read_faq
from bot.nlu import environment
from bot.nlu.calibration import DEFAULT_MAX_WRONG_ANSWERS, Calibration
from bot.nlu.model import ModelInfo
from bot.nlu.trainingdata import GENERATED_FILE, VARIANTS_FILE, write_data_folder

Progress = Callable[[str], None]


class TrainingFailed(Exception):
    """Rasa could not train a model; the message carries the reason."""


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    seconds: float
    intents: int
    examples: int
    calibration: Calibration | None = None


def input_files(faq_dir: Path, project_dir: Path) -> list[Path]:
    """Everything a model is trained from (some may be missing)."""
    sources = [*faq_files(faq_dir)] if faq_dir.is_dir() else []
    sources += [project_dir / "config.yml", project_dir / "domain.yml"]
    # The generated files follow from the FAQ files, already in the digest.
    generated = {GENERATED_FILE.name, VARIANTS_FILE.name}
    sources += [p for p in sorted((project_dir / "data").glob("*.yml")) if p.name not in generated]
    return sources


def inputs_digest(faq_dir: Path, project_dir: Path) -> str:
    """A fingerprint of everything a model is trained from."""
    digest = hashlib.sha256()
    for path in input_files(faq_dir, project_dir):
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


def is_stale(model_path: Path, faq_dir: Path, project_dir: Path) -> bool:
    """True when the model is missing or was trained from other FAQ or project files."""
    if not model_path.is_file():
        return True
    recorded = ModelInfo.read(model_path).inputs_digest
    return recorded != inputs_digest(faq_dir, project_dir)


def train(
    faq_dir: Path,
    project_dir: Path,
    out: Path,
    *,
    config: Path | None = None,
    progress: Progress = lambda line: None,
    on_process: Callable[[subprocess.Popen[str]], None] = lambda process: None,
    variants: bool = False,
    max_wrong_answers: float = DEFAULT_MAX_WRONG_ANSWERS,
) -> TrainResult:
    """Validate the FAQ, generate the training data and train a model at ``out``.

    The generated data is written to a scratch folder beside the hand-written files' copies,
    never into ``project_dir``: training on another FAQ folder must not change the project's
    committed files (:func:`~bot.nlu.trainingdata.write_training_data` updates those, for
    the project's own FAQ). ``on_process`` gets the training process, so that a server
    shutting down can stop it. ``variants`` adds the variants generated for entries with
    few examples. The model is then calibrated for ``max_wrong_answers``
    (:mod:`bot.nlu.calibration`); the result is in the model's info file.
    """
    started = time.monotonic()
    faq = read_faq(faq_dir)
    progress(f"FAQ: {len(faq.topics)} topics, {len(faq)} entries")
    digest = inputs_digest(faq_dir, project_dir) + ("-with-variants" if variants else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".data-") as data:
        write_data_folder(faq, project_dir, Path(data), variants=variants)
        command = [
            sys.executable,
            "-m",
            "bot.nlu.train_worker",
            "--config",
            str(config or project_dir / "config.yml"),
            "--domain",
            str(project_dir / "domain.yml"),
            "--data",
            data,
            "--out",
            str(out),
            "--digest",
            digest,
            "--faq-dir",
            str(faq_dir.resolve()),
            "--max-wrong-answers",
            str(max_wrong_answers),
        ]
        summary = _run_worker(command, progress, on_process)
    return TrainResult(
        model_path=out,
        seconds=time.monotonic() - started,
        intents=int(summary.get("intents", 0)),
        examples=int(summary.get("examples", 0)),
        calibration=Calibration.from_json(summary.get("calibration")),
    )


def _run_worker(
    command: list[str],
    progress: Progress,
    on_process: Callable[[subprocess.Popen[str]], None],
) -> dict[str, Any]:
    env = {**os.environ, **environment.FORCED, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    on_process(process)
    summary: dict[str, Any] = {}
    for line in process.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("progress"):
            progress(str(event["progress"]))
        if event.get("done"):
            summary = event
    errors = process.stderr.read()
    if process.wait() != 0 or not summary:
        raise TrainingFailed(_reason(errors) or f"training exited with {process.returncode}")
    return summary


def _reason(stderr: str) -> str:
    """The useful last lines of a child's error output."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("TANYA-ERROR: "):
            return line.removeprefix("TANYA-ERROR: ")
    return "\n".join(lines[-5:])
