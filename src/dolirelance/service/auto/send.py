"""Sending one due follow-up of a real run: claimed, decided again, prepared, sent and recorded by ``deliver``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from dolirelance.domain import Channel, Quote, User
from dolirelance.errors import DolirelanceError
from dolirelance.history import QuoteHistory
from dolirelance.mail import SmtpSender
from dolirelance.policy import Decision, DecisionKind
from dolirelance.service.auto.customer_answers import blocked_addresses
from dolirelance.service.auto.recheck import Recheck
from dolirelance.service.auto.report import failed_outcome
from dolirelance.service.delivery import STOPPED_BEFORE_SENDING, Attempt, FollowUpOutcome, deliver
from dolirelance.service.prepare import PreparedFollowUp, prepare_followup

log = logging.getLogger(__package__)


class _NoLongerDue(DolirelanceError):
    def __init__(self, decision: Decision) -> None:
        super().__init__(f"no longer due when re-read: {decision.summary}")
        self.decision = decision


@dataclass
class AutoSender:
    """Who sends a real run's follow-ups, under which run id, through which SMTP connection."""

    recheck: Recheck
    run_id: str
    me: User
    smtp: SmtpSender | None = None

    async def send(
        self, decision: Decision, key: str, listed: Quote, histories: Mapping[int, QuoteHistory]
    ) -> Decision | FollowUpOutcome | None:
        """The outcome of one due step; the decision made again when it is no longer due (nothing sent);
        None when the run was stopped before it was sent (the next run does it).

        One quote's trouble never stops the others: any error is a "failed" outcome, its claim released.
        """
        rt, step = self.recheck.rt, decision.step
        assert step is not None
        attempt = Attempt(
            key=key,
            quote_id=listed.id,
            quote_ref=listed.ref,
            channel=Channel.EMAIL,
            run_id=self.run_id,
            model=step.model,
            user_id=self.me.id,
            next_date=self.recheck.today + timedelta(days=rt.settings.followup.next_delay),
            step=step.number,
        )

        async def prepare() -> PreparedFollowUp:
            final, fresh, customer, history = await self.recheck.decide(decision, listed, histories)
            if final.kind is not DecisionKind.DUE or final.step is None or final.step.number != step.number:
                raise _NoLongerDue(final)
            return await prepare_followup(
                rt,
                fresh,
                channel=Channel.EMAIL,
                acting_user=self.me,
                model=step.model,
                key=key,
                automatic_step=step.number,
                history=history,
                customer=customer,
                blocked_addresses=frozenset(
                    blocked_addresses(history, customer, self.recheck.people.contacts, rt.tz)
                ),
            )

        try:
            outcome = await deliver(rt, attempt, prepare, smtp=self.smtp)
        except _NoLongerDue as stop:  # the claim was released by deliver
            return stop.decision
        except Exception as exc:  # deliver released the claim
            if isinstance(exc, (DolirelanceError, OSError)):
                message = exc.message if isinstance(exc, DolirelanceError) else str(exc)
            else:
                log.exception("unexpected error on quote %s", listed.ref)
                message = f"unexpected {type(exc).__name__}: {exc}"
            return failed_outcome(decision, key, message)
        if outcome.outcome == "failed" and STOPPED_BEFORE_SENDING in (outcome.error or ""):
            return None  # not started: the next run does it
        if outcome.outcome == "refused":  # another run, or a person, holds the quote (or did this step)
            outcome = replace(outcome, outcome="skipped")
        return outcome
