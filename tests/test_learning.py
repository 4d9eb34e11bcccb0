"""The learning loop for real: an official's answer is added to the FAQ from the desk, the
model retrains in the background, and the same question is then answered by the bot."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.server import LEARNING, create_app
from bot.service import load_answerer
from bot.store import Store
from tests.conftest import private_project
from tests.desk_helpers import add_official, browser, post_form, running, sign_in

pytestmark = pytest.mark.slow

QUESTION = "kapan pasar malam di alun-alun dibuka"
ANSWER = "Pasar malam alun-alun buka setiap Sabtu pukul 18.00-23.00."


@pytest.fixture
def settings(trained: Path, tmp_path: Path) -> Settings:
    """A private copy of the trained project: this test edits its FAQ and retrains."""
    return private_project(trained, tmp_path)


@pytest.fixture
async def server(settings: Settings, tmp_path: Path) -> AsyncIterator[TestServer]:
    store = Store.open(tmp_path / "tanya.db")
    add_official(store, "Sari", "agent")
    async with running(create_app(settings, load_answerer(settings), store)) as server:
        yield server


async def ask(client: ClientSession, text: str, message_id: str) -> list[str]:
    response = await client.post("/chat/api/messages", json={"text": text, "id": message_id})
    return [reply["text"] for reply in (await response.json())["replies"]]


async def wait_for_training(server: TestServer, timeout: float = 240) -> None:
    learning = server.app[LEARNING]
    await asyncio.sleep(0.1)
    deadline = asyncio.get_running_loop().time() + timeout
    while learning.busy:
        assert asyncio.get_running_loop().time() < deadline, "training did not finish"
        await asyncio.sleep(0.5)


async def test_answer_added_to_faq_is_answered_by_the_bot_after_retraining(
    server: TestServer, settings: Settings, tmp_path: Path
) -> None:
    # A second worker of the same bot, on the same database and model folder.
    second_worker = create_app(settings, load_answerer(settings), Store.open(tmp_path / "tanya.db"))
    async with (
        running(second_worker) as second,
        browser(server) as citizen,
        browser(server) as official,
        browser(second) as other_citizen,
    ):
        await citizen.get("/chat")
        first = await ask(citizen, QUESTION, "q1")
        assert not any(ANSWER in text for text in first)
        [handover] = await ask(citizen, "/petugas", "q2")
        ticket = int(re.search(r"#(\d+)", handover).group(1))  # type: ignore[union-attr]

        await sign_in(official, "Sari")
        await post_form(official, f"/desk/tickets/{ticket}/answer", answer=ANSWER)
        added = await post_form(
            official,
            f"/desk/tickets/{ticket}/faq",
            mode="entry",
            topic="vaksinasi",
            new_topic="pasar",
            title_id="Pasar",
            title_en="Markets",
            entry_id="pasar-malam",
            questions_id=f"{QUESTION}\njadwal buka pasar malam alun alun",
            answer_id=ANSWER,
        )
        assert added.status == 303 and added.headers["Location"].startswith("/desk/training")
        assert "pasar-malam" in (settings.faq.dir / "pasar.yml").read_text(encoding="utf-8")
        # The bot keeps answering with the old model while the new one trains.
        assert await ask(citizen, "ktp saya hilang", "q3")
        await wait_for_training(server)

        page = await (await official.get("/desk/training")).text()
        assert 'data-state="succeeded"' in page, page
        # The new model's own measurement: what officials can expect of it.
        assert "Diukur pada pertanyaan FAQ sendiri: sekitar" in page
        replies = await ask(citizen, QUESTION, "q4")
        assert replies[0].split("\n\n")[0] == ANSWER  # then "was this helpful?"
        # The other worker answers with the new model too, within 10 s.
        await other_citizen.get("/chat")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        for attempt in range(100):
            replies = await ask(other_citizen, QUESTION, f"w{attempt}")
            if replies[0].split("\n\n")[0] == ANSWER:
                break
            assert loop.time() < deadline, "the other worker still answers with the old model"
            await asyncio.sleep(0.5)
        audit = [row["action"] for row in server.app[LEARNING].officials.audit_log()]
        assert {"answer", "faq-add-entry", "training-succeeded"} <= set(audit)


async def test_failed_training_keeps_the_old_model_and_says_why(
    server: TestServer, settings: Settings
) -> None:
    config = settings.nlu.project_dir / "config.yml"
    config.write_text("recipe: default.v1\npipeline:\n  - name: NoSuchComponent\n")
    learning = server.app[LEARNING]
    async with browser(server) as official, browser(server) as citizen:
        await sign_in(official, "Sari")
        await post_form(official, "/desk/training")
        await wait_for_training(server)
        page = await (await official.get("/desk/training")).text()
        assert 'data-state="failed"' in page
        # Why, in the official's language (the reason itself is Rasa's own words).
        assert "model sebelumnya tetap dipakai" in page and "NoSuchComponent" in page
        assert learning.current is not None and learning.current.state == "failed"
        await citizen.get("/chat")
        replies = await ask(citizen, "ktp saya hilang gimana", "q1")
        assert replies[0].startswith("Bawa surat kehilangan")
