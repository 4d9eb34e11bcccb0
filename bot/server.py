"""The bot's aiohttp server: one process, one port, every channel and page on it.

It serves a status page, a health check and a JSON question endpoint, and mounts every
configured channel adapter (each adds its own routes) on the same application.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot import __version__, start_stages
from bot.composition import build_services
from bot.config import Settings
from bot.core.broadcasting import Broadcaster
from bot.core.conversation import Conversation
from bot.core.dispatch import Dispatcher
from bot.core.learning import Learning
from bot.core.messages import clean_text
from bot.core.worker import AnsweringWorker
from bot.http_security import secure
from bot.nlu.minilm import DeferredEncoder
from bot.service import Live, Loaded
from bot.store import Store
from bot.store.outbox import NOT_DELIVERED

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


LIVE = web.AppKey("live", Live)
STORE = web.AppKey("store", Store)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
WORKER = web.AppKey("worker", AnsweringWorker)
CHANNELS = web.AppKey("channels", dict)
LEARNING = web.AppKey("learning", Learning)
BROADCASTER = web.AppKey("broadcaster", Broadcaster)
TASKS = web.AppKey("tasks", list)


INDEX = """<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tanya</title>
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;
line-height:1.5}}code{{background:#eee;padding:0 .2rem}}</style></head>
<body><h1>Tanya</h1>
<p><strong>Tanya berjalan.</strong> {entries} entri FAQ dimuat; model dilatih {trained}.{stale_id}
Kanal aktif: {channels}.</p>
<p lang="en"><strong>Tanya is running.</strong> {entries} FAQ entries loaded; model trained
{trained}.{stale_en} Active channels: {channels}.</p>
{chat}
<p><a href="/desk/">Meja petugas / Officials' desk</a></p>
<p>API: <code>POST /api/ask</code> <code>{{"text": "ktp hilang gimana?"}}</code> &middot;
<a href="/healthz">/healthz</a></p>
</body></html>
"""


async def index(request: web.Request) -> web.Response:
    loaded = request.app[LIVE].loaded
    stale = request.app[LIVE].stale
    registry: dict[str, Any] = request.app[CHANNELS]
    channels = sorted(registry)
    chat = (
        '<p><a href="/chat">Buka web chat / Open the web chat</a> &middot; '
        'embed: <code>&lt;script src="/chat/embed.js" async&gt;&lt;/script&gt;</code></p>'
        if "webchat" in channels
        else ""
    )
    return web.Response(
        content_type="text/html",
        text=INDEX.format(
            entries=len(loaded.answerer.faq),
            trained=html.escape(loaded.model.info.trained_at or "?"),
            channels=html.escape(", ".join(channels) or "-"),
            chat=chat,
            stale_id=" <em>FAQ berubah sejak pelatihan: latih ulang di meja petugas.</em>"
            if stale
            else "",
            stale_en=" <em>The FAQ changed since training: retrain on the officials' desk.</em>"
            if stale
            else "",
        ),
    )


async def health(request: web.Request) -> web.Response:
    """For load balancers and monitoring: 200 while the bot serves; ``status`` is
    ``degraded`` when a channel cannot reach its platform (``channels`` says which, and
    why), and ``outbox`` counts what waits to be delivered."""
    loaded = request.app[LIVE].loaded
    dispatcher = request.app[DISPATCHER]
    channels = {
        name: channel_health(name, channel, dispatcher)
        for name, channel in sorted(request.app[CHANNELS].items())
    }
    counts = request.app[STORE].outbox.counts()
    return web.json_response(
        {
            "status": "ok" if all(c["up"] for c in channels.values()) else "degraded",
            "version": __version__,
            # Which process answered: with `tanya run --workers N`, one of N.
            "pid": os.getpid(),
            "faq_entries": len(loaded.answerer.faq),
            "model": str(loaded.model.path),
            "model_trained_at": loaded.model.info.trained_at,
            "model_stale": request.app[LIVE].stale,
            "channels": channels,
            "outbox": {
                "queued": counts["queued"],
                "retrying": counts["retrying"],
                "not_delivered": sum(counts[s.value] for s in NOT_DELIVERED),
            },
            "expectations": expectations(loaded),
        }
    )


def channel_health(name: str, channel: Any, dispatcher: Dispatcher) -> dict[str, Any]:
    """A channel is up when it says so (Telegram: connected) and its sends get through."""
    breaker = dispatcher.breaker(name)
    up = bool(getattr(channel, "up", True)) and not breaker.down
    detail = "" if up else (getattr(channel, "detail", "") or breaker.detail)
    return {"up": up, "detail": detail}


def expectations(loaded: Loaded) -> dict[str, Any] | None:
    """What `tanya train` measured this model to do on its FAQ, and the thresholds in use
    (config.yml's where it sets them)."""
    calibration = loaded.model.info.calibration
    thresholds = loaded.answerer.thresholds
    in_use = {"answer_threshold": thresholds.answer, "clarify_threshold": thresholds.clarify}
    if calibration is None:
        return {"calibrated": False, "thresholds_in_use": in_use}
    return {"calibrated": True, "thresholds_in_use": in_use} | calibration.to_json()


async def ask(request: web.Request) -> web.Response:
    """Answer one question: ``{"text": ..., "language": "id"|"en"|null}``."""
    try:
        body: Any = json.loads(await request.read())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        return web.json_response({"error": "the body must be JSON"}, status=400)
    text = body.get("text") if isinstance(body, dict) else None
    language = body.get("language") if isinstance(body, dict) else None
    if not isinstance(text, str) or (language is not None and language not in ("id", "en")):
        return web.json_response(
            {"error": 'expected {"text": string, "language": "id"|"en"|null}'}, status=400
        )
    decision = await request.app[WORKER].decide(clean_text(text), language)
    return web.json_response(decision.to_json())


def create_app(settings: Settings, loaded: Loaded, store: Store | None = None) -> web.Application:
    """The application: pages, API, the desk and every configured channel, on the
    services of :func:`bot.composition.build_services` (one conversation and one model,
    which the learning loop may replace while running)."""
    services = build_services(settings, loaded, store)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    secure(app, settings.server)  # headers, error pages, the client's address behind a proxy
    app[LIVE] = services.live
    app[TASKS] = []
    app[WORKER] = services.worker
    app[STORE] = services.store
    app[DISPATCHER] = services.dispatcher
    app[CHANNELS] = services.channels
    app[LEARNING] = services.learning
    app[BROADCASTER] = services.broadcaster
    for channel in services.channels.values():
        channel.setup(app)
    if settings.desk.enabled:
        from bot.desk import create_desk

        app.add_subapp("/desk", create_desk(services.desk_context()))
    store = services.store
    dispatcher, broadcaster = services.dispatcher, services.broadcaster
    worker, learning = services.worker, services.learning

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        # Alive before claiming anything: other workers leave this one's claims alone.
        await asyncio.get_running_loop().run_in_executor(None, services.heartbeat.start)
        # Replies queued before a crash or restart go out; messages stored but never
        # answered are answered, in the background: nothing in them can stop the start.
        dispatcher.start()
        app[TASKS].append(asyncio.get_running_loop().create_task(_warm_up(worker), name="warm"))
        pending = asyncio.get_running_loop().create_task(
            _answer_pending(services.conversation, store, services.claimant)
        )
        app[TASKS].append(pending)
        # Announcements due or interrupted by a restart are sent (or resumed) now.
        sending = asyncio.get_running_loop().create_task(broadcaster.run(), name="broadcaster")
        app[TASKS].append(sending)
        # Citizens' words past the retention period go now, then once a day.
        days = settings.retention.message_days
        purging = asyncio.get_running_loop().create_task(
            store.retention.purge_daily(days, worker=services.claimant), name="purge"
        )
        app[TASKS].append(purging)
        encoder = asyncio.get_running_loop().create_task(
            _load_encoder(services.embedder), name="encoder"
        )
        app[TASKS].append(encoder)
        # A model trained on any worker (or by `tanya train`) is loaded by every worker.
        services.models.started()
        app[TASKS].append(
            asyncio.get_running_loop().create_task(services.models.follow(), name="models")
        )
        yield
        worker.close()
        store.close()

    async def stop_work(app: web.Application) -> None:
        # Messages on their way are confirmed and recorded before we go.
        await asyncio.gather(broadcaster.stop(), dispatcher.stop())
        for task in app[TASKS]:
            task.cancel()
        await asyncio.gather(*app[TASKS], return_exceptions=True)
        await learning.stop()
        await worker.stop()
        # A clean stop: what this worker still claims is the others' at once.
        await asyncio.get_running_loop().run_in_executor(None, services.heartbeat.stop)

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(stop_work)  # type: ignore[arg-type]
    app.router.add_get("/", index)
    app.router.add_get("/healthz", health)
    app.router.add_post("/api/ask", ask)
    if settings.report.public:
        from bot.report.public import PublicReport, setup_public_report

        public = PublicReport(
            store.stats,
            lambda: services.live.faq,
            settings.desk.timezone,
            settings.languages,
            government=settings.desk.government_name,
        )
        setup_public_report(app, public)
    start_stages.mark("app")
    return app


async def _answer_pending(conversation: Conversation, store: Store, claimant: str) -> None:
    if not store.single_process:  # other workers may be answering the young ones
        await conversation.answer_left_behind(claimant)  # until the server stops
        return
    try:
        answered = await conversation.answer_pending()
    except Exception:  # e.g. the database: logged, and the bot serves on
        log.exception("answering the messages left by the previous run failed")
        return
    if answered:
        log.info("answered %d message(s) left unanswered by the previous run", answered)


# Asked of the model once it serves (any text the model parses would do).
WARM_UP_TEXT = "halo, saya mau tanya"


async def _warm_up(worker: AnsweringWorker) -> None:
    """Make the model's first pass now, on its thread, instead of in the first citizen's
    answer: it opens the sentence encoder's session and fills the classifier's caches
    (seconds). A message arriving meanwhile waits for it, as it would have anyway."""
    started = time.monotonic()
    try:
        await worker.run(lambda: worker.answerer.decide(WARM_UP_TEXT))
    except Exception:  # the same fault would show in the first answer; the bot serves on
        log.exception("the model's first pass failed")
        return
    log.info(
        "the model's first pass took %.1f s (before any question waited for it)",
        time.monotonic() - started,
    )


# Seconds after the start before the desk's encoder loads: the first citizens' answers
# (often messages that waited for the restart) go first; a ticket page opened sooner
# loads it on demand.
ENCODER_DELAY = 10.0


async def _load_encoder(embedder: DeferredEncoder) -> None:
    await asyncio.sleep(ENCODER_DELAY)
    try:
        await asyncio.get_running_loop().run_in_executor(None, embedder.load)
    except Exception as exc:  # the desk still works, without "similar questions"
        log.warning("similar questions are off: the sentence encoder did not load (%s)", exc)


def start_lines(settings: Settings, app: web.Application, base: str) -> list[str]:
    """What `tanya run` says before it serves: one line per channel (on or off, and why),
    the desk and the public report, so IT staff see at once what runs where."""
    channels: dict[str, Any] = app[CHANNELS]
    loaded = app[LIVE].loaded
    stale = " (the FAQ changed since: retrain on the desk or run `tanya train`)"
    lines = [
        f"Tanya {__version__}: {len(loaded.answerer.faq)} FAQ entries, model {loaded.model.path} "
        f"trained {loaded.model.info.trained_at or '?'}{stale if loaded.stale else ''}"
    ]
    if "webchat" in channels:
        lines.append(f"web chat: on at {base}/chat (embed: {base}/chat/embed.js)")
    else:
        lines.append("web chat: off (webchat.enabled is false in the settings)")
    messenger = settings.messenger
    if "messenger" in channels:
        lines.append(
            f"Messenger: on, webhook {base}{messenger.webhook_path} "
            "(give Facebook its public HTTPS address)"
        )
    else:
        names = (messenger.page_token_env, messenger.app_secret_env, messenger.verify_token_env)
        missing = [name for name in names if not os.environ.get(name, "").strip()]
        lines.append(f"Messenger: off ({', '.join(missing)} not set)")
    telegram = settings.telegram
    if "telegram" in channels:
        how = (
            f"webhook {telegram.webhook_url.rstrip('/')}/webhooks/telegram"
            if telegram.mode == "webhook"
            else f"long polling {telegram.api_url}"
        )
        lines.append(f"Telegram: on ({how})")
    else:
        lines.append(f"Telegram: off ({telegram.token_env} not set)")
    if settings.desk.enabled:
        accounts = len(app[STORE].officials.all())
        who = (
            f"{accounts} account(s)"
            if accounts
            else "no accounts yet: `tanya officials add NAME --role admin`"
        )
        lines.append(f"officials' desk: on at {base}/desk ({who})")
    else:
        lines.append("officials' desk: off (desk.enabled is false in the settings)")
    if settings.report.public:
        lines.append(f"public report: on at {base}/laporan")
    return lines


def serve(
    settings: Settings, loaded: Loaded, listening: socket.socket, describe: bool = True
) -> None:
    """Serve on the bound socket (see ``listen``) until interrupted; ``describe``: say
    what runs where first (one worker of several says it for all)."""
    app = create_app(settings, loaded)
    host, port = listening.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    for line in start_lines(settings, app, base) if describe else ():
        log.info("%s", line)

    def ready(_: str) -> None:
        start_stages.mark("serving")
        log.info("ready: serving on %s (Ctrl+C stops it)", base)
        log.info("start-up took %s", start_stages.finish())

    web.run_app(app, sock=listening, shutdown_timeout=10, print=ready)
