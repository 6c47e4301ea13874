"""Reads shared by several use cases: a quote by id or ref, follow-up histories, customers by name."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time

from dolirelance.domain import (
    Channel,
    Customer,
    EventFilter,
    Quote,
)
from dolirelance.errors import DolibarrNotFound, NoCustomerMatch
from dolirelance.history import (
    ANSWER_CODES,
    CODE_BY_CHANNEL,
    CODE_PREFIX,
    FollowUpRecord,
    QuoteHistory,
    group_by_quote,
)
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)


async def load_history(
    rt: Runtime,
    quote_ids: Sequence[int] | None = None,
    *,
    followups_only: bool = False,
    since: date | None = None,
) -> dict[int, QuoteHistory]:
    """Follow-ups and to-dos by quote, read with paged bulk queries on the AC_RELANCE events, with the
    service's key (:attr:`Runtime.events_reader`): a sales person's own key may see only their events.

    ``followups_only`` leaves the to-dos out (the customers' replies and bounces are kept: the
    automatic rules listen to them); ``since`` leaves out events before that day (a
    quote's follow-ups cannot be older than the quote itself).
    """
    codes = (
        (CODE_BY_CHANNEL[Channel.EMAIL], CODE_BY_CHANNEL[Channel.LETTER], *ANSWER_CODES) if followups_only else ()
    )
    start = datetime.combine(since, time(0, 0), tzinfo=rt.tz) if since is not None else None
    element_ids: tuple[int, ...] = ()
    if quote_ids is not None:
        ids = sorted(set(quote_ids))
        if not ids:
            return {}
        if len(ids) <= rt.settings.dolibarr.page_size:
            element_ids = tuple(ids)
    flt = EventFilter(
        code_prefix=None if codes else CODE_PREFIX,
        codes=codes,
        element_type="propal",
        element_ids=element_ids,
        start_from=start,
    )
    events = await rt.events_reader.list_events(flt)  # the service's key: every user's follow-ups
    grouped = group_by_quote(events)
    if quote_ids is not None:
        wanted = set(quote_ids)
        grouped = {qid: history for qid, history in grouped.items() if qid in wanted}
    return grouped


def next_model_name(rt: Runtime, last: FollowUpRecord | None) -> str:
    """The level after the last one the quote received (the first model if none; the last stays last)."""
    names = rt.model_names()
    if last is None:
        return names[0]
    level = rt.level_of(last.model) or last.level or 0
    return names[min(level, len(names) - 1)]


async def read_customer(rt: Runtime, customer_id: int) -> Customer:
    return await rt.dolibarr.get_customer(customer_id)


async def read_quote(rt: Runtime, quote_key: int | str) -> Quote:
    """A quote by id ("12") or by ref ("PR2611-0001"), with its contacts."""
    text = str(quote_key).strip()
    if text.isdigit():
        return await rt.dolibarr.get_quote(int(text))
    try:
        return await rt.dolibarr.get_quote_by_ref(text)
    except DolibarrNotFound:
        pass
    if text.upper() != text:  # "pr2611-0001" typed for PR2611-0001: Dolibarr's refs are upper case
        try:
            return await rt.dolibarr.get_quote_by_ref(text.upper())
        except DolibarrNotFound:
            pass
    raise DolibarrNotFound(
        f"no quote with the reference {text} in Dolibarr",
        remedy="check the reference (`dolirelance quotes` lists the open quotes), or give the quote's id",
        status_code=404,
    )


async def resolve_customer_ids(rt: Runtime, customer: str) -> tuple[int, ...]:
    if customer.strip().isdigit():
        return (int(customer),)
    found = await rt.dolibarr.find_customers(customer)
    if not found:
        raise NoCustomerMatch(customer, remedy="give the customer's id, name or code")
    return tuple(c.id for c in found)
