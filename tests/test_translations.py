"""What other parts of the bot say reaches the desk in the official's language."""

from __future__ import annotations

import ast
from datetime import UTC, datetime

import pytest

from bot.desk.translations import INDONESIAN, translate
from bot.translatable import say
from tests.conftest import ROOT


def said_templates() -> dict[str, str]:
    """Every template given to ``say`` in the bot's code, with where it is."""
    found = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "say"
                and node.args
            ):
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found[first.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
                elif isinstance(first, ast.Name) and first.id.isupper():
                    continue  # a module constant: checked by its own string below
                else:
                    found[ast.unparse(first)] = f"{path.relative_to(ROOT)}:{node.lineno}"
    for path in sorted((ROOT / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # KEPT = "..." passed to say() by name
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if names and names[0] in ("KEPT", "SWAPPED"):
                    found[str(node.value.value)] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_said_template_has_its_indonesian() -> None:
    missing = {t: where for t, where in said_templates().items() if t not in INDONESIAN}
    assert not missing, "\n".join(f"{where}: {t!r}" for t, where in missing.items())


def test_indonesian_templates_take_the_same_values() -> None:
    """A translation that names a value the English does not have would raise at the
    desk; it may leave one out."""
    import string

    for english, indonesian in INDONESIAN.items():
        names = {f for _, f, _, _ in string.Formatter().parse(english) if f}
        used = {f for _, f, _, _ in string.Formatter().parse(indonesian) if f}
        assert used <= names, (english, used - names)


@pytest.mark.parametrize(
    ("detail", "indonesian"),
    [
        ("the citizen blocked the bot", "warga memblokir bot"),
        ("the webchat channel is not running", "kanal webchat tidak berjalan"),
        (
            "shown within seconds if the citizen's chat is open, else at the next visit",
            "tampil dalam beberapa detik bila chat warga sedang terbuka, atau saat kunjungan "
            "berikutnya",
        ),
        (
            "the citizen last wrote more than 24 hours ago: a reply needs the HUMAN_AGENT tag "
            "(set messenger.human_agent_tag once the app has that permission)",
            "warga terakhir menulis lebih dari 24 jam lalu: balasan perlu tag HUMAN_AGENT "
            "(setel messenger.human_agent_tag setelah aplikasi mendapat izin itu)",
        ),
        (
            "gave up after 5 tries: HTTP 500: internal",
            "berhenti setelah 5 kali dicoba: platform menjawab HTTP 500: internal",
        ),
        (
            "the platform's time to reply ran out; last error: TimeoutError: ",
            "batas waktu platform untuk membalas habis; galat terakhir: gangguan koneksi "
            "(TimeoutError) ",
        ),
        ("Telegram refused it: Chat not found", "Telegram menolaknya: Chat not found"),
        ("something nobody foresaw", "something nobody foresaw"),  # as it came
    ],
)
def test_delivery_details_in_indonesian(detail: str, indonesian: str) -> None:
    assert translate(detail, "id", "Asia/Jakarta") == indonesian
    assert translate(detail, "en", "Asia/Jakarta") == detail


def test_times_are_shown_in_the_desks_time_zone() -> None:
    moment = datetime(2026, 12, 7, 3, 4, 5, tzinfo=UTC)
    swapped = say("the new model answers since {time:%H:%M:%S %Z}", time=moment)
    assert str(swapped) == "the new model answers since 03:04:05 UTC"  # the log's
    assert translate(swapped, "id", "Asia/Jakarta") == "model baru menjawab sejak 10:04:05 WIB"
    assert translate(swapped, "en", "Asia/Makassar") == "the new model answers since 11:04:05 WITA"
    nested = say("[{seconds:5.1f}s] {line}", seconds=2.0, line="Starting to train component 'X'")
    assert translate(nested, "id", "Asia/Jakarta") == "[  2.0 dtk] Melatih komponen X"
