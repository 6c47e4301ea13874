"""Customers' replies and bounces (issue 15) as the automatic decisions read them.

They are read with the follow-ups, in the same events query. A reply stops the automatic follow-ups
of its quote; an address that bounced for good is not written to again until it is fixed in Dolibarr.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from dolirelance.domain import Contact, Customer, Recipient
from dolirelance.history import QuoteHistory
from dolirelance.policy import CustomerAnswer
from dolirelance.service.runtime import Runtime


def customer_answers(rt: Runtime, histories: Mapping[int, QuoteHistory]) -> dict[int, list[CustomerAnswer]]:
    """The replies and permanent bounces recorded on each quote, as the policy reads them."""
    return {
        quote_id: [
            CustomerAnswer(quote_id, answer.kind, answer.on(rt.tz), answer.event_id, answer.address)
            for answer in history.answers
        ]
        for quote_id, history in histories.items()
        if history.answers
    }


def has_bounces(history: QuoteHistory) -> bool:
    """Some address of the quote bounced: who changed since must be read before deciding."""
    return any(answer.kind == "bounce" for answer in history.answers)


def blocked_addresses(
    history: QuoteHistory, customer: Customer, contacts: Mapping[int, Contact], tz: ZoneInfo
) -> dict[str, CustomerAnswer]:
    """Addresses that bounced for good and were not changed since: automatic runs do not use them.

    An address is blocked from its bounce until the customer or the contact that holds it is changed
    in Dolibarr (its ``date_modification`` after the bounce): fixing the address is such a change.
    """
    blocked: dict[str, CustomerAnswer] = {}
    for answer in history.answers:
        if answer.kind != "bounce" or not answer.address:
            continue
        holders: list[datetime | None] = []
        if (customer.email or "").strip().lower() == answer.address:
            holders.append(customer.modified_at)
        holders += [
            contact.modified_at
            for contact in contacts.values()
            if (contact.email or "").strip().lower() == answer.address
        ]
        if any(changed is not None and changed > answer.at for changed in holders):
            continue  # corrected (or at least edited) since it bounced
        blocked[answer.address] = CustomerAnswer(
            answer.quote_id or 0, "bounce", answer.on(tz), answer.event_id, answer.address
        )
    return blocked


def usable_recipients(
    recipients: Sequence[Recipient], blocked: Mapping[str, CustomerAnswer]
) -> tuple[tuple[Recipient, ...], CustomerAnswer | None]:
    """The recipients an automatic follow-up may use, and the bounce that removed the last one."""
    usable = tuple(r for r in recipients if r.email.strip().lower() not in blocked)
    if usable or not recipients:
        return usable, None
    return usable, blocked.get(recipients[-1].email.strip().lower())
