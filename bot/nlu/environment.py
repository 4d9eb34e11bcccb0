"""Process settings that must be in place before Rasa or TensorFlow is imported."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import threading
import types
import warnings
from collections.abc import Iterator, Sequence
from importlib.machinery import ModuleSpec

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
# Modules whose body runs only when a name is first read from them. Rasa's NLU components
# register with its default recipe, which imports the dialogue policies, whose featurizers
# import the entity extractors' base module, which imports train_utils, which imports
# TensorFlow: 4-10 s and ~400 MB at every start of a bot whose pipeline never runs it.
# That base module imports train_utils without reading from it. A pipeline that does use
# it (DIET, TED) reads from it and so loads it, TensorFlow and all, as before.
DEFERRED = ("rasa.utils.train_utils",)


def apply() -> None:
    """Set the environment for Rasa; cheap and idempotent."""
    os.environ.update(FORCED)
    if not any(isinstance(finder, _DeferringFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _DeferringFinder(DEFERRED))


class _DeferredModule(types.ModuleType):
    """A module imported without running its body, which runs when a name it lacks is
    first read (``from m import x``, ``m.x``), in this same module object."""

    def __getattr__(self, name: str) -> object:
        if not name.startswith("__"):
            with _DEFERRED_LOCK:
                # Taken out while the body runs: a name read meanwhile (a cycle) is
                # missing, as in any module still being imported.
                loader: importlib.abc.Loader | None = self.__dict__.pop("_deferred_loader", None)
                if loader is not None:
                    try:
                        loader.exec_module(self)
                    except BaseException:
                        self._deferred_loader = loader  # the next use says why again
                        raise
        return object.__getattribute__(self, name)


_DEFERRED_LOCK = threading.RLock()


class _DeferringLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> types.ModuleType:
        module = _DeferredModule(spec.name)
        module._deferred_loader = self.loader
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing yet: the body runs at the first name read (``_DeferredModule``)."""


class _DeferringFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _DeferringLoader(spec.loader)
        return spec


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
