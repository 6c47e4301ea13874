"""What became of a follow-up, in words: its outcome as front ends show it, and who holds a quote
that was refused (and how a person settles an uncertain one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from dolirelance.domain import Channel
from dolirelance.errors import ErrorCode
from dolirelance.ledger import RECORDED_STATES, TO_RECORD_STATES, Entry, FollowUpState
from dolirelance.service.prepare import PreparedFollowUp

# recorded: done and in Dolibarr; sent-not-recorded: done, `retry` records it; uncertain: may have
# left, a person decides; failed: nothing left, claim released; refused: another follow-up holds the
# quote (or this one is already done); skipped: an automatic step no longer due; closed: done, but its
# quote is gone from Dolibarr: never recorded, never done again.
Outcome = Literal["recorded", "sent-not-recorded", "uncertain", "failed", "refused", "skipped", "closed"]


@dataclass(frozen=True)
class FollowUpOutcome:
    quote_ref: str
    customer_name: str
    model: str | None
    channel: Channel
    outcome: Outcome
    key: str | None = None
    recipients: str = ""
    message_id: str | None = None
    event_id: int | None = None
    todo_event_id: int | None = None
    file_name: str | None = None
    error: str | None = None
    step: int | None = None
    local_copy_error: str | None = None  # done, but its local copy (letter file, print batch) is missing
    done_at: datetime | None = None
    error_code: ErrorCode | None = None  # the kind of ``error`` (refused, failed), for front ends that word it
    # recorded, but earlier to-dos of the quote (event ids) that no key here may close: a person closes them
    todos_left_open: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """The follow-up happened (whether or not it is in Dolibarr yet): never do it again."""
        return self.outcome in ("recorded", "sent-not-recorded", "closed")

    @property
    def summary(self) -> str:
        """The outcome in words, letters in their own (filed, printed), e-mails in theirs (sent)."""
        letter = self.channel is Channel.LETTER
        words = {
            "recorded": "filed in Dolibarr and recorded" if letter else "sent and recorded in Dolibarr",
            "sent-not-recorded": "filed in Dolibarr, not recorded yet" if letter else "sent, not recorded yet",
            "uncertain": "filing uncertain" if letter else "uncertain: it may have been sent",
            "failed": "failed, nothing was filed" if letter else "failed, nothing was sent",
            "refused": "refused",
            "skipped": "skipped",
            "closed": "closed unrecorded (its quote is gone from Dolibarr)",
        }
        text = words[self.outcome]
        if self.local_copy_error:
            text += ", not in the print batch" if letter else ", local copy missing"
        if self.todos_left_open:
            ids = ", ".join(f"#{event_id}" for event_id in self.todos_left_open)
            text += f"; an earlier to-do of another user is still open ({ids}): close it in Dolibarr"
        return text


def describe_holder(entry: Entry, tz: ZoneInfo, *, quote_ref: str | None = None) -> str:
    """Who holds a quote (or a key) and since when, in words for the person who was refused."""
    ref = quote_ref or entry.quote_ref
    since = entry.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    origin = entry.run_id.split("-", 1)[0] if entry.run_id else "?"
    who = f"{origin} run {entry.run_id}" + (f" by user #{entry.user_id}" if entry.user_id else "")
    what = "letter" if entry.channel == Channel.LETTER.value else "e-mail"
    if entry.state is FollowUpState.UNCERTAIN:
        happened = "filed" if entry.channel == Channel.LETTER.value else "sent"
        return (
            f"{ref}: an earlier {what} follow-up ({entry.key}, {who}, {since}) may have been {happened}; "
            + how_to_settle(entry)
        )
    if entry.state in TO_RECORD_STATES:
        done = (entry.sent_at or entry.created_at).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        return (
            f"{ref}: a {what} follow-up done {done} ({who}) is not recorded in Dolibarr yet; "
            "run `dolirelance retry` first"
        )
    if entry.state in RECORDED_STATES:
        return f"{ref}: this follow-up is already done ({who}, {since}, recorded in Dolibarr)"
    if entry.state is FollowUpState.ABANDONED:
        return f"{ref}: this follow-up was closed without being recorded ({who}, {since}: {entry.error or '-'})"
    return f"{ref}: another {what} follow-up of this quote is in progress ({who}, {entry.state.value} since {since})"


def how_to_settle(entry: Entry) -> str:
    """What a person does about an uncertain entry: where to look, then the command that says what was found."""
    if entry.channel == Channel.LETTER.value:
        return (
            f"check the quote's files in Dolibarr for {entry.file_name or 'the letter'} (`dolirelance retry` "
            f"looks for it too), then `dolirelance ledger resolve {entry.key} --sent|--not-sent`"
        )
    return (
        "check the sender's mailbox or the SMTP server's log, then "
        f"`dolirelance ledger resolve {entry.key} --sent|--not-sent`"
    )


def outcome_of(
    prepared: PreparedFollowUp, outcome: Outcome, *, error: str | None = None, error_code: ErrorCode | None = None
) -> FollowUpOutcome:
    """The outcome of a prepared follow-up: what it is (quote, model, channel, key, recipients...), how it
    ended and why."""
    return FollowUpOutcome(
        quote_ref=prepared.quote.ref,
        customer_name=prepared.customer.name,
        model=prepared.model,
        channel=prepared.channel,
        outcome=outcome,
        key=prepared.key,
        recipients=prepared.recipients_text,
        message_id=prepared.message_id,
        file_name=prepared.letter_file_name,
        error=error,
        step=prepared.automatic_step,
        error_code=error_code,
    )
