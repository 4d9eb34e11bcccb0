"""The desk's dashboard and the public transparency report, on a generated month of traffic.

The traffic is written straight into the store (citizens on three channels, questions
with decisions, feedback, escalations answered after known delays, ratings) around the
last complete month, whose edges in the desk's time zone (Jakarta, UTC+7) fall on other
UTC days. The figures on the page must equal what a plain reading of the database gives;
the report must hold none of the personal data the questions are full of.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import statistics
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import ReportSettings, Settings
from bot.privacy import mask
from bot.report.build import protect
from bot.server import create_app
from bot.service import Loaded
from bot.store import Store
from bot.store.engine import Engine
from bot.store.stats import Period, last_complete_month, percentile
from tests.conftest import ROOT, SMALL_FAQ, run_tanya, write_config
from tests.desk_helpers import add_official, browser, running, sign_in

ZONE = ZoneInfo("Asia/Jakarta")  # config.yml's desk.timezone
ENTRIES = ("ktp-hilang", "ktp-baru", "akta-lahir", "vaksin-jadwal", "vaksin-lokasi")
GONE_ENTRY = "entri-lama"  # an entry removed from the FAQ since it answered
# channel -> (citizens, questions in the month): webchat's 3 must be suppressed.
CHANNELS = {"telegram": (24, 300), "messenger": (16, 197), "webchat": (1, 3)}
ACTIONS = ("answer", "clarify", "smalltalk", "escalate", None)
ACTION_WEIGHTS = (60, 10, 8, 17, 5)
DELAYS_MINUTES = (5, 12, 30, 45, 60, 90, 120, 180, 240, 480, 600, 1440, 2880)
# Escalations open now, waiting this long (hours): one in each of the dashboard's buckets.
OPEN_NOW_HOURS = (0.5, 3, 10, 48, 120)
AGE_BOUNDS = (1, 4, 24, 72, 168)


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The last complete month in Jakarta, worked out here without the code under test."""
    local = now.astimezone(ZONE)
    end = datetime(local.year, local.month, 1, tzinfo=ZONE)
    before = end - timedelta(days=1)
    return datetime(before.year, before.month, 1, tzinfo=ZONE), end


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def personal_question(rng: random.Random, number: int) -> str:
    """A question as citizens write them: with their NIK, phone number and e-mail."""
    nik = f"3201{rng.randrange(10**11, 10**12)}"
    phone = f"08{rng.randrange(10**9, 10**10)}"
    return (
        f"KTP saya nomor {nik} hilang, tolong hubungi {phone} atau "
        f"warga{number}@contoh.example.id (pertanyaan ke-{number})"
    )


def insert(db: Engine, table: str, row: dict[str, Any]) -> int:
    """Write a row as the app would have stored it; its id."""
    names, marks = ", ".join(row), ", ".join("?" for _ in row)
    return db.insert(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))


@dataclass
class Traffic:
    """A month of generated traffic; ``texts`` are every citizen's and official's words."""

    db: Engine
    start: datetime
    end: datetime
    rng: random.Random
    texts: list[str] = field(default_factory=list)
    platform_ids: list[str] = field(default_factory=list)

    @property
    def month(self) -> str:
        return self.start.strftime("%Y-%m")

    def citizen(self, channel: str, number: int) -> int:
        platform_id = f"{channel}-{7000 + number}"
        self.platform_ids.append(platform_id)
        row = {
            "channel": channel,
            "platform_id": platform_id,
            "language": self.rng.choice(("id", "id", "en")),
            "first_seen": iso(self.start),
            "last_seen": iso(self.end),
        }
        return insert(self.db, "citizens", row)

    def message(self, citizen: int, at: datetime, **values: Any) -> int:
        row = {
            "citizen_id": citizen,
            "direction": "in",
            "kind": "text",
            "created_at": iso(at),
            "status": "answered",
        } | values
        return insert(self.db, "messages", row)

    def question(self, citizen: int, at: datetime) -> None:
        """A question, the bot's reply, and what the citizen and officials did next."""
        text = personal_question(self.rng, len(self.texts) + 1)
        self.texts.append(text)
        action = self.rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        faq_id = None
        if action in ("answer", "clarify"):
            faq_id = self.rng.choices(ENTRIES, [40, 25, 15, 10, 10])[0]
        if len(self.texts) == 1:  # the month's first: answered with an entry deleted since
            action, faq_id = "answer", GONE_ENTRY
        asked = self.message(
            citizen,
            at,
            text=text,
            action=action,
            faq_id=faq_id,
            language=self.rng.choice(("id", "id", "en", None)) if action else None,
            status="answered" if action else "received",
        )
        if action is not None:
            # Every 37th reply never reached the citizen (the platform refused it).
            delivered = "failed" if len(self.texts) % 37 == 0 else "sent"
            self.message(
                citizen,
                at,
                direction="out",
                text="jawaban",
                action=action,
                reply_to=asked,
                status=delivered,
            )
        if action == "answer" and self.rng.random() < 0.5:
            # akta-lahir disappoints; the others mostly help.
            helpful = self.rng.random() < (0.1 if faq_id == "akta-lahir" else 0.9)
            insert(
                self.db,
                "feedback",
                {"message_id": asked, "helpful": int(helpful), "created_at": iso(at + _MINUTE)},
            )
        if action == "escalate":
            self.escalation(citizen, asked, at + timedelta(seconds=1), text)

    def escalation(self, citizen: int, message: int, at: datetime, text: str) -> None:
        row: dict[str, Any] = {
            "citizen_id": citizen,
            "message_id": message,
            "reason": "low_confidence",
            "status": "open",
            "created_at": iso(at),
            "updated_at": iso(at),
            "question": text,
        }
        fate = self.rng.random()
        if fate < 0.7:
            answer = f"Silakan datang ke Disdukcapil, {text[:40]}"
            self.texts.append(answer)
            answered = at + timedelta(minutes=self.rng.choice(DELAYS_MINUTES))
            row |= {"status": "answered", "answered_at": iso(answered), "answer": answer}
            if self.rng.random() < 0.6:
                row["rating"] = self.rng.choice((2, 3, 4, 4, 5, 5, 5))
        elif fate < 0.8:
            row |= {"status": "closed", "answered_at": iso(at + timedelta(hours=1))}
            row["closed_reason"] = "spam"
        insert(self.db, "escalations", row)


_MINUTE = timedelta(minutes=1)


def generate_month(store: Store, now: datetime, seed: int = 6) -> Traffic:
    """About 500 questions in the last complete month, a few just outside it, and
    escalations open now; written with plain SQL, as the app would have stored them."""
    start, end = month_bounds(now)
    traffic = Traffic(store.db, start, end, random.Random(seed))
    rng, seconds = traffic.rng, int((end - start).total_seconds())
    with store.db.atomic():
        for channel, (citizens, questions) in CHANNELS.items():
            ids = [traffic.citizen(channel, n) for n in range(citizens)]
            moments = [start + timedelta(seconds=rng.randrange(seconds)) for _ in range(questions)]
            if channel == "telegram":  # 00:05 on the 1st and 23:57 on the last day, local
                moments[:2] = [start + 5 * _MINUTE, end - 3 * _MINUTE]
            for index, moment in enumerate(moments):
                traffic.question(ids[index % len(ids)], moment)
            for outside in (start - _MINUTE, end):  # a minute either side: not counted
                traffic.message(ids[0], outside, text="di luar", action="answer", faq_id=ENTRIES[0])
            # Commands and button presses are not questions.
            traffic.message(ids[0], start + _MINUTE, kind="command", text="/petugas")
            traffic.message(ids[0], start + _MINUTE, kind="button", text="helpful:1:yes")
        waiting = traffic.citizen("telegram", 999)
        for hours in OPEN_NOW_HOURS:
            at = now - timedelta(hours=hours)
            text = personal_question(rng, len(traffic.texts) + 1)
            traffic.texts.append(text)
            asked = traffic.message(waiting, at, text=text, action="escalate", language="id")
            insert(
                store.db,
                "escalations",
                {
                    "citizen_id": waiting,
                    "message_id": asked,
                    "reason": "asked_human",
                    "status": "open",
                    "created_at": iso(at),
                    "updated_at": iso(at),
                    "question": text,
                },
            )
    return traffic


# What the database holds, read plainly (Python, not the dashboard's SQL).


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _local_day(value: str) -> str:
    return _instant(value).astimezone(ZONE).date().isoformat()


def expected(db: Engine, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    def within(value: str | None) -> bool:
        return value is not None and start <= _instant(value) < end

    questions = [
        row
        for row in db.query(
            "SELECT m.*, c.channel, c.language AS citizen_language FROM messages m "
            "JOIN citizens c ON c.id = m.citizen_id"
        )
        if row["direction"] == "in" and row["kind"] == "text" and within(row["created_at"])
    ]
    messages = {row["id"]: row for row in db.query("SELECT * FROM messages")}
    undelivered = {
        row["reply_to"]
        for row in messages.values()
        if row["direction"] == "out"
        and row["action"] != "official"
        and row["status"] not in ("sent", "waiting")
    }
    feedback = [r for r in db.query("SELECT * FROM feedback") if within(r["created_at"])]
    escalations = list(db.query("SELECT * FROM escalations"))
    answered = [e for e in escalations if e["status"] == "answered" and within(e["answered_at"])]
    delays = [
        (_instant(e["answered_at"]) - _instant(e["created_at"])).total_seconds() for e in answered
    ]
    ratings = [e["rating"] for e in answered if e["rating"]]
    ages = [
        (now - _instant(e["created_at"])).total_seconds() / 3600
        for e in escalations
        if e["status"] == "open"
    ]
    negative: dict[str, list[int]] = {}
    for row in feedback:
        faq_id = messages[row["message_id"]]["faq_id"]
        negative.setdefault(faq_id, [0, 0])[0 if row["helpful"] else 1] += 1
    return {
        "questions": len(questions),
        "by_day_channel": Counter((_local_day(q["created_at"]), q["channel"]) for q in questions),
        "by_day_language": Counter(
            (_local_day(q["created_at"]), q["language"] or q["citizen_language"] or "?")
            for q in questions
        ),
        "by_channel": Counter(q["channel"] for q in questions),
        "outcomes": Counter(
            "not_delivered" if q["id"] in undelivered else q["action"] or "none" for q in questions
        ),
        "helpful": sum(r["helpful"] for r in feedback),
        "feedback": len(feedback),
        "median": statistics.median(delays) if delays else None,
        "p90": statistics.quantiles(delays, n=10, method="inclusive")[8]
        if len(delays) > 1
        else (delays[0] if delays else None),
        "answered": len(answered),
        "rating": sum(ratings) / len(ratings) if ratings else None,
        "ratings": len(ratings),
        "opened": sum(within(e["created_at"]) for e in escalations),
        "closed": sum(e["status"] == "closed" and within(e["answered_at"]) for e in escalations),
        "open_now": len(ages),
        "ages": [
            sum(lower <= age < upper for age in ages)
            for lower, upper in zip((0, *AGE_BOUNDS), (*AGE_BOUNDS, 10**9), strict=True)
        ],
        "entry_use": Counter(
            q["faq_id"] for q in questions if q["action"] == "answer" and q["faq_id"]
        ),
        "negative": {k: (v[0], v[1]) for k, v in negative.items() if v[1]},
    }


# Reading the dashboard's page.


def figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([^"]+)" data-value="([^"]*)"', page))


def chart_segments(page: str, chart: str) -> Counter[tuple[str, str]]:
    match = re.search(rf'data-chart="{chart}">(.*?)</svg>', page, re.S)
    assert match, f"no {chart} chart on the page"
    segments = re.findall(
        r'data-day="([^"]+)" data-series="([^"]+)" data-count="(\d+)"', match.group(1)
    )
    return Counter({(day, series): int(count) for day, series, count in segments})


def table_rows(page: str, table: str, *attributes: str) -> list[tuple[str, ...]]:
    match = re.search(rf'<table class="entries {table}">(.*?)</table>', page, re.S)
    assert match, f"no {table} table on the page"
    pattern = " ".join(f'data-{name}="([^"]*)"' for name in attributes)
    return re.findall(pattern, match.group(1))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    add_official(store, "Budi", "agent")
    yield store
    store.close()


@pytest.fixture
def traffic(store: Store) -> Traffic:
    return generate_month(store, datetime.now(UTC))


def _app(settings: Settings, loaded: Loaded, store: Store, public: bool) -> web.Application:
    settings = dataclasses.replace(settings, report=ReportSettings(public=public))
    return create_app(settings, loaded, store)


@pytest.fixture
async def server(
    trained_settings: Settings, loaded: Loaded, store: Store, traffic: Traffic
) -> AsyncIterator[TestServer]:
    async with running(_app(trained_settings, loaded, store, public=False)) as server:
        yield server


async def dashboard(server: TestServer, query: str) -> str:
    async with browser(server) as client:
        assert (await sign_in(client, "Budi")).status == 303
        response = await client.get(f"/desk/dashboard?{query}")
        assert response.status == 200
        return await response.text()


async def test_dashboard_figures_equal_what_the_database_holds(
    server: TestServer, store: Store, traffic: Traffic
) -> None:
    # The app answers what was stored unanswered when it starts, in the background.
    while store.unanswered():
        await asyncio.sleep(0.05)
    page = await dashboard(server, f"period=month&month={traffic.month}")
    want = expected(store.db, traffic.start, traffic.end, datetime.now(UTC))
    assert f'data-period="{traffic.month}"' in page
    assert want["questions"] >= 500
    assert want["by_channel"]["webchat"] == 3
    shown = figures(page)
    assert int(shown["questions"]) == want["questions"]
    assert want["outcomes"]["not_delivered"] >= 10
    for action in ("answer", "clarify", "escalate", "not_delivered"):
        share = want["outcomes"][action] / want["questions"]
        assert float(shown[f"share-{action}"]) == pytest.approx(share)
    assert float(shown["helpful-rate"]) == pytest.approx(want["helpful"] / want["feedback"])
    assert float(shown["response-median"]) == pytest.approx(want["median"])
    assert float(shown["response-p90"]) == pytest.approx(want["p90"])
    assert float(shown["rating-average"]) == pytest.approx(want["rating"])
    assert int(shown["open-now"]) == want["open_now"]
    tickets = re.search(
        r'data-figure="tickets" data-opened="(\d+)" data-answered="(\d+)" data-closed="(\d+)"',
        page,
    )
    assert tickets
    assert tickets.groups() == tuple(str(want[key]) for key in ("opened", "answered", "closed"))
    assert chart_segments(page, "channels") == want["by_day_channel"]
    assert chart_segments(page, "languages") == want["by_day_language"]
    first_day = traffic.start.date().isoformat()
    assert want["by_day_channel"][(first_day, "telegram")] >= 1  # 00:05 local, 17:05 UTC before
    channels = dict(re.findall(r'<tr data-channel="([^"]+)" data-count="(\d+)"', page))
    assert {k: int(v) for k, v in channels.items()} == want["by_channel"]
    outcomes = dict(re.findall(r'data-outcome="([^"]+)" data-count="(\d+)"', page))
    assert {k: int(v) for k, v in outcomes.items() if int(v)} == want["outcomes"]
    ages = re.findall(r'data-age="\d" data-count="(\d+)"', page)
    assert [int(n) for n in ages] == want["ages"]
    top = [(entry, int(n)) for entry, n in table_rows(page, "top", "entry", "count")]
    assert top == sorted(want["entry_use"].items(), key=lambda item: (-item[1], item[0]))
    assert GONE_ENTRY in dict(top) and "(tidak ada lagi di FAQ)" in page
    negative = table_rows(page, "negative", "entry", "helpful", "unhelpful")
    assert {e: (int(y), int(n)) for e, y, n in negative} == want["negative"]
    assert negative[0][0] == "akta-lahir"  # the most "not helpful" first


async def test_dashboard_periods_and_an_empty_month(server: TestServer, store: Store) -> None:
    week = await dashboard(server, "period=7d")
    now = datetime.now(UTC)
    today = now.astimezone(ZONE).date()
    first = today - timedelta(days=6)
    assert f'data-period="{first.isoformat()}..{today.isoformat()}"' in week
    assert 'href="/desk/dashboard?period=7d" aria-current="page"' in week
    start = datetime(first.year, first.month, first.day, tzinfo=ZONE)
    want = expected(store.db, start, start + timedelta(days=7), now)
    assert int(figures(week)["questions"]) == want["questions"] >= len(OPEN_NOW_HOURS)
    assert chart_segments(week, "channels") == want["by_day_channel"]
    empty = await dashboard(server, "period=month&month=2001-01")
    assert figures(empty)["questions"] == "0"
    assert figures(empty)["response-median"] == ""  # no answers: no median, no error
    assert "Tidak ada data pada periode ini." in empty
    fallback = await dashboard(server, "period=month&month=junk")
    assert 'href="/desk/dashboard?period=30d" aria-current="page"' in fallback


async def test_dashboard_speaks_the_officials_language(server: TestServer, store: Store) -> None:
    budi = store.officials.by_name("Budi")
    assert budi is not None
    store.officials.update(budi.id, language="en")
    page = await dashboard(server, "period=30d")
    assert "<h1>Dashboard <small" in page and "Answered by the bot" in page
    assert "Questions per day by channel" in page and "Kotak masuk" not in page


async def test_dashboard_needs_sign_in(server: TestServer) -> None:
    async with browser(server) as client:
        response = await client.get("/desk/dashboard", allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"].startswith("/desk/login?next=")


def test_small_counts_are_suppressed_and_cannot_be_subtracted_out() -> None:
    assert protect({"webchat": 3, "telegram": 300, "messenger": 197}) == {
        "webchat": "<10",
        "telegram": 300,
        "messenger": None,  # else 500 - 300 - 197 = 3
    }
    assert protect({"a": 3, "b": 4, "c": 40}) == {"a": "<10", "b": "<10", "c": 40}
    assert protect({"a": 0, "b": 10, "c": 25}) == {"a": 0, "b": 10, "c": 25}


# The report: `tanya report` and the public page.


@pytest.fixture
def report_config(tmp_path: Path, store: Store, traffic: Traffic) -> Path:
    """A config.yml whose storage.url is ``store``'s."""
    config = write_config(
        tmp_path, SMALL_FAQ, ROOT / "rasa_project", tmp_path / "models" / "none.tar.gz"
    )
    text = config.read_text(encoding="utf-8")
    assert "  url: data/tanya.db\n" in text
    config.write_text(text.replace("data/tanya.db", store.engine.url), encoding="utf-8")
    return config


def assert_nothing_personal(body: str, traffic: Traffic) -> None:
    """No NIK, phone number or e-mail address (what bot.privacy masks), no text that
    a citizen or an official wrote, no citizen's platform id."""
    assert all(mask(text) != text for text in traffic.texts)  # the check can find them
    assert mask(body) == body
    assert not re.search(r"\d{10,}|\w@\w|contoh\.example", body)
    for text in traffic.texts:
        assert text not in body and text[:30] not in body
    for platform_id in traffic.platform_ids:
        assert platform_id not in body


@pytest.mark.parametrize("file_format", ["html", "csv", "json"])
def test_tanya_report_holds_aggregates_only(
    report_config: Path, traffic: Traffic, store: Store, file_format: str
) -> None:
    result = run_tanya(
        "--config",
        str(report_config),
        "report",
        "--month",
        traffic.month,
        "--format",
        file_format,
        cwd=report_config.parent,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    body = result.stdout.decode("utf-8")
    assert_nothing_personal(body, traffic)
    want = expected(store.db, traffic.start, traffic.end, datetime.now(UTC))
    if file_format == "json":
        data = json.loads(body)
        assert data["month"] == traffic.month and data["timezone"] == "Asia/Jakarta"
        assert data["questions"] == want["questions"]
        assert data["channels"] == {
            "messenger": None,
            "telegram": want["by_channel"]["telegram"],
            "webchat": "<10",
        }
        assert data["outcomes"]["answer"] == want["outcomes"]["answer"]
        assert data["outcome_shares"]["answer"] == pytest.approx(
            want["outcomes"]["answer"] / want["questions"], abs=1e-4
        )
        assert data["response_median_seconds"] == pytest.approx(want["median"], abs=1)
        assert data["helpful_rate"] == pytest.approx(want["helpful"] / want["feedback"], abs=1e-4)
        topics = {t["slug"]: t["questions"] for t in data["topics"]}
        assert set(topics) == {"kependudukan", "vaksinasi", "other"}
        assert topics["other"] == "<10"  # the one answer of an entry no longer in the FAQ
    elif file_format == "csv":
        assert "channel,webchat,webchat,<10\n" in body
        assert "channel,messenger,messenger,\n" in body  # withheld
        assert f"volume,questions,Pertanyaan,{want['questions']}\n" in body
    else:
        assert body.startswith("<!doctype html>")
        assert not re.search(r"<(script|link|img)\b", body)  # self-contained
        assert '<tr data-channel="webchat"><td>webchat</td><td class="n">&lt;10</td>' in body
        assert f'data-figure="questions">{want["questions"]}<' in body


def test_tanya_report_writes_a_file_and_names_mistakes(
    report_config: Path, traffic: Traffic, tmp_path: Path
) -> None:
    out = tmp_path / "laporan.csv"
    arguments = ["--config", str(report_config), "report", "--month", traffic.month]
    done = run_tanya(*arguments, "--format", "csv", "--out", str(out), cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert out.read_text(encoding="utf-8").startswith("section,key,label,value\n")
    wrong = run_tanya(
        "--config", str(report_config), "report", "--month", "2026-13", cwd=tmp_path, timeout=60
    )
    assert wrong.returncode == 1
    assert "not a month (YYYY-MM): '2026-13'" in wrong.stderr.decode()


async def test_public_report_is_off_unless_configured(
    trained_settings: Settings, loaded: Loaded, store: Store, traffic: Traffic
) -> None:
    app = _app(trained_settings, loaded, store, public=False)
    async with running(app) as server, browser(server) as client:
        assert (await client.get("/laporan")).status == 404


async def test_public_report_needs_no_sign_in(
    trained_settings: Settings, loaded: Loaded, store: Store, traffic: Traffic
) -> None:
    want = expected(store.db, traffic.start, traffic.end, datetime.now(UTC))
    app = _app(trained_settings, loaded, store, public=True)
    async with running(app) as server, browser(server) as client:
        page = await client.get("/laporan")
        assert page.status == 200
        body = await page.text()
        assert_nothing_personal(body, traffic)
        assert f"<option selected>{traffic.month}</option>" in body  # the latest month
        assert f'data-figure="questions">{want["questions"]}<' in body
        # Titled with the government's name (desk.government_name), not the software's.
        assert trained_settings.desk.government_name == "Kota Contoh"
        assert "<h1>Laporan transparansi Kota Contoh</h1>" in body
        english = await (await client.get(f"/laporan?month={traffic.month}&lang=en")).text()
        assert "<h1>Kota Contoh transparency report</h1>" in english
        data = await (await client.get(f"/laporan?month={traffic.month}&format=json")).json()
        assert data["channels"]["webchat"] == "<10"
        this_month = datetime.now(ZONE).strftime("%Y-%m")  # not over yet: not published
        assert (await client.get(f"/laporan?month={this_month}")).status == 404
        assert (await client.get("/laporan?format=xml")).status == 404


def test_months_are_the_desk_time_zones_and_percentiles_interpolate() -> None:
    march = Period.parse_month("2026-03", "Asia/Jakarta")
    assert march.bounds() == ["2026-02-28T17:00:00.000+00:00", "2026-03-31T17:00:00.000+00:00"]
    # 31 March, 18:00 UTC is already 1 April in Jakarta: March is the last complete month.
    assert last_complete_month(datetime(2026, 3, 31, 18, tzinfo=UTC), "Asia/Jakarta") == march
    assert last_complete_month(datetime(2026, 3, 31, 16, tzinfo=UTC), "Asia/Jakarta").label == (
        "2026-02"
    )
    delays = [300.0, 720, 60, 7200, 1800, 86400, 2700]
    assert percentile(delays, 0.5) == statistics.median(delays)
    assert percentile(delays, 0.9) == pytest.approx(
        statistics.quantiles(delays, n=10, method="inclusive")[8]
    )
