"""Every worker answers with the newest model: a retraining on one worker (or `tanya
train`) is announced in the store, and each worker loads it within seconds.

The worker that trained loads its new model as before (``bot.core.learning``), then
:meth:`ModelSync.announce` records the file's checksum (``bot.store.models``). Every
worker polls the newest record every ``POLL_EVERY`` seconds (one indexed row) and, when
it is not the model it serves, checks that its own model file has the recorded checksum
and loads it on the model's thread, as the learning loop does. Polling rather than
PostgreSQL's LISTEN/NOTIFY: it works the same on SQLite, needs no connection kept out of
the pool, and a worker that was down when the news went out still finds it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from bot.core.learning import Install
from bot.store.leases import worker_name
from bot.store.models import ModelVersion, ModelVersions

log = logging.getLogger(__name__)

POLL_EVERY = 2.0  # seconds: with the load, every worker answers with it within ~10 s


def file_checksum(path: Path) -> str:
    """SHA-256 of a file, read in chunks (a model is tens of megabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_model(
    versions: ModelVersions, path: Path, recorded_by: str, checksum: str | None = None
) -> ModelVersion:
    """Announce a model file just written (its checksum, and when it was written)."""
    trained_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return versions.record(
        str(path),
        checksum or file_checksum(path),
        trained_at.isoformat(timespec="seconds"),
        recorded_by,
    )


class ModelSync:
    def __init__(
        self,
        versions: ModelVersions,
        model_path: Path,
        install: Install,
        *,
        worker: str | None = None,
        every: float = POLL_EVERY,
    ) -> None:
        """``install`` loads the model file at ``model_path`` and puts it to work (the
        server's, shared with the learning loop)."""
        self.versions = versions
        self.model_path = model_path
        self.install = install
        self.worker = worker or worker_name()
        self.every = every
        self.serving: int | None = None  # the version this worker answers with
        # A version whose file here had another checksum, and the file's size and time
        # then: looked at again only when the file changes.
        self._refused: tuple[int, tuple[int, int]] | None = None

    def started(self) -> None:
        """This worker just loaded the model file there is: count it as the newest
        version (a model trained while it was down is in that file already)."""
        latest = self.versions.latest()
        self.serving = latest.id if latest else None

    async def announce(self) -> None:
        """This worker trained and loaded a new model: tell the others (and not itself)."""
        checksum = await asyncio.to_thread(file_checksum, self.model_path)
        version = record_model(self.versions, self.model_path, self.worker, checksum)
        self.serving = version.id
        log.info("model version %d announced to every worker", version.id)

    async def follow(self) -> None:
        """Load every newer model another worker announces; runs until cancelled."""
        while True:
            try:
                await self.check()
            except Exception:  # the database or the file: logged, tried at the next poll
                log.exception("following the newest model failed")
            await asyncio.sleep(self.every)

    async def check(self) -> bool:
        """Load the newest announced model if this worker does not serve it; True if it
        did."""
        latest = self.versions.latest()
        if latest is None or latest.id == self.serving:
            return False
        stat = self.model_path.stat()
        signature = (stat.st_size, stat.st_mtime_ns)
        if self._refused == (latest.id, signature):
            return False
        checksum = await asyncio.to_thread(file_checksum, self.model_path)
        if checksum != latest.checksum:
            # Another machine's file, or one being replaced: keep answering, say why.
            self._refused = (latest.id, signature)
            log.warning(
                "model version %d (written by %s at %s) is not the file %s here: keeping "
                "the current model (do the workers share the model folder?)",
                latest.id,
                latest.recorded_by,
                latest.path,
                self.model_path,
            )
            return False
        await self.install()
        self.serving = latest.id
        log.info("now answering with model version %d (from %s)", latest.id, latest.recorded_by)
        return True
