"""The officials' desk: server-rendered pages on the bot's own aiohttp server."""

from bot.desk.app import create_desk

__all__ = ["create_desk"]
