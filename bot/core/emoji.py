"""Messages of emoji only: a thumbs-up or folded hands is a reply a person understands.

"👍" after an answer means "ok", "🙏" means "thank you": answering them with "I can only
read text" (as for a sticker) reads as a malfunction. Only whole messages of these are
read; anything else with words goes to the model as usual.
"""

from __future__ import annotations

import unicodedata

# Reply keys (rasa_project/domain.yml) by the emoji that mean them.
MEANINGS = {
    "utter_chat.ack": "👍👌✅🆗👏💯☑✔",
    "utter_chat.thanks": "🙏❤💕💖🥰😊🤗😍☺🌹💐",
    "utter_chat.greet": "👋",
}
_BY_EMOJI = {emoji: key for key, emojis in MEANINGS.items() for emoji in emojis}
# Parts of an emoji that change how it looks, not what it means.
_MODIFIERS = {"\ufe0f", "\u200d"} | {chr(c) for c in range(0x1F3FB, 0x1F400)}


def emoji_reply(text: str) -> str | None:
    """The reply key for a message of emoji (and spaces) only, when they all mean the
    same thing; else ``None``."""
    keys = set()
    for char in text.strip():
        if char.isspace() or char in _MODIFIERS:
            continue
        key = _BY_EMOJI.get(char)
        if key is None or unicodedata.category(char).startswith(("L", "N")):
            return None
        keys.add(key)
    return keys.pop() if len(keys) == 1 else None
