"""The bot's aiohttp server: one process, one port, every channel and page on it.

For now it serves a health check and a JSON question endpoint; the channel adapters and
the officials' pages are mounted on the same application by later modules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from bot import __version__
from bot.config import Settings
from bot.core.answerer import Answerer
from bot.core.decision import Decision
from bot.service import Loaded

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


class AnsweringWorker:
    """Runs the answerer on one dedicated thread.

    Rasa's parse is blocking CPU work that must not run on the event loop, and its first
    prediction builds mutable TensorFlow state, so all parses are serialised on one thread.
    """

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tanya-nlu")

    async def decide(self, text: str, language: str | None) -> Decision:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.answerer.decide, text, language)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


LOADED = web.AppKey("loaded", Loaded)
WORKER = web.AppKey("worker", AnsweringWorker)


async def health(request: web.Request) -> web.Response:
    loaded = request.app[LOADED]
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "faq_entries": len(loaded.answerer.faq),
            "model": str(loaded.model.path),
            "model_trained_at": loaded.model.info.trained_at,
            "model_stale": loaded.stale,
        }
    )


async def ask(request: web.Request) -> web.Response:
    """Answer one question: ``{"text": ..., "language": "id"|"en"|null}``."""
    try:
        body: Any = await request.json()
    except ValueError:
        return web.json_response({"error": "the body must be JSON"}, status=400)
    text = body.get("text") if isinstance(body, dict) else None
    language = body.get("language") if isinstance(body, dict) else None
    if not isinstance(text, str) or (language is not None and language not in ("id", "en")):
        return web.json_response(
            {"error": 'expected {"text": string, "language": "id"|"en"|null}'}, status=400
        )
    decision = await request.app[WORKER].decide(text, language)
    return web.json_response(decision.to_json())


def create_app(settings: Settings, loaded: Loaded) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[LOADED] = loaded

    async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
        app[WORKER] = AnsweringWorker(loaded.answerer)
        yield
        app[WORKER].close()

    app.cleanup_ctx.append(worker_ctx)
    app.router.add_get("/healthz", health)
    app.router.add_post("/api/ask", ask)
    return app


def serve(settings: Settings, loaded: Loaded, *, host: str, port: int) -> None:
    app = create_app(settings, loaded)
    log.info(
        "Tanya %s: %d FAQ entries, model %s",
        __version__,
        len(loaded.answerer.faq),
        loaded.model.path,
    )
    web.run_app(app, host=host, port=port, print=lambda m: log.info("%s", m.strip()))
