"""Pick OpenBLAS's matrix kernels from the CPU's instruction sets.

numpy and scipy ship OpenBLAS 0.3.20, which chooses its kernels by CPU model. Cloud and
VM CPUs often report a generic model ("Intel(R) Xeon(R) Processor"), and OpenBLAS then
falls back to its oldest kernels (``Prescott``, SSE3) even where AVX-512 is available:
on this project's 2-core machine the classifier's nearest-example product (256 x 512 by
512 x 5,300) took 46 ms instead of 8, and the whole NLU answered 390 instead of 580
questions/s (docs/nlu.md). OpenBLAS reads ``OPENBLAS_CORETYPE`` once, when numpy is first
imported, so this runs from ``bot/__init__.py``; a value set by the operator is kept.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def kernel_for(flags: set[str]) -> str | None:
    """The OpenBLAS core type for a CPU with these ``/proc/cpuinfo`` flags."""
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def choose_kernels() -> None:
    """Set ``OPENBLAS_CORETYPE`` on x86-64 Linux unless it is set already."""
    if "OPENBLAS_CORETYPE" in os.environ or platform.machine() not in ("x86_64", "AMD64"):
        return
    kernel = kernel_for(cpu_flags())
    if kernel is not None:
        os.environ["OPENBLAS_CORETYPE"] = kernel
