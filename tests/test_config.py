"""Settings: the real config.yml loads, mistakes are named, every setting is documented."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from bot.config import (
    ConfigError,
    Settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parent.parent


def test_project_config_loads() -> None:
    settings = load_settings(ROOT / "config.yml")
    assert settings.faq.dir == ROOT / "faq"
    assert settings.nlu.model_path == ROOT / "rasa_project" / "models" / "tanya.tar.gz"
    assert settings.default_language == "id"


def test_every_setting_is_documented_in_config_yml() -> None:
    text = (ROOT / "config.yml").read_text(encoding="utf-8")
    sections = [
        hint
        for hint in typing.get_type_hints(Settings).values()
        if isinstance(hint, type) and dataclasses.is_dataclass(hint)
    ]
    assert len(sections) >= 12  # every section, found from Settings itself
    for cls in (Settings, *sections):
        for field in dataclasses.fields(cls):
            match = re.search(rf"^(\s*)# .*\n(?:\s*#.*\n)*\s*{field.name}:", text, re.M)
            assert match, f"setting {cls.__name__}.{field.name} has no comment in config.yml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m, answer_treshold: 0.5}\n",
            "unknown setting nlu.answer_treshold",
        ),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m, answer_threshold: high}\n",
            "setting nlu.answer_threshold must be a number",
        ),
        ("faq: {dir: faq}\n", "missing setting nlu"),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
            "languages: [id, fr]\n",
            "unsupported language 'fr'",
        ),
        ("faq: [\n", "not valid YAML"),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
            "telegram: {mode: webhook}\n",
            "telegram.webhook_url is needed",
        ),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
            "telegram: {mode: push}\n",
            "telegram.mode must be polling or webhook",
        ),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
            "server: {trusted_proxies: [127.0.0.1, nginx.local]}\n",
            "server.trusted_proxies: 'nginx.local' is not an IP address or a CIDR range",
        ),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
            "server: {client_address_header: X-Real-IP}\n",
            "server.client_address_header must be X-Forwarded-For or Forwarded",
        ),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
            "desk: {max_address_login_failures: 0}\n",
            "desk.max_address_login_failures must be at least 1",
        ),
        (
            "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
            "server: {port: 70000}\n",
            "server.port must be from 1 to 65535",
        ),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.yml")


def test_dotenv_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.yml").write_text(
        "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text(
        "TANYA_TEST_A=from-dotenv\nTANYA_TEST_B='quoted'\n", encoding="utf-8"
    )
    monkeypatch.delenv("TANYA_TEST_A", raising=False)
    monkeypatch.setenv("TANYA_TEST_B", "from-env")
    load_settings(tmp_path / "config.yml")
    import os

    assert os.environ["TANYA_TEST_A"] == "from-dotenv"
    assert os.environ["TANYA_TEST_B"] == "from-env"
    monkeypatch.delenv("TANYA_TEST_A")


def test_nlu_defaults_are_what_config_yml_ships(tmp_path: Path) -> None:
    # One source of defaults: deleting a line of config.yml must not change the bot.
    import yaml

    shipped = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["nlu"]
    path = tmp_path / "config.yml"
    path.write_text(
        "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n",
        encoding="utf-8",
    )
    defaults = load_settings(path).nlu
    for field in dataclasses.fields(defaults):
        if field.name not in ("project_dir", "model_path"):
            assert getattr(defaults, field.name) == shipped[field.name], field.name


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_wrong_answers: 0", "nlu.max_wrong_answers must be above 0 and below 1"),
        ("answer_threshold: 1.5", "nlu.answer_threshold must be between 0 and 1"),
    ],
)
def test_nlu_values_out_of_range_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        f"faq: {{dir: faq}}\nnlu: {{project_dir: r, model_path: m, {line}}}\n"
        "storage: {database: d}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(path)


def test_a_retired_setting_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An upgrade must not stop a bot whose config.yml still has a setting that no longer
    does anything; the log says to remove it."""
    path = tmp_path / "config.yml"
    path.write_text(
        "faq: {dir: faq}\nnlu: {project_dir: r, model_path: m}\nstorage: {database: d}\n"
        "desk: {similar_threshold: 0.8, government_name: Kota Contoh}\n",
        encoding="utf-8",
    )
    settings = load_settings(path)
    assert settings.desk.government_name == "Kota Contoh"
    assert "setting desk.similar_threshold is no longer used" in caplog.text
    assert "remove it" in caplog.text
