"""What the ledger is told around the hand-over (the e-mail to SMTP, the letter to Dolibarr's files):
a claim released when nothing left, a write after the content left that never turns it into "failed",
and an uncertain one handed to a person."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from dolirelance.errors import LedgerError
from dolirelance.service.outcome import FollowUpOutcome, outcome_of
from dolirelance.service.prepare import PreparedFollowUp
from dolirelance.service.runtime import Runtime

log = logging.getLogger("dolirelance.service.delivery")  # one name for the whole delivery, as before its split


def release_claim(rt: Runtime, key: str, reason: str) -> None:
    """Nothing left: the claim goes back, the quote is free to try again."""
    try:
        rt.ledger.mark_failed(key, reason)
    except LedgerError as exc:  # the lease then expires and the next claim takes the quote over
        log.error("could not release the claim %s: %s", key, exc.message)


def after_handover(write: Callable[[], object], prepared: PreparedFollowUp) -> bool:
    """A ledger write after the e-mail left (or the letter was filed).

    Its failure must not turn a follow-up that happened into "failed" (someone would do it again):
    the entry stays in its earlier state, which `dolirelance status` shows and a later run turns
    into UNCERTAIN for a person to settle.
    """
    try:
        write()
    except LedgerError as exc:
        log.error(
            "follow-up %s of %s was done but the ledger could not note it: %s",
            prepared.key,
            prepared.quote.ref,
            exc.message,
        )
        return False
    return True


async def mark_uncertain(rt: Runtime, prepared: PreparedFollowUp, reason: str) -> FollowUpOutcome:
    """It may have left: never retried; a person settles it (the SMTP sender has dropped its connection)."""
    log.error("follow-up %s of %s is UNCERTAIN: %s", prepared.key, prepared.quote.ref, reason)
    await asyncio.to_thread(after_handover, lambda: rt.ledger.mark_uncertain(prepared.key, reason), prepared)
    return outcome_of(prepared, "uncertain", error=f"uncertain: {reason}")
