"""The `tanya` command end to end, as a child process, on real files and a real model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, SMALL_FAQ, run_tanya, write_config
from tests.telegram_harness import free_port


def test_help_for_every_command() -> None:
    for command in (
        "check",
        "train",
        "ask",
        "chat",
        "evaluate",
        "run",
        "officials",
        "import",
        "export",
        "report",
        "purge",
        "export-conversations",
    ):
        result = run_tanya(command, "--help", cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert b"Usage: " in result.stdout


def test_check_reports_problems_and_exits_1(tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(SMALL_FAQ, faq)
    broken = faq / "kependudukan.yml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("valid_until", "valid_untill"), encoding="utf-8"
    )
    (faq / "rusak.yml").write_text("topic: rusak\nentries: [\n", encoding="utf-8")
    result = run_tanya("check", "--faq", str(faq), cwd=ROOT)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "rusak.yml:" in err and "not valid YAML" in err
    assert "kependudukan.yml:" not in err  # the typo is in vaksinasi.yml only
    assert "Traceback" not in err


def test_check_sample_faq_passes() -> None:
    result = run_tanya("check", cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    assert b"0 error(s)" in result.stdout


def test_check_empty_folder(tmp_path: Path) -> None:
    result = run_tanya("check", "--faq", str(tmp_path), cwd=ROOT)
    assert result.returncode == 1
    assert b"no FAQ files" in result.stderr


def test_ask_batch_json(trained: Path) -> None:
    lines = (
        b"ktp saya hilang gimana\n\nhalo\n"
        + b"\xff\xfe broken\n"
        + ("a" * 10_000 + "\n").encode()
        + "😀\n".encode()
    )
    result = run_tanya("ask", "--json", cwd=trained, stdin=lines)
    assert result.returncode == 0, result.stderr.decode()
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    # The undecodable line is still answered (what it gets depends on the model: its
    # readable rest, "broken", is not asked about), and nothing after it is lost.
    assert len(rows) == 6 and rows[3]["text"].endswith("broken")
    actions = [r["action"] for i, r in enumerate(rows) if i != 3]
    assert actions == ["answer", "escalate", "smalltalk", "escalate", "escalate"]
    assert rows[0]["faq_id"] == "ktp-hilang"
    assert [r["reason"] for i, r in enumerate(rows) if i not in (0, 3)] == [
        "empty",
        None,
        "too_long",
        "unsupported",
    ]
    assert b"line 4 is not valid UTF-8" in result.stderr
    assert b"Traceback" not in result.stderr


def test_ask_text_argument_human_readable(trained: Path) -> None:
    result = run_tanya("ask", "where can I get vaccinated?", cwd=trained)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert out.startswith("[answer vaksin-lokasi confidence=")
    assert "Vaccination is available" in out


def test_ask_without_model_says_how_to_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path, SMALL_FAQ, ROOT / "rasa_project", tmp_path / "none.tar.gz")
    result = run_tanya("--config", str(config), "ask", "halo", cwd=tmp_path)
    assert result.returncode == 1
    assert b"no trained model at" in result.stderr and b"tanya train" in result.stderr
    assert b"Traceback" not in result.stderr


def test_ask_with_corrupt_model(tmp_path: Path) -> None:
    model = tmp_path / "broken.tar.gz"
    model.write_bytes(b"this is not a model")
    config = write_config(tmp_path, SMALL_FAQ, ROOT / "rasa_project", model)
    result = run_tanya("--config", str(config), "ask", "halo", cwd=tmp_path)
    assert result.returncode == 1
    assert b"cannot load the model" in result.stderr
    assert b"Traceback" not in result.stderr


def test_stale_model_is_reported(trained: Path, tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(trained / "faq", faq)
    path = faq / "vaksinasi.yml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("08.00-14.00", "08.00-15.00"), encoding="utf-8"
    )
    # The same model, as if trained on this folder before its edit.
    model = tmp_path / "models" / "tanya.tar.gz"
    model.parent.mkdir()
    shutil.copy(trained / "rasa_project" / "models" / "tanya.tar.gz", model)
    info = json.loads((trained / "rasa_project" / "models" / "tanya.tar.gz.json").read_text())
    (tmp_path / "models" / "tanya.tar.gz.json").write_text(json.dumps(info | {"faq_dir": str(faq)}))
    config = write_config(tmp_path, faq, trained / "rasa_project", model)
    result = run_tanya("--config", str(config), "ask", "jadwal vaksin", cwd=tmp_path)
    assert result.returncode == 0
    assert b"run `tanya train`" in result.stderr
    # --if-stale trains again only because of the change
    assert b"is up to date" in run_tanya("train", "--if-stale", cwd=trained).stdout


def test_chat_in_terminal(trained: Path) -> None:
    result = run_tanya("chat", cwd=trained, stdin=b"halo\nktp hilang gimana\n")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "[smalltalk confidence=" in out
    assert "[answer ktp-hilang confidence=" in out


def test_evaluate_writes_figures(trained: Path, tmp_path: Path) -> None:
    test_file = tmp_path / "test.jsonl"
    rows = [
        {"text": "ktp saya hilang harus bagaimana", "expected": "ktp-hilang"},
        {"text": "di mana tempat vaksin", "expected": "vaksin-lokasi"},
        {"text": "resep nasi goreng", "expected": None},
    ]
    test_file.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "report.json"
    result = run_tanya("evaluate", "--test", str(test_file), "--out", str(out), cwd=trained)
    assert result.returncode == 0, result.stderr.decode()
    assert "in-scope accuracy" in result.stdout.decode()
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["questions"] == 3
    assert report["in_scope_accuracy"] == 1.0
    assert report["out_of_scope_recall"] == 1.0
    assert report["wrong_answer_rate"] == 0.0


def test_evaluate_rejects_bad_test_file(trained: Path, tmp_path: Path) -> None:
    test_file = tmp_path / "bad.jsonl"
    test_file.write_text('{"text": "ok", "expected": null}\nnot json\n', encoding="utf-8")
    result = run_tanya("evaluate", "--test", str(test_file), cwd=trained)
    assert result.returncode == 1
    assert b"bad.jsonl:2" in result.stderr


def test_train_with_broken_faq_keeps_old_model(trained: Path, tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(SMALL_FAQ, faq)
    (faq / "rusak.yml").write_text("topic: [\n", encoding="utf-8")
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"old model")
    result = run_tanya("train", "--faq", str(faq), "--out", str(model), cwd=trained)
    assert result.returncode == 1
    assert b"rusak.yml" in result.stderr
    assert model.read_bytes() == b"old model"


def test_run_serves_health_and_answers(trained: Path, tmp_path: Path) -> None:
    """`tanya run` listens where server.host/server.port say, says what runs where, and a
    second `tanya run` on the same port stops at once with a message, not a traceback."""
    port = free_port()
    config = tmp_path / "config.yml"
    text = (trained / "config.yml").read_text(encoding="utf-8")
    config.write_text(text.replace("port: 8080", f"port: {port}"), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        cwd=trained,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"},
    )
    try:
        health = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
                    health = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.5)
        assert health is not None, "the server did not come up"
        assert health["status"] == "ok" and health["faq_entries"] == 6
        # The model runs without TensorFlow (seconds and hundreds of MB at every start).
        maps = Path(f"/proc/{process.pid}/maps")
        if maps.exists():
            assert "tensorflow" not in maps.read_text()
        # What `tanya train` measured on this FAQ, and the thresholds that follow from it.
        expected = health["expectations"]
        assert expected["calibrated"] and expected["max_wrong_answers"] == 0.03
        assert expected["thresholds_in_use"]["answer_threshold"] == expected["answer_threshold"]
        assert 0 < expected["expected"]["answered_right"] <= 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            page = response.read().decode()
        assert "Tanya berjalan" in page and "Tanya is running" in page
        assert "Active channels: webchat." in page
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/ask",
            method="POST",
            data=json.dumps({"text": "ktp hilang gimana"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read())["faq_id"] == "ktp-hilang"
        bad = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/ask", method="POST", data=b"{not json"
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(bad)
        assert error.value.code == 400

        started = time.monotonic()
        taken = run_tanya("--config", str(config), "run", cwd=trained, timeout=60)
        assert taken.returncode == 1 and time.monotonic() - started < 30  # before the model
        message = taken.stderr.decode()
        assert f"cannot listen on 127.0.0.1 port {port}: another program uses that port" in message
        assert "server.port in config.yml or --port" in message and "Traceback" not in message
    finally:
        process.terminate()
        # A clean, quick shutdown: no background task may keep the server alive.
        assert process.wait(timeout=20) == 0
    assert process.stdout is not None
    log = process.stdout.read().decode()
    lines = [line.split(": ", 1)[-1] for line in log.splitlines() if "bot.server" in line]
    base = f"http://127.0.0.1:{port}"
    assert f"web chat: on at {base}/chat (embed: {base}/chat/embed.js)" in lines
    assert "Telegram: off (TELEGRAM_BOT_TOKEN not set)" in lines
    assert any(line.startswith("Messenger: off (FACEBOOK_PAGE_ACCESS_TOKEN") for line in lines)
    assert any(line.startswith(f"officials' desk: on at {base}/desk") for line in lines)
    assert f"ready: serving on {base} (Ctrl+C stops it)" in lines
    # Where the start went, for IT staff timing a rolling restart.
    took = next(line for line in lines if line.startswith("start-up took "))
    assert "since the process started (settings " in took
    assert all(f" {stage} " in took for stage in ("imports", "faq", "model", "store", "app"))
    assert "Traceback" not in log


def test_officials_accounts_from_the_command_line(tmp_path: Path) -> None:
    from bot.config import load_settings
    from bot.desk.auth import verify_password
    from bot.store import Store

    config = write_config(tmp_path, SMALL_FAQ, ROOT / "rasa_project", tmp_path / "m.tar.gz")

    def tanya(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_tanya("--config", str(config), "officials", *args, cwd=tmp_path, stdin=stdin)

    added = tanya("add", "Sari", "--role", "admin", "--password-stdin", stdin=b"rahasia-sekali\n")
    assert added.returncode == 0, added.stderr
    again = tanya("add", "sari", "--role", "agent", "--password-stdin", stdin=b"rahasia-sekali\n")
    assert again.returncode == 1 and b"exists already" in again.stderr
    short = tanya("add", "Budi", "--role", "agent", "--password-stdin", stdin=b"pendek\n")
    assert short.returncode == 1 and b"at least 10 characters" in short.stderr
    for guessable in (b"1234567890", b"qwertyuiop", b"password123", b"budi-budi-budi"):
        weak = tanya("add", "Budi", "--role", "admin", "--password-stdin", stdin=guessable)
        assert weak.returncode == 1, guessable
        message = weak.stderr.decode()
        assert "terlalu mudah ditebak" in message and "too easy to guess" in message
        assert "Traceback" not in message
    bad_role = tanya("add", "Budi", "--role", "boss", "--password-stdin", stdin=b"x" * 12)
    assert bad_role.returncode == 2
    tanya(
        "add",
        "Budi",
        "--role",
        "agent",
        "--telegram-id",
        "4242",
        "--password-stdin",
        stdin=b"rahasia-juga-nih\n",
    )
    # A script pipes the password in; no flag needed (and `--help` shows how).
    piped = tanya("add", "Citra", "--role", "agent", stdin=b"sandi-citra-panjang\n")
    assert piped.returncode == 0, piped.stderr
    assert b"| tanya officials add" in tanya("add", "--help").stdout
    listed = tanya("list").stdout.decode()
    assert "Sari\tadmin" in listed and "Budi\tagent telegram:4242" in listed

    assert tanya("password", "Budi", "--password-stdin", stdin=b"0987654321\n").returncode == 1
    assert tanya("password", "Budi", "--password-stdin", stdin=b"sandi-baru-123\n").returncode == 0
    assert tanya("disable", "Sari").returncode == 0
    assert "Sari\tadmin (disabled)" in tanya("list").stdout.decode()
    assert tanya("disable", "Nobody").returncode == 1

    store = Store.open(load_settings(config).storage.location)
    budi = store.officials.by_name("budi")
    assert budi is not None and verify_password(budi.password_hash, "sandi-baru-123")
    assert budi.password_hash.startswith("$argon2id$")  # never the password itself
    citra = store.officials.by_name("Citra")
    assert citra is not None and verify_password(citra.password_hash, "sandi-citra-panjang")
    actions = [row.action for row in store.officials.audit_log()]
    assert {"official-added", "password-changed", "official-disabled"} <= set(actions)


def test_training_another_faq_needs_its_own_model_file(trained: Path) -> None:
    # Without --out it would replace the bot's model with one for other entries.
    model = trained / "rasa_project" / "models" / "tanya.tar.gz"
    before = model.stat().st_mtime_ns
    result = run_tanya("train", "--faq", str(FIXTURES / "faq_magnet"), cwd=trained)
    assert result.returncode == 1
    assert b"give --out for its model" in result.stderr
    assert model.stat().st_mtime_ns == before
