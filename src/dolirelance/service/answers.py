"""A quote's replies and bounces as `explain` shows them: when, from or to whom, what, and whether a
bounced address still keeps the automatic runs away (the rule of :func:`blocked_addresses`)."""

from __future__ import annotations

from dataclasses import dataclass

from dolirelance.domain import Customer, Quote
from dolirelance.history import AnswerRecord, QuoteHistory
from dolirelance.service.auto import blocked_addresses
from dolirelance.service.reads import load_history
from dolirelance.service.runtime import Runtime


@dataclass(frozen=True)
class QuoteAnswer:
    answer: AnswerRecord
    # a bounce whose address automatic runs still avoid: the customer or contact card that holds it
    # was not changed in Dolibarr since (always False for a reply)
    address_blocked: bool = False


async def quote_answers(rt: Runtime, quote: Quote, customer: Customer) -> list[QuoteAnswer]:
    """The replies and permanent bounces recorded on one quote, newest first.

    One events request (the follow-up and answer codes only), plus one contacts request when there is
    a bounce (the contacts' modification dates say whether the address was fixed since).
    """
    history = (await load_history(rt, [quote.id], followups_only=True)).get(quote.id, QuoteHistory())
    if not history.answers:
        return []
    blocked: set[str] = set()
    if any(answer.kind == "bounce" for answer in history.answers):
        contacts = await rt.dolibarr.list_contacts(c.contact_id for c in quote.contacts if c.source == "external")
        blocked = set(blocked_addresses(history, customer, contacts, rt.tz))
    return [
        QuoteAnswer(answer, address_blocked=answer.kind == "bounce" and answer.address in blocked)
        for answer in sorted(history.answers, key=lambda a: (a.at, a.event_id), reverse=True)
    ]
