"""Tanya: answer citizens on the messaging platforms they already use."""

__version__ = "0.1.0"
