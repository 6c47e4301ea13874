"""Settling what no live process works on any more: claims whose heartbeat stopped (recovered by any
run), and a person's word on an uncertain or stuck entry (``dolirelance ledger resolve``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, select, update

from dolirelance.errors import LedgerError
from dolirelance.ledger.entries import ABANDONED_MOVES, Entry
from dolirelance.ledger.followup_table import FollowUpTable
from dolirelance.ledger.schema import ABANDONABLE_STATES, FollowUpState, followups


class FollowUpResolution(FollowUpTable):
    """Recovery and a person's decisions in :class:`~dolirelance.ledger.Ledger`."""

    def recover_abandoned(self) -> list[Entry]:
        """Claims whose heartbeat stopped (lease expired): SENDING and FILING → UNCERTAIN, CLAIMED → FAILED;
        returns the rows changed here."""
        now = self.database.now()
        changed: list[Entry] = []
        with self.database.transaction("recover abandoned claims") as conn:
            for from_state, to_state, error in ABANDONED_MOVES:
                rows = conn.execute(
                    update(followups)
                    .where(
                        followups.c.instance == self.instance,
                        followups.c.state == from_state.value,
                        self._lease_expired(),
                    )
                    .values(state=to_state.value, error=error, updated_at=now, lease_until=None)
                    .returning(*followups.c)
                ).all()
                changed.extend(Entry.from_row(row) for row in rows)
        return changed

    def resolve(self, key: str, *, sent: bool, by: str) -> Entry:
        """A person says whether an UNCERTAIN message left (``dolirelance ledger resolve``)."""
        to_state = FollowUpState.RESOLVED_SENT if sent else FollowUpState.RESOLVED_NOT_SENT
        found = self._decide(
            f"resolve {key}",
            key,
            [followups.c.state == FollowUpState.UNCERTAIN.value],
            state=to_state.value,
            resolved_by=by,
            resolution="sent" if sent else "not sent",
        )
        if found is None:
            raise LedgerError(f"no ledger entry {key!r}", remedy="list uncertain entries with `dolirelance status`")
        entry, changed = found
        if changed:
            return entry
        raise LedgerError(
            f"ledger entry {key!r} is {entry.state.value}, not uncertain: nothing to resolve",
            remedy="only uncertain entries are resolved; see `dolirelance status`",
        )

    def _decide(
        self, action: str, key: str, conditions: Sequence[ColumnElement[bool]], **values: Any
    ) -> tuple[Entry, bool] | None:
        """Apply a person's decision to one entry if it still meets ``conditions``, releasing its lease.

        The entry as it now is and whether this changed it; None when there is no entry ``key``.
        """
        now = self.database.now()
        with self.database.transaction(action) as conn:
            changed = conn.execute(
                update(followups)
                .where(followups.c.key == key, *conditions)
                .values(**values, updated_at=now, lease_until=None)
                .returning(*followups.c)
            ).first()
            if changed is not None:
                return Entry.from_row(changed), True
            row = conn.execute(select(followups).where(followups.c.key == key)).first()
        return (Entry.from_row(row), False) if row is not None else None

    def abandon(self, key: str, *, by: str, reason: str) -> Entry:
        """A person closes a stuck entry (``ledger resolve KEY --abandon``): never sent, filed or recorded
        by dolirelance from now on. Refused while a live process still works on it."""
        found = self._decide(
            f"abandon {key}",
            key,
            [followups.c.state.in_([state.value for state in ABANDONABLE_STATES]), self._lease_expired()],
            state=FollowUpState.ABANDONED.value,
            resolved_by=by,
            resolution="abandoned",
            error=reason,
        )
        if found is None:
            raise LedgerError(f"no ledger entry {key!r}", remedy="see the entries with `dolirelance status`")
        entry, changed = found
        if changed:
            return entry
        if entry.state not in ABANDONABLE_STATES:
            raise LedgerError(
                f"ledger entry {key!r} is {entry.state.value}: nothing to abandon",
                remedy="only entries still in flight (claimed, sending, sent, filing, filed, uncertain, "
                "resolved_sent) are abandoned; see `dolirelance status`",
            )
        raise LedgerError(
            f"ledger entry {key!r} is {entry.state.value} and still worked on by {entry.owner}",
            remedy="wait for that run to end (or for its lease to run out if it died), then try again",
        )
