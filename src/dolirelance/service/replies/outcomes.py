"""A message as read from the replies mailbox, what each one came to (its kind and outcome), the run's report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from dolirelance.inbound import InboundMessage

Kind = Literal[
    "reply",
    "bounce",
    "unverified-reply",  # matched by sender and subject only, nothing vouches for the sender: a to-do to check
    "unverified-bounce",  # names an address we wrote to, but not our e-mail: a to-do to check the address
    "temporary-bounce",
    "auto-answer",
    "other",
    "unreadable",
    "too-big",  # over [imap] max_message_kb: never fetched whole
]
# recorded: Dolibarr holds it; noted: nothing to write (auto-answer, temporary bounce); ignored: not ours,
# left alone; unreadable: left in place; failed: Dolibarr or the mailbox refused, the next run goes on.
Outcome = Literal["recorded", "noted", "ignored", "unreadable", "failed"]


@dataclass(frozen=True)
class ReadMessage:
    """One message read whole: where it is, the key its events carry, its bytes and what was parsed of them."""

    uidvalidity: int
    uid: int
    key: str
    raw: bytes
    inbound: InboundMessage


@dataclass(frozen=True)
class MessageOutcome:
    uid: int
    kind: Kind
    outcome: Outcome
    sender: str = ""
    subject: str = ""
    quote_ref: str | None = None
    address: str | None = None  # the address that bounced
    event_id: int | None = None
    todo_event_id: int | None = None
    detail: str = ""  # the server's reason, why it is an auto-answer, why it was left alone
    error: str | None = None


@dataclass
class RepliesReport:
    mailbox: str
    started_at: datetime
    finished_at: datetime | None = None
    messages: list[MessageOutcome] = field(default_factory=list)
    flagged_later: int = 0  # recorded by an earlier run that died before flagging them
    error: str | None = None

    def of(self, *outcomes: Outcome) -> list[MessageOutcome]:
        return [m for m in self.messages if m.outcome in outcomes]

    @property
    def ok(self) -> bool:
        """False when the mailbox could not be read, or a message failed or could not be read."""
        return self.error is None and not self.of("failed", "unreadable")
