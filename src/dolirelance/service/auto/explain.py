"""``explain``: the automatic decision for one quote on a day, and what was read to make it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from typing import NamedTuple

from dolirelance.domain import Customer, Quote, Recipient, choose_recipients
from dolirelance.history import QuoteHistory
from dolirelance.policy import CustomerAnswer, Decision, DecisionKind, SkipReason, decide
from dolirelance.service.agenda import past_followups
from dolirelance.service.auto.customer_answers import (
    blocked_addresses,
    customer_answers,
    has_bounces,
    usable_recipients,
)
from dolirelance.service.auto.plan import plan_run
from dolirelance.service.auto.rules import auto_rules
from dolirelance.service.reads import load_history, read_quote
from dolirelance.service.runtime import Runtime


class Explanation(NamedTuple):
    """The automatic decision for one quote, with what was read to make it (so no one reads it again)."""

    decision: Decision
    quote: Quote
    customer: Customer
    recipients: tuple[Recipient, ...]
    history: QuoteHistory  # the quote's follow-ups, to-dos, replies and bounces
    blocked: frozenset[str]  # lower-case addresses that bounced and were not fixed since: not used


async def _recipients_of(rt: Runtime, quote_id: int) -> tuple[Quote, Customer, tuple[Recipient, ...]]:
    quote = await rt.dolibarr.get_quote(quote_id)
    customer = await rt.dolibarr.get_customer(quote.customer_id)
    return quote, customer, choose_recipients(quote, customer)


async def explain(rt: Runtime, quote_key: int | str, *, on: date | None = None) -> Explanation:
    """The automatic decision for one quote on a day, exactly as the run makes it (the cap included).

    One events request for the quote's history (its replies and bounces included), plus one contacts
    request when an address bounced (who changed since), plus the run's plan when the step is due.
    """
    quote, customer, recipients = await _recipients_of(
        rt, int(quote_key) if str(quote_key).isdigit() else (await read_quote(rt, quote_key)).id
    )
    today = on or rt.today()
    histories = await load_history(rt, [quote.id])
    past = (await asyncio.to_thread(past_followups, rt, [quote.id], histories)).get(quote.id, [])
    rules = auto_rules(rt)
    history = histories.get(quote.id, QuoteHistory())
    usable, bounced = tuple(recipients), None
    blocked: dict[str, CustomerAnswer] = {}
    if has_bounces(history):  # who changed since: one more request
        contacts = await rt.dolibarr.list_contacts(c.contact_id for c in quote.contacts if c.source == "external")
        blocked = blocked_addresses(history, customer, contacts, rt.tz)
        usable, bounced = usable_recipients(recipients, blocked)
    decision = decide(
        quote,
        past,
        rules,
        today,
        has_email=bool(usable),
        answers=customer_answers(rt, histories).get(quote.id, ()),
        bounced=bounced,
    )
    if decision.kind is DecisionKind.DUE:
        # Would the run's cap leave it for later? Only the whole plan can say.
        planned = await plan_run(rt, today, rules)
        mine = next((d for d in planned.decisions if d.quote_id == quote.id), None)
        if mine is not None and mine.reason is SkipReason.DEFERRED:
            decision = replace(mine, arithmetic=decision.arithmetic + mine.arithmetic[-1:])
    return Explanation(decision, quote, customer, recipients, history, frozenset(blocked))
