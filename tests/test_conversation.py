"""Conversations as a citizen has them, on a real tiny model and a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.answerer import Answerer
from bot.core.conversation import Conversation
from bot.core.decision import Decision
from bot.core.messages import Incoming, Kind, Reply
from bot.core.replies import Replies
from bot.service import Loaded, with_thresholds
from bot.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "tanya.db")


def make_conversation(answerer: Answerer, store: Store) -> Conversation:
    async def decide(text: str, language: str | None) -> Decision:
        return answerer.decide(text, language)

    return Conversation(store, decide, answerer.replies, answerer.faq)


@pytest.fixture
def conversation(loaded: Loaded, store: Store) -> Conversation:
    return make_conversation(loaded.answerer, store)


def text(citizen: str, body: str, message_id: str | None = None, **kw: object) -> Incoming:
    return Incoming(channel="test", citizen=citizen, text=body, message_id=message_id, **kw)  # type: ignore[arg-type]


async def test_answer_then_feedback_buttons(conversation: Conversation, store: Store) -> None:
    # One message: the answer, the question "was it helpful?" last, the buttons under it.
    [prompt] = await conversation.handle(text("c1", "ktp saya hilang gimana", "m1"))
    assert prompt.text.startswith("Bawa surat kehilangan")
    assert prompt.text.endswith("\n\nApakah jawaban ini membantu?")
    assert [b.label for b in prompt.buttons] == ["👍 Ya", "👎 Tidak"]
    [thanks] = await conversation.handle(
        Incoming("test", "c1", Kind.BUTTON, payload=prompt.buttons[0].payload)
    )
    assert thanks.text == "Terima kasih atas masukan Anda!"
    assert store.db.execute("SELECT helpful FROM feedback").fetchall() == [(1,)]


async def test_thumbs_down_offers_an_official_with_a_ticket(
    conversation: Conversation, store: Store
) -> None:
    [prompt] = await conversation.handle(text("c2", "where can i get vaccinated?"))
    [sorry] = await conversation.handle(
        Incoming("test", "c2", Kind.BUTTON, payload=prompt.buttons[1].payload)
    )
    assert sorry.text.startswith("Sorry that did not help")
    [escalated] = await conversation.handle(
        Incoming("test", "c2", Kind.BUTTON, payload=sorry.buttons[0].payload)
    )
    assert "Your ticket number: #1." in escalated.text
    assert store.db.execute("SELECT reason, status FROM escalations").fetchall() == [
        ("asked_human", "open")
    ]


async def test_low_confidence_question_gets_a_ticket_in_the_citizens_language(
    conversation: Conversation, store: Store
) -> None:
    [reply] = await conversation.handle(text("c3", "resep rendang padang yang enak gimana"))
    assert "petugas" in reply.text and "Nomor tiket Anda: #" in reply.text
    [(reason,)] = store.db.execute("SELECT reason FROM escalations").fetchall()
    assert reason == "low_confidence"


async def test_photo_gets_a_polite_reply_and_is_stored(
    conversation: Conversation, store: Store
) -> None:
    [reply] = await conversation.handle(Incoming("test", "c4", Kind.PHOTO, message_id="p1"))
    assert reply.text.startswith("Maaf, saya hanya bisa membaca pesan teks")
    assert [m["kind"] for m in store.messages(1)] == ["photo", "text"]


async def test_redelivered_message_is_answered_once(conversation: Conversation) -> None:
    first = await conversation.handle(text("c5", "halo", "same-id"))
    again = await conversation.handle(text("c5", "halo", "same-id"))
    assert first and again == []


async def test_commands_in_both_languages(conversation: Conversation) -> None:
    [welcome] = await conversation.handle(
        Incoming("test", "c6", Kind.COMMAND, text="/start", language="en")
    )
    assert welcome.text.startswith("Welcome! I am Tanya")
    [switched] = await conversation.handle(Incoming("test", "c6", Kind.COMMAND, text="/bahasa"))
    assert switched.text.startswith("Saya akan membalas dalam Bahasa Indonesia")
    [human] = await conversation.handle(Incoming("test", "c6", Kind.COMMAND, text="/petugas"))
    assert "Nomor tiket Anda" in human.text


async def test_clarify_buttons_answer_the_chosen_entry(loaded: Loaded, store: Store) -> None:
    answerer = with_thresholds(
        loaded.answerer, answer_threshold=0.6, clarify_threshold=0.2, clarify_margin=0.3
    )
    conversation = make_conversation(answerer, store)
    [clarify] = await conversation.handle(text("c7", "ktp"))
    payloads = [b.payload for b in clarify.buttons]
    assert "faq:ktp-baru" in payloads
    [answer] = await conversation.handle(
        Incoming("test", "c7", Kind.BUTTON, payload="faq:ktp-baru")
    )
    assert answer.text.startswith("Datang ke kantor kecamatan")


async def test_messages_stored_before_a_crash_are_answered_after(
    conversation: Conversation, store: Store
) -> None:
    citizen = store.citizen("test", "c8")
    store.save_incoming(citizen.id, "m8", "text", "kapan jadwal vaksin booster")
    sent: list[tuple[str, str, list[Reply]]] = []

    async def send(channel: str, who: str, replies: list[Reply]) -> None:
        sent.append((channel, who, replies))

    assert await conversation.answer_pending(send) == 1
    [(channel, who, replies)] = sent
    assert (channel, who) == ("test", "c8")
    assert replies[0].text.startswith("Vaksinasi booster dibuka")
    assert store.unanswered() == []


def test_replies_catalogue_has_every_reply_in_both_languages() -> None:
    from tests.conftest import ROOT

    replies = Replies.load(ROOT / "rasa_project" / "domain.yml")
    for name in (
        "utter_start",
        "utter_ticket",
        "utter_unsupported_media",
        "utter_feedback_prompt",
        "utter_language_set",
    ):
        assert replies.text(name, "id") != replies.text(name, "en")


async def test_reply_worked_out_but_not_sent_is_sent_after_a_restart(
    conversation: Conversation, store: Store
) -> None:
    accepted = conversation.accept(text("c9", "resep rendang padang yang enak gimana", "m9"))
    assert accepted is not None
    [first] = await conversation.respond(accepted)  # ... and the process dies before sending
    sent: list[list[Reply]] = []

    async def send(channel: str, who: str, replies: list[Reply]) -> None:
        sent.append(replies)

    assert await conversation.answer_pending(send) == 1
    [[again]] = sent
    assert again.text == first.text  # the same ticket number, not a second escalation
    assert store.db.execute("SELECT count(*) FROM escalations").fetchone() == (1,)
    assert store.unanswered() == []
    statuses = [(m["direction"], m["status"]) for m in store.messages(accepted.citizen.id)]
    assert statuses == [("in", "answered"), ("out", "sent")]


async def test_a_typed_number_picks_that_choice(loaded: Loaded, store: Store) -> None:
    # Channels without buttons, or citizens who type: "2" after numbered choices is the
    # second choice; any other message forgets the choices.
    answerer = with_thresholds(
        loaded.answerer, answer_threshold=0.99, clarify_threshold=0.01, clarify_margin=0.3
    )
    conversation = make_conversation(answerer, store)
    [choices] = await conversation.handle(text("c9", "ktp"))
    numbered = [line for line in choices.text.splitlines() if line[:2] in ("1.", "2.", "3.")]
    # A button per choice, and one for "none of these": an official.
    assert len(numbered) == len(choices.buttons) - 1 >= 2
    assert choices.buttons[-1].label == "Teruskan ke petugas"
    second = choices.buttons[1].payload.removeprefix("faq:")
    [answer] = await conversation.handle(text("c9", "2"))
    entry = answerer.faq.entry(second)
    assert answer.text.startswith(entry.answers["id"][:20])
    [again] = await conversation.handle(text("c9", "2"))
    assert not again.text.startswith(entry.answers["id"][:20])


@pytest.mark.parametrize(
    ("body", "start"),
    [
        ("asdfghjkl", "Maaf, saya belum bisa memahami"),
        ("qwerty zxcvbn", "Maaf, saya belum bisa memahami"),
        ("dasar bot goblok", "Saya di sini untuk membantu"),
        ("pilkada nanti sebaiknya coblos partai apa", "Sebagai asisten pemerintah"),
        ("Get Started", "Welcome!"),
        ("mulai", "Selamat datang!"),
    ],
)
async def test_not_a_question_for_officials_gets_no_ticket(
    conversation: Conversation, store: Store, body: str, start: str
) -> None:
    [reply] = await conversation.handle(text("c10", body))
    assert reply.text.startswith(start)
    assert "tiket" not in reply.text
    assert store.db.execute("SELECT COUNT(*) FROM escalations").fetchone() == (0,)


async def test_none_of_the_choices_passes_the_question_to_an_official(
    loaded: Loaded, store: Store
) -> None:
    answerer = with_thresholds(
        loaded.answerer, answer_threshold=0.99, clarify_threshold=0.01, clarify_margin=0.3
    )
    conversation = make_conversation(answerer, store)
    [choices] = await conversation.handle(text("c11", "ktp"))
    [ticket] = await conversation.handle(
        Incoming("test", "c11", Kind.BUTTON, payload=choices.buttons[-1].payload)
    )
    assert "Nomor tiket Anda" in ticket.text
    question = store.db.execute(
        "SELECT text FROM messages WHERE id = (SELECT message_id FROM escalations)"
    ).fetchone()
    assert question == ("ktp",)
