"""The `tanya` command: a thin layer over the library functions of the same names."""

from __future__ import annotations

import json
import logging
import sqlite3
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
@click.option(
    "--show-generated",
    is_flag=True,
    help="Also list the example questions generated for training entries that have few "
    "of their own (nothing is trained).",
)
@click.pass_context
def check(ctx: click.Context, faq_dir: Path | None, show_generated: bool) -> None:
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
    if show_generated:
        _show_generated(faq)
    if not report.ok:
        ctx.exit(EXIT_PROBLEMS)


def _show_generated(faq: Any) -> None:
    from bot.nlu.trainingdata import generated_variants
    from bot.nlu.variants import MIN_OWN_EXAMPLES

    generated = generated_variants(faq)
    if not generated:
        click.echo(
            "No generated example questions: every entry has at least "
            f"{MIN_OWN_EXAMPLES} example questions of its own."
        )
        return
    click.echo(
        f"\nGenerated example questions, for entries with fewer than {MIN_OWN_EXAMPLES} of "
        "their own (trained on only when nlu.generated_variants is true in config.yml; "
        "never written to the FAQ files):"
    )
    for entry_id, texts in generated.items():
        own = ", ".join(f"{lang} {len(qs)}" for lang, qs in faq.entry(entry_id).questions.items())
        click.echo(f"\n{entry_id} (own examples: {own}; {len(texts)} generated)")
        click.echo("\n".join(f"  - {text}" for text in texts))


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
    from bot.faq.loader import read_faq
    from bot.nlu.train import TrainingFailed, is_stale
    from bot.nlu.train import train as train_model
    from bot.nlu.trainingdata import write_training_data

    settings = _settings(ctx)
    faq_dir = faq_dir or settings.faq.dir
    if out is None and faq_dir.resolve() != settings.faq.dir.resolve():
        raise Failure(
            f"{faq_dir} is not the configured FAQ ({settings.faq.dir}): give --out for its "
            "model, so that the bot's model keeps answering from the configured FAQ"
        )
    out = out or settings.nlu.model_path
    if if_stale and not is_stale(out, faq_dir, settings.nlu.project_dir):
        click.echo(f"The model {out} is up to date.")
        return
    started = time.monotonic()

    def progress(line: str) -> None:
        click.echo(f"[{time.monotonic() - started:6.1f}s] {line}")

    try:
        if faq_dir.resolve() == settings.faq.dir.resolve():
            # The committed generated files show what the project's own FAQ trains on;
            # another FAQ folder leaves the project as it is.
            write_training_data(read_faq(faq_dir), settings.nlu.project_dir)
        result = train_model(
            faq_dir,
            settings.nlu.project_dir,
            out,
            progress=progress,
            variants=settings.nlu.generated_variants,
            max_wrong_answers=settings.nlu.max_wrong_answers,
        )
    except FaqError as exc:
        raise Failure(str(exc)) from exc
    except TrainingFailed as exc:
        raise Failure(f"training failed, the previous model (if any) is kept: {exc}") from exc
    click.echo(
        f"Trained {out} ({result.intents} intents, {result.examples} examples) "
        f"in {result.seconds:.1f} s"
    )
    if result.calibration is not None:
        explicit = [
            name
            for name in ("answer_threshold", "clarify_threshold")
            if getattr(settings.nlu, name) is not None
        ]
        click.echo(f"On this FAQ's own questions: {result.calibration.summary()}.")
        if explicit:
            click.echo(
                f"config.yml sets nlu.{' and nlu.'.join(explicit)}, which the bot uses "
                "instead of the calibrated value."
            )
    if out.resolve() == settings.nlu.model_path.resolve():
        _announce_model(settings, out)


def _announce_model(settings: Any, model: Path) -> None:
    """Record the new model in the store: every running worker loads it within seconds
    (``bot.core.model_sync``). A store that cannot be reached only means a running bot
    keeps its model until it restarts."""
    from bot.core.model_sync import record_model
    from bot.store import Store
    from bot.store.engine import StoreUnavailable

    try:
        store = Store.open(settings.storage.location)
    except StoreUnavailable as exc:
        click.echo(f"Running workers were not told about the new model ({exc}).")
        return
    try:
        version = record_model(store.models, model, "tanya train")
    finally:
        store.close()
    click.echo(f"Model version {version.id}: running workers load it within seconds.")


def _load(ctx: click.Context, model: Path | None, faq_dir: Path | None = None) -> Any:
    from bot.nlu.model import ModelNotFound, ModelUnreadable
    from bot.service import OtherFaq, load_answerer

    settings = _settings(ctx)
    try:
        loaded = load_answerer(settings, model_path=model, faq_dir=faq_dir)
    except (ModelNotFound, ModelUnreadable, FaqError, OtherFaq) as exc:
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
@click.option("--host", default=None, help="Address to listen on (default: server.host).")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Port to listen on (default: server.port).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Bot processes serving the port (more than 1 needs PostgreSQL in storage.url, and "
    "Telegram, if on, in webhook mode).",
)
@click.option("--worker", type=int, default=None, hidden=True)  # set by the supervisor
@click.option("--socket-fd", type=int, default=None, hidden=True)  # its listening socket
@click.pass_context
def run(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int,
    worker: int | None,
    socket_fd: int | None,
) -> None:
    """Start the bot: load the model and serve until interrupted."""
    import socket

    from bot import start_stages
    from bot.listening import CannotListen, listen
    from bot.supervisor import Supervisor, refusal, shared_environment

    settings = _settings(ctx)
    problem = refusal(settings, workers)
    if problem:
        raise Failure(problem)
    start_stages.mark("settings")
    # Our own lines (channels, address, "ready") at INFO, whatever Rasa does to the root.
    logging.getLogger("bot").setLevel(logging.INFO)
    if socket_fd is not None:  # a worker of `--workers N`: the parent bound the port
        listening = socket.socket(fileno=socket_fd)
    else:
        try:  # first: a port in use is said at once, not after loading the model
            listening = listen(host or settings.server.host, port or settings.server.port)
        except CannotListen as exc:
            raise Failure(str(exc)) from exc
    if workers > 1:
        root = ctx.find_root()
        command = [sys.executable, "-m", "bot"]
        if root.obj.get("config_path"):
            command += ["--config", str(root.obj["config_path"])]
        if root.params.get("verbose"):
            command.append("-v")
        command.append("run")
        supervisor = Supervisor(command, workers, listening, shared_environment(settings))
        host_shown, port_shown = listening.getsockname()[:2]
        logging.getLogger(__name__).info(
            "%d workers serving %s port %s (Ctrl+C stops them)", workers, host_shown, port_shown
        )
        sys.exit(supervisor.run())
    if worker is not None:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(
                logging.Formatter(f"worker {worker}: %(levelname)s %(name)s: %(message)s")
            )
    from bot.server import serve  # the application: only a process that serves needs it

    start_stages.mark("imports")
    loaded = _load(ctx, None)
    serve(settings, loaded, listening, describe=worker in (None, 1))


@cli.group()
def officials() -> None:
    """Accounts for the officials' desk (/desk)."""


def _store(ctx: click.Context) -> Any:
    from bot.store import Store
    from bot.store.engine import StoreUnavailable

    try:
        return Store.open(_settings(ctx).storage.location)
    except StoreUnavailable as exc:
        raise Failure(str(exc)) from exc


def _password(from_stdin: bool) -> str:
    """Typed twice at a terminal; the first line of standard input when it is not one
    (``echo "$PASSWORD" | tanya officials add ...``), or with ``--password-stdin``."""
    from bot.desk.passwords import MIN_PASSWORD_LENGTH

    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(
        click.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters, not easy to guess)",
            hide_input=True,
            confirmation_prompt=True,
        )
    )


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input, even at a terminal "
    "(without it: asked twice at a terminal, read from standard input when piped).",
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
    """Create an account NAME.

    \b
    The password is asked twice at a terminal; a script pipes it in instead:
      printf '%s\\n' "$PASSWORD" | tanya officials add Sari --role admin
    """
    from bot.desk.passwords import WeakPassword, hash_password
    from bot.store.officials import OfficialExists

    name = name.strip()
    if not name or len(name) > 60:
        raise Failure("a name needs 1 to 60 characters")
    try:
        password_hash = hash_password(_password(password_stdin), name)
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
    """Set a new password for NAME (their open sessions end); asked twice at a terminal,
    else read from standard input."""
    from bot.desk.passwords import WeakPassword, hash_password

    store = _store(ctx)
    official = store.officials.by_name(name)
    if official is None:
        raise Failure(f"no account named {name!r}")
    try:
        password_hash = hash_password(_password(password_stdin), official.name)
        store.officials.update(official.id, password_hash=password_hash)
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


@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--topic", default=None, help="Topic of rows that name none (default: the file name)."
)
@click.option(
    "--lang",
    "language",
    type=click.Choice(["id", "en"]),
    default="id",
    show_default=True,
    help="Language of columns that name none (question, answer) and of FAQ pages.",
)
@faq_option
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.pass_context
def import_(
    ctx: click.Context,
    file: Path,
    topic: str | None,
    language: str,
    faq_dir: Path | None,
    dry_run: bool,
) -> None:
    """Add or update FAQ entries from FILE: CSV, XLSX, JSON, or a Markdown/HTML FAQ page."""
    from bot.faq.importing import FaqEditError, UnreadableFile, import_faq

    faq_dir = faq_dir or _settings(ctx).faq.dir
    try:
        report = import_faq(file, faq_dir, topic=topic, language=language, dry_run=dry_run)
    except UnreadableFile as exc:
        raise Failure(f"{file}: {exc}") from exc
    except FaqEditError as exc:
        raise Failure(str(exc)) from exc
    for notice in report.notices:
        click.echo(str(notice), err=notice.skipped)
    click.echo(
        f"{'Would import' if dry_run else 'Imported'} {file.name} into {faq_dir}: "
        f"{len(report.created)} new, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.skipped)} not imported"
    )
    for path, ids in report.files.items():
        created = [i for i in ids if i in report.created]
        updated = [i for i in ids if i not in report.created]
        parts = [
            f"{len(created)} new" if created else "",
            f"{len(updated)} updated" if updated else "",
        ]
        listed = f" ({', '.join(ids)})" if len(ids) <= 5 else ""
        state = " (new file)" if path in report.new_files else ""
        click.echo(f"  {path}{state}: {', '.join(p for p in parts if p) or 'topic title'}{listed}")
    if report.imported == 0:
        raise Failure(f"nothing could be imported from {file.name}")
    if report.files and not dry_run:
        click.echo("Next: `tanya check`, then `tanya train`.")


@cli.command()
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["xlsx", "csv"]),
    default=None,
    help="Spreadsheet format (default: from --out, else xlsx).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File to write (default: faq.xlsx or faq.csv here).",
)
@faq_option
@click.pass_context
def export(
    ctx: click.Context, file_format: str | None, out: Path | None, faq_dir: Path | None
) -> None:
    """Write the whole FAQ as one spreadsheet, a row per entry, that `tanya import` reads back."""
    from bot.faq import read_faq
    from bot.faq.spreadsheet import FORMATS, export_faq

    suffix = out.suffix.casefold().lstrip(".") if out else ""
    file_format = file_format or (suffix if suffix in FORMATS else "xlsx")
    if suffix in FORMATS and suffix != file_format:
        raise Failure(f"--out {out} does not end in .{file_format}")
    out = out or Path(f"faq.{file_format}")
    try:
        faq = read_faq(faq_dir or _settings(ctx).faq.dir)
    except FaqError as exc:
        raise Failure(str(exc)) from exc
    try:
        export_faq(faq, out, file_format)
    except OSError as exc:
        raise Failure(f"cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(f"Exported {len(faq)} entries of {len(faq.topics)} topics to {out}")


@cli.command()
@click.option(
    "--month",
    default=None,
    metavar="YYYY-MM",
    help="The month, in desk.timezone (default: the last complete month).",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["html", "csv", "json"]),
    default="html",
    show_default=True,
)
@click.option(
    "--lang",
    "language",
    type=click.Choice(["id", "en"]),
    default=None,
    help="Language of the labels (default: the first of `languages` in config.yml).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File to write (default: standard output).",
)
@faq_option
@click.pass_context
def report(
    ctx: click.Context,
    month: str | None,
    file_format: str,
    language: str | None,
    out: Path | None,
    faq_dir: Path | None,
) -> None:
    """Write the month's transparency report: aggregates only, counts under 10 suppressed."""
    from datetime import UTC, datetime

    from bot.faq import read_faq
    from bot.report import monthly_report, render
    from bot.store.stats import Period, last_complete_month

    settings = _settings(ctx)
    zone = settings.desk.timezone
    try:
        period = (
            Period.parse_month(month, zone)
            if month
            else last_complete_month(datetime.now(UTC), zone)
        )
        faq = read_faq(faq_dir or settings.faq.dir)
    except (ValueError, FaqError) as exc:
        raise Failure(str(exc)) from exc
    store = _existing_store(ctx)
    try:
        body = render(
            monthly_report(store.stats, faq, period),
            file_format,
            language or settings.languages[0],
            settings.desk.government_name,
        )
    finally:
        store.close()
    if out is None:
        click.echo(body, nl=False)
        return
    try:
        out.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(f"Report for {period.label} written to {out}", err=True)


def _existing_store(ctx: click.Context) -> Any:
    database = _settings(ctx).storage.database
    if database is not None and not database.is_file():
        raise Failure(f"no database at {database} (storage.url)")
    return _store(ctx)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@click.option(
    "--vacuum",
    is_flag=True,
    help="Then rebuild the database file to give the freed space back. It locks the "
    "database while it runs: stop the bot first.",
)
@click.pass_context
def purge(ctx: click.Context, dry_run: bool, vacuum: bool) -> None:
    """Remove citizens' texts older than retention.message_days; every count stays."""
    from bot.store.engine import Dialect
    from bot.store.retention import cutoff

    days = _settings(ctx).retention.message_days
    store = _existing_store(ctx)
    try:
        if days == 0:
            click.echo("retention.message_days is 0: texts are kept forever; nothing removed.")
        else:
            older_than = cutoff(days)
            retention = store.retention
            counts = (retention.would_purge if dry_run else retention.purge)(older_than)
            click.echo(
                f"{'Would remove' if dry_run else 'Removed'} texts from before "
                f"{older_than:%Y-%m-%d %H:%M} UTC ({days} days): {counts.describe()}."
            )
        if vacuum and dry_run:
            click.echo("No vacuum in a dry run.")
        elif vacuum and store.dialect is Dialect.POSTGRESQL:
            store.retention.vacuum()
            click.echo("Vacuumed (PostgreSQL: the freed space is reused by the tables).")
        elif vacuum:
            path = _settings(ctx).storage.database
            assert path is not None  # a SQLite store
            before = path.stat().st_size
            try:
                store.retention.vacuum()
            except sqlite3.OperationalError as exc:
                raise Failure(
                    f"cannot vacuum, the database is in use (stop the bot): {exc}"
                ) from exc
            click.echo(
                f"Vacuumed {path}: {before / 1e6:.1f} MB -> {path.stat().st_size / 1e6:.1f} MB"
            )
    finally:
        store.close()


@cli.command("export-conversations")
@click.option(
    "--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day."
)
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day.")
@click.option("--channel", default=None, help="Only this channel (default: all).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File to write (default: conversations-FROM-TO.csv here).",
)
@click.pass_context
def export_conversations(
    ctx: click.Context, first: Any, last: Any, channel: str | None, out: Path | None
) -> None:
    """Write a period's messages (days in desk.timezone) as CSV, personal data masked."""
    from bot.store.conversation_export import period_of_days

    try:
        period = period_of_days(first.date(), last.date(), _settings(ctx).desk.timezone)
    except ValueError as exc:
        raise Failure(str(exc)) from exc
    out = out or Path(f"conversations-{first:%Y-%m-%d}-{last:%Y-%m-%d}.csv")
    store = _existing_store(ctx)
    try:
        count = store.conversations.count(period, channel)
        try:
            with out.open("w", encoding="utf-8", newline="") as file:
                file.writelines(store.conversations.csv(period, channel))
        except OSError as exc:
            raise Failure(f"cannot write {out}: {exc.strerror or exc}") from exc
        store.officials.audit(
            None,
            "conversations-exported",
            period.label,
            f"{count} messages, channel {channel or 'all'} (command line)",
        )
    finally:
        store.close()
    click.echo(f"Exported {count} messages of {period.label} to {out}")


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the store's schema at storage.url (the bot also does it at start)."""
    from bot.store import MIGRATIONS
    from bot.store.engine import describe

    store = _store(ctx)  # opening migrates
    try:
        version = store.schema_version()
    finally:
        store.close()
    where = describe(str(_settings(ctx).storage.location))
    click.echo(f"{where}: schema version {version} of {len(MIGRATIONS)}, up to date")


@cli.command("copy-store")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("target")
def copy_store(source: Path, target: str) -> None:
    """Copy a SQLite store (SOURCE, e.g. data/tanya.db) into an empty PostgreSQL database
    (TARGET, postgresql://user@host/name; the password from PGPASSWORD), every table
    with its ids, and check each table's rows and checksum on both sides."""
    from bot.store import Store
    from bot.store.copy import CopyError
    from bot.store.engine import StoreUnavailable, describe, is_postgresql

    if not is_postgresql(target):
        raise Failure(f"TARGET must be a postgresql:// URL, not {target!r}")
    try:
        origin = Store.open(source)
    except Exception as exc:  # e.g. not a SQLite file
        raise Failure(f"cannot open {source}: {exc}") from exc
    try:
        destination = Store.open(target)
    except StoreUnavailable as exc:
        origin.close()
        raise Failure(str(exc)) from exc
    try:
        copies = origin.copy_into(destination)
    except CopyError as exc:
        raise Failure(f"nothing was copied: {exc}") from exc
    finally:
        origin.close()
        destination.close()
    for item in copies:
        click.echo(f"{item.table:<20} {item.rows:>10} rows  checksum {item.checksum[:16]}")
    total = sum(item.rows for item in copies)
    click.echo(
        f"Copied {total} rows in {len(copies)} tables from {source} to {describe(target)}; "
        "counts and checksums match. Set storage.url to the PostgreSQL URL to use it."
    )


def main() -> None:
    cli(obj={})
