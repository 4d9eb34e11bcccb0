"""Messages that remember how they were made, so that the desk can say them again.

The FAQ tools and the learning loop speak English (``tanya check``, ``tanya import``,
the log); the officials' desk shows the same messages in the official's language and
time zone. A :class:`Message` is the English text (it *is* a ``str``, so logs,
exceptions and the command line use it unchanged) that also keeps its template and
values, from which ``bot.desk.translations`` says it in Indonesian.
"""

from __future__ import annotations

from typing import Any


class Message(str):
    """English text, with the template and values it was formatted from."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Message:
        made = super().__new__(cls, template.format(**values) if values else template)
        made.template = template
        made.values = values
        return made


def say(template: str, **values: Any) -> Message:
    """``template.format(**values)``, remembered (see :class:`Message`)."""
    return Message(template, **values)


def message_of(exc: BaseException) -> str:
    """The exception's message, a :class:`Message` when it was raised with one."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, str) else str(exc)
