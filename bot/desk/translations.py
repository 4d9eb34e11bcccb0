"""What other parts of the bot say, as the desk shows it: in the official's language, with
times in ``desk.timezone``.

Two kinds of text reach the desk from elsewhere. Messages made with
``bot.translatable.say`` (the FAQ editor and importer, the learning loop) keep their
English template and values: ``INDONESIAN`` holds the Indonesian template for each.
Texts that come as plain strings (a platform's delivery outcome, a training process's
progress lines) are recognised by ``PATTERNS``. Anything not known is shown as it came,
which a test keeps rare (every template made with ``say`` must be in ``INDONESIAN``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.translatable import Message

# English template -> Indonesian template (the same {names} and format specs).
INDONESIAN: dict[str, str] = {
    # The learning loop (bot.core.learning)
    "{official}: new example for {entry}": "{official}: contoh pertanyaan baru untuk {entry}",
    "{official}: new entry {entry}": "{official}: entri baru {entry}",
    "{official}: retrain": "{official}: latih ulang",
    "{official}: spreadsheet upload": "{official}: unggahan spreadsheet",
    "loading the new model": "memuat model baru",
    "[{seconds:5.1f}s] {line}": "[{seconds:5.1f} dtk] {line}",
    "the previous model stays in use: {reason}": "model sebelumnya tetap dipakai: {reason}",
    ("the new model answers since {time:%H:%M:%S %Z}"): (
        "model baru menjawab sejak {time:%H:%M:%S %Z}"
    ),
    # Editing the FAQ (bot.faq.edit)
    ("The example question for entry {entry} is empty."): (
        "Contoh pertanyaan untuk entri {entry} kosong."
    ),
    ("The example question {question!r} has no words."): (
        "Contoh pertanyaan {question!r} tidak berisi kata."
    ),
    (
        "The example question {question!r} contains a NIK, phone number or e-mail address: "
        "remove it (citizens' personal data must not go into the FAQ)."
    ): (
        "Contoh pertanyaan {question!r} memuat NIK, nomor telepon atau alamat e-mail: hapus "
        "dulu (data pribadi warga tidak boleh masuk FAQ)."
    ),
    ("The example question {question!r} is given twice."): (
        "Contoh pertanyaan {question!r} ditulis dua kali."
    ),
    (
        "A new entry needs at least {least} example questions (entry {entry} has {count}): add "
        "other ways a citizen might ask the same thing."
    ): (
        "Entri baru perlu paling sedikit {least} contoh pertanyaan (entri {entry} punya "
        "{count}): tambahkan cara lain warga menanyakan hal yang sama."
    ),
    "The answer for entry {entry} is empty.": "Jawaban untuk entri {entry} kosong.",
    (
        "{value!r} is not a valid {what}: use lowercase letters, digits and single dashes, like "
        "{example}."
    ): (
        "{value!r} bukan {what} yang sah: pakai huruf kecil, angka dan tanda hubung tunggal, "
        "misalnya {example}."
    ),
    ("Unknown language {language!r}: use one of {known}."): (
        "Bahasa {language!r} tidak dikenal: pakai salah satu dari {known}."
    ),
    "The FAQ folder {folder} does not exist.": "Folder FAQ {folder} tidak ada.",
    ("Entry {entry} in {file} has errors: fix them first (run `tanya check`)."): (
        "Entri {entry} di {file} berisi kesalahan: perbaiki dulu (jalankan `tanya check`)."
    ),
    "There is no FAQ entry with the id {entry!r}.": "Tidak ada entri FAQ dengan ID {entry!r}.",
    (
        "Entry {entry} already exists in {file}: choose another id, or add the question to that "
        "entry."
    ): (
        "Entri {entry} sudah ada di {file}: pilih ID lain, atau tambahkan pertanyaannya ke "
        "entri itu."
    ),
    ("{question!r} is already an example question of entry {entry} ({file})."): (
        "{question!r} sudah menjadi contoh pertanyaan entri {entry} ({file})."
    ),
    ("{file} cannot be read: fix it first (run `tanya check`)."): (
        "{file} tidak bisa dibaca: perbaiki dulu (jalankan `tanya check`)."
    ),
    ("Entry {entry} changed while it was being edited: try again."): (
        "Entri {entry} berubah saat sedang disunting: coba lagi."
    ),
    ("{file} exists but has errors: fix it first (run `tanya check`)."): (
        "{file} ada tetapi berisi kesalahan: perbaiki dulu (jalankan `tanya check`)."
    ),
    "Nothing was saved: {problems}": "Tidak ada yang disimpan: {problems}",
    "The edit was not saved: {problems}": "Perubahan tidak disimpan: {problems}",
    # `tanya check` (bot.faq.check)
    "{text!r} holds {kinds}: a citizen's personal data must not be in the FAQ; remove it": (
        "{text!r} memuat data pribadi warga (NIK, nomor telepon atau e-mail): tidak boleh ada "
        "di FAQ; hapus"
    ),
    # Reading a file to import (bot.faq.importing, spreadsheet, tabular, limits)
    "no such file": "berkas tidak ada",
    "this is a folder, not a file": "ini folder, bukan berkas",
    "unknown file type {suffix!r}: use one of {known}": (
        "jenis berkas {suffix!r} tidak dikenal: pakai salah satu dari {known}"
    ),
    "the old Excel format (.xls) is not read: save it as .xlsx": (
        "format Excel lama (.xls) tidak dibaca: simpan sebagai .xlsx"
    ),
    "all its questions are examples of other entries": (
        "semua pertanyaannya sudah menjadi contoh entri lain"
    ),
    (
        "{count} new entr{ending} one example question only: add other ways citizens ask "
        "(`tanya check` lists them)"
    ): (
        "{count} entri baru hanya punya satu contoh pertanyaan: tambahkan cara lain warga "
        "bertanya (`tanya check` menyebutkannya)"
    ),
    "its questions belong to different entries: {entries}": (
        "pertanyaannya milik entri yang berbeda-beda: {entries}"
    ),
    "id {given!r} has no letters or digits": "ID {given!r} tidak berisi huruf atau angka",
    "id {given!r} is not a slug: used {used!r}": (
        "ID {given!r} bukan kode yang sah: dipakai {used!r}"
    ),
    "no answer": "tidak ada jawaban",
    "no question": "tidak ada pertanyaan",
    "entry {entry} stays in topic {topic}, not {other}": (
        "entri {entry} tetap di topik {topic}, bukan {other}"
    ),
    "topic {topic!r} has no letters or digits": "topik {topic!r} tidak berisi huruf atau angka",
    "entry {entry} has errors in its file: fix them first": (
        "entri {entry} berisi kesalahan di berkasnya: perbaiki dulu"
    ),
    "topic {topic} has two titles, {known!r} and {title!r}: kept the first": (
        "topik {topic} punya dua judul, {known!r} dan {title!r}: yang pertama dipakai"
    ),
    "{file} has errors: fix it first (run `tanya check`)": (
        "{file} berisi kesalahan: perbaiki dulu (jalankan `tanya check`)"
    ),
    "{question!r} is already an example of entry {entry}: left out": (
        "{question!r} sudah menjadi contoh entri {entry}: tidak dimasukkan"
    ),
    (
        "the file is {size:.0f} MB; at most {most} MB can be imported (split it into several files)"
    ): (
        "berkas berukuran {size:.0f} MB; paling besar {most} MB bisa diimpor (pecah menjadi "
        "beberapa berkas)"
    ),
    "{field} {text!r} is not a date (write it as YYYY-MM-DD)": (
        "{field} {text!r} bukan tanggal (tulis sebagai TTTT-BB-HH)"
    ),
    "links: {line!r} is not a web address (write `Title | https://...`)": (
        "tautan: {line!r} bukan alamat web (tulis `Judul | https://...`)"
    ),
    "{field} must be text, not {kind}": "{field} harus berupa teks, bukan {kind}",
    "links: {url!r} is not a web address (https://...)": (
        "tautan: {url!r} bukan alamat web (https://...)"
    ),
    "unknown language {key!r} in {field}": "bahasa {key!r} tidak dikenal di {field}",
    "two answers in the same language ({lang})": "dua jawaban dalam bahasa yang sama ({lang})",
    (
        "no column of questions: the first row must name the columns, for example question "
        "and answer (or pertanyaan and jawaban)"
    ): (
        "tidak ada kolom pertanyaan: baris pertama harus berisi nama kolom, misalnya "
        "pertanyaan dan jawaban (atau question dan answer)"
    ),
    (
        "no sheet has a column of questions: the first row must name the columns, for example "
        "question and answer (or pertanyaan and jawaban)"
    ): (
        "tidak ada lembar dengan kolom pertanyaan: baris pertama harus berisi nama kolom, "
        "misalnya pertanyaan dan jawaban (atau question dan answer)"
    ),
    "the file is empty": "berkas kosong",
    "not a text file (is it a spreadsheet saved under another name?)": (
        "bukan berkas teks (apakah ini spreadsheet yang disimpan dengan nama lain?)"
    ),
    "not a readable CSV file: {reason}": "bukan berkas CSV yang bisa dibaca: {reason}",
    "not an XLSX workbook (save it from Excel as .xlsx)": (
        "bukan buku kerja XLSX (simpan dari Excel sebagai .xlsx)"
    ),
    "not valid UTF-16 text (line {line}: {reason})": (
        "bukan teks UTF-16 yang sah (baris {line}: {reason})"
    ),
    (
        "not UTF-8 (line {line}): read as Windows-1252, the encoding of Excel's plain 'CSV' "
        "format; check accented letters, or save as 'CSV UTF-8' next time"
    ): (
        "bukan UTF-8 (baris {line}): dibaca sebagai Windows-1252, penyandian format 'CSV' "
        "biasa dari Excel; periksa huruf beraksen, atau lain kali simpan sebagai 'CSV UTF-8'"
    ),
    "not UTF-8 text (line {line})": "bukan teks UTF-8 (baris {line})",
    "no column of questions; sheet skipped": "tidak ada kolom pertanyaan; lembar dilewati",
    "repeats an earlier column {text!r} (column {letter}) ignored": (
        "mengulang kolom sebelumnya {text!r} (kolom {letter}): diabaikan"
    ),
    "unknown column {text!r} (column {letter}) ignored": (
        "kolom {text!r} tidak dikenal (kolom {letter}): diabaikan"
    ),
    "column {letter} has no header: ignored": "kolom {letter} tidak punya judul: diabaikan",
    # The desk's spreadsheet upload (bot.faq.upload)
    (
        "The FAQ changed since the preview (another edit was saved meanwhile): nothing was "
        "saved. Upload the file again to see what it would change now."
    ): (
        "FAQ berubah sejak pratinjau (ada perubahan lain yang disimpan): tidak ada yang "
        "disimpan. Unggah berkasnya lagi untuk melihat perubahannya sekarang."
    ),
    "topic name": "nama topik",
    "entry id": "ID entri",
}

# Plain texts from platforms and processes: pattern -> Indonesian template of its groups.
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"shown within seconds if the citizen's chat is open, else at the next visit"),
        "tampil dalam beberapa detik bila chat warga sedang terbuka, atau saat kunjungan "
        "berikutnya",
    ),
    (re.compile(r"shown in the web chat"), "sudah tampil di web chat"),
    (re.compile(r"the (?P<channel>\w+) channel is not running"), "kanal {channel} tidak berjalan"),
    (re.compile(r"the (?P<channel>\w+) channel is off"), "kanal {channel} sedang mati"),
    (re.compile(r"the Messenger channel is not started yet"), "kanal Messenger belum berjalan"),
    (re.compile(r"the citizen blocked the bot"), "warga memblokir bot"),
    (re.compile(r"cancelled"), "dibatalkan"),
    (re.compile(r"sent again after a restart"), "dikirim lagi setelah bot dimulai ulang"),
    (re.compile(r"Telegram is not connected yet"), "Telegram belum tersambung"),
    (re.compile(r"Telegram refused it: (?P<detail>.*)", re.S), "Telegram menolaknya: {detail}"),
    (
        re.compile(r"Telegram asked to wait: (?P<detail>.*)", re.S),
        "Telegram meminta menunggu: {detail}",
    ),
    (re.compile(r"the bot token was refused: (?P<detail>.*)", re.S), "token bot ditolak: {detail}"),
    (
        re.compile(r"still trying: the platform has not answered yet"),
        "masih dicoba: platform belum menjawab",
    ),
    (
        re.compile(r"the platform's time to reply ran out; last error: (?P<detail>.*)", re.S),
        "batas waktu platform untuk membalas habis; galat terakhir: {detail}",
    ),
    (
        re.compile(r"the platform's time to reply ran out"),
        "batas waktu platform untuk membalas habis",
    ),
    (
        re.compile(
            r"outside Messenger's 24-hour window \(no message tag is set for announcements\)"
        ),
        "di luar jendela 24 jam Messenger (tidak ada tag pesan untuk pengumuman)",
    ),
    (
        re.compile(r"the citizen last wrote more than 7 days ago: Messenger allows no reply"),
        "warga terakhir menulis lebih dari 7 hari lalu: Messenger tidak mengizinkan balasan",
    ),
    (
        re.compile(
            r"the citizen last wrote more than 24 hours ago: a reply needs the HUMAN_AGENT "
            r"tag \(set messenger.human_agent_tag once the app has that permission\)"
        ),
        "warga terakhir menulis lebih dari 24 jam lalu: balasan perlu tag HUMAN_AGENT (setel "
        "messenger.human_agent_tag setelah aplikasi mendapat izin itu)",
    ),
    (
        re.compile(r"gave up after (?P<count>\d+) tries: (?P<detail>.*)", re.S),
        "berhenti setelah {count} kali dicoba: {detail}",
    ),
    (
        re.compile(r"HTTP (?P<status>\d{3}): (?P<detail>.*)", re.S),
        "platform menjawab HTTP {status}: {detail}",
    ),
    (
        re.compile(
            r"(?P<kind>[A-Z]\w*(?:Error|Exception|Timeout|Disconnected)): ?(?P<detail>.*)", re.S
        ),
        "gangguan koneksi ({kind}) {detail}",
    ),
    # The audit log's targets and details (stored as English text)
    (re.compile(r"ticket #(?P<n>\d+)"), "tiket #{n}"),
    (re.compile(r"run (?P<n>\d+)"), "pelatihan #{n}"),
    (re.compile(r"broadcast #(?P<n>\d+)"), "siaran #{n}"),
    (
        re.compile(r"(?P<why>wrong password|unknown name|account disabled), from (?P<address>\S+)"),
        "{why}, dari {address}",
    ),
    (re.compile(r"role (?P<role>admin|agent) \(command line\)"), "peran {role} (baris perintah)"),
    (re.compile(r"command line"), "baris perintah"),
    (
        re.compile(r"the new model answers since (?P<utc_time>\d\d:\d\d:\d\d) UTC"),
        "model baru menjawab sejak {utc_time}",
    ),
    (
        re.compile(r"the previous model stays in use: (?P<reason>.*)", re.S),
        "model sebelumnya tetap dipakai: {reason}",
    ),
    # Training progress (bot.nlu.train, its worker process)
    (
        re.compile(r"FAQ: (?P<topics>\d+) topics, (?P<entries>\d+) entries"),
        "FAQ: {topics} topik, {entries} entri",
    ),
    (
        re.compile(r"Training data: (?P<intents>\d+) intents, (?P<examples>\d+) examples"),
        "Data latih: {intents} intent, {examples} contoh",
    ),
    (
        re.compile(r"Starting to train component '?(?P<component>[^']+)'?"),
        "Melatih komponen {component}",
    ),
    (re.compile(r"training exited with (?P<code>-?\d+)"), "pelatihan berhenti dengan kode {code}"),
]
_DETAIL_GROUPS = {"detail"}  # groups that are details in turn (translated if known)
_WHY = {
    "wrong password": "kata sandi salah",
    "unknown name": "nama tidak dikenal",
    "account disabled": "akun dinonaktifkan",
}


def translate(text: str | None, language: str, timezone: str) -> str:
    """``text`` in ``language``, its times in ``timezone``; as it came when not known."""
    if not text:
        return ""
    if isinstance(text, Message):
        template = text.template if language == "en" else INDONESIAN.get(text.template)
        if template is not None:
            values = {k: _value(v, language, timezone) for k, v in text.values.items()}
            return template.format(**values)
    return _plain(str(text), language, timezone)


def _value(value: Any, language: str, timezone: str) -> Any:
    if isinstance(value, Message):
        return translate(value, language, timezone)
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(timezone))
    if isinstance(value, str):
        return _plain(value, language, timezone)
    return value


def _plain(text: str, language: str, timezone: str) -> str:
    if language == "en":
        return text
    for pattern, template in PATTERNS:
        match = pattern.fullmatch(text.strip())
        if match is None:
            continue
        groups = {k: v or "" for k, v in match.groupdict().items()}
        for name in _DETAIL_GROUPS & groups.keys():
            groups[name] = _plain(groups[name], language, timezone)
        if "why" in groups:
            groups["why"] = _WHY.get(groups["why"], groups["why"])
        if "utc_time" in groups:
            groups["utc_time"] = _local_clock(groups["utc_time"], timezone)
        return template.format(**groups)
    return text


def _local_clock(utc: str, timezone: str) -> str:
    """A UTC clock time of today, in ``timezone`` (the audit log keeps the moment's date)."""
    moment = datetime.combine(datetime.now(UTC).date(), time.fromisoformat(utc), UTC)
    return moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M:%S %Z")
