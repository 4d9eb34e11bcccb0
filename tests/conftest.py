"""Shared fixtures: a copy of the Rasa project, settings pointing at temp files, and one
tiny model trained for real (once per test session) on the small FAQ fixture."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, async_playwright

from bot.config import Settings, load_settings
from tests import store_switch
from tests.postgres import PostgresServer, server_binaries
from tests.telegram_harness import Emulator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SMALL_FAQ = FIXTURES / "faq_small"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the PostgreSQL run itself are deselected on SQLite: they test nothing there."""
    if store_switch.engine() == "postgresql":
        return
    away = [item for item in items if item.get_closest_marker("postgresql_run_only")]
    if away:
        config.hook.pytest_deselected(items=away)
        items[:] = [item for item in items if item not in away]


def write_config(directory: Path, faq_dir: Path, project_dir: Path, model: Path) -> Path:
    """A config.yml for tests, based on the real one (so its defaults are exercised)."""
    text = (ROOT / "config.yml").read_text(encoding="utf-8")
    text = text.replace("dir: faq", f"dir: {faq_dir}")
    text = text.replace("project_dir: rasa_project", f"project_dir: {project_dir}")
    text = text.replace("model_path: rasa_project/models/tanya.tar.gz", f"model_path: {model}")
    path = directory / "config.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _clean_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TANYA_CONFIG", raising=False)
    if request.node.get_closest_marker("sqlite_only"):
        monkeypatch.delenv(store_switch.SERVER_VARIABLE, raising=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL for the session; skipped where its server is not
    installed, except on CI (CI=true), where a missing engine fails the run."""
    binaries = server_binaries()
    if binaries is None:
        message = "PostgreSQL's server is not installed (scripts/test-deps.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(binaries)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def _stores_on_postgresql(request: pytest.FixtureRequest) -> Iterator[None]:
    """With TANYA_TEST_STORE=postgresql, every store the session's tests and their child
    processes open is a database on the throw-away cluster (tests/store_switch.py)."""
    if store_switch.engine() != "postgresql":
        yield
        return
    if server_binaries() is None:
        pytest.fail("TANYA_TEST_STORE=postgresql needs PostgreSQL's server (scripts/test-deps.sh)")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    saved = {k: os.environ.get(k) for k in (store_switch.SERVER_VARIABLE, "PYTHONPATH")}
    os.environ[store_switch.SERVER_VARIABLE] = server.url("").rstrip("/")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(store_switch.SITE), saved["PYTHONPATH"]) if p
    )
    store_switch.install()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(params=store_switch.PARAMETRISED)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives, once per engine: a SQLite file, or a fresh migrated
    PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "tanya.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_database()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with config.yml, a Rasa project copy and a model trained on SMALL_FAQ."""
    from bot.nlu.train import train

    base = tmp_path_factory.mktemp("trained")
    project = base / "rasa_project"
    shutil.copytree(ROOT / "rasa_project", project, ignore=shutil.ignore_patterns("models"))
    faq = base / "faq"
    shutil.copytree(SMALL_FAQ, faq)
    model = project / "models" / "tanya.tar.gz"
    write_config(base, faq, project, model)
    train(faq, project, model)
    return base


def private_project(trained: Path, base: Path) -> Settings:
    """Settings for a copy of the trained project in ``base``: a test that edits the FAQ
    or retrains does it there, never in the session's shared project."""
    for name in ("faq", "rasa_project"):
        shutil.copytree(trained / name, base / name)
    project = base / "rasa_project"
    write_config(base, base / "faq", project, project / "models" / "tanya.tar.gz")
    return load_settings(base / "config.yml")


@pytest.fixture(scope="session")
def trained_settings(trained: Path) -> Settings:
    return load_settings(trained / "config.yml")


@pytest.fixture(scope="session")
def loaded(trained_settings: Settings):  # type: ignore[no-untyped-def]
    from bot.service import load_answerer

    return load_answerer(trained_settings)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The Telegram Bot API emulator on loopback, one per test."""
    emulator = Emulator()
    yield emulator
    emulator.stop()


def run_tanya(
    *args: str, cwd: Path, stdin: bytes | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[bytes]:
    """Run the real `tanya` command in a child process."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Iterator[Path]:
    """A throwaway copy of the Rasa project (training writes generated data into it)."""
    project = tmp_path / "rasa_project"
    shutil.copytree(ROOT / "rasa_project", project, ignore=shutil.ignore_patterns("models"))
    yield project


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium; in CI its absence fails the run instead of skipping tests."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: `make test` installs it (scripts/test-deps.sh)")
        pytest.skip("chromium is not installed (scripts/test-deps.sh installs it)")
    return CHROMIUM


BROWSER_WAIT = 20_000  # ms: the first decision on a fresh app's model thread can take seconds


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium(chromium_path: str) -> AsyncIterator[Browser]:
    """One headless Chromium per test module (modules run their tests on one loop)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (its own cookies), on a desktop screen."""
    context = await chromium.new_context(locale="id-ID", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(BROWSER_WAIT)
    yield context
    await context.close()
