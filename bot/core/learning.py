"""The learning loop: an official's answer becomes FAQ knowledge, and the model retrains.

"Add to FAQ" edits the YAML files (``bot.faq.edit``, comments and order kept), then a
retraining starts in the background while the bot keeps answering with the old model.
The new model replaces it only once it trained and loaded; a failed training keeps the
old one and the desk shows why. Edits made while a training runs are picked up by one
more run right after it, so officials never wait for each other.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.faq.edit import Edit, add_question, add_translated_entry
from bot.faq.problems import FaqError
from bot.nlu.calibration import DEFAULT_MAX_WRONG_ANSWERS
from bot.nlu.train import TrainingFailed, train
from bot.store.officials import Official, Officials
from bot.translatable import say

log = logging.getLogger(__name__)

MAX_PROGRESS_LINES = 50


class RunState(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class TrainingRun:
    number: int
    reasons: tuple[str, ...]  # why it runs: one or more edits, or a retrain asked for
    started_at: datetime
    state: RunState = RunState.RUNNING
    finished_at: datetime | None = None
    message: str = ""
    progress: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()


# Loads the freshly trained model and puts it to work; raises when it cannot be loaded.
Install = Callable[[], Awaitable[None]]


class Learning:
    def __init__(
        self,
        faq_dir: Path,
        project_dir: Path,
        model_path: Path,
        install: Install,
        officials: Officials,
        *,
        variants: bool = False,
        max_wrong_answers: float = DEFAULT_MAX_WRONG_ANSWERS,
        announce: Install | None = None,
    ) -> None:
        """``announce`` tells the other workers about the model once it is installed
        here (``bot.core.model_sync.ModelSync.announce``)."""
        self.announce = announce
        self.variants = variants
        self.max_wrong_answers = max_wrong_answers
        self.faq_dir = faq_dir
        self.project_dir = project_dir
        self.model_path = model_path
        self.install = install
        self.officials = officials
        self.runs: list[TrainingRun] = []
        self._task: asyncio.Task[None] | None = None
        self._again: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    @property
    def current(self) -> TrainingRun | None:
        return self.runs[-1] if self.runs else None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def add_question(self, official: Official, entry_id: str, language: str, question: str) -> Edit:
        """Add an example question to an entry and retrain; ``FaqEditError`` when refused."""
        edit = add_question(self.faq_dir, entry_id, language, question)
        self.officials.audit(official, "faq-add-question", entry_id, question)
        self.retrain(
            say("{official}: new example for {entry}", official=official.name, entry=entry_id)
        )
        return edit

    def add_entry(
        self,
        official: Official,
        topic: str,
        entry_id: str,
        questions: Mapping[str, Sequence[str]],
        answers: Mapping[str, str],
        topic_titles: Mapping[str, str] | None = None,
    ) -> Edit:
        """Add a new entry (one language or several) and retrain; ``FaqEditError`` when
        refused."""
        edit = add_translated_entry(
            self.faq_dir, topic, entry_id, questions, answers, topic_titles=topic_titles
        )
        every = [q for items in questions.values() for q in items]
        self.officials.audit(official, "faq-add-entry", entry_id, " | ".join(every))
        self.retrain(say("{official}: new entry {entry}", official=official.name, entry=entry_id))
        return edit

    def retrain(self, reason: str) -> None:
        """Start training now, or once more after the running training."""
        if self.busy:
            self._again.append(reason)
            return
        self._task = asyncio.get_running_loop().create_task(self._loop((reason,)))

    async def _loop(self, reasons: tuple[str, ...]) -> None:
        while True:
            await self._run(reasons)
            if not self._again:
                return
            reasons = tuple(self._again)
            self._again.clear()

    async def _run(self, reasons: tuple[str, ...]) -> None:
        run = TrainingRun(len(self.runs) + 1, reasons, datetime.now(UTC))
        self.runs = [*self.runs[-9:], run]
        started = time.monotonic()
        loop = asyncio.get_running_loop()

        def progress(line: str) -> None:
            stamped = say("[{seconds:5.1f}s] {line}", seconds=time.monotonic() - started, line=line)
            loop.call_soon_threadsafe(_append, run.progress, stamped)

        try:
            await loop.run_in_executor(
                None,
                lambda: train(
                    self.faq_dir,
                    self.project_dir,
                    self.model_path,
                    progress=progress,
                    on_process=self._remember,
                    variants=self.variants,
                    max_wrong_answers=self.max_wrong_answers,
                ),
            )
            progress(say("loading the new model"))
            await self.install()
            if self.announce is not None:
                try:
                    await self.announce()
                except Exception:  # this worker answers with it; the others keep theirs
                    log.exception("telling the other workers about the new model failed")
        except (TrainingFailed, FaqError) as exc:
            self._finish(run, RunState.FAILED, say(KEPT, reason=str(exc)))
        except Exception as exc:  # anything else also keeps the old model, and says so
            log.exception("retraining failed")
            self._finish(run, RunState.FAILED, say(KEPT, reason=str(exc)))
        else:
            self._finish(run, RunState.SUCCEEDED, say(SWAPPED, time=datetime.now(UTC)))

    def _finish(self, run: TrainingRun, state: RunState, message: str) -> None:
        run.state, run.message, run.finished_at = state, message, datetime.now(UTC)
        self.officials.audit(None, f"training-{state.value}", f"run {run.number}", message)
        log.info("training run %d %s: %s", run.number, state.value, message)

    def _remember(self, process: subprocess.Popen[str]) -> None:
        self._process = process

    async def stop(self) -> None:
        """Shutting down: stop a running training (the old model file stays as it was)."""
        self._again.clear()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _append(lines: list[str], line: str) -> None:
    lines.append(line)
    del lines[:-MAX_PROGRESS_LINES]


KEPT = "the previous model stays in use: {reason}"
# A UTC time in the log; the desk shows it in desk.timezone (bot.desk.translations).
SWAPPED = "the new model answers since {time:%H:%M:%S %Z}"
