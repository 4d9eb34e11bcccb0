"""Which model every worker should answer with: the versions written, newest last.

A worker that trains (the desk's learning loop) or ``tanya train`` records the model
file it wrote, with its checksum, once the file is complete; every worker polls the
newest record (``bot.core.model_sync``) and loads that file when it is not the one it
serves. The workers must see the same model file (one machine, or a shared folder):
a worker whose file does not have the recorded checksum keeps its model and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.clock import now_iso
from bot.store.engine import Engine


@dataclass(frozen=True)
class ModelVersion:
    id: int
    path: str  # where the recording worker wrote it
    checksum: str  # SHA-256 of the model file
    trained_at: str
    recorded_at: str
    recorded_by: str  # the worker, or "tanya train"


class ModelVersions:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def record(self, path: str, checksum: str, trained_at: str, recorded_by: str) -> ModelVersion:
        """A new model file is complete and in use where it was trained: announce it."""
        recorded_at = now_iso()
        with self.db.atomic():
            version_id = self.db.insert(
                "INSERT INTO model_versions (path, checksum, trained_at, recorded_at, "
                "recorded_by) VALUES (?, ?, ?, ?, ?)",
                [path, checksum, trained_at, recorded_at, recorded_by],
            )
        return ModelVersion(version_id, path, checksum, trained_at, recorded_at, recorded_by)

    def latest(self) -> ModelVersion | None:
        """The newest model version, if any was recorded (one indexed row: cheap to poll)."""
        row = self.db.execute(
            "SELECT id, path, checksum, trained_at, recorded_at, recorded_by "
            "FROM model_versions ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return ModelVersion(*row) if row else None
