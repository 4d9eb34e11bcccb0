"""How fast each sentence encoder the pipeline can use encodes citizens' questions.

    python bench/encoders.py [--rounds 3] [--with e5-static,e5-l3]

Encodes the sample's held-out questions (bench/data/sample_*.jsonl) with USE-m (the
shipped encoder), multilingual-e5-small (``encoder: e5``) and MiniLM (int8), on one
thread each, as the featurizer calls them (batches of 16), after one warm-up pass, in
turns within one run: this machine is shared, so only figures from the same run compare.
``--with`` adds the cheaper forms of e5 in bench/cheap_encoders.py (static: its pieces are
distilled during the warm-up pass) and writes bench/results/encoders-cheap.json instead of
bench/results/encoders.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cheap_encoders  # noqa: E402
from nlu import RESULTS, sample_dev, sample_test  # noqa: E402

from bot.nlu import e5, usem  # noqa: E402
from bot.nlu.minilm import shared_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with", dest="extra", default="", help="e.g. e5-static,e5-l3")
    args = parser.parse_args()
    texts = [e.text for e in sample_dev() + sample_test()]
    encoders: dict[str, Callable[[list[str]], np.ndarray]] = {
        "usem": usem.shared_encoder().encode,
        "e5": e5.shared_encoder().encode,
        "minilm-int8": shared_model("int8").encode,
    }
    extra = [name for name in args.extra.split(",") if name]
    for name in extra:
        encoders[name] = cheap_encoders.encoder(name).encode
    for name, encode in encoders.items():
        encode(texts if name == "e5-static" else texts[:64])
    speeds: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(args.rounds):
        for name, encode in encoders.items():
            start = time.perf_counter()
            encode(texts)
            speeds[name].append(round(len(texts) / (time.perf_counter() - start), 1))
    result: dict[str, Any] = {
        "sentences": len(texts),
        "sentences_per_second": speeds,
        "median": {name: float(np.median(s)) for name, s in speeds.items()},
    }
    for name, values in speeds.items():
        print(f"{name:12} {' '.join(f'{v:7.1f}' for v in values)} sentences/s")
    out = RESULTS / ("encoders-cheap.json" if extra else "encoders.json")
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
