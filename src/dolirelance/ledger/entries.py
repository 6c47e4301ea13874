"""A follow-up's row as the ledger hands it out, its keys, and what becomes of one whose claim was abandoned."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row

from dolirelance.ledger.schema import FollowUpState


def auto_key(instance: str, quote_id: int, step: int) -> str:
    return f"auto:{instance}:{quote_id}:step{step}"


def manual_key() -> str:
    return f"manual:{uuid.uuid4()}"


# What happens to a claim whose heartbeat stopped (lease run out): (from, to, the error noted).
ABANDONED_MOVES: tuple[tuple[FollowUpState, FollowUpState, str], ...] = (
    (FollowUpState.SENDING, FollowUpState.UNCERTAIN, "the process died while talking to SMTP"),
    (
        FollowUpState.FILING,
        FollowUpState.UNCERTAIN,
        "the process died while filing the letter in Dolibarr; check the quote's files",
    ),
    (FollowUpState.CLAIMED, FollowUpState.FAILED, "abandoned before sending"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the ledger."""

    key: str
    instance: str
    quote_id: int
    quote_ref: str
    step: int | None
    model: str
    channel: str
    state: FollowUpState
    run_id: str
    owner: str | None
    lease_until: datetime | None
    message_id: str | None
    recipients: str | None
    event_id: int | None
    todo_event_id: int | None
    file_name: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    recorded_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    next_date: date | None
    note: str | None
    user_id: int | None
    printed_at: datetime | None
    facts: str | None = None  # JSON kept at SENDING: what to record in Dolibarr (service/agenda.py)

    @property
    def automatic(self) -> bool:
        return self.key.startswith("auto:")

    @classmethod
    def from_row(cls, row: Row[Any]) -> Entry:
        values: dict[str, Any] = dict(row._mapping)
        values["state"] = FollowUpState(values["state"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim: won, or refused with the entry that holds the quote (or the key)."""

    won: bool
    holder: Entry | None = None

    def __bool__(self) -> bool:
        return self.won
