"""Tanya: answer citizens on the messaging platforms they already use."""

from bot.blas import choose_kernels

# Before anything imports numpy: OpenBLAS reads its kernel choice once (bot/blas.py).
choose_kernels()

__version__ = "0.1.0"
