"""Campaign links (``t.me/<bot>?start=<slug>``): which link first brought each citizen in,
and what those citizens did since, for the desk's Campaigns page."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.clock import now_iso
from bot.store.engine import Engine


@dataclass(frozen=True)
class CampaignFigures:
    slug: str
    title: str
    created_at: str
    citizens: int  # brought in by this link
    questions: int  # text messages those citizens wrote
    subscriptions: int  # topics those citizens subscribed to


class Campaigns:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def create(self, slug: str, title: str, created_by: int | None) -> bool:
        """False when a campaign with this slug exists already."""
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO campaigns (slug, title, created_by, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [slug, title, created_by, now_iso()],
            )
        return cursor.rowcount == 1

    def figures(self) -> list[CampaignFigures]:
        """Every campaign, newest first."""
        rows = self.db.execute(
            "SELECT k.slug, k.title, k.created_at, "
            "(SELECT count(*) FROM citizens c WHERE c.campaign = k.slug), "
            "(SELECT count(*) FROM messages m JOIN citizens c ON c.id = m.citizen_id "
            " WHERE c.campaign = k.slug AND m.direction = 'in' AND m.kind = 'text'), "
            "(SELECT count(*) FROM subscriptions s JOIN citizens c ON c.id = s.citizen_id "
            " WHERE c.campaign = k.slug) "
            "FROM campaigns k ORDER BY k.created_at DESC"
        )
        return [CampaignFigures(*row) for row in rows]
