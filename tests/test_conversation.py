"""Conversations as a citizen has them, on a real tiny model and a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

import bot.core.conversation as conversation_module
from bot.core.answerer import Answerer
from bot.core.conversation import Conversation
from bot.core.decision import Decision
from bot.core.dispatch import Dispatcher
from bot.core.messages import Delivery, DeliveryState, Incoming, Kind, Reply
from bot.core.replies import Replies
from bot.service import Loaded, with_thresholds
from bot.store import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


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
    assert [m.kind for m in store.messages(1)] == ["photo", "text"]


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


async def test_a_chosen_language_sticks_a_detected_one_follows(
    loaded: Loaded, store: Store
) -> None:
    conversation = make_conversation(loaded.answerer, store)
    # Without a choice the bot follows the language each message is written in.
    [answer] = await conversation.handle(text("c8", "I lost my ID card what should I do"))
    assert answer.text.startswith("Bring a police loss report")
    [answer] = await conversation.handle(text("c8", "ktp saya hilang gimana ngurusnya"))
    assert answer.text.startswith("Bawa surat kehilangan")
    # A citizen who picked English keeps English, even writing in Indonesian...
    await conversation.handle(Incoming("test", "c8", Kind.COMMAND, text="/bahasa en"))
    [answer] = await conversation.handle(text("c8", "ktp saya hilang gimana ngurusnya"))
    assert answer.text.startswith("Bring a police loss report")
    assert answer.text.endswith("Was this helpful?")
    # ...also after a restart (the choice is stored), until they choose again.
    again = make_conversation(loaded.answerer, store)
    [answer] = await again.handle(text("c8", "cara ganti ktp yang hilang bagaimana ya"))
    assert answer.text.startswith("Bring a police loss report")
    await again.handle(Incoming("test", "c8", Kind.COMMAND, text="/bahasa id"))
    [answer] = await again.handle(text("c8", "I lost my ID card what should I do"))
    assert answer.text.startswith("Bawa surat kehilangan")


async def test_the_language_a_message_shows_is_kept_for_what_follows(
    loaded: Loaded, store: Store
) -> None:
    """Recorded with the reply (in the same request, or queued in the outbox), so that a
    command's reply, which no language detection sees, comes in it."""
    conversation = make_conversation(loaded.answerer, store)
    [indonesian] = await conversation.handle(Incoming("test", "c11", Kind.COMMAND, text="/help"))
    await conversation.handle(text("c11", "I lost my ID card what should I do"))
    [english] = await conversation.handle(Incoming("test", "c11", Kind.COMMAND, text="/help"))
    assert english.text != indonesian.text
    assert (
        english.text
        == (
            await conversation.handle(
                Incoming("test", "c12", Kind.COMMAND, text="/help", language="en")
            )
        )[0].text
    )

    queued, _ = with_outbox(loaded.answerer, store)
    accepted = queued.accept(text("c13", "I lost my ID card what should I do", "m13"))
    assert accepted is not None and await queued.answer(accepted)
    again = queued.accept(Incoming("test", "c13", Kind.COMMAND, text="/help", message_id="m14"))
    assert again is not None and again.citizen.language == "en"
    await queued.dispatcher.stop()  # type: ignore[union-attr]


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


class RecordingCourier:
    """A channel that records what the outbox sends it; ``fail`` sets its outcome."""

    reply_window = None

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []
        self.fail: Delivery | None = None

    async def send(
        self, citizen: str, replies: list[Reply], skip: int = 0, **_: object
    ) -> Delivery:
        if self.fail is not None:
            return self.fail
        self.sent.append((citizen, replies[skip:]))
        return Delivery(DeliveryState.SENT, parts=len(replies) - skip)

    async def deliver_official(
        self,
        citizen: str,
        replies: list[Reply],
        last_inbound: object,
        skip: int = 0,
        **_: object,
    ) -> Delivery:
        return await self.send(citizen, replies, skip)


def with_outbox(answerer: Answerer, store: Store) -> tuple[Conversation, RecordingCourier]:
    courier = RecordingCourier()
    dispatcher = Dispatcher(store, {"test": courier})

    async def decide(text: str, language: str | None) -> Decision:
        return answerer.decide(text, language)

    conversation = Conversation(
        store, decide, answerer.replies, answerer.faq, dispatcher=dispatcher
    )
    return conversation, courier


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_messages_stored_before_a_crash_are_answered_after(
    loaded: Loaded, store: Store
) -> None:
    conversation, courier = with_outbox(loaded.answerer, store)
    citizen = store.citizen("test", "c8")
    store.save_incoming(citizen.id, "m8", "text", "kapan jadwal vaksin booster")

    assert await conversation.answer_pending() == 1
    await until(lambda: courier.sent)
    [(who, replies)] = courier.sent
    assert who == "c8"
    assert replies[0].text.startswith("Vaksinasi booster dibuka")
    assert store.unanswered() == []


async def test_reply_not_confirmed_stays_queued_and_goes_out_in_order(
    loaded: Loaded, store: Store
) -> None:
    """The platform failing is not "sent": the reply waits in the outbox, and a later
    reply to the same citizen does not overtake it."""
    conversation, courier = with_outbox(loaded.answerer, store)
    courier.fail = Delivery(DeliveryState.RETRY, "HTTP 502: Bad Gateway")
    first = conversation.accept(text("c9", "resep rendang padang yang enak gimana", "m9"))
    assert first is not None
    assert await conversation.answer(first)
    await until(lambda: store.outbox.counts()["retrying"] == 1)
    second = conversation.accept(text("c9", "kapan jadwal vaksin booster", "m10"))
    assert second is not None and await conversation.answer(second)
    statuses = [(m.direction, m.status) for m in store.messages(first.citizen.id)]
    assert statuses == [("in", "answered"), ("out", "pending")] * 2
    assert courier.sent == []

    courier.fail = None  # the platform is back
    await until(lambda: len(courier.sent) == 2, timeout=20)
    assert "Nomor tiket Anda" in courier.sent[0][1][0].text  # the first reply first
    assert courier.sent[1][1][0].text.startswith("Vaksinasi booster dibuka")
    statuses = [(m.direction, m.status) for m in store.messages(first.citizen.id)]
    assert statuses == [("in", "answered"), ("out", "sent")] * 2
    await conversation.dispatcher.stop()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "payload",
    [
        "rate:99999999999999999999:5",
        "rate:²:5",
        "helpful:99999999999999999999:yes",
        "helpful:²:no",
        "escalate:99999999999999999999",
        "escalate:٣",
        "vote:99999999999999999999:0",
        "vote:1:99999999999999999999",
        "vote:²:0",
        "survey:99999999999999999999:start",
        "survey:2:0:²",
        "survey:2:99999999999999999999:1",
        "survey:²:start",
        "sub:\x00",
        "faq:\ud800",
    ],
)
async def test_a_poisoned_button_gets_a_polite_reply_and_cannot_block_the_start(
    loaded: Loaded, store: Store, payload: str
) -> None:
    conversation, courier = with_outbox(loaded.answerer, store)
    polite = ("Tombol itu sudah tidak berlaku", "Topik itu tidak ada")
    [reply] = await conversation.handle(Incoming("test", "c10", Kind.BUTTON, payload=payload))
    assert reply.text.startswith(polite)
    # Stored but not answered when the process died: answered at the next start.
    assert conversation.accept(
        Incoming("test", "c11", Kind.BUTTON, payload=payload, message_id="m")
    )
    assert await conversation.answer_pending() == 1
    await until(lambda: courier.sent)
    assert courier.sent[0][1][0].text.startswith(polite)


async def test_a_message_that_always_fails_is_set_aside_and_the_others_are_answered(
    loaded: Loaded, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation, courier = with_outbox(loaded.answerer, store)
    monkeypatch.setattr(conversation_module, "ANSWER_RETRY_DELAYS", (0.0,))
    decide = conversation.decide

    async def fragile(text: str, language: str | None) -> Decision:
        if "meledak" in text:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return await decide(text, language)

    conversation.decide = fragile
    for number, question in enumerate(["pesan ini meledak", "kapan jadwal vaksin booster"]):
        citizen = store.citizen("test", f"c{20 + number}")
        store.save_incoming(citizen.id, f"m{number}", "text", question)
    assert await conversation.answer_pending() == 1
    await until(lambda: courier.sent)
    assert [who for who, _ in courier.sent] == ["c21"]
    [parked] = store.unanswerable()
    assert parked.text == "pesan ini meledak" and "OverflowError" in parked.error
    assert parked.attempts == conversation_module.MAX_ANSWER_ATTEMPTS
    assert store.unanswered() == []  # not tried again at every start


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
    loaded: Loaded, store: Store
) -> None:
    conversation, courier = with_outbox(loaded.answerer, store)
    courier.fail = Delivery(DeliveryState.RETRY, "timeout")
    accepted = conversation.accept(text("c9", "resep rendang padang yang enak gimana", "m9"))
    assert accepted is not None
    assert await conversation.answer(accepted)
    await until(lambda: store.outbox.counts()["retrying"] == 1)
    await conversation.dispatcher.stop()  # type: ignore[union-attr]  # ... the process stops

    conversation, courier = with_outbox(loaded.answerer, store)  # the next start
    assert await conversation.answer_pending() == 0  # nothing to decide again...
    conversation.dispatcher.start()  # type: ignore[union-attr]
    await until(lambda: courier.sent, timeout=20)  # ... the queued reply goes out
    [(_, [again])] = courier.sent
    assert "Nomor tiket Anda: #1" in again.text  # the same ticket, not a second escalation
    assert store.db.execute("SELECT count(*) FROM escalations").fetchone() == (1,)
    statuses = [(m.direction, m.status) for m in store.messages(accepted.citizen.id)]
    assert statuses == [("in", "answered"), ("out", "sent")]
    await conversation.dispatcher.stop()  # type: ignore[union-attr]


async def test_a_citizen_has_one_open_ticket_and_is_told_when_to_expect_an_answer(
    conversation: Conversation, store: Store
) -> None:
    """A follow-up ("halo? ada yang baca?") joins the open ticket instead of opening a
    second one for the same need."""
    [first] = await conversation.handle(text("c30", "sampah di gang mawar belum diangkut", "a"))
    assert "Nomor tiket Anda: #1." in first.text
    assert "Petugas biasanya menjawab dalam 8 jam" in first.text
    [again] = await conversation.handle(
        text("c30", "halo? ada yang baca? sampah masih belum diangkut", "b")
    )
    assert "tiket #1" in again.text and "Nomor tiket" not in again.text
    [(count, question)] = store.db.execute("SELECT count(*), min(question) FROM escalations")
    assert count == 1
    assert "gang mawar" in question and "ada yang baca" in question
    [asked] = await conversation.handle(Incoming("test", "c30", Kind.COMMAND, text="/petugas"))
    assert "tiket #1" in asked.text
    assert store.db.execute("SELECT count(*) FROM escalations").fetchone() == (1,)


async def test_thumbs_up_counts_once_and_emoji_are_understood(
    conversation: Conversation, store: Store
) -> None:
    [answer] = await conversation.handle(text("c31", "ktp saya hilang gimana", "a"))
    yes, no = (b.payload for b in answer.buttons)
    for payload, message_id in ((yes, "b"), (yes, "c"), (no, "d")):
        await conversation.handle(
            Incoming("test", "c31", Kind.BUTTON, payload=payload, message_id=message_id)
        )
    assert store.db.execute("SELECT helpful FROM feedback").fetchall() == [(0,)]
    [ack] = await conversation.handle(text("c31", "👍", "e"))
    assert ack.text == "Baik. Ada lagi yang bisa saya bantu?"
    [thanks] = await conversation.handle(text("c31", "🙏🏽", "f"))
    assert thanks.text.startswith("Sama-sama")
    assert store.db.execute("SELECT count(*) FROM escalations").fetchone() == (0,)


async def test_an_entry_picked_from_did_you_mean_can_be_rated(
    conversation: Conversation, store: Store
) -> None:
    [answer] = await conversation.handle(
        Incoming("test", "c32", Kind.BUTTON, payload="faq:ktp-baru", message_id="a")
    )
    assert answer.text.startswith("Datang ke kantor kecamatan")
    assert [b.label for b in answer.buttons] == ["👍 Ya", "👎 Tidak"]
    [(action, faq_id)] = store.db.execute(
        "SELECT action, faq_id FROM messages WHERE direction = 'in'"
    ).fetchall()
    assert (action, faq_id) == ("answer", "ktp-baru")


async def test_a_topic_is_found_by_any_word_of_its_name(
    conversation: Conversation, store: Store
) -> None:
    [done] = await conversation.handle(
        Incoming("test", "c33", Kind.COMMAND, text="/langganan vaksin")
    )
    assert "Vaksinasi" in done.text  # a word, cut short
    [word] = await conversation.handle(
        Incoming("test", "c33", Kind.COMMAND, text="/langganan population")
    )
    assert "Kependudukan" in word.text  # a word of "Population documents"
    await conversation.handle(Incoming("test", "c33", Kind.COMMAND, text="/berhenti semua"))
    [typo] = await conversation.handle(
        Incoming("test", "c33", Kind.COMMAND, text="/langganan kependudukn")
    )
    assert "Kependudukan" in typo.text
    citizen = store.find_citizen("test", "c33")
    assert citizen is not None
    assert store.subscriptions.topics_of(citizen.id) == ["kependudukan"]  # after "semua"


async def test_closing_a_ticket_tells_the_citizen_why(loaded: Loaded, store: Store) -> None:
    from bot.core.handover import Handover
    from tests.desk_helpers import add_official

    conversation, courier = with_outbox(loaded.answerer, store)
    handover = Handover(store, conversation, {"test": courier})
    official = add_official(store, "Budi")

    def to(who: str) -> list[list[Reply]]:
        return [replies for citizen, replies in courier.sent if citizen == who]

    for who, question, reason in [
        ("c40", "izin pendirian menara telekomunikasi", "out_of_scope: Silakan ke Kominfo"),
        ("c41", "jadwal lomba burung kicau bulan depan", "spam"),
    ]:
        accepted = conversation.accept(text(who, question, "a"))
        assert accepted is not None and await conversation.answer(accepted)
        await until(lambda who=who: len(to(who)) == 1)
        ticket = store.escalations.open_for_citizen(accepted.citizen.id)
        assert ticket is not None
        handover.close(ticket, official, reason)
    await until(lambda: len(to("c40")) == 2)
    await asyncio.sleep(0.3)
    assert len(to("c41")) == 1  # nothing said to a spammer
    [notice] = to("c40")[1]
    assert "bukan wewenang pemerintah kota" in notice.text
    assert "Catatan petugas: Silakan ke Kominfo" in notice.text
    await conversation.dispatcher.stop()  # type: ignore[union-attr]


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


async def test_a_topic_can_be_picked_by_its_number(
    conversation: Conversation, store: Store
) -> None:
    [pick] = await conversation.handle(Incoming("test", "c50", Kind.COMMAND, text="/langganan"))
    numbered = [line for line in pick.text.splitlines() if line[:3] in ("1. ", "2. ", "3. ")]
    assert len(numbered) == len(pick.buttons) >= 2
    second = pick.buttons[1]
    [done] = await conversation.handle(text("c50", "2"))
    assert second.label in done.text
    citizen = store.find_citizen("test", "c50")
    assert citizen is not None
    assert store.subscriptions.topics_of(citizen.id) == [second.payload.removeprefix("sub:")]


async def test_replies_for_a_channel_that_is_off_wait_for_it(loaded: Loaded, store: Store) -> None:
    """A channel switched off in config.yml (its token removed for a while): its queued
    replies are not failed, they go out once it is on again."""

    async def decide(text: str, language: str | None) -> Decision:
        return loaded.answerer.decide(text, language)

    off = Dispatcher(store, {})
    conversation = Conversation(
        store, decide, loaded.answerer.replies, loaded.answerer.faq, dispatcher=off
    )
    accepted = conversation.accept(text("c60", "kapan jadwal vaksin booster", "a"))
    assert accepted is not None and await conversation.answer(accepted)
    off.start()
    await asyncio.sleep(0.5)
    await off.stop()
    assert store.outbox.counts()["queued"] == 1 and store.outbox.not_delivered() == []

    conversation, courier = with_outbox(loaded.answerer, store)  # the channel is back
    conversation.dispatcher.start()  # type: ignore[union-attr]
    await until(lambda: courier.sent)
    assert courier.sent[0][1][0].text.startswith("Vaksinasi booster dibuka")
    await conversation.dispatcher.stop()  # type: ignore[union-attr]
