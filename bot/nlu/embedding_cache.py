"""Sentence embeddings of training examples, kept between trainings.

Embedding the sample FAQ's ~5,000 training examples takes most of a training's time, and
a retraining after "add to FAQ" changes only a handful of them; Rasa's own cache cannot
help, because any change to the training data invalidates the featurizer's whole output.
So the vectors are kept in one ``.npz`` file beside the model, keyed by a hash of the
encoder's identity and the text, and a training embeds only the texts it has not seen.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.atomic_file import replacing

CACHE_ENV = "TANYA_EMBEDDING_CACHE"


def _key(identity: str, text: str) -> str:
    return hashlib.sha1(f"{identity}\0{text}".encode()).hexdigest()


def cached_encode(
    texts: Sequence[str],
    encode: Callable[[Sequence[str]], np.ndarray],
    identity: str,
    path: Path,
) -> np.ndarray:
    """``encode(texts)``, reusing and updating the vectors stored at ``path``."""
    stored: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path) as data:
                stored = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            stored = {}  # a damaged cache only costs time
    keys = [_key(identity, text) for text in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in stored}.items())
    if missing:
        vectors = encode([text for _, text in missing])
        stored.update(zip([k for k, _ in missing], vectors, strict=True))
    result = np.stack([stored[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
    if missing:
        wanted = set(keys)  # keep only what this training used: the file does not grow
        kept = [k for k in stored if k in wanted]
        _save(path, kept, np.stack([stored[k] for k in kept]))
    return result


def _save(path: Path, keys: list[str], vectors: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, suffix=".npz") as temporary:  # np.savez insists on .npz
        np.savez(temporary, keys=np.array(keys), vectors=vectors.astype(np.float32))


def cache_path() -> Path | None:
    """Set by the training worker; unset (no cache) when parsing."""
    value = os.environ.get(CACHE_ENV)
    return Path(value) if value else None
