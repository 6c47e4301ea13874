"""Sorting a message: a reply, a bounce (permanent or temporary), an auto-answer, or none of ours; the
follow-up it answers or returns, and whether anything proves it (docs/replies.md). Then it is recorded.

Proofs: a reply names our Message-ID (In-Reply-To, References) or, matched by sender and subject only,
the trusted receiving server vouches for the sender (DMARC, or the sender domain's DKIM); a bounce
carries our Message-ID (returned headers, In-Reply-To) or our ENVID (Original-Envelope-Id).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from dolirelance.inbound import FailedRecipient, InboundMessage
from dolirelance.ledger import Entry, MailboxLedger
from dolirelance.service.replies.outcomes import MessageOutcome, ReadMessage
from dolirelance.service.replies.recording import (
    record_bounce,
    record_reply,
    record_unverified_bounce,
    record_unverified_reply,
)
from dolirelance.service.runtime import Runtime

# Proofs that a reply answers our e-mail (the reply event's facts keep which one).
PROOF_MESSAGE_ID = "message-id"


async def sort_and_record(
    rt: Runtime, message: ReadMessage, messages: MailboxLedger, base: MessageOutcome, *, match_days: int
) -> MessageOutcome:
    """Sort the message, find the follow-up it answers or returns (sent within ``match_days``), record it."""
    inbound = message.inbound
    since = rt.now() - timedelta(days=match_days)
    if inbound.is_bounce:
        return await _bounce(rt, message, since, base)
    found = await asyncio.to_thread(_replied_followup, rt, inbound, since)
    if found is None:
        return replace(base, detail="not an answer to a follow-up")
    followup, proof = found
    if inbound.auto_answer is not None:
        return replace(base, kind="auto-answer", outcome="noted", quote_ref=followup.quote_ref,
                       detail=f"automatic answer ({inbound.auto_answer}): nothing stops")  # fmt: skip
    if proof is None:
        return await record_unverified_reply(rt, message, followup, base)
    return await record_reply(rt, message, followup, proof, messages, base)


def _replied_followup(rt: Runtime, inbound: InboundMessage, since: datetime) -> tuple[Entry, str | None] | None:
    """The follow-up a message answers, and the proof that it does (None: matched, but unproven).

    By In-Reply-To/References: our Message-ID is the proof. Else by sender and quote ref in the subject
    (anyone can write those): proven only when the trusted receiving server vouches for the sender.
    """
    if inbound.referenced_ids:
        by_id = rt.ledger.by_message_ids(inbound.referenced_ids)
        if by_id:
            order = {message_id: rank for rank, message_id in enumerate(inbound.referenced_ids)}
            return min(by_id, key=lambda entry: order.get(entry.message_id or "", len(order))), PROOF_MESSAGE_ID
    subject = inbound.subject.casefold()
    for entry in rt.ledger.sent_to(inbound.sender, since):
        if entry.quote_ref.casefold() in subject:
            return entry, inbound.sender_authenticated
    return None


def _bounced_followup(
    rt: Runtime, inbound: InboundMessage, failure: FailedRecipient, since: datetime
) -> tuple[Entry, bool] | None:
    """The follow-up a bounce returns, and whether the bounce proves it: by our Message-ID (returned
    headers, In-Reply-To/References) or our ENVID (Original-Envelope-Id); else, unproven, the latest one
    sent to the address."""
    ids = (*inbound.bounced_message_ids, *inbound.envelope_ids, *inbound.referenced_ids)
    for entry in rt.ledger.by_message_ids(ids):
        if failure.address in (part.strip().lower() for part in (entry.recipients or "").split(",")):
            return entry, True
    sent = rt.ledger.sent_to(failure.address, since)
    return (sent[0], False) if sent else None


async def _bounce(
    rt: Runtime, message: ReadMessage, since: datetime, base: MessageOutcome
) -> MessageOutcome:
    inbound = message.inbound
    matched: list[tuple[FailedRecipient, Entry, bool]] = []
    for failure in inbound.failures:
        found = await asyncio.to_thread(_bounced_followup, rt, inbound, failure, since)
        if found is not None:
            matched.append((failure, *found))
    if not matched:
        return replace(base, kind="bounce", detail="a bounce, but of no follow-up of ours")
    permanent = [(failure, entry, proven) for failure, entry, proven in matched if failure.permanent]
    if not permanent:
        failure, entry, _ = matched[0]
        return replace(
            base,
            kind="temporary-bounce",
            outcome="noted",
            quote_ref=entry.quote_ref,
            address=failure.address,
            detail=f"temporary failure, the server still tries: {failure.reason}",
        )
    # One bounce event per message: the first address of ours that failed for good (a follow-up has one).
    proven_ones = [(failure, entry) for failure, entry, proven in permanent if proven]
    if not proven_ones:
        failure, entry, _ = permanent[0]
        return await record_unverified_bounce(rt, message, failure, entry, base)
    failure, entry = proven_ones[0]
    return await record_bounce(rt, message, failure, entry, base)
