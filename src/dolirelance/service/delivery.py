"""The exactly-once core: with the rooms named at the end, the only code that claims a quote, sends or
files a follow-up and records it.

Every follow-up goes through :func:`deliver`, whatever started it (``remind``, ``mass``, the web
forms, automatic runs); ``retry`` goes through :func:`~dolirelance.service.recovery.retry_unrecorded`.
Ledger states::

    claim(quote, key) ──refused──► "refused: <who> holds it since <when>" (nothing done)
        │ won: CLAIMED  (one row in flight per quote; automatic steps also keyed per step)
        ▼
    prepare (history, recent guard, render, PDFs) ──error──► FAILED, claim released ─► "failed: reason"
        ▼
    SENDING ──error before the content left (address, RCPT, missing secret, upload refused)──► FAILED ─► "failed"
        │   └─content handed over, no reply (or an unforeseen error midway)──► UNCERTAIN ─► "uncertain"
        │                                     (never retried; the batch reconnects; a person resolves)
        ▼ e-mail accepted / letter filed in Dolibarr
    SENT (sent_at) ──Dolibarr refuses──► stays SENT ─► "done, not recorded": `retry` records it dated sent_at
        ▼ done event + to-do written, dated sent_at
    RECORDED ─► "done" ─► local copy (letter file, print batch) ──error──► "done, not in the print batch"

A claim is taken before anything slow (PDF download, rendering), so two attempts on one quote never
both prepare. A local copy that cannot be written never undoes a follow-up: it is reported as done.

This module holds the claim and the order of the steps; each step has its own room:
:mod:`~dolirelance.service.sending` (the e-mail path), :mod:`~dolirelance.service.filing` (the letter
path), :mod:`~dolirelance.service.handover` (the ledger writes around the hand-over),
:mod:`~dolirelance.service.outcome` (the outcome in words) and :mod:`~dolirelance.service.recovery`
(what earlier runs left, and ``retry``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date

from dolirelance.domain import Channel
from dolirelance.errors import DolibarrError, DolirelanceError, ErrorCode
from dolirelance.ledger import HANDING_OVER_STATES, RECORDED_STATES
from dolirelance.mail import SmtpSender
from dolirelance.service.agenda import record_facts, record_followup
from dolirelance.service.filing import file_letter, not_in_batch
from dolirelance.service.handover import after_handover, release_claim
from dolirelance.service.outcome import FollowUpOutcome, describe_holder, how_to_settle, outcome_of
from dolirelance.service.prepare import PreparedFollowUp
from dolirelance.service.recovery import ledger_problems, retry_unrecorded
from dolirelance.service.runtime import Runtime
from dolirelance.service.sending import STOPPED_BEFORE_SENDING, SharedSmtp, send_email

# This module's names, and those manual.py, auto/ and tests/test_mass_order.py import from here though
# they live in the rooms above (the package's lazy table names their real homes).
__all__ = [
    "STOPPED_BEFORE_SENDING",
    "Attempt",
    "FollowUpOutcome",
    "KeepCopy",
    "Prepare",
    "SharedSmtp",
    "deliver",
    "how_to_settle",
    "ledger_problems",
    "not_in_batch",
    "retry_unrecorded",
]

log = logging.getLogger(__name__)

# What deliver is handed: the follow-up built once the claim is won, and the keeping of its local copy.
Prepare = Callable[[], Awaitable[PreparedFollowUp]]
KeepCopy = Callable[[PreparedFollowUp], None]


@dataclass(frozen=True)
class Attempt:
    """What is claimed before anything slow is done: the quote, the key, who asks and why."""

    key: str
    quote_id: int
    quote_ref: str
    channel: Channel
    run_id: str
    customer_name: str = ""
    model: str | None = None  # None: the next level, known once the history is read
    user_id: int | None = None
    note: str = ""
    next_date: date | None = None
    step: int | None = None


async def deliver(
    rt: Runtime,
    attempt: Attempt,
    prepare: Prepare,
    *,
    smtp: SmtpSender | None,
    keep_copy: KeepCopy | None = None,
) -> FollowUpOutcome:
    """Claim, prepare, send or file, record, keep the local copy: the protocol of the module docstring.

    ``prepare`` runs only once the claim is won; an error it raises releases the claim and is raised
    again (the caller says why it failed). While this runs the ledger's heartbeat keeps the claim alive.
    """
    ledger = rt.ledger
    claim = await asyncio.to_thread(
        ledger.claim,
        attempt.key,
        quote_id=attempt.quote_id,
        quote_ref=attempt.quote_ref,
        step=attempt.step,
        model=attempt.model or "",
        channel=attempt.channel.value,
        run_id=attempt.run_id,
        note=attempt.note,
        user_id=attempt.user_id,
        next_date=attempt.next_date,
    )
    if not claim.won:
        if claim.holder is not None and claim.holder.state in HANDING_OVER_STATES:
            await asyncio.to_thread(ledger.recover_abandoned)  # a dead sender's row says UNCERTAIN
            claim = replace(claim, holder=await asyncio.to_thread(ledger.holder, attempt.quote_id) or claim.holder)
        why = (
            describe_holder(claim.holder, rt.tz, quote_ref=attempt.quote_ref)
            if claim.holder is not None
            else f"{attempt.quote_ref}: another follow-up holds this quote"
        )
        return FollowUpOutcome(
            attempt.quote_ref,
            attempt.customer_name,
            attempt.model,
            attempt.channel,
            "refused",
            key=attempt.key,
            error=why,
            step=attempt.step,
            error_code=ErrorCode.ALREADY_DONE
            if claim.holder is not None and claim.holder.state in RECORDED_STATES
            else ErrorCode.IN_PROGRESS,
        )
    try:
        return await _deliver_claimed(rt, attempt, prepare, smtp=smtp, keep_copy=keep_copy)
    finally:  # done, released, uncertain or left for `retry`: this process no longer works on it
        ledger.let_go(attempt.key)


async def _deliver_claimed(
    rt: Runtime, attempt: Attempt, prepare: Prepare, *, smtp: SmtpSender | None, keep_copy: KeepCopy | None
) -> FollowUpOutcome:
    ledger = rt.ledger
    try:
        prepared = await prepare()
    except BaseException as exc:  # cancelled too: nothing left, let the quote go
        reason = exc.message if isinstance(exc, DolirelanceError) else f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(release_claim, rt, attempt.key, reason)
        raise
    assert prepared.key == attempt.key, "prepare must build the claimed follow-up"
    if prepared.channel is Channel.EMAIL:
        left = await send_email(rt, prepared, smtp)
    else:
        left = await file_letter(rt, prepared)
    if isinstance(left, FollowUpOutcome):
        return left
    done_at = left
    try:
        recorded = await record_followup(rt, record_facts(rt, prepared), done_at=done_at, history=prepared.history)
    except Exception as exc:  # Dolibarr down, or anything else: the follow-up happened all the same
        reason = exc.message if isinstance(exc, DolirelanceError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, DolibarrError):
            log.exception("recording follow-up %s of %s failed unexpectedly", prepared.key, prepared.quote.ref)
        log.warning(
            "follow-up %s of %s done but not recorded in Dolibarr: %s", prepared.key, prepared.quote.ref, reason
        )
        await asyncio.to_thread(after_handover, lambda: rt.ledger.mark_record_failed(prepared.key, reason), prepared)
        outcome = replace(
            outcome_of(
                prepared,
                "sent-not-recorded",
                error=f"done, but not recorded in Dolibarr yet ({reason}); `dolirelance retry` records it",
            ),
            done_at=done_at,
        )
    else:
        noted = await asyncio.to_thread(
            after_handover,
            lambda: ledger.mark_recorded(
                prepared.key,
                event_id=recorded.event_id,
                todo_event_id=recorded.todo_event_id,
                file_name=prepared.letter_file_name,
            ),
            prepared,
        )
        written = replace(
            outcome_of(prepared, "recorded"),
            event_id=recorded.event_id,
            todo_event_id=recorded.todo_event_id,
            done_at=done_at,
        )
        if noted:  # "recorded" only once the ledger says so
            outcome = replace(written, todos_left_open=tuple(todo.event_id for todo in recorded.todos_left_open))
        else:
            outcome = replace(
                written,
                outcome="sent-not-recorded",
                error=f"done and written in Dolibarr (event {recorded.event_id}), but the ledger could not note "
                "it; `dolirelance status` shows where it stands, `dolirelance retry` brings the ledger up to "
                "date without writing Dolibarr again",
            )
    if keep_copy is not None:
        try:
            await asyncio.to_thread(keep_copy, prepared)
        except (DolirelanceError, OSError) as exc:  # done and recorded: say so, never "failed"
            reason = exc.message if isinstance(exc, DolirelanceError) else str(exc)
            outcome = replace(
                outcome,
                local_copy_error=not_in_batch(reason, prepared.letter_file_name)
                if prepared.channel is Channel.LETTER
                else f"no local copy ({reason})",
            )
    return outcome
