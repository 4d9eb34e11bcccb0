"""OpenBLAS kernels chosen from the CPU's instruction sets (bot/blas.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import blas


@pytest.mark.parametrize(
    ("flags", "kernel"),
    [
        ("fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl", "SkylakeX"),
        ("fpu sse2 avx avx2 fma", "Haswell"),
        ("fpu sse2 avx", None),
    ],
)
def test_the_kernel_follows_the_cpus_instruction_sets(
    flags: str, kernel: str | None, tmp_path: Path
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        f"processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: {flags}\n"
    )
    assert blas.kernel_for(blas.cpu_flags(cpuinfo)) == kernel


def test_an_operators_choice_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")
    blas.choose_kernels()
    assert blas.os.environ["OPENBLAS_CORETYPE"] == "Zen"


def test_no_cpuinfo_means_no_choice(tmp_path: Path) -> None:
    assert blas.cpu_flags(tmp_path / "missing") == set()


def test_importing_bot_before_numpy_gives_numpy_that_kernel() -> None:
    kernel = blas.kernel_for(blas.cpu_flags())
    if kernel is None:
        pytest.skip("this CPU has neither AVX2 nor AVX-512: OpenBLAS's own choice stands")
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    probe = (
        "import bot, numpy, threadpoolctl; "
        "print({i['architecture'] for i in threadpoolctl.threadpool_info()})"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == repr({kernel})
