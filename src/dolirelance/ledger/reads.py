"""Reading follow-ups from the ledger: one entry, the lists ``status`` and ``retry`` work from, the
entries of some quotes or some messages. Read-only transactions: no write lock, nothing changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.sql import Executable

from dolirelance.ledger.entries import ABANDONED_MOVES, Entry
from dolirelance.ledger.followup_table import FollowUpTable
from dolirelance.ledger.schema import FILED_STATES, IN_FLIGHT_STATES, TO_RECORD_STATES, FollowUpState, followups


class FollowUpReads(FollowUpTable):
    """The queries of :class:`~dolirelance.ledger.Ledger`."""

    def get(self, key: str) -> Entry | None:
        query = self._statement("get", lambda: select(followups).where(followups.c.key == bindparam("key")))
        return self._read_one(f"read {key}", query, {"key": key})

    def holder(self, quote_id: int) -> Entry | None:
        """The follow-up of this quote in flight (claimed, sending, sent, uncertain), if any."""
        query = self._statement(
            "holder",
            lambda: select(followups).where(
                followups.c.instance == self.instance,
                followups.c.quote_id == bindparam("holder_quote"),
                followups.c.state.in_([state.value for state in IN_FLIGHT_STATES]),
            ),
        )
        return self._read_one(f"read the follow-up in flight of quote {quote_id}", query, {"holder_quote": quote_id})

    def _read_one(self, action: str, query: Executable, params: Mapping[str, object]) -> Entry | None:
        with self.database.transaction(action, read_only=True) as conn:
            row = conn.execute(query, params).first()
        return Entry.from_row(row) if row is not None else None

    def _select(
        self,
        action: str,
        *conditions: ColumnElement[bool],
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Entry]:
        order = followups.c.updated_at.desc() if newest_first else followups.c.created_at
        query = select(followups).where(followups.c.instance == self.instance, *conditions)
        query = query.order_by(order, followups.c.key).limit(limit)
        with self.database.transaction(action, read_only=True) as conn:
            return [Entry.from_row(row) for row in conn.execute(query)]

    def letters_to_print(self) -> list[Entry]:
        """Letters filed in Dolibarr but in no print file yet (a batch killed midway, a letter done alone)."""
        return self._select(
            "list letters to print",
            followups.c.channel == "letter",
            followups.c.state.in_([state.value for state in FILED_STATES]),
            followups.c.printed_at.is_(None),
        )

    def abandoned(self, limit: int = 50) -> list[Entry]:
        return self._select(
            "list abandoned entries", followups.c.state == FollowUpState.ABANDONED.value, limit=limit, newest_first=True
        )

    def uncertain(self) -> list[Entry]:
        return self._select("list uncertain entries", followups.c.state == FollowUpState.UNCERTAIN.value)

    def to_record(self) -> list[Entry]:
        """Sent but not yet in Dolibarr (SENT and RESOLVED_SENT)."""
        states = [state.value for state in TO_RECORD_STATES]
        return self._select("list entries to record", followups.c.state.in_(states))

    def entries_for_quotes(self, quote_ids: Sequence[int], *, as_recovered: bool = False) -> list[Entry]:
        """The quotes' rows. ``as_recovered``: an abandoned claim (lease run out) is returned as
        :meth:`~dolirelance.ledger.Ledger.recover_abandoned` would leave it, without moving it: a read
        that changes nothing."""
        if not quote_ids:
            return []
        entries: list[Entry] = []
        unique = sorted(set(quote_ids))
        query = self._statement(
            "entries of quotes",
            lambda: (
                select(followups, self._lease_expired().label("lease_expired"))
                .where(
                    followups.c.instance == self.instance, followups.c.quote_id.in_(bindparam("ids", expanding=True))
                )
                .order_by(followups.c.created_at, followups.c.key)
            ),
        )
        moves = {from_state: (to_state, error) for from_state, to_state, error in ABANDONED_MOVES}
        for start in range(0, len(unique), 500):  # keep the IN list within every driver's limits
            chunk = unique[start : start + 500]
            with self.database.transaction("read entries of quotes", read_only=True) as conn:
                for row in conn.execute(query, {"ids": chunk}):
                    values = dict(row._mapping)
                    expired = bool(values.pop("lease_expired"))
                    entry = Entry(**{**values, "state": FollowUpState(values["state"])})
                    move = moves.get(entry.state) if as_recovered and expired else None
                    if move is not None:
                        entry = replace(entry, state=move[0], error=move[1], lease_until=None)
                    entries.append(entry)
        return entries

    def by_message_ids(self, message_ids: Sequence[str]) -> list[Entry]:
        """Follow-ups whose e-mail had one of these Message-IDs (replies name them in In-Reply-To)."""
        if not message_ids:
            return []
        return self._select("find follow-ups by Message-ID", followups.c.message_id.in_(list(message_ids)))

    def sent_to(self, address: str, since: datetime) -> list[Entry]:
        """E-mail follow-ups sent to ``address`` since ``since`` (newest first)."""
        wanted = address.strip().lower()
        if not wanted:
            return []
        candidates = self._select(
            "find follow-ups by recipient",
            followups.c.channel == "email",
            followups.c.sent_at >= since,
            func.lower(followups.c.recipients).contains(wanted, autoescape=True),
            newest_first=True,
        )
        return [
            entry
            for entry in candidates
            if wanted in (part.strip().lower() for part in (entry.recipients or "").split(","))
        ]

    def recent(self, limit: int = 50) -> list[Entry]:
        return self._select("list recent entries", limit=limit, newest_first=True)

    def counts(self) -> dict[FollowUpState, int]:
        query = (
            select(followups.c.state, func.count())
            .where(followups.c.instance == self.instance)
            .group_by(followups.c.state)
        )
        with self.database.transaction("count entries", read_only=True) as conn:
            found: Mapping[str, int] = {str(state): int(count) for state, count in conn.execute(query)}
        return {state: found.get(state.value, 0) for state in FollowUpState}
