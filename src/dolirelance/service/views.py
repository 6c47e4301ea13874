"""Read-only views: the quotes overview, follow-up history, the next follow-ups to do."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

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
    ANSWER_CODES,
    CODE_PREFIX,
    CODE_TODO,
    AnswerRecord,
    FollowUpRecord,
    QuoteHistory,
    TodoRecord,
    group_by_quote,
    latest_bounces,
    latest_reply,
)
from dolirelance.service.reads import (
    load_history,
    next_model_name,
    read_quote,
    resolve_customer_ids,
)
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)


class _AnswerMarks:
    """What a list line shows of a quote's answers: the customer's last reply, each address's last bounce."""

    answers: tuple[AnswerRecord, ...]

    @property
    def last_reply(self) -> AnswerRecord | None:
        return latest_reply(self.answers)

    @property
    def bounces(self) -> tuple[AnswerRecord, ...]:
        """The last bounce of each address, newest first."""
        return latest_bounces(self.answers)


@dataclass(frozen=True)
class QuoteRow(_AnswerMarks):
    quote: Quote
    customer: Customer | None
    last: FollowUpRecord | None
    next_todo: TodoRecord | None
    next_model: str
    answers: tuple[AnswerRecord, ...] = ()  # the customer's replies and bounces, oldest first

    def last_level(self, rt: Runtime) -> int | None:
        if self.last is None:
            return None
        return rt.level_of(self.last.model) or self.last.level


class SalesRepSelection:
    """Keeps, a page at a time, the quotes a sales person follows: those of the customers it represents.

    Where Dolibarr cannot list a customer's representatives (22.x, 23.x), the quote's author stands in,
    as it does for the signature of automatic mails (``sales_rep_of``). Customers' answers are kept.
    """

    def __init__(self, rt: Runtime, user_id: int, *, by_author: bool) -> None:
        self.rt, self.user_id, self.by_author = rt, user_id, by_author
        self._represented: dict[int, bool] = {}

    @classmethod
    async def of(cls, rt: Runtime, login: str) -> SalesRepSelection:
        me = await rt.me()  # one's own login needs no user.user.lire
        user = me if login == me.login else await rt.dolibarr.find_user_by_login(login)
        return cls(rt, user.id, by_author=not await rt.dolibarr.representatives_known())

    async def keep(self, quotes: Sequence[Quote]) -> list[Quote]:
        if self.by_author:
            return [q for q in quotes if q.author_id == self.user_id]
        unknown = sorted({q.customer_id for q in quotes} - self._represented.keys())
        found = await _represented_by(self.rt, self.user_id, unknown)
        self._represented.update((cid, cid in found) for cid in unknown)
        return [q for q in quotes if self._represented[q.customer_id]]


async def quotes_overview(
    rt: Runtime,
    flt: QuoteFilter,
    *,
    sales_rep: str | None = None,
    due_only: bool = False,
) -> list[QuoteRow]:
    """Quotes with their customer, last follow-up and next follow-up date, in a bounded number of requests."""
    return [row async for rows in iter_quote_rows(rt, flt, sales_rep=sales_rep, due_only=due_only) for row in rows]


async def iter_quote_rows(
    rt: Runtime,
    flt: QuoteFilter,
    *,
    sales_rep: str | None = None,
    due_only: bool = False,
    shown_only: bool = False,
) -> AsyncIterator[list[QuoteRow]]:
    """:func:`quotes_overview` a page at a time: only one page of quotes and its history held at once.

    ``shown_only``: read of each quote only what a list shows (cheaper for Dolibarr); such rows are
    for showing (``quotes``), not for following up.

    Per page of quotes: one events request on those quotes, and one thirdparties request for the
    customers not seen yet (customers are few and kept).
    """
    customers: dict[int, Customer] = {}
    selection = await SalesRepSelection.of(rt, sales_rep) if sales_rep else None
    today = rt.today()
    by_author = selection is not None and selection.by_author
    async for page in rt.dolibarr.iter_quotes(flt, overview=shown_only, author=by_author):
        if selection is not None:
            page = await selection.keep(page)
        if not page:
            continue
        missing = {q.customer_id for q in page} - customers.keys()
        new_customers, histories = await asyncio.gather(
            rt.dolibarr.list_customers(missing) if missing else _no_customers(),
            _histories_of(rt, [q.id for q in page]),
        )
        customers.update(new_customers)
        rows = []
        never_followed_up = QuoteHistory()  # frozen: one for every such quote of the page
        for quote in page:
            history = histories.get(quote.id, never_followed_up)
            if due_only:
                todo = history.next_todo
                if todo is None or todo.due_on(rt.tz) > today:
                    continue
            rows.append(_row(rt, quote, customers.get(quote.customer_id), history))
        if rows:
            yield rows


@dataclass(frozen=True)
class QuotesSelection:
    """Every quote of a selection, light (no lines, no history), in screen order: end of validity, then id.

    What the count, the total and "select all" act on, whatever page is shown.
    """

    quotes: tuple[Quote, ...]

    @property
    def count(self) -> int:
        return len(self.quotes)

    @property
    def total_excl_tax(self) -> Decimal:
        return sum((q.total_excl_tax for q in self.quotes), Decimal(0))

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(q.ref for q in self.quotes)

    def pages(self, per_page: int) -> int:
        return max(1, -(-self.count // per_page))


def _screen_order(quote: Quote) -> tuple[date, int]:
    return (quote.end_of_validity or date.min, quote.id)  # as Dolibarr sorts t.fin_validite,t.rowid


async def due_quote_ids(rt: Runtime) -> tuple[int, ...]:
    """The quotes whose next follow-up (open to-do) is due today or earlier: one paged events query."""
    events = await rt.events_reader.list_events(EventFilter(codes=(CODE_TODO,), element_type="propal", percentage=0))
    today = rt.today()
    return tuple(
        sorted(
            quote_id
            for quote_id, history in group_by_quote(events).items()
            if history.next_todo is not None and history.next_todo.due_on(rt.tz) <= today
        )
    )


async def _narrowed(rt: Runtime, flt: QuoteFilter, due_only: bool) -> QuoteFilter | None:
    """``flt`` narrowed to the due quotes when asked (None: nothing is due)."""
    if not due_only:
        return flt
    due = set(await due_quote_ids(rt))
    if flt.ids:
        due &= set(flt.ids)
    return replace(flt, ids=tuple(sorted(due))) if due else None


async def quotes_selection(
    rt: Runtime, flt: QuoteFilter, *, sales_rep: str | None = None, due_only: bool = False
) -> QuotesSelection:
    """Every quote a screen selects (light), filtered by Dolibarr as far as it can, in screen order."""
    narrowed = await _narrowed(rt, flt, due_only)
    if narrowed is None:
        return QuotesSelection(())
    selection = await SalesRepSelection.of(rt, sales_rep) if sales_rep else None
    quotes: list[Quote] = []
    async for listed in rt.dolibarr.iter_quotes(narrowed):
        quotes.extend(await selection.keep(listed) if selection is not None else listed)
    return QuotesSelection(tuple(sorted(quotes, key=_screen_order)))


async def quotes_screen(
    rt: Runtime,
    flt: QuoteFilter,
    *,
    page: int,
    per_page: int,
    sales_rep: str | None = None,
    due_only: bool = False,
    selection: QuotesSelection | None = None,
) -> list[QuoteRow]:
    """One screen of a selection with its customers and history, without reading the whole selection.

    Dolibarr sorts and pages the quotes itself (one request) unless the selection needs a filter it
    cannot apply (a sales person's customers) or several requests: then the whole selection is listed
    (``selection``, when the caller has it already, is used as is).
    """
    shown: list[Quote] | None = None
    if selection is None and not sales_rep:
        narrowed = await _narrowed(rt, flt, due_only)
        if narrowed is None:
            return []
        shown = await rt.dolibarr.quotes_by_end_of_validity(narrowed, page=page, size=per_page)
    if shown is None:
        if selection is None:
            selection = await quotes_selection(rt, flt, sales_rep=sales_rep, due_only=due_only)
        shown = list(selection.quotes[page * per_page : (page + 1) * per_page])
    if not shown:
        return []
    customers, histories = await asyncio.gather(
        rt.dolibarr.list_customers({q.customer_id for q in shown}),
        load_history(rt, [q.id for q in shown]),
    )
    return [
        _row(rt, quote, customers.get(quote.customer_id), histories.get(quote.id, QuoteHistory())) for quote in shown
    ]


def _row(rt: Runtime, quote: Quote, customer: Customer | None, history: QuoteHistory) -> QuoteRow:
    return QuoteRow(
        quote=quote,
        customer=customer,
        last=history.last,
        next_todo=history.next_todo,
        next_model=next_model_name(rt, history.last),
        answers=history.answers,
    )


async def _histories_of(rt: Runtime, quote_ids: Sequence[int]) -> dict[int, QuoteHistory]:
    """The follow-ups and to-dos of these quotes only (their ids in the filter, by chunks)."""
    flt = EventFilter(code_prefix=CODE_PREFIX, element_type="propal", element_ids=tuple(sorted(set(quote_ids))))
    wanted = set(quote_ids)
    return {qid: h for qid, h in group_by_quote(await rt.events_reader.list_events(flt)).items() if qid in wanted}


async def _no_histories() -> dict[int, QuoteHistory]:
    return {}


async def _no_customers() -> dict[int, Customer]:
    return {}


async def _represented_by(rt: Runtime, user_id: int, customer_ids: Sequence[int]) -> set[int]:
    semaphore = asyncio.Semaphore(rt.settings.dolibarr.max_concurrency)

    async def one(customer_id: int) -> int | None:
        async with semaphore:
            reps = await rt.sales_representatives(customer_id)
        return customer_id if any(rep.id == user_id for rep in reps) else None

    return {cid for cid in await asyncio.gather(*(one(cid) for cid in customer_ids)) if cid is not None}


@dataclass(frozen=True)
class HistoryLine:
    """A follow-up done, as the history shows it."""

    record: FollowUpRecord
    quote_ref: str
    customer_name: str
    user_name: str
    quote_open: bool

    kind = "followup"

    @property
    def at(self) -> datetime:
        return self.record.done_at

    @property
    def event_id(self) -> int:
        return self.record.event_id


@dataclass(frozen=True)
class AnswerLine:
    """A customer's reply or a permanent bounce of a follow-up, as the history shows it."""

    answer: AnswerRecord
    quote_ref: str
    customer_name: str
    quote_open: bool

    @property
    def kind(self) -> str:
        return self.answer.kind  # "reply" or "bounce"

    @property
    def at(self) -> datetime:
        return self.answer.at

    @property
    def event_id(self) -> int:
        return self.answer.event_id


async def history_view(
    rt: Runtime,
    *,
    quote: str | None = None,
    customer: str | None = None,
    open_only: bool = False,
) -> list[HistoryLine | AnswerLine]:
    """Follow-ups of one quote, of one customer (all its quotes, closed ones too), or of all open quotes,
    with the customers' replies and bounces among them, newest first.

    The replies and bounces come in the same paged events query as the follow-ups (their codes share the
    ``AC_RELANCE`` prefix): no request per quote.
    """
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
        pass  # the open quotes among those the events name, read once the events are known
    else:
        raise FollowUpError("say which history", remedy="use --quote REF, --customer ID-or-name or --open")
    events = await rt.events_reader.list_events(flt)
    histories = group_by_quote(events).values()
    records = [r for h in histories for r in h.followups]
    answers = [a for h in histories for a in h.answers]
    if open_only:  # the quotes named by a follow-up or an answer, not every open quote
        named = tuple(sorted({qid for qid in _quote_ids(records, answers) if qid is not None}))
        if named:
            quotes.update((q.id, q) for q in await rt.dolibarr.list_quotes(QuoteFilter(ids=named)))
    if open_only or customer is not None:
        records = [r for r in records if r.quote_id in quotes]
        answers = [a for a in answers if a.quote_id in quotes]
    missing_quotes = {qid for qid in _quote_ids(records, answers) if qid is not None and qid not in quotes}
    if missing_quotes:
        wanted = QuoteFilter(statuses=tuple(QuoteStatus), ids=tuple(sorted(missing_quotes)))
        quotes.update((q.id, q) for q in await rt.dolibarr.list_quotes(wanted))
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes.values()}) if quotes else {}

    def about(quote_id: int | None) -> tuple[str, str, bool]:
        """The quote's ref, its customer's name, whether it is open."""
        the_quote = quotes.get(quote_id or -1)
        cust = customers.get(the_quote.customer_id) if the_quote else None
        return (the_quote.ref if the_quote else f"#{quote_id}", cust.name if cust else "",
                bool(the_quote and the_quote.is_open))  # fmt: skip

    lines: list[HistoryLine | AnswerLine] = []
    for record in records:
        user_name = ""
        if record.owner_id:
            try:
                user_name = (await rt.user(record.owner_id)).full_name
            except DolibarrError:
                user_name = f"#{record.owner_id}"
        ref, customer_name, is_open = about(record.quote_id)
        lines.append(HistoryLine(record, ref, customer_name, user_name, is_open))
    lines.extend(AnswerLine(answer, *about(answer.quote_id)) for answer in answers)
    return sorted(lines, key=lambda line: (line.at, line.event_id), reverse=True)


def _quote_ids(records: Sequence[FollowUpRecord], answers: Sequence[AnswerRecord]) -> Iterator[int | None]:
    yield from (record.quote_id for record in records)
    yield from (answer.quote_id for answer in answers)


@dataclass(frozen=True)
class UpcomingLine(_AnswerMarks):
    todo: TodoRecord
    quote: Quote | None
    customer_name: str
    due_on: date
    overdue: bool
    answers: tuple[AnswerRecord, ...] = ()  # the quote's replies and bounces, oldest first


async def upcoming(rt: Runtime, *, login: str | None = None, days: int = 30) -> list[UpcomingLine]:
    """The next follow-ups to do (open AC_RELANCE_TODO events), the user's own by default, each with its
    quote's replies and bounces (one events request for all the quotes, beside the quotes' own)."""
    me = await rt.me()  # one's own login needs no user.user.lire
    user = await rt.dolibarr.find_user_by_login(login) if login and login != me.login else me
    today = rt.today()
    horizon = today + timedelta(days=days)
    events = await rt.events_reader.list_events(
        EventFilter(codes=(CODE_TODO,), element_type="propal", owner_ids=(user.id,), percentage=0)
    )
    todos = [t for h in group_by_quote(events).values() for t in h.open_todos]
    todos = [t for t in todos if t.due_on(rt.tz) <= horizon]
    named = tuple(sorted({t.quote_id for t in todos if t.quote_id is not None}))
    listed, answers = (
        await asyncio.gather(rt.dolibarr.list_quotes(QuoteFilter(ids=named)), _answers_of(rt, named))
        if named
        else ([], {})
    )
    quotes = {q.id: q for q in listed}
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes.values()}) if quotes else {}
    lines = []
    for todo in sorted(todos, key=lambda t: t.due_at):
        the_quote = quotes.get(todo.quote_id or -1)
        if the_quote is None:  # the quote is no longer open: nothing to do
            continue
        cust = customers.get(the_quote.customer_id)
        due = todo.due_on(rt.tz)
        lines.append(UpcomingLine(todo, the_quote, cust.name if cust else "", due, due < today,
                                  answers.get(the_quote.id, ())))  # fmt: skip
    return lines


async def _answers_of(rt: Runtime, quote_ids: Sequence[int]) -> dict[int, tuple[AnswerRecord, ...]]:
    """The replies and bounces of these quotes: one events request (by chunks of ids), not one per quote."""
    flt = EventFilter(codes=ANSWER_CODES, element_type="propal", element_ids=tuple(sorted(set(quote_ids))))
    return {qid: h.answers for qid, h in group_by_quote(await rt.events_reader.list_events(flt)).items() if h.answers}
