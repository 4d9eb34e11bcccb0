"""Typed settings from ``config.yml`` and the environment.

Settings are loaded once, in the command's entry point, into frozen dataclasses. A missing,
unknown or mistyped key stops the program with a message naming the key, so a typo in
``config.yml`` never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

log = logging.getLogger(__name__)
CONFIG_ENV_VAR = "TANYA_CONFIG"
DEFAULT_CONFIG = Path("config.yml")
SUPPORTED_LANGUAGES = ("id", "en")


class ConfigError(Exception):
    """The configuration file is missing, malformed or has a wrong key or value."""


@dataclass(frozen=True)
class FaqSettings:
    dir: Path
    review_max_age_days: int = 365
    near_duplicate_similarity: float = 90


@dataclass(frozen=True)
class NluSettings:
    """The model and how sure it must be. These defaults are config.yml's values (a test
    holds them equal), so deleting a line of config.yml changes nothing."""

    project_dir: Path
    model_path: Path
    # Share of questions the bot may answer with a wrong entry; `tanya train` chooses the
    # thresholds for it on the FAQ's own data (bot/nlu/calibration.py).
    max_wrong_answers: float = 0.03
    # None: the threshold `tanya train` calibrated; a number overrides it.
    answer_threshold: float | None = None
    clarify_threshold: float | None = None
    clarify_margin: float = 0.1
    smalltalk_threshold: float = 0.5
    max_question_chars: int = 1000
    # Train entries with few example questions also on generated rewordings of them.
    generated_variants: bool = False


POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class StorageSettings:
    """Where the conversation store lives: ``url`` is a SQLite file's path (``database``,
    its older name, says the same) or a PostgreSQL URL for several workers; PostgreSQL's
    password comes from the environment or .env (PGPASSWORD), never from this file."""

    url: str

    @property
    def database(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL."""
        return None if self.url.startswith(POSTGRESQL_SCHEMES) else Path(self.url)

    @property
    def location(self) -> str | Path:
        """What ``Store.open`` takes: the SQLite file, else the PostgreSQL URL."""
        return self.database or self.url


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Reverse proxies (addresses or CIDR ranges) whose client-address header is believed.
    trusted_proxies: tuple[str, ...] = ()
    client_address_header: str = "X-Forwarded-For"


@dataclass(frozen=True)
class WebChatSettings:
    enabled: bool = True
    messages_per_minute: float = 30
    burst: int = 15
    messages_per_minute_per_address: float = 120
    burst_per_address: int = 60


@dataclass(frozen=True)
class DeskSettings:
    enabled: bool = True
    session_hours: float = 12
    secure_cookies: bool = True
    sla_hours: float = 8
    max_login_failures: int = 5
    max_address_login_failures: int = 20
    login_window_minutes: float = 15
    timezone: str = "Asia/Jakarta"
    # The government the bot speaks for: the desk's header and the public report's title.
    government_name: str = ""


@dataclass(frozen=True)
class AnnouncementSettings:
    # Topics citizens can subscribe to besides the FAQ topics: slug -> {language: title}.
    topics: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    messages_per_second: float = 25
    messenger_tag: str = ""


@dataclass(frozen=True)
class InsightSettings:
    """Unanswered-question clusters and the rumour early warning on the desk."""

    max_questions: int = 2000
    cluster_distance: float = 0.7
    cluster_word_weight: float = 0.5
    min_cluster_size: int = 2
    recent_days: int = 3
    growth_factor: float = 3.0
    growth_min_questions: int = 5
    hoax_topic: str = "hoaks"
    hoax_similarity: float = 0.55


@dataclass(frozen=True)
class RetentionSettings:
    """How long citizens' words are kept (``bot.store.retention``); figures stay for good."""

    message_days: int = 365


@dataclass(frozen=True)
class ReportSettings:
    """The transparency report (`tanya report`, and ``/laporan`` when public)."""

    public: bool = False


@dataclass(frozen=True)
class MessengerSettings:
    page_token_env: str = "FACEBOOK_PAGE_ACCESS_TOKEN"
    app_secret_env: str = "FACEBOOK_APP_SECRET"
    verify_token_env: str = "FACEBOOK_VERIFY_TOKEN"
    graph_api_url: str = "https://graph.facebook.com/v21.0"
    webhook_path: str = "/webhooks/messenger"
    human_agent_tag: bool = False
    page_username: str = ""

    def credentials(self) -> tuple[str, str, str] | None:
        """(page token, app secret, verify token) from the environment, if all are set."""
        values = [
            os.environ.get(name, "").strip()
            for name in (self.page_token_env, self.app_secret_env, self.verify_token_env)
        ]
        return (values[0], values[1], values[2]) if all(values) else None


@dataclass(frozen=True)
class TelegramSettings:
    token_env: str = "TELEGRAM_BOT_TOKEN"
    api_url: str = "https://api.telegram.org"
    mode: str = "polling"
    webhook_url: str = ""
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    poll_timeout: int = 30
    per_chat_interval: float = 1.0
    officials_chat_id: int = 0

    def token(self) -> str | None:
        return os.environ.get(self.token_env, "").strip() or None


@dataclass(frozen=True)
class Settings:
    faq: FaqSettings
    nlu: NluSettings
    storage: StorageSettings
    server: ServerSettings = ServerSettings()
    webchat: WebChatSettings = WebChatSettings()
    desk: DeskSettings = DeskSettings()
    announcements: AnnouncementSettings = AnnouncementSettings()
    insight: InsightSettings = InsightSettings()
    retention: RetentionSettings = RetentionSettings()
    report: ReportSettings = ReportSettings()
    messenger: MessengerSettings = MessengerSettings()
    telegram: TelegramSettings = TelegramSettings()
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES

    @property
    def default_language(self) -> str:
        return self.languages[0]


def load_settings(path: Path | None = None) -> Settings:
    """Read ``config.yml`` (or ``$TANYA_CONFIG``) and the git-ignored ``.env`` beside it."""
    path = path or Path(os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG))
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    load_dotenv(path.parent / ".env")
    settings = _build(Settings, _renamed(raw), base=path.parent.resolve(), where="")
    settings = dataclasses.replace(
        settings, storage=_check_storage(settings.storage, path.parent.resolve())
    )
    _check_languages(settings.languages)
    if settings.telegram.mode not in ("polling", "webhook"):
        raise ConfigError("setting telegram.mode must be polling or webhook")
    if settings.telegram.mode == "webhook" and not settings.telegram.webhook_url:
        raise ConfigError("setting telegram.webhook_url is needed when telegram.mode is webhook")
    _check_server(settings.server)
    _check_desk(settings.desk)
    _check_nlu(settings.nlu)
    _check_announcements(settings.announcements)
    _check_insight(settings.insight)
    if settings.retention.message_days < 0:
        raise ConfigError("setting retention.message_days must be 0 (keep forever) or more")
    try:
        ZoneInfo(settings.desk.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"setting desk.timezone: unknown time zone {settings.desk.timezone!r} "
            "(e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)"
        ) from exc
    return settings


def _renamed(raw: dict[str, Any]) -> dict[str, Any]:
    """``storage.database`` (a SQLite file) is ``storage.url``'s older name: still read."""
    storage = raw.get("storage")
    if not isinstance(storage, dict) or "database" not in storage:
        return raw
    if "url" in storage:
        raise ConfigError("set storage.url or storage.database (its older name), not both")
    renamed = {("url" if key == "database" else key): value for key, value in storage.items()}
    return raw | {"storage": renamed}


def _check_storage(settings: StorageSettings, base: Path) -> StorageSettings:
    url = settings.url
    if not url:
        raise ConfigError(
            "setting storage.url must be a SQLite file (e.g. data/tanya.db) or a postgresql:// URL"
        )
    if not url.startswith(POSTGRESQL_SCHEMES):
        return StorageSettings(url=str((base / url).resolve()))
    if urlsplit(url).password:
        raise ConfigError(
            "setting storage.url must not hold the password: put it in PGPASSWORD "
            "(in the environment or the git-ignored .env)"
        )
    return settings


def _check_nlu(settings: NluSettings) -> None:
    if not 0 < settings.max_wrong_answers < 1:
        raise ConfigError("setting nlu.max_wrong_answers must be above 0 and below 1")
    for name in ("answer_threshold", "clarify_threshold", "clarify_margin", "smalltalk_threshold"):
        value = getattr(settings, name)
        if value is not None and not 0 <= value <= 1:
            raise ConfigError(f"setting nlu.{name} must be between 0 and 1")


MESSENGER_TAGS = ("", "CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE")
CLIENT_ADDRESS_HEADERS = ("X-Forwarded-For", "Forwarded")


def _check_server(settings: ServerSettings) -> None:
    if not 1 <= settings.port <= 65535:
        raise ConfigError(f"setting server.port must be from 1 to 65535, not {settings.port}")
    if not settings.host:
        raise ConfigError("setting server.host must name an address, e.g. 127.0.0.1 or 0.0.0.0")
    for value in settings.trusted_proxies:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(
                f"setting server.trusted_proxies: {value!r} is not an IP address or a CIDR "
                "range (e.g. 127.0.0.1 or 10.0.0.0/8)"
            ) from None
    if settings.client_address_header not in CLIENT_ADDRESS_HEADERS:
        raise ConfigError(
            "setting server.client_address_header must be " + " or ".join(CLIENT_ADDRESS_HEADERS)
        )


def _check_desk(settings: DeskSettings) -> None:
    for name in ("max_login_failures", "max_address_login_failures"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"setting desk.{name} must be at least 1")
    if settings.login_window_minutes <= 0:
        raise ConfigError("setting desk.login_window_minutes must be above 0")


def _check_announcements(settings: AnnouncementSettings) -> None:
    for slug, titles in settings.topics.items():
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
            raise ConfigError(f"setting announcements.topics: {slug!r} is not a slug [a-z0-9-]")
        if not titles:
            raise ConfigError(f"setting announcements.topics.{slug} needs a title per language")
    if not 0 < settings.messages_per_second <= 30:
        raise ConfigError(
            "setting announcements.messages_per_second must be above 0 and at most 30 "
            "(Telegram's limit for a bot)"
        )
    if settings.messenger_tag not in MESSENGER_TAGS:
        raise ConfigError(
            "setting announcements.messenger_tag must be empty or one of "
            + ", ".join(t for t in MESSENGER_TAGS if t)
        )


def _check_insight(settings: InsightSettings) -> None:
    if not 0 < settings.cluster_distance < 2:
        raise ConfigError("setting insight.cluster_distance must be above 0 and below 2")
    for name in ("hoax_similarity", "cluster_word_weight"):
        if not 0 <= getattr(settings, name) <= 1:
            raise ConfigError(f"setting insight.{name} must be between 0 and 1")
    for name in ("max_questions", "min_cluster_size", "recent_days", "growth_min_questions"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"setting insight.{name} must be at least 1")
    if settings.growth_factor <= 0:
        raise ConfigError("setting insight.growth_factor must be above 0")


def load_dotenv(path: Path) -> None:
    """Export ``KEY=value`` lines of a ``.env`` file; the real environment wins."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


# Settings that no longer do anything: ignored with a warning, so that an upgrade does not
# stop a bot whose config.yml still has them.
RETIRED = {
    "desk.similar_threshold": "similar open questions are now those the Clusters page groups "
    "together (insight.cluster_distance, insight.cluster_word_weight)",
}


def _build(cls: type, raw: dict[str, Any], *, base: Path, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in [name for name in raw if f"{where}{name}" in RETIRED]:
        log.warning(
            "setting %s%s is no longer used (%s): remove it", where, name, RETIRED[f"{where}{name}"]
        )
        raw = {key: value for key, value in raw.items() if key != name}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown setting {where}{unknown[0]} (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key = f"{where}{name}"
        if name not in raw:
            if field.default is dataclasses.MISSING:
                raise ConfigError(f"missing setting {key}")
            continue
        values[name] = _convert(hints[name], raw[name], base=base, key=key)
    return cls(**values)


def _convert(hint: Any, value: Any, *, base: Path, key: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"setting {key} must be a mapping")
        return _build(hint, value, base=base, where=f"{key}.")
    if isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint):
        if value is None:
            return None
        inner = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        return _convert(inner, value, base=base, key=key)
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"setting {key} must be a path")
        return (base / value).resolve()
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"setting {key} must be text")
        return value.strip()
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"setting {key} must be true or false")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"setting {key} must be a number, not {value!r}")
        if hint is int and not float(value).is_integer():
            raise ConfigError(f"setting {key} must be a whole number, not {value!r}")
        return hint(value)
    if typing.get_origin(hint) is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"setting {key} must be a mapping")
        inner = typing.get_args(hint)[1]
        return {k: _convert(inner, v, base=base, key=f"{key}.{k}") for k, v in value.items()}
    if typing.get_origin(hint) is tuple or isinstance(hint, types.GenericAlias):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"setting {key} must be a list of strings")
        return tuple(value)
    raise ConfigError(f"setting {key}: unsupported type {hint}")  # pragma: no cover


def _check_languages(languages: tuple[str, ...]) -> None:
    if not languages:
        raise ConfigError("setting languages must name at least one language")
    for language in languages:
        if language not in SUPPORTED_LANGUAGES:
            raise ConfigError(
                f"setting languages: unsupported language {language!r} "
                f"(supported: {', '.join(SUPPORTED_LANGUAGES)})"
            )
