"""The e-mail path: the SMTP turn (SENDING, the message to SMTP, SENT) over a connection shared by
concurrent follow-ups, and what each way it can end means for the ledger."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage

from dolirelance.errors import LedgerError, MailError, MailUncertain
from dolirelance.mail import SmtpSender
from dolirelance.service.agenda import record_facts
from dolirelance.service.handover import after_handover, mark_uncertain, release_claim
from dolirelance.service.outcome import FollowUpOutcome, outcome_of
from dolirelance.service.prepare import PreparedFollowUp
from dolirelance.service.runtime import Runtime

log = logging.getLogger("dolirelance.service.delivery")  # one name for the whole delivery, as before its split

STOPPED_BEFORE_SENDING = "the run was stopped before this e-mail was sent"


class StoppedBeforeSending(MailError):
    """Raised instead of sending once the run is asked to stop: nothing left, the claim is released."""


class SharedSmtp(SmtpSender):
    """One SMTP connection shared by concurrent follow-ups: one message at a time on it.

    Only :meth:`send` is used by :func:`send_email`; pacing and connection reuse stay the
    wrapped sender's. ``should_stop``: once true, nothing new leaves (a follow-up prepared
    while another was being sent is released instead).
    """

    def __init__(self, sender: SmtpSender, should_stop: Callable[[], bool] = lambda: False) -> None:  # it delegates
        self._sender = sender
        self._should_stop = should_stop
        self._lock = threading.Lock()

    def send(self, message: EmailMessage, *, on_turn: Callable[[], object] | None = None) -> None:
        with self._lock:
            if self._should_stop():
                raise StoppedBeforeSending(STOPPED_BEFORE_SENDING)
            self._sender.send(message, on_turn=on_turn)


async def send_email(rt: Runtime, prepared: PreparedFollowUp, smtp: SmtpSender | None) -> datetime | FollowUpOutcome:
    """Send a claimed e-mail follow-up: when it left, or the outcome when it did not (failed, uncertain)."""
    assert prepared.email is not None and smtp is not None
    ledger = rt.ledger
    email = prepared.email

    turn_error: list[LedgerError] = []
    facts = record_facts(rt, prepared).to_json()

    def mark_sending() -> None:
        try:
            ledger.mark_sending(
                prepared.key,
                message_id=prepared.message_id,
                recipients=prepared.recipients_text,
                model=prepared.model,
                next_date=prepared.next_date,
                facts=facts,
            )
        except LedgerError as exc:
            turn_error.append(exc)
            raise

    def hand_over() -> datetime | Exception:
        """The SMTP turn (after the shared connection's lock and the pacing wait): SENDING, the message
        to SMTP, then SENT: the protocol's order, in one trip to a worker thread. Until its turn comes
        the claim stays CLAIMED, its lease renewed by the heartbeat: a run killed while it waits leaves
        nothing uncertain.

        A ledger error before the message is handed over is raised (nothing left); the sender's error
        is returned, to be placed below.
        """
        try:
            smtp.send(email, on_turn=mark_sending)
        except Exception as exc:
            if turn_error and exc is turn_error[0]:
                raise
            return exc
        done_at = rt.now()
        after_handover(
            lambda: ledger.mark_sent(
                prepared.key, message_id=prepared.message_id or "", recipients=prepared.recipients_text
            ),
            prepared,
        )
        return done_at

    left = await asyncio.to_thread(hand_over)
    if isinstance(left, datetime):
        return left
    if isinstance(left, MailUncertain):
        return await mark_uncertain(rt, prepared, f"{left.message}; {left.remedy}")
    if isinstance(left, MailError):
        await asyncio.to_thread(release_claim, rt, prepared.key, str(left))
        return outcome_of(prepared, "failed", error=str(left), error_code=left.code)
    # SmtpSender classifies its own errors: this one cannot be placed
    log.error("sending follow-up %s of %s failed unexpectedly", prepared.key, prepared.quote.ref, exc_info=left)
    return await mark_uncertain(rt, prepared, f"sending stopped on an unexpected error ({type(left).__name__}: {left})")
