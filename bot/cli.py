"""The `tanya` command: a thin layer over the library functions of the same names."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.faq.check import check_faq
from bot.faq.problems import FaqError, Severity
from bot.nlu.environment import quiet_rasa

EXIT_PROBLEMS = 1
# Lines of piped input classified together: the model runs a batch in one pass.
ASK_BATCH = 256


faq_option = click.option(
    "--faq",
    "faq_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="FAQ folder (default: faq.dir in config.yml).",
)
model_option = click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    help="Model file (default: nlu.model_path in config.yml).",
)


class Failure(click.ClickException):
    """An expected failure: printed as one clear message, never a traceback."""

    exit_code = EXIT_PROBLEMS


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj.get("settings")
    if settings is None:
        try:
            settings = load_settings(ctx.obj["config_path"])
        except ConfigError as exc:
            raise Failure(str(exc)) from exc
        ctx.obj["settings"] = settings
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Settings file (default: config.yml, or $TANYA_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
@click.version_option(__version__, prog_name="tanya")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """Tanya: answer citizens' questions from the government's FAQ."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        quiet_rasa()
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@cli.command()
@faq_option
@click.pass_context
def check(ctx: click.Context, faq_dir: Path | None) -> None:
    """Validate the FAQ files; exit status 1 when there are errors."""
    settings = _settings(ctx)
    report = check_faq(
        faq_dir or settings.faq.dir,
        review_max_age_days=settings.faq.review_max_age_days,
        near_duplicate_similarity=settings.faq.near_duplicate_similarity,
    )
    for problem in report.problems:
        click.echo(str(problem), err=problem.severity is Severity.ERROR)
    faq = report.faq
    click.echo(
        f"{len(faq.topics)} topics, {len(faq)} entries: "
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )
    if not report.ok:
        ctx.exit(EXIT_PROBLEMS)


@cli.command()
@faq_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the model (default: nlu.model_path in config.yml).",
)
@click.option(
    "--if-stale", is_flag=True, help="Train only when the model is missing or older than the FAQ."
)
@click.pass_context
def train(ctx: click.Context, faq_dir: Path | None, out: Path | None, if_stale: bool) -> None:
    """Generate training data from the FAQ and train the NLU model."""
    from bot.nlu.train import TrainingFailed, is_stale
    from bot.nlu.train import train as train_model

    settings = _settings(ctx)
    faq_dir = faq_dir or settings.faq.dir
    out = out or settings.nlu.model_path
    if if_stale and not is_stale(out, faq_dir, settings.nlu.project_dir):
        click.echo(f"The model {out} is up to date.")
        return
    started = time.monotonic()

    def progress(line: str) -> None:
        click.echo(f"[{time.monotonic() - started:6.1f}s] {line}")

    try:
        result = train_model(faq_dir, settings.nlu.project_dir, out, progress=progress)
    except FaqError as exc:
        raise Failure(str(exc)) from exc
    except TrainingFailed as exc:
        raise Failure(f"training failed, the previous model (if any) is kept: {exc}") from exc
    click.echo(
        f"Trained {out} ({result.intents} intents, {result.examples} examples) "
        f"in {result.seconds:.1f} s"
    )


def _load(ctx: click.Context, model: Path | None, faq_dir: Path | None = None) -> Any:
    from bot.nlu.model import ModelNotFound, ModelUnreadable
    from bot.service import load_answerer

    settings = _settings(ctx)
    try:
        loaded = load_answerer(settings, model_path=model, faq_dir=faq_dir)
    except (ModelNotFound, ModelUnreadable, FaqError) as exc:
        raise Failure(str(exc)) from exc
    return loaded


def _stdin_lines() -> Iterator[tuple[int, str]]:
    """Lines of standard input; undecodable bytes are replaced and reported, not fatal."""
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        text = raw.decode("utf-8", errors="replace")
        if "\ufffd" in text and "\ufffd".encode() not in raw:
            click.echo(
                f"warning: line {number} is not valid UTF-8; unreadable bytes replaced", err=True
            )
        yield number, text.rstrip("\r\n")


@cli.command()
@click.argument("text", required=False)
@model_option
@click.option(
    "--language",
    type=click.Choice(["id", "en"]),
    default=None,
    help="The citizen's language, when known (a hint).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question.")
@click.pass_context
def ask(
    ctx: click.Context, text: str | None, model: Path | None, language: str | None, as_json: bool
) -> None:
    """Answer TEXT, or each line of standard input (the model is loaded once)."""
    answerer = _load(ctx, model).answerer
    lines = [(1, text)] if text is not None else _stdin_lines()
    batch: list[str] = []

    def flush() -> None:
        for decision in answerer.decide_batch([(t, language) for t in batch]):
            if as_json:
                click.echo(json.dumps(decision.to_json(), ensure_ascii=False))
            else:
                click.echo(f"[{_summary(decision)}]\n{decision.reply}\n")
        batch.clear()

    for _, line in lines:
        batch.append(line)
        if len(batch) >= ASK_BATCH or text is not None or sys.stdin.isatty():
            flush()
    flush()


def _summary(decision: Any) -> str:
    parts = [decision.action.value]
    if decision.faq_id:
        parts.append(decision.faq_id)
    if decision.reason:
        parts.append(f"reason={decision.reason.value}")
    parts.append(f"confidence={decision.confidence:.2f}")
    parts.append(f"language={decision.language}")
    return " ".join(parts)


@cli.command()
@model_option
@click.pass_context
def chat(ctx: click.Context, model: Path | None) -> None:
    """Talk to the bot in the terminal, seeing each decision and its confidence."""
    answerer = _load(ctx, model).answerer
    click.echo("Type a question (Ctrl-D to quit).")
    language: str | None = None
    while True:
        try:
            text = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            return
        decision = answerer.decide(text, language)
        language = decision.language
        click.secho(f"  [{_summary(decision)}]", dim=True)
        for candidate in decision.candidates[:3]:
            click.secho(f"    {candidate.confidence:.2f}  {candidate.faq_id}", dim=True)
        click.echo(f"tanya> {decision.reply}\n")


@cli.command()
@faq_option
@click.option(
    "--test",
    "test_file",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help='JSON lines: {"text": ..., "expected": entry id or null}.',
)
@model_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("evaluation.json"),
    show_default=True,
    help="Where to write the figures as JSON.",
)
@click.pass_context
def evaluate(
    ctx: click.Context, faq_dir: Path | None, test_file: Path, model: Path | None, out: Path
) -> None:
    """Measure accuracy, escalation recall and wrong answers on a labelled test set."""
    from bot.evaluation import TestFileError, format_report, read_examples
    from bot.evaluation import evaluate as run_evaluation

    try:
        examples = read_examples(test_file)
    except TestFileError as exc:
        raise Failure(str(exc)) from exc
    answerer = _load(ctx, model, faq_dir).answerer
    report = run_evaluation(answerer, examples)
    click.echo(format_report(report))
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"\nFigures written to {out}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.pass_context
def run(ctx: click.Context, host: str, port: int) -> None:
    """Start the bot: load the model and serve until interrupted."""
    from bot.server import serve

    logging.getLogger().setLevel(logging.INFO)
    loaded = _load(ctx, None)
    serve(_settings(ctx), loaded, host=host, port=port)


@cli.group()
def officials() -> None:
    """Accounts for the officials' desk (/desk)."""


def _store(ctx: click.Context) -> Any:
    from bot.store import Store

    return Store.open(_settings(ctx).storage.database)


def _password(from_stdin: bool) -> str:
    from bot.desk.auth import MIN_PASSWORD_LENGTH

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(
        click.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    )


password_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)


@officials.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "agent"]), required=True)
@click.option(
    "--telegram-id",
    type=int,
    default=None,
    help="Their Telegram user id: lets them answer from the officials' group.",
)
@password_stdin_option
@click.pass_context
def officials_add(
    ctx: click.Context, name: str, role: str, telegram_id: int | None, password_stdin: bool
) -> None:
    """Create an account NAME; asks for its password."""
    from bot.desk.auth import WeakPassword, hash_password
    from bot.store.officials import OfficialExists

    name = name.strip()
    if not name or len(name) > 60:
        raise Failure("a name needs 1 to 60 characters")
    try:
        password_hash = hash_password(_password(password_stdin))
    except WeakPassword as exc:
        raise Failure(str(exc)) from exc
    store = _store(ctx)
    try:
        official = store.officials.add(name, role, password_hash, telegram_id)
    except OfficialExists as exc:
        raise Failure(f"an account named {name!r} exists already") from exc
    store.officials.audit(None, "official-added", official.name, f"role {role} (command line)")
    click.echo(f"Added {official.name} ({official.role}). They sign in at /desk/login.")


@officials.command("list")
@click.pass_context
def officials_list(ctx: click.Context) -> None:
    """List the accounts."""
    for official in _store(ctx).officials.all():
        telegram = f" telegram:{official.telegram_user_id}" if official.telegram_user_id else ""
        state = " (disabled)" if official.disabled else ""
        click.echo(f"{official.name}\t{official.role}{telegram}{state}")


@officials.command("password")
@click.argument("name")
@password_stdin_option
@click.pass_context
def officials_password(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (their open sessions end)."""
    from bot.desk.auth import WeakPassword, hash_password

    store = _store(ctx)
    official = store.officials.by_name(name)
    if official is None:
        raise Failure(f"no account named {name!r}")
    try:
        store.officials.update(official.id, password_hash=hash_password(_password(password_stdin)))
    except WeakPassword as exc:
        raise Failure(str(exc)) from exc
    store.officials.end_sessions(official.id)
    store.officials.audit(None, "password-changed", official.name, "command line")
    click.echo(f"New password set for {official.name}.")


@officials.command("disable")
@click.argument("name")
@click.pass_context
def officials_disable(ctx: click.Context, name: str) -> None:
    """Stop NAME from signing in (their history stays)."""
    store = _store(ctx)
    official = store.officials.by_name(name)
    if official is None:
        raise Failure(f"no account named {name!r}")
    store.officials.disable(official.id)
    store.officials.audit(None, "official-disabled", official.name, "command line")
    click.echo(f"{official.name} can no longer sign in.")


def main() -> None:
    cli(obj={})
