"""A batch of due quotes read again just before it is sent: the quotes, their history, their people.

The due quotes go in batches of :data:`AUTO_BATCH`; each batch costs one list request with their ids,
one events request and, in bulk, the customers and contacts not read yet in the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from dolirelance.domain import Contact, Customer, Quote, QuoteFilter
from dolirelance.history import QuoteHistory
from dolirelance.service.reads import load_history
from dolirelance.service.runtime import Runtime

T = TypeVar("T")

# Due quotes re-checked together (one list request with their ids, one events request) and sent together.
AUTO_BATCH = 100


@dataclass
class People:
    """Customers and contacts read in bulk during one run, each once."""

    customers: dict[int, Customer] = field(default_factory=dict)
    contacts: dict[int, Contact] = field(default_factory=dict)

    async def read(self, rt: Runtime, quotes: Sequence[Quote]) -> None:
        """The customers of ``quotes`` and the contacts they list, in ``t.rowid:in:`` batches."""
        customer_ids = {q.customer_id for q in quotes} - set(self.customers)
        contact_ids = {c for q in quotes for c in q.contact_ids} - set(self.contacts)
        customers, contacts = await asyncio.gather(
            rt.dolibarr.list_customers(customer_ids) if customer_ids else _nothing(Customer),
            rt.dolibarr.list_contacts(contact_ids) if contact_ids else _nothing(Contact),
        )
        self.customers.update(customers)
        self.contacts.update(contacts)

    def customer_of(self, quote: Quote) -> Customer:
        return self.customers.get(quote.customer_id) or Customer(id=quote.customer_id, name="")


async def _nothing(_: type[T]) -> dict[int, T]:
    return {}


@dataclass(frozen=True)
class FreshBatch:
    """A batch's quotes as read just before sending (a quote gone from Dolibarr is missing) and their history."""

    quotes: dict[int, Quote]
    histories: dict[int, QuoteHistory]


async def read_batch(
    rt: Runtime, ids: Sequence[int], people: People, *, planned: Mapping[int, Quote] | None = None
) -> FreshBatch:
    """The batch re-read: still open, opt-out unset, no follow-up since the plan; its people in bulk.

    ``planned``: the dry run's plan, made a moment ago: its quotes and history are fresh, nothing is read
    again but the people.
    """
    if planned is not None:
        quotes = {qid: planned[qid] for qid in ids}
        histories: dict[int, QuoteHistory] = {}
    else:
        fresh, histories = await asyncio.gather(
            rt.dolibarr.list_quotes(QuoteFilter(statuses=(), ids=tuple(ids))), load_history(rt, ids)
        )
        quotes = {q.id: q for q in fresh}
    await people.read(rt, list(quotes.values()))
    return FreshBatch(quotes, histories)
