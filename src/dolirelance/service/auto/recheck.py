"""Deciding a due step again just before it is sent, from the batch's fresh reads (and the ledger now)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from dolirelance.domain import Customer, Quote, choose_recipients, email_known
from dolirelance.history import QuoteHistory
from dolirelance.policy import AutoRules, CustomerAnswer, Decision, PastFollowUp, decide
from dolirelance.service.agenda import past_followups
from dolirelance.service.auto.customer_answers import (
    blocked_addresses,
    customer_answers,
    has_bounces,
    usable_recipients,
)
from dolirelance.service.auto.fresh import People
from dolirelance.service.runtime import Runtime


class Rechecked(NamedTuple):
    """The decision made again, with the reads it was made from (the follow-up is prepared from them)."""

    decision: Decision
    quote: Quote
    customer: Customer
    history: QuoteHistory


@dataclass
class Recheck:
    """What a run decides again from: its rules and day, the people read in bulk, and in a dry run its plan.

    A dry run claims nothing and its plan was made a moment ago: the plan's history and past follow-ups
    are used as they are. A real run reads the ledger again, its own fresh claim left out.
    """

    rt: Runtime
    rules: AutoRules
    today: date
    dry_run: bool
    people: People = field(default_factory=People)
    planned_past: Mapping[int, list[PastFollowUp]] = field(default_factory=dict)
    planned_histories: Mapping[int, QuoteHistory] = field(default_factory=dict)

    async def decide(self, decision: Decision, quote: Quote, histories: Mapping[int, QuoteHistory]) -> Rechecked:
        """The decision for the step from the batch's fresh reads (and, in a real run, the ledger now)."""
        assert decision.step is not None
        customer = self.people.customer_of(quote)
        has_email = email_known(quote, customer, self.people.contacts)
        history = histories.get(quote.id, QuoteHistory())
        if self.dry_run:
            history = self.planned_histories.get(quote.id, history)
        bounces = has_bounces(history)
        if quote.contact_ids and (has_email is None or not self.dry_run or bounces):
            # only a quote read one by one gives its contacts' roles (who the mail goes to)
            quote = await self.rt.dolibarr.get_quote(quote.id)
            has_email = bool(choose_recipients(quote, customer))
        bounced: CustomerAnswer | None = None
        if has_email and bounces:  # addresses that bounced for good are not used until fixed
            blocked = blocked_addresses(history, customer, self.people.contacts, self.rt.tz)
            usable, bounced = usable_recipients(choose_recipients(quote, customer), blocked)
            has_email = bool(usable)
        if self.dry_run:
            past = list(self.planned_past.get(quote.id, []))
        else:  # our own fresh claim must not count as "already done"
            past = (await asyncio.to_thread(past_followups, self.rt, [quote.id], {quote.id: history})).get(
                quote.id, []
            )
            past = [p for p in past if not (p.source == "ledger" and p.step == decision.step.number)]
        final = decide(
            quote,
            past,
            self.rules,
            self.today,
            has_email=has_email,
            answers=customer_answers(self.rt, {quote.id: history}).get(quote.id, ()),
            bounced=bounced,
        )
        return Rechecked(final, quote, customer, history)
