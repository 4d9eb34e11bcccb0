"""The outbox: every reply and official's answer, until the platform confirms it.

A row is written in the same transaction that stores the reply, and it stays ``queued``
until a send is confirmed by the platform (``sent``), the platform refuses it for good
(``failed``, ``blocked``), its rules forbid it now (``undeliverable``: Messenger's
windows) or the window to send it closed while the platform kept failing (``gave_up``).
A temporary failure only moves ``next_attempt_at``. Rows of one citizen go out in id
order: the dispatcher (``bot.core.dispatch``) sends a citizen's next row only once the one
before it is finished, so a reply never overtakes the one before it.

The conversation's own record follows the outbox: the outgoing message's status becomes
``sent`` only with the platform's confirmation, and an official's answer's ``delivery``
on the escalation says the same as its row here.

Several workers may send from one outbox (PostgreSQL). A worker sends a message only
after :meth:`Outbox.claim` gave it to it: the claim names the worker and holds until its
lease runs out, so no other worker sends that message meanwhile, and only the citizen's
oldest unfinished message can be claimed, so their order holds across workers too. A
worker that dies holding a claim stops beating (``bot.store.liveness``): once it has been
silent for a few seconds, or at once when it said goodbye, another worker claims and
sends the message (which the dead one may have sent already: delivery stays at least
once, bounded by the messages in flight). The lease is the outer bound, for a worker
alive but stuck. Claims are ended by what the send
recorded: :meth:`finish` (idempotent, the first end wins, from whichever worker) or
:meth:`retry_later` (only the claimant's, so a stale attempt cannot reschedule a message
another worker has taken over).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.clock import now_iso
from bot.store.engine import Dialect, Engine
from bot.store.liveness import Workers


class OutboxState(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    WAITING = "waiting"  # the web chat shows it when the citizen's page asks
    FAILED = "failed"
    BLOCKED = "blocked"
    UNDELIVERABLE = "undeliverable"
    GAVE_UP = "gave_up"


FINISHED = frozenset(OutboxState) - {OutboxState.QUEUED}
# Finished without reaching the citizen: what officials must see.
NOT_DELIVERED = frozenset(
    {OutboxState.FAILED, OutboxState.BLOCKED, OutboxState.UNDELIVERABLE, OutboxState.GAVE_UP}
)


class OutboxKind(enum.StrEnum):
    REPLY = "reply"  # the bot's reply to a citizen's message
    OFFICIAL = "official"  # an official's answer to an escalation


@dataclass(frozen=True)
class OutboxItem:
    id: int
    citizen_id: int
    channel: str
    platform_id: str
    language: str | None
    kind: OutboxKind
    replies: str  # JSON, as the core wrote it (``bot.core.messages.replies_to_json``)
    state: OutboxState
    attempts: int
    parts_sent: int
    next_attempt_at: str
    give_up_at: str | None
    last_error: str | None
    then_erase: bool
    message_id: int | None
    created_at: str
    sent_at: str | None = None
    ticket: int | None = None  # for an official's answer
    claimed_by: str | None = None  # the worker sending it (see :meth:`Outbox.claim`)
    lease_until: str | None = None  # when that worker's claim lapses

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OutboxItem:
        return cls(
            id=row["id"],
            citizen_id=row["citizen_id"],
            channel=row["channel"],
            platform_id=row["platform_id"],
            language=row["language"],
            kind=OutboxKind(row["kind"]),
            replies=row["replies"],
            state=OutboxState(row["state"]),
            attempts=row["attempts"],
            parts_sent=row["parts_sent"],
            next_attempt_at=row["next_attempt_at"],
            give_up_at=row["give_up_at"],
            last_error=row["last_error"],
            then_erase=bool(row["then_erase"]),
            message_id=row["message_id"],
            created_at=row["created_at"],
            sent_at=row["sent_at"],
            ticket=row.get("ticket"),
            claimed_by=row.get("claimed_by"),
            lease_until=row.get("lease_until"),
        )

    def claimed_by_other(self, worker: str, now: str) -> bool:
        """Whether another worker's claim on it holds at ``now``."""
        return (
            self.claimed_by is not None
            and self.claimed_by != worker
            and (self.lease_until or "") >= now
        )


# The ticket an official's answer (message ``{}``) answers: the one that names it
# (``escalations.answer_message_id``; the citizen's question may have a second ticket).
_TICKET_OF_ANSWER = "(SELECT e.id FROM escalations e WHERE e.answer_message_id = {})"
_SELECT_FROM = (
    "SELECT o.*, c.channel, c.platform_id, c.language, "
    f"CASE WHEN o.kind = 'official' THEN {_TICKET_OF_ANSWER.format('o.message_id')} END "
    "AS ticket FROM {} o JOIN citizens c ON c.id = o.citizen_id"
)
_SELECT = _SELECT_FROM.format("outbox")
# An official's answer that a platform's window kept back (Messenger's 24 hours), in outbox
# row ``{0}``: sent again when the citizen next writes (``Outbox.reopen_officials``).
HELD_BACK = "{0}.kind = 'official' AND {0}.state IN ('undeliverable', 'gave_up')"


class Outbox:
    def __init__(self, db: Engine, workers: Workers) -> None:
        self.db = db
        self.workers = workers  # whose claims are free before their lease (a dead worker's)

    def add(
        self,
        citizen_id: int,
        kind: OutboxKind,
        replies: str,
        *,
        message_id: int | None,
        give_up_at: str | None = None,
        then_erase: bool = False,
    ) -> int:
        """Queue a message; call inside the transaction that stores what it answers.

        A citizen's messages are sent in id order, so their ids must follow the order in
        which they are committed: on PostgreSQL the citizen's row is locked first, and a
        second worker queueing for the same citizen at once waits for this commit before
        it draws its id (otherwise it could commit a later id first, and have it sent
        before this one). SQLite's write transactions are one at a time already."""
        if self.db.dialect is Dialect.POSTGRESQL:
            # NO KEY UPDATE: not in conflict with the key-share locks that inserting rows
            # referring to the citizen take (FOR UPDATE would deadlock with those).
            self.db.execute("SELECT id FROM citizens WHERE id = ? FOR NO KEY UPDATE", [citizen_id])
        now = now_iso()
        return self.db.insert(
            "INSERT INTO outbox (citizen_id, message_id, kind, replies, state, next_attempt_at, "
            "give_up_at, then_erase, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
            [
                citizen_id,
                message_id,
                kind.value,
                replies,
                now,
                give_up_at,
                int(then_erase),
                now,
                now,
            ],
        )

    def get(self, item_id: int) -> OutboxItem | None:
        rows = list(self.db.query(f"{_SELECT} WHERE o.id = ?", [item_id]))
        return OutboxItem.from_row(rows[0]) if rows else None

    def next_for(self, citizen_id: int) -> OutboxItem | None:
        """The citizen's oldest unfinished message: the only one that may go out now."""
        rows = list(
            self.db.query(
                f"{_SELECT} WHERE o.citizen_id = ? AND o.state = 'queued' ORDER BY o.id LIMIT 1",
                [citizen_id],
            )
        )
        return OutboxItem.from_row(rows[0]) if rows else None

    def waiting_citizens(
        self, channels: Sequence[str], *, worker: str | None = None, now: str | None = None
    ) -> list[int]:
        """Citizens on these channels with something queued (at start: what a crash or a
        stop left); with ``worker`` and ``now``, not those whose message another live
        worker's claim holds (that worker is sending it; a dead worker's claim holds
        nothing, see ``bot.store.liveness``)."""
        if not channels:
            return []
        marks = ", ".join("?" for _ in channels)
        params: list[Any] = list(channels)
        others = ""
        if worker is not None and now is not None:
            dead, dead_params = self.workers.dead("q.claimed_by")
            others = (
                "AND NOT EXISTS (SELECT 1 FROM outbox q WHERE q.citizen_id = o.citizen_id "
                f"AND q.state = 'queued' AND q.claimed_by <> ? AND q.lease_until >= ? "
                f"AND NOT {dead}) "
            )
            params += [worker, now, *dead_params]
        rows = self.db.execute(
            "SELECT o.citizen_id, min(o.id) AS first FROM outbox o "
            "JOIN citizens c ON c.id = o.citizen_id "
            f"WHERE o.state = 'queued' AND c.channel IN ({marks}) {others}"
            "GROUP BY o.citizen_id ORDER BY first",
            params,
        )
        return [r[0] for r in rows]

    def claim(self, item_id: int, worker: str, now: str, until: str) -> OutboxItem | None:
        """Give this message to ``worker`` to send, its claim holding until ``until``;
        the message as claimed, or None when it is not to be sent by this worker now:
        finished, another live worker's claim holds (its lease runs past ``now`` and its
        heartbeat goes on, ``bot.store.liveness``), or an earlier message of the citizen
        is still unfinished (order per citizen).

        One statement. On PostgreSQL the row is picked ``FOR UPDATE SKIP LOCKED``: a
        worker never waits on another's claim in progress, it leaves the row to it (and
        an earlier message being finished meanwhile is still seen as unfinished, so a
        later one is never claimed before it). On SQLite the statement is the write
        transaction, one at a time."""
        claim, params = self._claim("o.id = ?", [item_id], worker, now, until)
        if self.db.dialect is Dialect.POSTGRESQL:  # the claimed row read back at once
            claimed = f"WITH claimed AS ({claim} RETURNING *) {_SELECT_FROM.format('claimed')}"
            rows = self.db.query(claimed, params)
            return OutboxItem.from_row(rows[0]) if rows else None
        cursor = self.db.execute_atomic(claim, params)
        return self.get(item_id) if cursor.rowcount == 1 else None

    def claim_next(
        self, citizen_id: int, worker: str, now: str, until: str, channels: Sequence[str]
    ) -> tuple[OutboxItem | None, bool]:
        """The citizen's oldest unfinished message, claimed for ``worker`` as
        :meth:`claim` does, when it can go out at ``now`` without more ado: due (its
        ``next_attempt_at`` reached), not past ``give_up_at``, on one of ``channels``
        (those switched on). With it, whether the citizen has any message queued: (the
        message as claimed, True); (None, False) when nothing is queued; (None, True)
        when their next message cannot be claimed so (not due, expired, on a channel
        that is off, another live worker's): the caller reads it (:meth:`next_for`) and
        decides. The dispatcher's usual turn (claim, send, record, claim the next) in
        one statement per message where :meth:`next_for` then :meth:`claim` made two;
        on PostgreSQL one round trip (the statement's snapshot is taken after the
        previous send's record committed, so a reply another worker queued meanwhile is
        seen, as :meth:`next_for` would)."""
        if not channels:
            return None, self.next_for(citizen_id) is not None
        marks = ", ".join("?" for _ in channels)
        ready = (
            "o.citizen_id = ? AND o.next_attempt_at <= ? "
            "AND (o.give_up_at IS NULL OR o.give_up_at > ?) AND EXISTS (SELECT 1 FROM "
            f"citizens r WHERE r.id = o.citizen_id AND r.channel IN ({marks}))"
        )
        claim, params = self._claim(ready, [citizen_id, now, now, *channels], worker, now, until)
        queued = "SELECT 1 FROM outbox q WHERE q.citizen_id = ? AND q.state = 'queued'"
        if self.db.dialect is Dialect.POSTGRESQL:
            rows = self.db.query(
                f"WITH claimed AS ({claim} RETURNING *) "
                f"SELECT x.*, EXISTS ({queued}) AS queued FROM (SELECT 1) one "
                f"LEFT JOIN ({_SELECT_FROM.format('claimed')}) x ON true",
                [*params, citizen_id],
            )
            row = rows[0]
            item = OutboxItem.from_row(row) if row["id"] is not None else None
            return item, bool(row["queued"])
        with self.db.atomic():
            taken = self.db.execute(f"{claim} RETURNING id", params).fetchall()
            if taken:
                return self.get(int(taken[0][0])), True
            return None, bool(self.db.execute(queued, [citizen_id]).fetchall())

    def _claim(
        self, which: str, which_params: list[Any], worker: str, now: str, until: str
    ) -> tuple[str, list[Any]]:
        """The UPDATE that claims the message ``which`` picks if it is free (see
        :meth:`claim`), and its parameters."""
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect is Dialect.POSTGRESQL else ""
        dead, dead_params = self.workers.dead("o.claimed_by")
        claim = (
            "UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE id IN ("
            f"SELECT o.id FROM outbox o WHERE {which} AND o.state = 'queued' "
            f"AND (o.claimed_by IS NULL OR o.claimed_by = ? OR o.lease_until < ? OR {dead}) "
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.citizen_id = o.citizen_id "
            f"AND p.state = 'queued' AND p.id < o.id){lock})"
        )
        return claim, [worker, until, *which_params, worker, now, *dead_params]

    def release_claims(self) -> int:
        """Let go of every claim on unfinished messages: at the start of the only process
        on a database (``Store.single_process``), whose claims are its predecessor's, so
        what a crash interrupted goes out at once instead of after the lease."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE outbox SET claimed_by = NULL, lease_until = NULL "
                "WHERE state = 'queued' AND claimed_by IS NOT NULL"
            )
        return max(cursor.rowcount, 0)

    def progress(self, item_id: int, parts_sent: int, worker: str) -> bool:
        """The platform confirmed the first ``parts_sent`` rendered messages of this
        message, in an attempt still going on: recorded at once (only while ``worker``'s
        claim is the one on it), so that a worker dying before the next part leaves only
        the rest to be sent again. The claim's lease is not renewed. True when recorded."""
        cursor = self.db.execute_atomic(
            "UPDATE outbox SET parts_sent = ?, updated_at = ? "
            "WHERE id = ? AND state = 'queued' AND claimed_by = ?",
            [parts_sent, now_iso(), item_id, worker],
        )
        return cursor.rowcount == 1

    def retry_later(
        self, item_id: int, at: str, error: str, parts_sent: int, *, worker: str | None = None
    ) -> bool:
        """An attempt failed for now: try again at ``at``; the claim ends. With ``worker``,
        only while that worker's claim is the one on it (another worker may have taken it
        over after the lease, and its record counts). True when recorded."""
        mine = "" if worker is None else " AND claimed_by = ?"
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE outbox SET attempts = attempts + 1, parts_sent = ?, next_attempt_at = ?, "
                "last_error = ?, updated_at = ?, claimed_by = NULL, lease_until = NULL "
                f"WHERE id = ? AND state = 'queued'{mine}",
                [parts_sent, at, error[:500], now_iso(), item_id]
                + ([] if worker is None else [worker]),
            )
            if cursor.rowcount != 1:
                return False
            self._follow(item_id, "retrying", error)
        return True

    def finish(self, item_id: int, state: OutboxState, detail: str, parts_sent: int) -> bool:
        """Record how a message ended; the conversation and the escalation follow along.
        False when it had already ended (a second worker, a stale retry)."""
        if state is OutboxState.QUEUED:
            raise ValueError("finish() records an end state")
        now = now_iso()
        end = (
            "UPDATE outbox SET state = ?, attempts = attempts + 1, parts_sent = ?, "
            "last_error = ?, updated_at = ?, claimed_by = NULL, lease_until = NULL, "
            "sent_at = CASE WHEN ? IN ('sent', 'waiting') THEN ? ELSE sent_at END "
            "WHERE id = ? AND state = 'queued' RETURNING kind, message_id"
        )
        error = None if state in (OutboxState.SENT, OutboxState.WAITING) else detail[:500]
        params = [state.value, parts_sent, error, now, state.value, now, item_id]
        if self.db.dialect is Dialect.POSTGRESQL:
            # What _follow does, in the same statement: one round trip, no BEGIN/COMMIT.
            ticket = _TICKET_OF_ANSWER.format(
                "(SELECT message_id FROM ended WHERE kind = 'official')"
            )
            ended = self.db.execute_atomic(
                f"WITH ended AS ({end}), "
                "followed AS (UPDATE messages SET status = ? "
                "WHERE id = (SELECT message_id FROM ended)), "
                "delivered AS (UPDATE escalations SET delivery = ?, delivery_detail = ?, "
                "updated_at = ?, delivered_at = CASE WHEN ? = 'sent' THEN ? ELSE delivered_at END "
                f"WHERE id = {ticket} AND status = 'answered') "
                "SELECT kind, message_id FROM ended",
                [*params, state.value, state.value, detail or None, now, state.value, now],
            )
            return len(ended.fetchall()) == 1
        with self.db.atomic():
            # Read whole: SQLite finishes the update only once it is stepped out.
            rows = self.db.execute(end, params).fetchall()
            if len(rows) != 1:
                return False
            self._follow(item_id, state.value, detail, rows[0])
        return True

    def _follow(
        self, item_id: int, state: str, detail: str, row: tuple[Any, ...] | None = None
    ) -> None:
        """The outgoing message's status, and for an official's answer the escalation's
        ``delivery``, say what the outbox says. ``row``: the item's (kind, message_id),
        when the caller has it already."""
        if row is None:
            row = self.db.execute(
                "SELECT kind, message_id FROM outbox WHERE id = ?", [item_id]
            ).fetchone()
        if row is None or row[1] is None:
            return
        kind, message_id = row
        status = "pending" if state == "retrying" else state
        self.db.execute("UPDATE messages SET status = ? WHERE id = ?", [status, message_id])
        if kind == OutboxKind.OFFICIAL:
            now = now_iso()
            self.db.execute(
                "UPDATE escalations SET delivery = ?, delivery_detail = ?, updated_at = ?, "
                "delivered_at = CASE WHEN ? = 'sent' THEN ? ELSE delivered_at END "
                f"WHERE id = {_TICKET_OF_ANSWER.format('?')} AND status = 'answered'",
                [state, detail or None, now, state, now, message_id],
            )

    def requeue(self, item_id: int) -> bool:
        """Try a message that did not get through once more (an official's "send again")."""
        now = now_iso()
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE outbox SET state = 'queued', next_attempt_at = ?, give_up_at = NULL, "
                "updated_at = ? WHERE id = ? AND state IN ('failed', 'gave_up', 'undeliverable')",
                [now, now, item_id],
            )
            if cursor.rowcount == 1:
                self._follow(item_id, "retrying", "")
        return cursor.rowcount == 1

    def reopen_officials(self, citizen_id: int) -> list[int]:
        """Queue again the officials' messages to this citizen that the platform's window
        kept from them (they just wrote, which opens it again); returns their ids. Called
        when storing their message said some wait (``Saved.officials_waiting``, the same
        condition), so that nearly every message costs no statement here."""
        now = now_iso()
        with self.db.atomic():
            rows = self.db.execute(
                f"SELECT o.id FROM outbox o WHERE o.citizen_id = ? AND {HELD_BACK.format('o')} "
                "ORDER BY o.id",
                [citizen_id],
            ).fetchall()
            for (item_id,) in rows:
                self.db.execute(
                    "UPDATE outbox SET state = 'queued', next_attempt_at = ?, give_up_at = NULL, "
                    "updated_at = ? WHERE id = ?",
                    [now, now, item_id],
                )
                self._follow(item_id, "retrying", "")
        return [r[0] for r in rows]

    def shown(self, message_ids: list[int]) -> None:
        """The web chat page showed these waiting messages: they reached the citizen."""
        if not message_ids:
            return
        marks = ", ".join("?" for _ in message_ids)
        now = now_iso()
        with self.db.atomic():
            self.db.execute(
                f"UPDATE messages SET status = 'sent' WHERE id IN ({marks}) AND status = 'waiting'",
                message_ids,
            )
            self.db.execute(
                f"UPDATE outbox SET state = 'sent', sent_at = ?, updated_at = ? "
                f"WHERE message_id IN ({marks}) AND state = 'waiting'",
                [now, now, *message_ids],
            )

    def for_message(self, message_id: int) -> OutboxItem | None:
        rows = list(
            self.db.query(
                f"{_SELECT} WHERE o.message_id = ? ORDER BY o.id DESC LIMIT 1", [message_id]
            )
        )
        return OutboxItem.from_row(rows[0]) if rows else None

    def for_official_answer(self, ticket: int) -> OutboxItem | None:
        """The latest outbox message carrying an official's answer to ``ticket``."""
        rows = list(
            self.db.query(
                f"{_SELECT} WHERE o.kind = 'official' AND o.message_id = "
                "(SELECT answer_message_id FROM escalations WHERE id = ?) "
                "ORDER BY o.id DESC LIMIT 1",
                [ticket],
            )
        )
        return OutboxItem.from_row(rows[0]) if rows else None

    def not_delivered(self, limit: int = 100, older_than: str | None = None) -> list[OutboxItem]:
        """Messages that did not reach their citizen, newest first, and (``older_than``)
        those still retrying since before that time: the desk's "not delivered" list."""
        stuck = "OR (o.state = 'queued' AND o.attempts > 0 AND o.created_at < ?)"
        params: list[Any] = [*sorted(s.value for s in NOT_DELIVERED)]
        clause = f"o.state IN ({', '.join('?' for _ in NOT_DELIVERED)})"
        if older_than is not None:
            clause = f"({clause} {stuck})"
            params.append(older_than)
        rows = self.db.query(
            f"{_SELECT} WHERE {clause} ORDER BY o.id DESC LIMIT ?", [*params, limit]
        )
        return [OutboxItem.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Messages per state, and how many queued ones have failed at least once."""
        counts = dict.fromkeys((s.value for s in OutboxState), 0)
        for state, count in self.db.execute("SELECT state, count(*) FROM outbox GROUP BY state"):
            counts[state] = count
        counts["retrying"] = self.db.execute(
            "SELECT count(*) FROM outbox WHERE state = 'queued' AND attempts > 0"
        ).fetchone()[0]
        return counts
