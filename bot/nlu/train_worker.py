"""Child process of :mod:`bot.nlu.train`: trains one model, reports progress as JSON lines."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bot.nlu.calibration import CALIBRATION_ENV, DEFAULT_MAX_WRONG_ANSWERS, MAX_WRONG_ENV
from bot.nlu.embedding_cache import CACHE_ENV
from bot.nlu.environment import quiet_rasa, rasa_imports


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


class _ProgressHandler(logging.Handler):
    """Turns Rasa's "Starting to train component 'X'" log lines into progress events."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(("Starting to train component", "Finished training component")):
            emit(progress=message.rstrip("."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--faq-dir", default=None)
    parser.add_argument("--max-wrong-answers", type=float, default=DEFAULT_MAX_WRONG_ANSWERS)
    args = parser.parse_args(argv)
    quiet_rasa()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    hooks = logging.getLogger("rasa.engine.training.hooks")
    hooks.setLevel(logging.INFO)
    hooks.addHandler(_ProgressHandler())
    # Rasa's training cache lives beside the models, not in the caller's working directory.
    os.environ.setdefault("RASA_CACHE_DIRECTORY", str(out.parent / ".rasa-cache"))
    # Sentence embeddings of examples seen by earlier trainings are reused (retraining
    # after "add to FAQ" embeds only the new ones).
    os.environ.setdefault(CACHE_ENV, str(out.parent / ".embeddings.npz"))
    # Rasa's own cache would skip training a component whose inputs it has seen, and with
    # it the calibration; the sentence embeddings, the costly part, have their cache above.
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"

    with rasa_imports():
        from rasa.model_training import train_nlu
        from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(args.data)
    emit(
        progress=f"Training data: {len(data.intents)} intents, {len(data.intent_examples)} examples"
    )
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".training-") as tmp:
        calibration_file = Path(tmp) / "calibration.json"
        os.environ[CALIBRATION_ENV] = str(calibration_file)
        os.environ[MAX_WRONG_ENV] = str(args.max_wrong_answers)
        try:
            result = train_nlu(
                config=args.config,
                nlu_data=args.data,
                output=tmp,
                fixed_model_name="model",
                domain=args.domain,
            )
        except Exception as exc:  # Rasa raises many kinds; the parent shows the message
            print(f"TANYA-ERROR: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        if not result:
            print("TANYA-ERROR: Rasa produced no model", file=sys.stderr)
            return 1
        calibration = (
            json.loads(calibration_file.read_text(encoding="utf-8"))
            if calibration_file.is_file()
            else None
        )
        info = {
            "inputs_digest": args.digest,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "faq_dir": args.faq_dir,
            "calibration": calibration,
        }
        info_file = out.with_name(out.name + ".json")
        os.replace(result, out)  # atomic: readers see the old model or the new one
        info_file.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    emit(
        done=True,
        intents=len(data.intents),
        examples=len(data.intent_examples),
        calibration=calibration,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
