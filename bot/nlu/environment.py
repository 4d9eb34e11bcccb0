"""Process settings that must be in place before Rasa or TensorFlow is imported."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

# A government's bot must never phone home: Rasa sends telemetry unless this is "false".
# These are forced, not defaulted, so an inherited environment cannot turn telemetry on.
FORCED = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    # No hub downloads at run time, ever.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # sentry-sdk (a Rasa dependency, never initialised with a DSN here) otherwise runs
    # `git rev-parse HEAD` in the working directory to name a release.
    "SENTRY_RELEASE": "tanya",
}
NOISY_LOGGERS = ("rasa", "tensorflow", "absl", "h5py", "matplotlib", "numexpr", "dask")


def apply() -> None:
    """Set the environment for Rasa; cheap and idempotent."""
    os.environ.update(FORCED)


def quiet_rasa() -> None:
    """Apply the environment and keep Rasa's and TensorFlow's chatter out of our output."""
    apply()
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Rasa 3.6's dependency tree emits dozens of deprecation warnings at import; they are
    # about Rasa's own code, not ours, and would bury the messages meant for officials.
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module="rasa")
    warnings.filterwarnings("ignore", module="tensorflow")


@contextlib.contextmanager
def rasa_imports() -> Iterator[None]:
    """Import Rasa modules inside this block.

    Importing Rasa imports sanic, which adds ``filterwarnings("once", DeprecationWarning)``
    in front of our filters; the block restores the filters afterwards.
    """
    quiet_rasa()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


apply()
