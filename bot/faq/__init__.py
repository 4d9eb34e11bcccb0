"""The FAQ: files that officials edit, read and validated into immutable entries."""

from bot.faq.check import CheckReport, check_faq
from bot.faq.loader import load_faq, read_faq
from bot.faq.model import Entry, Faq, Link, Topic
from bot.faq.problems import FaqError, Problem, Severity

__all__ = [
    "CheckReport",
    "Entry",
    "Faq",
    "FaqError",
    "Link",
    "Problem",
    "Severity",
    "Topic",
    "check_faq",
    "load_faq",
    "read_faq",
]
