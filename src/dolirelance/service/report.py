"""The effectiveness report use case: read in bulk from Dolibarr, then compute it (:mod:`~dolirelance.effectiveness`).

Requests, whatever the number of quotes: one paged list of our events since the start of the
period and, side by side with it, one paged list of the quotes issued in the period; then the older
quotes followed up in the period by id (as many a request as the URL holds), and one user read per
sales person. Only the properties the report uses are read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime, time

from dolirelance.domain import AgendaEvent, EventFilter, QuoteStatus
from dolirelance.effectiveness import UNKNOWN_MODEL, FollowUpFact, Period, Report, compute_report
from dolirelance.errors import DolibarrAuthError, DolibarrError, FollowUpError
from dolirelance.history import CODE_PREFIX, FollowUpRecord, record_of, todo_of
from dolirelance.service.runtime import Runtime

__all__ = ["default_period_start", "effectiveness_report"]

log = logging.getLogger(__name__)

_VALIDATED = (QuoteStatus.OPEN, QuoteStatus.SIGNED, QuoteStatus.REFUSED, QuoteStatus.BILLED)


def default_period_start(end: date) -> date:
    """The first day of the month eleven months before ``end``'s: twelve calendar months."""
    months = end.year * 12 + end.month - 1 - 11
    return date(months // 12, months % 12 + 1, 1)


async def effectiveness_report(
    rt: Runtime,
    *,
    start: date | None = None,
    end: date | None = None,
    sales_rep: str | None = None,
    model: str | None = None,
) -> Report:
    """Which follow-ups pay, over the follow-ups done from ``start`` to ``end`` (see docs/report.md)."""
    today = rt.today()
    end = end or today
    start = start or default_period_start(end)
    if end < start:
        raise FollowUpError(
            f"the period ends ({end}) before it starts ({start})", remedy="give --from before --to"
        )
    period = Period(start, end)
    me = await rt.me()
    logins: dict[int, str] = {me.id: me.login}
    if sales_rep and sales_rep != me.login:
        try:
            wanted = await rt.dolibarr.find_user_by_login(sales_rep)
            logins[wanted.id] = wanted.login
        except DolibarrAuthError:
            log.debug("may not look up users: --sales-rep %s matched against the logins that can be read", sales_rep)
    # the two paged queries side by side: our events since the start, the quotes issued in the period
    events, quotes = await asyncio.gather(
        rt.dolibarr.list_events(
            EventFilter(code_prefix=CODE_PREFIX, start_from=datetime.combine(start, time(0, 0), tzinfo=rt.tz))
        ),
        rt.dolibarr.list_quotes_issued(start, end, _VALIDATED),
    )
    records = [r for r in map(record_of, events) if r is not None and r.quote_id is not None]
    person_of = _sales_people(records, events)
    for user_id in {person for person in person_of.values() if person is not None}:
        logins.setdefault(user_id, await _login(rt, user_id))
    facts = [
        FollowUpFact(
            quote_id=r.quote_id,
            done_on=r.done_on(rt.tz),
            channel=r.channel,
            model=r.model or UNKNOWN_MODEL,
            step=r.step if r.automatic else None,
            sales_person=logins.get(person_of[r.event_id] or 0, "?"),
        )
        for r in records
        if r.quote_id is not None
    ]
    if model is not None and model not in rt.model_names() and all(f.model != model for f in facts):
        raise FollowUpError(
            f"no model named {model!r}", remedy=f"use one of: {', '.join(rt.model_names())}"
        )
    known = {quote.id for quote in quotes}
    missing = {f.quote_id for f in facts if f.done_on in period and f.quote_id not in known}
    if missing:
        quotes += await rt.dolibarr.list_quotes_by_ids(missing)
    return compute_report(quotes, facts, period, today=today, model=model, sales_person=sales_rep)


def _sales_people(records: Sequence[FollowUpRecord], events: Sequence[AgendaEvent]) -> dict[int, int | None]:
    """The sales person of each follow-up (by event id): the owner of the to-do it planned, found by its
    key; a follow-up whose to-do a later one moved (it then carries the later key) has the owner of the
    next one of its quote that has a to-do (a to-do is moved only for the sales person who owns it);
    else the user who made it."""
    planner_of = {
        todo.key: todo.owner_id for todo in map(todo_of, events) if todo is not None and todo.key and todo.owner_id
    }
    by_quote: dict[int | None, list[FollowUpRecord]] = {}
    for record in records:
        by_quote.setdefault(record.quote_id, []).append(record)
    person_of: dict[int, int | None] = {}
    for followups in by_quote.values():
        later: int | None = None  # the planner of the nearest later follow-up that has one
        for record in sorted(followups, key=lambda r: (r.done_at, r.event_id), reverse=True):
            own = planner_of.get(record.key) if record.key else None
            later = own or later
            person_of[record.event_id] = own or later or record.owner_id
    return person_of


async def _login(rt: Runtime, user_id: int) -> str:
    """The user's login; ``#id`` when the API user may not read other users (``user.user.lire``)."""
    try:
        return (await rt.user(user_id)).login
    except DolibarrError:
        return f"#{user_id}"
