"""What earlier runs left in the ledger: the quotes a follow-up still holds (shown in previews), and
``retry``: claims whose process died moved on, uncertain letters looked for in their quotes' files,
follow-ups done but not recorded written in Dolibarr (or closed when their quote is gone). Never sends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from dolirelance.domain import Channel, choose_recipients
from dolirelance.errors import DolibarrError, DolibarrNotFound, LedgerError
from dolirelance.ledger import IN_FLIGHT_STATES, Entry
from dolirelance.service.access import Access, require_access
from dolirelance.service.agenda import RecordFacts, record_followup
from dolirelance.service.filing import filed_letter_name, letter_in_files
from dolirelance.service.outcome import FollowUpOutcome, describe_holder, how_to_settle
from dolirelance.service.prepare import addressee, sales_rep_of
from dolirelance.service.runtime import Runtime

log = logging.getLogger("dolirelance.service.delivery")  # one name for the whole delivery, as before its split


def ledger_problems(rt: Runtime, quote_ids: Sequence[int], *, recover: bool = True) -> dict[int, str]:
    """Quotes with a follow-up in flight (claimed, sending, uncertain, not recorded): shown in previews.

    ``recover`` (the sending paths): abandoned claims are first moved on in the ledger
    (:meth:`~dolirelance.ledger.Ledger.recover_abandoned`). Without it (a preview), the ledger is only
    read, an abandoned claim seen as its recovery would leave it: the same answer, nothing written.
    """
    if recover:
        rt.ledger.recover_abandoned()
    problems: dict[int, str] = {}
    for entry in rt.ledger.entries_for_quotes(quote_ids, as_recovered=not recover):
        if entry.state in IN_FLIGHT_STATES:
            problems[entry.quote_id] = describe_holder(entry, rt.tz)
    return problems


async def retry_unrecorded(rt: Runtime) -> list[FollowUpOutcome]:
    """Record in Dolibarr the follow-ups that were sent but not recorded. Never sends anything.

    Under ``[access] senders_group`` only a sender (the API key's user) may, before anything is taken.
    """
    outcomes: list[FollowUpOutcome] = []
    await asyncio.to_thread(rt.ledger.recover_abandoned)  # claims whose process died: released or uncertain
    letters = [e for e in await asyncio.to_thread(rt.ledger.uncertain) if e.channel == Channel.LETTER.value]
    entries = await asyncio.to_thread(rt.ledger.to_record)
    if not entries and not letters:
        return outcomes
    await require_access(rt, Access.SEND)
    for letter in letters:  # an upload without an answer: is the letter in the quote's files?
        looked = await _look_for_uncertain_letter(rt, letter)
        if looked is not None:
            outcomes.append(looked)
    if letters:
        entries = await asyncio.to_thread(rt.ledger.to_record)  # with the letters found
    for entry in entries:
        closed = await _close_if_quote_gone(rt, entry)
        try:
            outcomes.append(closed if closed is not None else await _record_entry(rt, entry))
        finally:  # recorded, left for later or failed unexpectedly: its lease is no longer renewed
            rt.ledger.let_go(entry.key)
    return outcomes


async def _look_for_uncertain_letter(rt: Runtime, entry: Entry) -> FollowUpOutcome | None:
    """An uncertain letter found in its quote's files was filed: resolved as such (then recorded).
    Not found (or not looked for): it stays uncertain for a person, said in the outcome."""
    base = FollowUpOutcome(
        entry.quote_ref, "", entry.model, Channel.LETTER, "uncertain", key=entry.key, file_name=entry.file_name,
        step=entry.step,
    )  # fmt: skip
    try:
        quote = await rt.dolibarr.get_quote(entry.quote_id)
    except DolibarrNotFound:
        return replace(base, error=f"uncertain: quote #{entry.quote_id} is gone from Dolibarr; " + how_to_settle(entry))
    except DolibarrError as exc:
        return replace(base, error=f"uncertain: could not look for the letter ({exc.message})")
    found = await letter_in_files(rt, quote, entry.file_name) if entry.file_name else None
    if not found:
        if found is None and entry.file_name:
            return replace(base, error="uncertain: could not list the quote's files; " + how_to_settle(entry))
        return replace(
            base,
            error=f"uncertain: {entry.file_name or 'the letter'} is not in the quote's files; " + how_to_settle(entry),
        )
    await asyncio.to_thread(
        rt.ledger.resolve, entry.key, sent=True, by="dolirelance retry (found in the quote's files)"
    )
    log.info("letter %s of %s found in the quote's files: filed", entry.file_name, entry.quote_ref)
    return None


async def _close_if_quote_gone(rt: Runtime, entry: Entry) -> FollowUpOutcome | None:
    """A follow-up done whose quote was deleted in Dolibarr can never be recorded: closed with a note, so
    ``retry`` (and ``run --once``) stop failing on it every day. None: the quote is there (or cannot be read
    now, and recording will say why)."""
    try:
        await rt.dolibarr.get_quote(entry.quote_id)
    except DolibarrNotFound:
        pass
    except DolibarrError:
        return None
    else:
        return None
    happened = "filed" if entry.channel == Channel.LETTER.value else "sent"
    reason = f"quote {entry.quote_ref} (#{entry.quote_id}) is gone from Dolibarr: {happened}, but never recorded"
    try:
        closed = await asyncio.to_thread(rt.ledger.close_unrecordable, entry.key, reason)
    except LedgerError as exc:  # another process took it meanwhile: it says what became of it
        return FollowUpOutcome(
            entry.quote_ref, "", entry.model, Channel(entry.channel), "skipped", key=entry.key, error=exc.message,
            step=entry.step,
        )  # fmt: skip
    log.warning("follow-up %s closed: %s", entry.key, reason)
    return FollowUpOutcome(
        closed.quote_ref, "", closed.model, Channel(closed.channel), "closed", key=closed.key,
        recipients=closed.recipients or "", message_id=closed.message_id, file_name=closed.file_name,
        error=reason, step=closed.step,
    )  # fmt: skip


async def _record_entry(rt: Runtime, entry: Entry) -> FollowUpOutcome:
    channel = Channel(entry.channel)
    base = FollowUpOutcome(
        entry.quote_ref,
        "",
        entry.model,
        channel,
        "sent-not-recorded",
        key=entry.key,
        recipients=entry.recipients or "",
        message_id=entry.message_id,
        step=entry.step,
    )
    if not await asyncio.to_thread(
        rt.ledger.take_for_recording, entry.key
    ):  # another process is recording it right now
        return replace(base, outcome="skipped", error="being recorded by another process")
    try:
        facts = RecordFacts.from_json(entry.facts) if entry.facts else await _facts_of_older_entry(rt, entry)
        recorded = await record_followup(
            rt, facts, done_at=entry.sent_at or entry.updated_at  # when it happened, not when it is recorded
        )
    except DolibarrError as exc:
        await asyncio.to_thread(rt.ledger.mark_record_failed, entry.key, exc.message)
        return replace(base, error=exc.message if not exc.remedy else f"{exc.message}; {exc.remedy}")
    await asyncio.to_thread(
        lambda: rt.ledger.mark_recorded(
            entry.key, event_id=recorded.event_id, todo_event_id=recorded.todo_event_id, file_name=facts.file_name
        )
    )
    return replace(
        base,
        customer_name=facts.customer_name,
        outcome="recorded",
        event_id=recorded.event_id,
        todo_event_id=recorded.todo_event_id,
        todos_left_open=tuple(todo.event_id for todo in recorded.todos_left_open),
    )


async def _facts_of_older_entry(rt: Runtime, entry: Entry) -> RecordFacts:
    """The facts of an entry written before the ledger kept them (schema 0003): read again from Dolibarr."""
    channel = Channel(entry.channel)
    quote = await rt.dolibarr.get_quote(entry.quote_id)
    customer = await rt.dolibarr.get_customer(quote.customer_id)
    owner = await rt.user(entry.user_id) if entry.user_id else await rt.me()
    sales_rep = await sales_rep_of(rt, quote, owner)
    recipients = choose_recipients(quote, customer) if channel is Channel.EMAIL else ()
    contact = addressee(quote, recipients)
    model = entry.model or rt.model_names()[0]
    file_name = entry.file_name
    if channel is Channel.LETTER and file_name is None:  # the ledger learns it only once recorded
        file_name = await filed_letter_name(rt, quote, entry.key)
    return RecordFacts(
        key=entry.key,
        quote_id=quote.id,
        quote_ref=quote.ref,
        customer_id=quote.customer_id,
        customer_name=customer.name,
        channel=channel.value,
        model=model,
        level=rt.level_of(model) or 1,
        note=entry.note or "",
        next_date=(entry.next_date or rt.today()).isoformat(),
        owner_id=owner.id,
        sales_rep_id=sales_rep.id,
        contact_id=contact.contact_id if contact else None,
        step=entry.step,
        email_to=entry.recipients or None,
        message_id=entry.message_id or None,  # so the event keeps the mail's Message-ID
        file_name=file_name,
    )
