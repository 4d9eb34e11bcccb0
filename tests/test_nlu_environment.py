"""Rasa's imports: the bot loads and runs its model without importing TensorFlow, and a
module whose body is deferred still works for whoever uses it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.nlu import environment


def test_the_model_parses_without_tensorflow_and_rasa_still_has_it(trained: Path) -> None:
    """Parsing needs none of TensorFlow (seconds and memory at every start); a component
    that does use it (Rasa's DIET classifier) still finds it, loaded then."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from bot.nlu.model import NluModel

        model = NluModel.load(Path({str(trained / "rasa_project/models/tanya.tar.gz")!r}))
        print(model.parse("ktp saya hilang").top.name)
        print("tensorflow" in sys.modules)
        from rasa.nlu.classifiers.diet_classifier import DIETClassifier
        from rasa.utils.train_utils import update_similarity_type
        print("tensorflow" in sys.modules, update_similarity_type({{}}) is not None)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    intent, before, after = done.stdout.strip().splitlines()[-3:]
    assert intent == "faq.ktp-hilang"
    assert before == "False"
    assert after == "True True"


@pytest.fixture
def deferred_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module ``deferme`` whose body counts its runs in a file, and a finder that
    defers it (as bot.nlu.environment defers Rasa's train_utils)."""
    (tmp_path / "deferme.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            _runs = Path(__file__).with_name("runs")
            _runs.write_text(str(int(_runs.read_text() or 0) + 1) if _runs.exists() else "1")
            if Path(__file__).with_name("fail").exists():
                raise ImportError("the body failed")
            VALUE = 42
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        sys, "meta_path", [environment._DeferringFinder(["deferme"]), *sys.meta_path]
    )
    monkeypatch.delitem(sys.modules, "deferme", raising=False)
    return tmp_path


def runs(folder: Path) -> int:
    counter = folder / "runs"
    return int(counter.read_text()) if counter.exists() else 0


def test_a_deferred_module_runs_its_body_once_when_first_used(deferred_package: Path) -> None:
    import deferme  # type: ignore[import-not-found]

    assert runs(deferred_package) == 0  # imported, not run
    assert deferme.__name__ == "deferme" and deferme.__file__ is not None
    from deferme import VALUE  # type: ignore[import-not-found]

    assert VALUE == 42 and deferme.VALUE == 42
    assert runs(deferred_package) == 1
    with pytest.raises(AttributeError):
        deferme.MISSING  # noqa: B018
    assert runs(deferred_package) == 1


def test_a_deferred_module_whose_body_fails_says_so_each_time(deferred_package: Path) -> None:
    (deferred_package / "fail").touch()
    import deferme

    for _ in range(2):
        with pytest.raises(ImportError, match="the body failed"):
            deferme.VALUE  # noqa: B018
    (deferred_package / "fail").unlink()
    assert deferme.VALUE == 42
