"""The replies mailbox in the ledger: each message processed once (see :class:`MailboxLedger`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from dolirelance.errors import LedgerError
from dolirelance.ledger.followups import Ledger
from dolirelance.ledger.schema import MessageState, mailbox_messages


@dataclass(frozen=True, slots=True)
class MailboxMessage:
    """One row of ``mailbox_messages``: a message of the replies mailbox and its outcome."""

    instance: str
    mailbox: str
    uidvalidity: int
    uid: int
    state: MessageState
    kind: str | None
    owner: str | None
    lease_until: datetime | None
    message_id: str | None
    sender: str | None
    subject: str | None
    received_at: datetime | None
    followup_key: str | None
    quote_id: int | None
    quote_ref: str | None
    address: str | None
    detail: str | None
    event_id: int | None
    todo_event_id: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    read_attempts: int = 0

    @classmethod
    def from_row(cls, row: Row[Any]) -> MailboxMessage:
        values: dict[str, Any] = dict(row._mapping)
        values["state"] = MessageState(values["state"])
        return cls(**values)


class MailboxLedger:
    """The ledger's memory of the replies mailbox: each message (UIDVALIDITY, UID) processed once.

    Life of a message::

        claim_message ─► CLAIMED ─► (Dolibarr holds the record) ─► RECORDED ─► (flagged or moved) ─► DONE
             │              └─ (dies: lease expires, the next run takes it over and finds what Dolibarr has)
             ├─► IGNORED     not about our follow-ups: left alone
             └─► UNREADABLE  left in place, reported

    A claim is won by one process only (insert, or take over an expired CLAIMED row); RECORDED means
    Dolibarr needs nothing more, whoever flags the message afterwards.
    """

    def __init__(self, ledger: Ledger, mailbox: str) -> None:
        self._database = ledger.database
        self._instance = ledger.instance
        self.mailbox = mailbox[:255]

    def _where(self, uidvalidity: int, uid: int) -> ColumnElement[bool]:
        table = mailbox_messages
        return and_(
            table.c.instance == self._instance,
            table.c.mailbox == self.mailbox,
            table.c.uidvalidity == uidvalidity,
            table.c.uid == uid,
        )

    def known(self, uidvalidity: int, uids: Sequence[int]) -> dict[int, MailboxMessage]:
        """The rows of these UIDs (of this UIDVALIDITY) the ledger already has."""
        found: dict[int, MailboxMessage] = {}
        table = mailbox_messages
        unique = sorted(set(uids))
        for start in range(0, len(unique), 500):
            query = select(table).where(
                table.c.instance == self._instance,
                table.c.mailbox == self.mailbox,
                table.c.uidvalidity == uidvalidity,
                table.c.uid.in_(unique[start : start + 500]),
            )
            with self._database.transaction("read mailbox messages", read_only=True) as conn:
                found.update({row.uid: MailboxMessage.from_row(row) for row in conn.execute(query)})
        return found

    def claim_message(self, uidvalidity: int, uid: int) -> MailboxMessage | None:
        """Take one message for this process; None when it is finished, RECORDED or held by a live claim."""
        database, table = self._database, mailbox_messages
        now = database.now()
        lease_expired = database.lease_expired(table.c.lease_until)
        with database.transaction(f"claim mailbox message {uid}") as conn:
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            row = conn.execute(
                dialect_insert(table)
                .values(
                    instance=self._instance,
                    mailbox=self.mailbox,
                    uidvalidity=uidvalidity,
                    uid=uid,
                    state=MessageState.CLAIMED.value,
                    owner=database.owner,
                    lease_until=database.lease_end(),
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(*table.c)
            ).first()
            if row is None:
                row = conn.execute(
                    update(table)
                    .where(
                        self._where(uidvalidity, uid),
                        table.c.state == MessageState.CLAIMED.value,
                        or_(table.c.owner == database.owner, lease_expired),
                    )
                    .values(owner=database.owner, lease_until=database.lease_end(), updated_at=now)
                    .returning(*table.c)
                ).first()
        return MailboxMessage.from_row(row) if row is not None else None

    def note(self, uidvalidity: int, uid: int, **values: Any) -> MailboxMessage:
        """Keep what is known of a claimed message (kind, sender, quote, event ids...)."""
        return self._set(uidvalidity, uid, (MessageState.CLAIMED,), None, **values)

    def mark(self, uidvalidity: int, uid: int, state: MessageState, **values: Any) -> MailboxMessage:
        """CLAIMED → RECORDED / IGNORED / UNREADABLE, or RECORDED → DONE."""
        from_states = (MessageState.RECORDED,) if state is MessageState.DONE else (MessageState.CLAIMED,)
        return self._set(uidvalidity, uid, from_states, state, **values)

    def _set(
        self,
        uidvalidity: int,
        uid: int,
        from_states: Sequence[MessageState],
        to_state: MessageState | None,
        **values: Any,
    ) -> MailboxMessage:
        database, table = self._database, mailbox_messages
        if to_state is not None:
            values["state"] = to_state.value
            if to_state is not MessageState.CLAIMED:
                values["lease_until"] = None
        conditions = [self._where(uidvalidity, uid), table.c.state.in_([s.value for s in from_states])]
        if MessageState.CLAIMED in from_states:
            conditions.append(table.c.owner == database.owner)
        with database.transaction(f"note mailbox message {uid}") as conn:
            row = conn.execute(
                update(table).where(*conditions).values(updated_at=database.now(), **values).returning(*table.c)
            ).first()
        if row is None:
            raise LedgerError(
                f"mailbox message {uid} (UIDVALIDITY {uidvalidity}) is no longer held by this process",
                remedy="another run took it over after this one's lease expired; nothing is lost, run again",
            )
        return MailboxMessage.from_row(row)

    def start_reading(self, uidvalidity: int, uid: int) -> int:
        """Count one more reading of a claimed message that begins parsing it; the readings before
        that never finished (see :meth:`finish_reading`): a message that killed its reader is not
        parsed again and again."""
        table = mailbox_messages
        row = self._set(uidvalidity, uid, (MessageState.CLAIMED,), None, read_attempts=table.c.read_attempts + 1)
        return row.read_attempts - 1

    def finish_reading(self, uidvalidity: int, uid: int) -> None:
        """The parsing came back (read or found unreadable): no unfinished reading to count."""
        self._set(uidvalidity, uid, (MessageState.CLAIMED,), None, read_attempts=0)

    def recorded_not_done(self) -> list[MailboxMessage]:
        """Messages Dolibarr holds but not flagged or moved yet (a run died in between)."""
        table = mailbox_messages
        query = select(table).where(
            table.c.instance == self._instance,
            table.c.mailbox == self.mailbox,
            table.c.state == MessageState.RECORDED.value,
        )
        with self._database.transaction("read recorded mailbox messages", read_only=True) as conn:
            return [MailboxMessage.from_row(row) for row in conn.execute(query.order_by(table.c.uid))]

    def all_messages(self) -> list[MailboxMessage]:
        table = mailbox_messages
        query = select(table).where(table.c.instance == self._instance, table.c.mailbox == self.mailbox)
        with self._database.transaction("read mailbox messages", read_only=True) as conn:
            return [MailboxMessage.from_row(row) for row in conn.execute(query.order_by(table.c.uid))]
