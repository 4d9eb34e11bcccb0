"""Every word of the public report, in Indonesian and English."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    # (Indonesian, English)
    "title": ("Laporan transparansi {name}", "{name} transparency report"),
    "intro": (
        "Angka agregat tentang pertanyaan warga kepada asisten Tanya pada bulan {month} "
        "(zona waktu {timezone}). Laporan ini tidak memuat isi pesan maupun data pribadi.",
        "Aggregate figures about citizens' questions to the Tanya assistant in {month} "
        "(time zone {timezone}). This report holds no message text and no personal data.",
    ),
    "suppression": (
        "Jumlah 1 sampai 9 ditampilkan sebagai <10, dan “–” berarti angka ditahan agar "
        "jumlah kecil tidak dapat dihitung dari angka lain.",
        "Counts from 1 to 9 are shown as <10, and “–” means a figure is withheld so that a "
        "small count cannot be worked out from the others.",
    ),
    "volumes": ("Volume pertanyaan", "Question volumes"),
    "questions": ("Pertanyaan", "Questions"),
    "by_channel": ("Menurut kanal", "By channel"),
    "by_language": ("Menurut bahasa", "By language"),
    "channel": ("Kanal", "Channel"),
    "language": ("Bahasa", "Language"),
    "count": ("Jumlah", "Count"),
    "share": ("Persentase", "Share"),
    "outcomes": ("Bagaimana pertanyaan ditangani", "How questions were handled"),
    "oc_answer": ("Dijawab bot", "Answered by the bot"),
    "oc_clarify": ("Bot meminta penjelasan", "Clarified by the bot"),
    "oc_smalltalk": ("Sapaan dan obrolan", "Greetings and small talk"),
    "oc_escalate": ("Diteruskan ke petugas", "Passed to an official"),
    "oc_not_delivered": ("Balasan tidak sampai", "Reply not delivered"),
    "oc_none": ("Lainnya", "Other"),
    "officials": ("Jawaban petugas", "Officials' answers"),
    "tk_opened": ("Pertanyaan diteruskan ke petugas", "Questions passed to officials"),
    "tk_answered": ("Dijawab petugas", "Answered by officials"),
    "tk_closed": ("Ditutup tanpa jawaban", "Closed without an answer"),
    "median": ("Waktu tanggap median", "Median response time"),
    "p90": ("90% dijawab dalam", "90% answered within"),
    "satisfaction": ("Kepuasan warga", "Citizens' satisfaction"),
    "helpful": ("Jawaban bot dinilai membantu", "Bot answers rated helpful"),
    "not_helpful": ("Jawaban bot dinilai tidak membantu", "Bot answers rated not helpful"),
    "helpful_rate": ("Tingkat jawaban membantu", "Helpful rate"),
    "ratings": ("Penilaian jawaban petugas", "Ratings of officials' answers"),
    "rating_average": ("Rata-rata penilaian (1-5)", "Average rating (1-5)"),
    "topics": ("Topik teratas", "Top topics"),
    "topics_help": (
        "Pertanyaan yang dijawab bot, menurut topik FAQ.",
        "Questions the bot answered, by FAQ topic.",
    ),
    "topic": ("Topik", "Topic"),
    "other_topics": ("Topik lainnya", "Other topics"),
    "no_topics": ("Belum ada pertanyaan yang dijawab.", "No questions were answered."),
    "withheld": ("–", "–"),
    "lang_id": ("Indonesia", "Indonesian"),
    "lang_en": ("Inggris", "English"),
    "lang_?": ("Tidak diketahui", "Unknown"),
    "generated": ("Dibuat {at}", "Generated {at}"),
    "month": ("Bulan", "Month"),
    "show": ("Tampilkan", "Show"),
    "download": ("Unduh", "Download"),
    "other_language": ("English", "Bahasa Indonesia"),
    "minutes": ("{n} mnt", "{n} min"),
    "hours": ("{h} jam {m} mnt", "{h} h {m} min"),
    "days": ("{d} hari {h} jam", "{d} d {h} h"),
}


def text(key: str, language: str, **values: object) -> str:
    indonesian, english = TEXTS[key]
    chosen = english if language == "en" else indonesian
    return chosen.format(**values) if values else chosen
