"""Moving a follow-up along its states (see the drawing in :mod:`dolirelance.ledger`): each move is one
conditional ``UPDATE`` from the states it may come from, by the process that owns the entry (or, where
said, by anyone once its lease has run out); a move that finds the entry elsewhere says where it is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, or_, select, update
from sqlalchemy.sql import Executable

from dolirelance.errors import LedgerError
from dolirelance.ledger.entries import Entry
from dolirelance.ledger.followup_table import FollowUpTable, setters, value_shape
from dolirelance.ledger.schema import (
    FILED_STATES,
    HANDING_OVER_STATES,
    LIVE_STATES,
    TO_RECORD_STATES,
    FollowUpState,
    followups,
)


class FollowUpTransitions(FollowUpTable):
    """The moves of :class:`~dolirelance.ledger.Ledger` by the process working on a follow-up."""

    # RECORDED, or PRINTED for a letter already in a print file
    _recorded_state = case(
        (followups.c.printed_at.is_not(None), FollowUpState.PRINTED.value), else_=FollowUpState.RECORDED.value
    )

    def mark_sending(
        self,
        key: str,
        *,
        message_id: str | None = None,
        recipients: str | Sequence[str] | None = None,
        model: str | None = None,
        next_date: date | None = None,
        file_name: str | None = None,
        facts: str | None = None,
    ) -> Entry:
        """An e-mail's SMTP turn begins (a letter: ``file_name`` given, its upload begins: FILING); what is
        known by now (message id, recipients, the model chosen once the history was read, the letter's file
        name, the facts to record) is kept so an uncertain one can be recorded."""
        known: dict[str, Any] = {}
        if facts:
            known["facts"] = facts
        if model:
            known["model"] = model
        if next_date is not None:
            known["next_date"] = next_date
        if file_name:
            known["file_name"] = file_name
        if message_id:
            known["message_id"] = message_id
        if recipients:
            known["recipients"] = recipients if isinstance(recipients, str) else ", ".join(recipients)
        to_state = FollowUpState.FILING if file_name else FollowUpState.SENDING
        return self._move(key, (FollowUpState.CLAIMED,), to_state, lease_until=self.database.lease_end(), **known)

    def mark_filed(self, key: str) -> Entry:
        """The letter is in the quote's files (its upload answered, or found there by its name)."""
        return self._move(
            key,
            (FollowUpState.FILING,),
            FollowUpState.FILED,
            sent_at=self.database.now(),
            lease_until=self.database.lease_end(),
            error=None,
        )

    def mark_sent(self, key: str, *, message_id: str, recipients: str | Sequence[str]) -> Entry:
        now = self.database.now()
        shown = recipients if isinstance(recipients, str) else ", ".join(recipients)
        return self._move(
            key,
            (FollowUpState.SENDING,),
            FollowUpState.SENT,
            message_id=message_id,
            recipients=shown,
            sent_at=now,
            lease_until=self.database.lease_end(),
            error=None,
        )

    def mark_recorded(
        self, key: str, *, event_id: int, todo_event_id: int | None = None, file_name: str | None = None
    ) -> Entry:
        """Dolibarr has the event. Allowed to the sender, or to anyone once the lease has expired
        (``retry`` after a crash, or a resolved entry); call :meth:`~dolirelance.ledger.Ledger.take_for_recording`
        (:mod:`~dolirelance.ledger.claims`) first when several processes may record the same entry."""
        return self._move(
            key,
            TO_RECORD_STATES,
            None,
            state=self._recorded_state,
            event_id=event_id,
            todo_event_id=todo_event_id,
            file_name=file_name,
            recorded_at=self.database.now(),
            lease_until=None,
            error=None,
            or_released=True,
        )

    def mark_record_failed(self, key: str, error: str) -> Entry:
        """Writing to Dolibarr failed: the entry stays to record, released for a later retry."""
        return self._move(key, TO_RECORD_STATES, None, error=error, lease_until=None, or_released=True)

    def mark_failed(self, key: str, error: str) -> Entry:
        """Nothing was sent or filed (refused before, by SMTP, by Dolibarr): release the key."""
        return self._move(
            key,
            (FollowUpState.CLAIMED, *HANDING_OVER_STATES),
            FollowUpState.FAILED,
            error=error,
            lease_until=None,
        )

    def mark_uncertain(self, key: str, error: str) -> Entry:
        """SMTP took the message but never answered (a letter: Dolibarr took the upload but never answered,
        and the file is not found): a person, or a later look in the quote's files, says whether it left."""
        return self._move(key, HANDING_OVER_STATES, FollowUpState.UNCERTAIN, error=error, lease_until=None)

    def mark_printed(self, keys: Sequence[str]) -> int:
        """These letters are in a print file now (whoever filed them); returns how many were not yet.

        A recorded letter becomes PRINTED; one filed but not recorded yet keeps its state and becomes
        PRINTED when it is recorded (``printed_at`` remembers it)."""
        if not keys:
            return 0
        now = self.database.now()
        with self.database.transaction(f"mark {len(keys)} letter(s) printed") as conn:
            return int(
                conn.execute(
                    update(followups)
                    .where(
                        followups.c.instance == self.instance,
                        followups.c.key.in_(list(keys)),
                        followups.c.channel == "letter",
                        followups.c.state.in_([state.value for state in FILED_STATES]),
                        followups.c.printed_at.is_(None),
                    )
                    .values(
                        printed_at=now,
                        state=case(
                            (followups.c.state == FollowUpState.RECORDED.value, FollowUpState.PRINTED.value),
                            else_=followups.c.state,
                        ),
                    )
                ).rowcount
            )

    def close_unrecordable(self, key: str, reason: str) -> Entry:
        """Done but can never be recorded (its quote is gone from Dolibarr): closed with the reason, so
        ``retry`` stops failing on it; never done again."""
        return self._move(
            key,
            TO_RECORD_STATES,
            FollowUpState.ABANDONED,
            error=reason,
            resolution="not recordable",
            lease_until=None,
            or_released=True,
        )

    def _move(
        self,
        key: str,
        from_states: Sequence[FollowUpState],
        to_state: FollowUpState | None,
        *,
        or_released: bool = False,
        **values: Any,
    ) -> Entry:
        """Change an entry this process owns, only from ``from_states`` (``to_state`` None: keep it).

        ``or_released``: an entry whose lease has expired (its owner died or let it go) is taken over.
        """
        now = self.database.now()
        if to_state is not None:
            values["state"] = to_state.value
        if or_released:
            values["owner"] = self.owner
        values["updated_at"] = now
        shape, params = value_shape(values)

        def build() -> Executable:
            owned: ColumnElement[bool] = followups.c.owner == self.owner
            if or_released:
                owned = or_(owned, self._lease_expired())
            return (
                update(followups)
                .where(
                    followups.c.key == bindparam("moved_key"),
                    followups.c.state.in_([state.value for state in from_states]),
                    owned,
                )
                .values(setters(values))
                .returning(*followups.c)
            )

        target = to_state.value if to_state is not None else "updated"
        statement = self._statement(("move", tuple(from_states), or_released, shape), build)
        with self.database.transaction(f"mark {key} {target}") as conn:
            changed = conn.execute(statement, {**params, "moved_key": key}).first()
            if changed is not None:
                moved = Entry.from_row(changed)
                if moved.state not in LIVE_STATES or moved.lease_until is None:
                    self.heartbeat.let_go(key)  # done, released, or handed to a person: nothing to keep alive
                return moved
            row = conn.execute(select(followups).where(followups.c.key == key)).first()
        expected = " or ".join(state.value for state in from_states)
        if row is None:
            raise LedgerError(f"no ledger entry {key!r} to mark {target}")
        entry = Entry.from_row(row)
        if entry.state not in from_states:
            raise LedgerError(
                f"ledger entry {key!r} is {entry.state.value}, not {expected}: cannot mark it {target}",
                remedy="another run may have taken it over; see `dolirelance status`",
            )
        raise LedgerError(
            f"ledger entry {key!r} belongs to {entry.owner}, not to this process: cannot mark it {target}",
            remedy="its lease probably expired and another run took it over; see `dolirelance status`",
        )
