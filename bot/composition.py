"""The composition root: every service of a running bot, built whole, in one place.

The single-process bot and each worker of `tanya run --workers N` are built here the same
way, so a worker is no special case. Each constructor gets what it needs; nothing is set
on an object after it was built. The one cycle (a channel hands messages to the
conversation, whose replies go out through the dispatcher, which sends them through the
channels) is closed by one registry, ``channels``: the dispatcher and the handover are
given it empty and it is filled here, once, before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import start_stages
from bot.channels import Channel, build_channels
from bot.config import Settings
from bot.core.broadcasting import Broadcaster
from bot.core.conversation import Conversation
from bot.core.dispatch import Dispatcher
from bot.core.handover import Handover
from bot.core.learning import Learning
from bot.core.model_sync import ModelSync
from bot.core.worker import AnsweringWorker
from bot.nlu.minilm import DeferredEncoder
from bot.service import Live, Loaded, load_answerer
from bot.store import Store
from bot.store.leases import worker_name
from bot.store.liveness import Heartbeat

if TYPE_CHECKING:
    from bot.desk.context import DeskContext


@dataclass(frozen=True)
class Services:
    """What one bot process runs: the model in use, the store, the conversation and its
    outbox, the channels, the officials' side (handover, learning, broadcasts)."""

    settings: Settings
    live: Live
    store: Store
    worker: AnsweringWorker
    dispatcher: Dispatcher
    conversation: Conversation
    channels: dict[str, Channel]
    handover: Handover
    learning: Learning
    broadcaster: Broadcaster
    embedder: DeferredEncoder
    models: ModelSync
    # This process's one name in the store's claims, leases and jobs (host, pid, random).
    claimant: str
    # Says in the store that this process is alive, so its claims hold only while it is.
    heartbeat: Heartbeat

    def desk_context(self) -> DeskContext:
        from bot.desk.auth import Auth
        from bot.desk.context import DeskContext

        return DeskContext(
            settings=self.settings,
            store=self.store,
            auth=Auth(self.settings.desk, self.store.officials),
            handover=self.handover,
            learning=self.learning,
            live=self.live,
            decide=self.worker.decide,
            channels=self.channels,
            broadcaster=self.broadcaster,
        )


def build_services(settings: Settings, loaded: Loaded, store: Store | None = None) -> Services:
    """Every service of one bot process, from the settings and the loaded model; the store
    is opened from ``storage.url`` unless given (tests pass their own)."""
    store = store or Store.open(settings.storage.location)
    start_stages.mark("store")
    claimant = worker_name()
    live = Live(loaded, settings.faq.dir, settings.nlu.project_dir)
    worker = AnsweringWorker(loaded.answerer)
    answerer = loaded.answerer
    channels: dict[str, Channel] = {}  # the registry: filled below, before anything runs
    dispatcher = Dispatcher(store, channels, worker=claimant)
    conversation = Conversation(
        store,
        worker.decide,
        answerer.replies,
        answerer.faq,
        settings.languages,
        dispatcher,
        answer_hours=settings.desk.sla_hours,
        announcement_topics=settings.announcements.topics,
        worker=claimant,
    )
    # English MiniLM for the desk's similar questions (and Clusters' measure; the NLU
    # pipeline's encoder is USE-m; bench/clusters.py measured both), loaded once serving.
    embedder = DeferredEncoder()
    handover = Handover(
        store,
        conversation,
        channels,
        embed=embedder,
        cluster_distance=settings.insight.cluster_distance,
        word_weight=settings.insight.cluster_word_weight,
    )
    channels.update(build_channels(settings, conversation, store, handover))
    if "telegram" in channels:
        # Imported only when Telegram is on: python-telegram-bot takes a second to import.
        from bot.channels.telegram import TelegramChannel

        telegram = channels["telegram"]
        if isinstance(telegram, TelegramChannel):
            conversation.escalation_listeners.append(telegram.post_escalation)
            telegram.up_listeners.append(dispatcher.channel_up)

    async def install() -> None:
        await _install(settings, worker, conversation, live)

    # A model trained on any worker (or by `tanya train`) is loaded by every worker.
    models = ModelSync(store.models, settings.nlu.model_path, install, worker=claimant)
    learning = Learning(
        settings.faq.dir,
        settings.nlu.project_dir,
        settings.nlu.model_path,
        install,
        store.officials,
        variants=settings.nlu.generated_variants,
        max_wrong_answers=settings.nlu.max_wrong_answers,
        announce=models.announce,
    )
    start_stages.mark("services")
    return Services(
        settings=settings,
        live=live,
        store=store,
        worker=worker,
        dispatcher=dispatcher,
        conversation=conversation,
        channels=channels,
        handover=handover,
        learning=learning,
        broadcaster=Broadcaster(store, channels, breaker=dispatcher.breaker, worker=claimant),
        embedder=embedder,
        models=models,
        claimant=claimant,
        heartbeat=store.heartbeat(claimant),
    )


async def _install(
    settings: Settings, worker: AnsweringWorker, conversation: Conversation, live: Live
) -> None:
    """Load the freshly trained model on the model's own thread, then switch every reader
    to it between two batches: messages arriving meanwhile wait, none is lost."""
    fresh = await worker.run(lambda: load_answerer(settings))
    worker.answerer = fresh.answerer
    conversation.faq = fresh.answerer.faq
    live.loaded = fresh
