"""Read-only views: the quotes overview, follow-up history, the next follow-ups to do."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from dolirelance.domain import (
    Customer,
    EventFilter,
    Quote,
    QuoteFilter,
    QuoteStatus,
)
from dolirelance.errors import (
    DolibarrError,
    FollowUpError,
)
from dolirelance.history import (
    CODE_PREFIX,
    CODE_TODO,
    FollowUpRecord,
    QuoteHistory,
    TodoRecord,
    group_by_quote,
)
from dolirelance.service.reads import (
    load_history,
    next_model_name,
    read_quote,
    resolve_customer_ids,
)
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuoteRow:
    quote: Quote
    customer: Customer | None
    last: FollowUpRecord | None
    next_todo: TodoRecord | None
    next_model: str

    def last_level(self, rt: Runtime) -> int | None:
        if self.last is None:
            return None
        return rt.level_of(self.last.model) or self.last.level


async def customer_ids_of_sales_rep(rt: Runtime, login: str, customer_ids: Sequence[int]) -> set[int]:
    """Customers (among those given) whose sales representatives include the user ``login``."""
    me = await rt.me()  # one's own login needs no user.user.lire
    user = me if login == me.login else await rt.dolibarr.find_user_by_login(login)
    semaphore = asyncio.Semaphore(rt.settings.dolibarr.max_concurrency)

    async def represented(customer_id: int) -> int | None:
        async with semaphore:
            reps = await rt.dolibarr.sales_representatives(customer_id)
        return customer_id if any(rep.id == user.id for rep in reps) else None

    found = await asyncio.gather(*(represented(cid) for cid in sorted(set(customer_ids))))
    return {cid for cid in found if cid is not None}


async def quotes_of_sales_rep(rt: Runtime, login: str, quotes: Sequence[Quote]) -> list[Quote]:
    """The quotes the user ``login`` follows: those of the customers it represents.

    Where Dolibarr cannot list a customer's representatives (22.x, 23.x), the quote's author stands in,
    as it does for the signature of automatic mails (``sales_rep_of``).
    """
    if await rt.dolibarr.representatives_known():
        allowed = await customer_ids_of_sales_rep(rt, login, [q.customer_id for q in quotes])
        return [q for q in quotes if q.customer_id in allowed]
    me = await rt.me()
    user = me if login == me.login else await rt.dolibarr.find_user_by_login(login)
    return [q for q in quotes if q.author_id == user.id]


async def quotes_overview(
    rt: Runtime,
    flt: QuoteFilter,
    *,
    sales_rep: str | None = None,
    due_only: bool = False,
) -> list[QuoteRow]:
    """Quotes with their customer, last follow-up and next follow-up date, in a bounded number of requests."""
    quotes = await rt.dolibarr.list_quotes(flt)
    if sales_rep:
        quotes = await quotes_of_sales_rep(rt, sales_rep, quotes)
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes}) if quotes else {}
    histories = await load_history(rt, [q.id for q in quotes]) if quotes else {}
    today = rt.today()
    rows = []
    for quote in quotes:
        history = histories.get(quote.id, QuoteHistory())
        todo = history.next_todo
        if due_only and (todo is None or todo.due_on(rt.tz) > today):
            continue
        rows.append(
            QuoteRow(
                quote=quote,
                customer=customers.get(quote.customer_id),
                last=history.last,
                next_todo=todo,
                next_model=next_model_name(rt, history.last),
            )
        )
    return rows


@dataclass(frozen=True)
class HistoryLine:
    record: FollowUpRecord
    quote_ref: str
    customer_name: str
    user_name: str
    quote_open: bool


async def history_view(
    rt: Runtime,
    *,
    quote: str | None = None,
    customer: str | None = None,
    open_only: bool = False,
) -> list[HistoryLine]:
    """Follow-ups of one quote, of one customer (all its quotes, closed ones too), or of all open quotes."""
    flt = EventFilter(code_prefix=CODE_PREFIX, element_type="propal")
    quotes: dict[int, Quote] = {}
    if quote is not None:
        the_quote = await read_quote(rt, quote)
        quotes[the_quote.id] = the_quote
        flt = EventFilter(code_prefix=CODE_PREFIX, element_type="propal", element_ids=(the_quote.id,))
    elif customer is not None:
        ids = await resolve_customer_ids(rt, customer)
        for q in await rt.dolibarr.list_quotes(QuoteFilter(statuses=tuple(QuoteStatus), customer_ids=ids)):
            quotes[q.id] = q
        if not quotes:
            return []
        # every customer the text matches (not only the first): their quotes' events, in chunked bulk reads
        flt = EventFilter(code_prefix=CODE_PREFIX, element_type="propal", element_ids=tuple(sorted(quotes)))
    elif open_only:
        for q in await rt.dolibarr.list_quotes(QuoteFilter()):
            quotes[q.id] = q
    else:
        raise FollowUpError("say which history", remedy="use --quote REF, --customer ID-or-name or --open")
    events = await rt.dolibarr.list_events(flt)
    records = [r for h in group_by_quote(events).values() for r in h.followups]
    if open_only or customer is not None:
        records = [r for r in records if r.quote_id in quotes]
    missing_quotes = {r.quote_id for r in records if r.quote_id is not None and r.quote_id not in quotes}
    if missing_quotes:
        for q in await rt.dolibarr.list_quotes(QuoteFilter(statuses=tuple(QuoteStatus))):
            if q.id in missing_quotes:
                quotes[q.id] = q
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes.values()}) if quotes else {}
    lines = []
    for record in sorted(records, key=lambda r: (r.done_at, r.event_id), reverse=True):
        quote_of_record = quotes.get(record.quote_id or -1)
        cust = customers.get(quote_of_record.customer_id) if quote_of_record else None
        user_name = ""
        if record.owner_id:
            try:
                user_name = (await rt.user(record.owner_id)).full_name
            except DolibarrError:
                user_name = f"#{record.owner_id}"
        lines.append(
            HistoryLine(
                record=record,
                quote_ref=quote_of_record.ref if quote_of_record else f"#{record.quote_id}",
                customer_name=cust.name if cust else "",
                user_name=user_name,
                quote_open=bool(quote_of_record and quote_of_record.is_open),
            )
        )
    return lines


@dataclass(frozen=True)
class UpcomingLine:
    todo: TodoRecord
    quote: Quote | None
    customer_name: str
    due_on: date
    overdue: bool


async def upcoming(rt: Runtime, *, login: str | None = None, days: int = 30) -> list[UpcomingLine]:
    """The next follow-ups to do (open AC_RELANCE_TODO events), the user's own by default."""
    me = await rt.me()  # one's own login needs no user.user.lire
    user = await rt.dolibarr.find_user_by_login(login) if login and login != me.login else me
    today = rt.today()
    horizon = today + timedelta(days=days)
    events = await rt.dolibarr.list_events(
        EventFilter(codes=(CODE_TODO,), element_type="propal", owner_ids=(user.id,), percentage=0)
    )
    todos = [t for h in group_by_quote(events).values() for t in h.open_todos]
    todos = [t for t in todos if t.due_on(rt.tz) <= horizon]
    quotes = {q.id: q for q in await rt.dolibarr.list_quotes(QuoteFilter())} if todos else {}
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes.values()}) if quotes else {}
    lines = []
    for todo in sorted(todos, key=lambda t: t.due_at):
        the_quote = quotes.get(todo.quote_id or -1)
        if the_quote is None:  # the quote is no longer open: nothing to do
            continue
        cust = customers.get(the_quote.customer_id)
        due = todo.due_on(rt.tz)
        lines.append(UpcomingLine(todo, the_quote, cust.name if cust else "", due, due < today))
    return lines
