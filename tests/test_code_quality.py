"""The code stays formatted, lint-free and typed (what `make check-code` runs)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

PATHS = ["bot", "tests", "bench"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_ruff_format() -> None:
    result = run("ruff", "format", "--check", *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check() -> None:
    result = run("ruff", "check", *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
