"""Editing the FAQ from web pages: only added lines change; a refused edit changes nothing."""

from __future__ import annotations

import difflib
import io
import shutil
import textwrap
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bot.faq import read_faq
from bot.faq.edit import (
    Edit,
    FaqEditError,
    _write,
    _yaml,
    add_entry,
    add_question,
    add_translated_entry,
)
from bot.faq.loader import faq_files, load_faq
from tests.conftest import ROOT, SMALL_FAQ

SAMPLE_FAQ = ROOT / "faq"
TODAY = date(2027, 1, 2)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_FAQ, tmp_path / "faq"))


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SMALL_FAQ, tmp_path / "faq"))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def changes(before: str, after: str) -> list[tuple[str, list[str], list[str]]]:
    """The changed lines of a file: (tag, old lines, new lines) per change."""
    old, new = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    return [
        (tag, old[i1:i2], new[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


@pytest.mark.parametrize(
    "path",
    [*faq_files(SAMPLE_FAQ), *faq_files(SMALL_FAQ)],
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_every_faq_file_round_trips_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    yaml = _yaml()
    output = io.StringIO()
    yaml.dump(yaml.load(text), output)
    assert output.getvalue() == text


def test_add_question_changes_only_the_new_line_and_the_date(sample: Path) -> None:
    path = sample / "kependudukan.yml"
    before = path.read_text(encoding="utf-8")

    edit = add_question(sample, "ktp-baru", "en", "  is the first  ktp\tfree ", today=TODAY)

    assert edit == Edit(path=path, entry_id="ktp-baru", created=False)
    after = path.read_text(encoding="utf-8")
    [question, (tag, [old_date], [new_date])] = changes(before, after)
    assert question == ("insert", [], ["        - is the first ktp free"])
    assert (tag, old_date[:13], new_date) == ("replace", "    updated: ", "    updated: 2027-01-02")
    assert after.startswith('# SAMPLE content for the fictional city "Kota Contoh"')
    entry = read_faq(sample).entry("ktp-baru")
    assert entry.questions["en"][-1] == "is the first ktp free"
    assert entry.updated == TODAY


def test_add_question_keeps_blank_lines_and_comments_in_place(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text(
        textwrap.dedent("""\
            # notes for colleagues
            topic: t
            title: {id: T, en: T}
            entries:
              - id: a
                questions:
                  id:
                    - satu a
                    - dua a
                    # english examples below
                  en: [one a, two a]
                answer:
                  id: |-
                    Jawaban
                    dua baris.
                  en: Answer.

              - id: b
                questions:
                  id: [satu b, dua b]
                answer: {id: Jawaban b.}
                source: Dinas X  # who answers
                # checked by Budi
            # end
            """),
        encoding="utf-8",
    )

    add_question(tmp_path, "a", "id", "tiga a", today=TODAY)
    add_question(tmp_path, "a", "en", "three a", today=TODAY)
    add_question(tmp_path, "b", "en", "one b", today=TODAY)

    assert path.read_text(encoding="utf-8") == textwrap.dedent("""\
        # notes for colleagues
        topic: t
        title: {id: T, en: T}
        entries:
          - id: a
            questions:
              id:
                - satu a
                - dua a
                - tiga a
                # english examples below
              en: [one a, two a, three a]
            answer:
              id: |-
                Jawaban
                dua baris.
              en: Answer.
            updated: 2027-01-02

          - id: b
            questions:
              id: [satu b, dua b]
              en: [one b]
            answer: {id: Jawaban b.}
            source: Dinas X  # who answers
            updated: 2027-01-02
            # checked by Budi
        # end
        """)


def test_questions_with_yaml_syntax_stay_text(small: Path) -> None:
    odd = ["KTP: hilang, gimana? #tolong", "2026-01-01 ktp hilang", "'ktp' & \"kk\" hilang"]
    for question in odd:
        add_question(small, "ktp-hilang", "id", question, today=TODAY)
    assert read_faq(small).entry("ktp-hilang").questions["id"][-3:] == tuple(odd)


def test_add_entry_to_an_existing_topic_appends_only(sample: Path) -> None:
    path = sample / "kependudukan.yml"
    before = path.read_text(encoding="utf-8")

    edit = add_entry(
        sample,
        "kependudukan",
        "kia-anak",
        "id",
        ["cara bikin kartu identitas anak", "syarat KIA  apa aja"],
        "Bawa akta kelahiran dan KK ke Disdukcapil.  \n- Gratis\n- Selesai 1 hari\n",
        today=TODAY,
    )

    assert edit == Edit(path=path, entry_id="kia-anak", created=True)
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)
    added = textwrap.dedent("""\
        - id: kia-anak
          questions:
            id:
              - cara bikin kartu identitas anak
              - syarat KIA apa aja
          answer:
            id: |-
              Bawa akta kelahiran dan KK ke Disdukcapil.
              - Gratis
              - Selesai 1 hari
          updated: 2027-01-02
        """)
    assert after[len(before) :] == "\n" + textwrap.indent(added, "  ")
    entry = read_faq(sample).entry("kia-anak")
    assert entry.topic == "kependudukan"
    assert entry.answers["id"].splitlines()[0] == "Bawa akta kelahiran dan KK ke Disdukcapil."


def test_add_entry_follows_the_style_of_a_compact_file(small: Path) -> None:
    path = small / "vaksinasi.yml"
    before = path.read_text(encoding="utf-8")

    add_entry(small, "vaksinasi", "vaksin-anak", "en", ["vaccine for kids?", "child jabs"], "Free.")

    added = path.read_text(encoding="utf-8")[len(before) :]
    assert added.startswith(
        "  - id: vaksin-anak\n    questions:\n      en: [vaccine for kids?, child"
    )


def test_add_entry_creates_a_new_topic_file(small: Path) -> None:
    edit = add_entry(
        small,
        "pajak-daerah",
        "pbb-bayar",
        "id",
        ["bayar pbb di mana", "cara bayar pajak bumi dan bangunan"],
        "Di bank daerah atau secara daring.",
        topic_title=" Pajak  Daerah ",
        today=TODAY,
    )

    path = small / "pajak-daerah.yml"
    assert edit == Edit(path=path, entry_id="pbb-bayar", created=True)
    assert path.read_text(encoding="utf-8") == textwrap.dedent("""\
        topic: pajak-daerah
        title: {id: Pajak Daerah}
        entries:
          - id: pbb-bayar
            questions:
              id:
                - bayar pbb di mana
                - cara bayar pajak bumi dan bangunan
            answer:
              id: Di bank daerah atau secara daring.
            updated: 2027-01-02
        """)
    topic = read_faq(small).topic("pajak-daerah")
    assert topic is not None and topic.titles == {"id": "Pajak Daerah"}


def test_a_new_topic_and_entry_in_both_languages(small: Path) -> None:
    """The desk's "new entry": a title per language for the new topic (citizens see it in
    /langganan), and questions and answers in both languages, written in the README's order."""
    add_translated_entry(
        small,
        "pasar",
        "pasar-malam",
        {
            "en": ["when is the night market open"],
            "id": ["kapan pasar malam buka", "jam pasar malam"],
        },
        {"en": "Saturdays 18.00-23.00.", "id": "Setiap Sabtu 18.00-23.00."},
        topic_titles={"en": "Markets", "id": "Pasar"},
        today=TODAY,
    )
    assert (small / "pasar.yml").read_text(encoding="utf-8") == textwrap.dedent("""\
        topic: pasar
        title: {id: Pasar, en: Markets}
        entries:
          - id: pasar-malam
            questions:
              id:
                - kapan pasar malam buka
                - jam pasar malam
              en:
                - when is the night market open
            answer:
              id: Setiap Sabtu 18.00-23.00.
              en: Saturdays 18.00-23.00.
            updated: 2027-01-02
        """)
    entry = read_faq(small).entry("pasar-malam")
    assert set(entry.answers) == {"id", "en"} and len(entry.questions["en"]) == 1


REFUSALS: list[tuple[str, Callable[[Path], Edit], list[str]]] = [
    (
        "personal data in an example",
        lambda d: add_question(
            d, "ktp-baru", "id", "ktp sy 3201234567890001 hilang, hp 081234567890"
        ),
        ["NIK, phone number or e-mail", "personal data"],
    ),
    (
        "no answer in any language",
        lambda d: add_translated_entry(
            d, "kependudukan", "kk-baru", {"id": ["kk baru", "kk anyar"]}, {"id": " ", "en": ""}
        ),
        ["answer", "empty", "kk-baru"],
    ),
    (
        "empty question",
        lambda d: add_question(d, "ktp-baru", "id", " \n\t "),
        ["empty", "ktp-baru"],
    ),
    ("no words", lambda d: add_question(d, "ktp-baru", "id", "?!"), ["no words"]),
    ("unknown language", lambda d: add_question(d, "ktp-baru", "fr", "carte"), ["'fr'", "id, en"]),
    ("unknown entry", lambda d: add_question(d, "ktp-x", "id", "ktp apa"), ["'ktp-x'"]),
    (
        "already an example of this entry",
        lambda d: add_question(d, "ktp-baru", "id", "BIKIN KTP baru, syaratnya apa?"),
        ["entry ktp-baru", "kependudukan.yml"],
    ),
    (
        "an example of another entry",
        lambda d: add_question(d, "ktp-baru", "en", "what days is the vaccine open"),
        ["entry vaksin-jadwal", "vaksinasi.yml"],
    ),
    (
        "bad entry id",
        lambda d: add_entry(d, "kependudukan", "KK_baru", "id", ["a b", "c d"], "x"),
        ["'KK_baru'", "entry id"],
    ),
    (
        "bad topic",
        lambda d: add_entry(d, "Pajak Daerah", "pbb", "id", ["a b", "c d"], "x"),
        ["'Pajak Daerah'", "topic"],
    ),
    (
        "entry id exists",
        lambda d: add_entry(d, "vaksinasi", "ktp-baru", "id", ["a b", "c d"], "x"),
        ["ktp-baru", "kependudukan.yml"],
    ),
    (
        "one question",
        lambda d: add_entry(d, "kependudukan", "kk-baru", "id", "bikin kk baru", "Ke Dukcapil."),
        ["at least 2 example questions", "kk-baru"],
    ),
    (
        "same question twice",
        lambda d: add_entry(d, "kependudukan", "kk-baru", "id", ["kk baru", "KK baru?"], "x"),
        ["given twice"],
    ),
    (
        "question of another entry",
        lambda d: add_entry(
            d, "kependudukan", "kk-baru", "id", ["kk baru", "perekaman e-ktp dimana"], "x"
        ),
        ["entry ktp-baru", "kependudukan.yml"],
    ),
    (
        "empty answer",
        lambda d: add_entry(d, "kependudukan", "kk-baru", "id", ["kk baru", "kk anyar"], " \n "),
        ["answer", "empty", "kk-baru"],
    ),
]


@pytest.mark.parametrize(("case", "edit", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_edit_changes_nothing(
    small: Path, case: str, edit: Callable[[Path], Edit], words: list[str]
) -> None:
    before = snapshot(small)
    with pytest.raises(FaqEditError) as refused:
        edit(small)
    for word in words:
        assert word in str(refused.value), case
    assert snapshot(small) == before


def test_loader_errors_block_the_write(small: Path) -> None:
    path = small / "vaksinasi.yml"
    before = snapshot(small)
    _, problems = load_faq(small)
    document = _yaml().load(path.read_text(encoding="utf-8"))
    document["entries"][1]["id"] = "ktp-baru"  # also an entry of kependudukan.yml

    with pytest.raises(FaqEditError) as refused:
        _write(small, path, document, False, problems)

    assert str(refused.value) == (
        "The edit was not saved: vaksinasi.yml, entry ktp-baru, field id: "
        "duplicate id: also used in kependudukan.yml"
    )

    assert snapshot(small) == before


def test_errors_elsewhere_do_not_block_an_edit(small: Path) -> None:
    (small / "rusak.yml").write_text("topic: rusak\nentries: [unclosed\n", encoding="utf-8")
    add_question(small, "akta-lahir", "id", "akta lahir anak kedua", today=TODAY)
    faq, _ = load_faq(small)
    assert "akta lahir anak kedua" in faq.entry("akta-lahir").questions["id"]


def test_windows_line_ends_and_permissions_are_kept(small: Path) -> None:
    path = small / "kependudukan.yml"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    path.chmod(0o640)

    add_question(small, "akta-lahir", "en", "newborn birth certificate", today=TODAY)

    data = path.read_bytes()
    assert b"newborn birth certificate" in data
    assert data.count(b"\n") == data.count(b"\r\n")
    assert path.stat().st_mode & 0o777 == 0o640


def test_concurrent_questions_all_land(small: Path) -> None:
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def ask(number: int) -> None:
        start.wait()
        try:
            add_question(small, "vaksin-lokasi", "id", f"lokasi vaksin nomor {number}")
        except BaseException as exc:  # reported by the assert below
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    questions = read_faq(small).entry("vaksin-lokasi").questions["id"]
    assert {f"lokasi vaksin nomor {n}" for n in range(8)} <= set(questions)
    assert sorted(p.name for p in small.iterdir()) == ["kependudukan.yml", "vaksinasi.yml"]
