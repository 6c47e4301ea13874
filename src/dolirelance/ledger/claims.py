"""Claiming follow-ups in the ledger: the one claimant that may send wins a key (and its quote), and a
row already sent is taken over for recording. A won claim is held alive by the heartbeat."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Executable

from dolirelance.errors import LedgerError
from dolirelance.ledger.entries import Claim, auto_key
from dolirelance.ledger.followup_table import setters, value_shape
from dolirelance.ledger.reads import FollowUpReads
from dolirelance.ledger.schema import RELEASED_STATES, TO_RECORD_STATES, FollowUpState, _UtcDateTime, followups


class FollowUpClaims(FollowUpReads):
    """The claims of :class:`~dolirelance.ledger.Ledger` (a refused one names its holder: a read)."""

    def auto_key(self, quote_id: int, step: int) -> str:
        return auto_key(self.instance, quote_id, step)

    def claim(
        self,
        key: str,
        *,
        quote_id: int,
        quote_ref: str,
        step: int | None,
        model: str,
        channel: str,
        run_id: str,
        note: str | None = None,
        user_id: int | None = None,
        next_date: date | None = None,
    ) -> Claim:
        """Take ``key`` for this process; won only by the one claimant that may send.

        Refused when the key is taken (in flight or done) or when another follow-up of the same quote
        is in flight; the refusal names the entry that holds it.
        """
        now = self.database.now()
        fresh: dict[str, Any] = {
            "instance": self.instance,
            "quote_id": quote_id,
            "quote_ref": quote_ref,
            "step": step,
            "model": model,
            "channel": channel,
            "state": FollowUpState.CLAIMED.value,
            "run_id": run_id,
            "owner": self.owner,
            "lease_until": self.database.lease_end(),
            "note": note,
            "user_id": user_id,
            "next_date": next_date,
            "updated_at": now,
        }
        cleared = dict.fromkeys(
            (
                "message_id", "recipients", "event_id", "todo_event_id", "file_name", "error",
                "sent_at", "recorded_at", "resolved_by", "resolution",
            )
        )  # fmt: skip
        try:
            with self.database.transaction(f"claim {key}") as conn:
                won = self._claim_in(conn, key, now, fresh, cleared)
        except LedgerError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            won = False  # a concurrent claim on the same quote got in first (unique index)
        if won:
            self.heartbeat.hold(key)
            return Claim(True)
        return Claim(False, self.holder(quote_id) or self.get(key))

    def _claim_in(
        self, conn: Connection, key: str, now: datetime, fresh: dict[str, Any], cleared: dict[str, Any]
    ) -> bool:
        # A claim abandoned (lease expired) before anything was sent no longer holds the quote.
        conn.execute(
            self._statement(
                "release abandoned claim",
                lambda: (
                    update(followups)
                    .where(
                        followups.c.instance == self.instance,
                        followups.c.quote_id == bindparam("claimed_quote"),
                        followups.c.key != bindparam("claimed_key"),
                        followups.c.state == FollowUpState.CLAIMED.value,
                        self._lease_expired(),
                    )
                    .values(
                        state=FollowUpState.FAILED.value,
                        error="abandoned before sending",
                        updated_at=bindparam("claimed_now", type_=_UtcDateTime),
                        lease_until=None,
                    )
                ),
            ),
            {"claimed_quote": fresh["quote_id"], "claimed_key": key, "claimed_now": now},
        )
        postgres = conn.dialect.name == "postgresql"
        new_row = {"key": key, "created_at": now, **fresh}
        shape, params = value_shape(new_row)

        def build_insert() -> Executable:
            dialect_insert = postgresql.insert if postgres else sqlite.insert
            # No conflict target: a clash on the key or on the quote's in-flight index both mean "refused".
            return (
                dialect_insert(followups).values(setters(new_row)).on_conflict_do_nothing().returning(followups.c.key)
            )

        inserted = conn.execute(self._statement(("claim insert", postgres, shape), build_insert), params).first()
        if inserted is not None:
            return True
        takeover = {**fresh, **cleared}
        shape, params = value_shape(takeover)
        taken_over = conn.execute(
            self._statement(
                ("claim takeover", shape),
                lambda: (
                    update(followups)
                    .where(
                        followups.c.key == bindparam("claimed_key"),
                        or_(
                            followups.c.state.in_([state.value for state in RELEASED_STATES]),
                            and_(followups.c.state == FollowUpState.CLAIMED.value, self._lease_expired()),
                        ),
                    )
                    .values(setters(takeover))
                    .returning(followups.c.key)
                ),
            ),
            {**params, "claimed_key": key},
        ).first()
        return taken_over is not None

    def take_for_recording(self, key: str) -> bool:
        """Own a SENT or RESOLVED_SENT entry before recording it (``retry`` of another run's work).

        True when this process now holds it: it was already ours, or its lease has expired.
        """
        now = self.database.now()
        with self.database.transaction(f"take {key} for recording") as conn:
            result = conn.execute(
                update(followups)
                .where(
                    followups.c.key == key,
                    followups.c.state.in_([state.value for state in TO_RECORD_STATES]),
                    or_(followups.c.owner == self.owner, self._lease_expired()),
                )
                .values(owner=self.owner, lease_until=self.database.lease_end(), updated_at=now)
                .returning(followups.c.key)
            ).first()
        if result is None:
            return False
        self.heartbeat.hold(key)
        return True
