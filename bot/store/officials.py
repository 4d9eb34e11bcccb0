"""Officials' accounts, their desk sessions, failed sign-ins and the audit log.

Passwords arrive here already hashed (``bot.desk.auth`` owns the KDF); session tokens are
stored only as their SHA-256, so a copy of the database cannot be used to sign in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.store.engine import Engine

ROLES = ("admin", "agent")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OfficialExists(Exception):
    """An account with this name exists already."""


@dataclass(frozen=True)
class Official:
    id: int
    name: str
    role: str
    password_hash: str
    telegram_user_id: int | None
    language: str | None
    disabled: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Official:
        return cls(
            id=row["id"],
            name=row["name"],
            role=row["role"],
            password_hash=row["password_hash"],
            telegram_user_id=row["telegram_user_id"],
            language=row["language"],
            disabled=row["disabled_at"] is not None,
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what, when: ``official`` is the name at the time (None: the system or the
    command line)."""

    id: int
    at: str
    official_id: int | None
    official: str | None
    action: str
    target: str | None
    detail: str | None


@dataclass(frozen=True)
class Session:
    official: Official
    csrf_token: str
    expires_at: datetime


class Officials:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def add(
        self, name: str, role: str, password_hash: str, telegram_user_id: int | None = None
    ) -> Official:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if self.by_name(name) is not None:
            raise OfficialExists(name)
        with self.db.atomic():
            official_id = self.db.insert(
                "INSERT INTO officials (name, role, password_hash, telegram_user_id, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [name, role, password_hash, telegram_user_id, _iso(_now())],
            )
        official = self.by_id(official_id)
        assert official is not None
        return official

    def _one(self, where: str, value: Any) -> Official | None:
        rows = list(self.db.query(f"SELECT * FROM officials WHERE {where}", [value]))
        return Official.from_row(rows[0]) if rows else None

    def by_id(self, official_id: int) -> Official | None:
        return self._one("id = ?", official_id)

    def by_name(self, name: str) -> Official | None:
        # Without regard to case, as the unique index on names (migrations): SQLite folds
        # ASCII letters, PostgreSQL every letter.
        return self._one("lower(name) = lower(?)", name)

    def by_telegram_user(self, user_id: int) -> Official | None:
        official = self._one("telegram_user_id = ?", user_id)
        return official if official is not None and not official.disabled else None

    def all(self) -> list[Official]:
        return [
            Official.from_row(r) for r in self.db.query("SELECT * FROM officials ORDER BY name")
        ]

    def update(self, official_id: int, **fields: Any) -> None:
        allowed = {"role", "password_hash", "telegram_user_id", "language", "disabled_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {', '.join(sorted(unknown))}")
        assigned = ", ".join(f"{name} = ?" for name in fields)  # names checked above
        with self.db.atomic():
            self.db.execute(
                f"UPDATE officials SET {assigned} WHERE id = ?", [*fields.values(), official_id]
            )

    def disable(self, official_id: int) -> None:
        """A disabled official keeps their history but can no longer sign in."""
        self.update(official_id, disabled_at=_iso(_now()))
        self.end_sessions(official_id)

    # Sessions

    def start_session(self, official_id: int, token: str, csrf_token: str, hours: float) -> None:
        now = _now()
        with self.db.atomic():
            self.db.execute("DELETE FROM desk_sessions WHERE expires_at < ?", [_iso(now)])
            self.db.execute(
                "INSERT INTO desk_sessions (id, official_id, csrf_token, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    token_id(token),
                    official_id,
                    csrf_token,
                    _iso(now),
                    _iso(now + timedelta(hours=hours)),
                ],
            )

    def session(self, token: str) -> Session | None:
        """The live session for a cookie's token; expired ones and disabled accounts: none."""
        row = self.db.execute(
            "SELECT official_id, csrf_token, expires_at FROM desk_sessions WHERE id = ?",
            [token_id(token)],
        ).fetchone()
        if row is None:
            return None
        expires = datetime.fromisoformat(row[2])
        official = self.by_id(row[0])
        if expires < _now() or official is None or official.disabled:
            return None
        return Session(official, row[1], expires)

    def end_session(self, token: str) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM desk_sessions WHERE id = ?", [token_id(token)])

    def end_sessions(self, official_id: int) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM desk_sessions WHERE official_id = ?", [official_id])

    # Failed sign-ins, for rate limiting

    def record_failure(self, key: str, keep: timedelta = timedelta(days=1)) -> int:
        """Count a failure under ``key``; failures older than ``keep`` are forgotten."""
        now = _now()
        with self.db.atomic():
            self.db.execute("DELETE FROM login_failures WHERE at < ?", [_iso(now - keep)])
            return self.db.insert(
                "INSERT INTO login_failures (key, at) VALUES (?, ?)", [key, _iso(now)]
            )

    def forget_failures(self, ids: list[int]) -> None:
        with self.db.atomic():
            for failure in ids:
                self.db.execute("DELETE FROM login_failures WHERE id = ?", [failure])

    def failures_since(self, key: str, window: timedelta) -> int:
        since = _iso(_now() - window)
        row = self.db.execute(
            "SELECT count(*) FROM login_failures WHERE key = ? AND at >= ?", [key, since]
        ).fetchone()
        return int(row[0])

    def clear_failures(self, key: str) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM login_failures WHERE key = ?", [key])

    # Audit log

    def audit(
        self, official: Official | None, action: str, target: str = "", detail: str = ""
    ) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO audit_log (at, official_id, official, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    _iso(_now()),
                    official.id if official else None,
                    official.name if official else None,
                    action,
                    target,
                    detail,
                ],
            )

    def audit_log(self, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
        """The newest entries first."""
        rows = self.db.execute(
            "SELECT id, at, official_id, official, action, target, detail FROM audit_log "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            [limit, offset],
        )
        return [AuditEntry(*row) for row in rows]
