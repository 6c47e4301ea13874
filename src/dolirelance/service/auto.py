"""Automatic follow-ups: the daily run and `explain`, over the pure decisions of :mod:`dolirelance.policy`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from dolirelance.config import AutoSettings
from dolirelance.dolibarr.client import WINDOW_QUOTE_PROPERTIES
from dolirelance.dolibarr.wire import RejectedRow
from dolirelance.domain import (
    Channel,
    Contact,
    Customer,
    Quote,
    QuoteFilter,
    Recipient,
    User,
    choose_recipients,
    email_known,
)
from dolirelance.errors import DolirelanceError
from dolirelance.history import QuoteHistory
from dolirelance.ledger import Entry, FollowUpState
from dolirelance.mail import SmtpSender
from dolirelance.policy import (
    AutoRules,
    CustomerAnswer,
    Decision,
    DecisionKind,
    PastFollowUp,
    SkipReason,
    cap_due,
    decide,
    plan,
    urgency_key,
)
from dolirelance.service.access import Access, require_access
from dolirelance.service.agenda import past_followups
from dolirelance.service.delivery import (
    STOPPED_BEFORE_SENDING,
    Attempt,
    FollowUpOutcome,
    SharedSmtp,
    deliver,
    how_to_settle,
    retry_unrecorded,
)
from dolirelance.service.prepare import PreparedFollowUp, prepare_followup
from dolirelance.service.reads import (
    load_history,
    read_quote,
)
from dolirelance.service.runtime import (
    Runtime,
    require_rights,
)
from dolirelance.workdays import WorkingCalendar, describe_day

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class AutoReport:
    today: date
    dry_run: bool
    decisions: list[Decision]
    outcomes: list[FollowUpOutcome] = field(default_factory=list)
    recorded_later: list[FollowUpOutcome] = field(default_factory=list)
    uncertain: list[Entry] = field(default_factory=list)
    newly_uncertain: list[Entry] = field(default_factory=list)
    # Rows Dolibarr sent that could not be understood: left out of the run, named for a person to fix.
    rejected: list[RejectedRow] = field(default_factory=list)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Set when ``today`` is not a working day ("Sunday is not a working day"): nothing decided, nothing sent.
    day_off: str | None = None
    next_working_day: date | None = None
    cap: int | None = None  # [auto] max_per_run
    due_before_cap: int = 0

    @property
    def deferred(self) -> list[Decision]:
        """Due follow-ups left for a later run by the cap."""
        return [d for d in self.decisions if d.reason is SkipReason.DEFERRED]

    @property
    def cap_warning(self) -> str | None:
        """Said by the dry run (and `doctor`) when this run has more due follow-ups than the cap."""
        if self.cap is None or self.due_before_cap <= self.cap:
            return None
        return (
            f"{self.due_before_cap} automatic follow-ups are due but [auto] max_per_run = {self.cap}: "
            f"this run sends the {self.cap} most urgent and defers {self.due_before_cap - self.cap} "
            "to the next runs; raise max_per_run to send more at once"
        )

    @property
    def due(self) -> list[Decision]:
        return [d for d in self.decisions if d.kind is DecisionKind.DUE]

    @property
    def sent(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.outcome in ("failed", "uncertain")]

    @property
    def ok(self) -> bool:
        """False when something failed or needs a person (uncertain, still not recorded)."""
        unrecorded = [o for o in [*self.recorded_later, *self.outcomes] if o.outcome == "sent-not-recorded"]
        return (
            self.error is None
            and not self.failed
            and not self.newly_uncertain
            and not unrecorded
            and not self.rejected
        )

    def skipped_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for decision in self.decisions:
            if decision.kind is DecisionKind.SKIPPED and decision.reason is not None:
                counts[decision.reason.value] = counts.get(decision.reason.value, 0) + 1
        return counts


def auto_rules(rt: Runtime) -> AutoRules:
    return rules_from_settings(rt.settings.auto, rt.model_names())


def rules_from_settings(auto: AutoSettings, model_names: Sequence[str]) -> AutoRules:
    """The ``[auto]`` section as the plain values :mod:`dolirelance.policy` decides on."""
    return AutoRules.build(
        [(step.model, step.offset) for step in auto.steps],
        min_gap_days=auto.min_gap,
        last_step_window_days=auto.last_step_window,
        model_names=model_names,
        calendar=WorkingCalendar.from_names(auto.working_days, auto.holidays),
    )


def working_calendar(rt: Runtime) -> WorkingCalendar:
    """The days automatic follow-ups go out on (``[auto] working_days`` and ``holidays``)."""
    return WorkingCalendar.from_names(rt.settings.auto.working_days, rt.settings.auto.holidays)


def day_off(rt: Runtime, day: date | None = None) -> str | None:
    """Why ``day`` (today by default) is not a working day, or None when it is one.

    Manual and mass follow-ups are not restricted; front ends use this to warn before sending.
    """
    return working_calendar(rt).why_not_working(day or rt.today())


# -- customers' replies and bounces (issue 15): read with the follow-ups, in the same events query --------


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


def candidate_filter(rt: Runtime, rules: AutoRules, today: date) -> QuoteFilter:
    """Only quotes whose end of validity puts some step inside its window today (server-side filter).

    Decided as on the next working day; windows that closed during the break before it are still open.
    """
    if not rules.steps:
        return QuoteFilter()
    first = min(step.offset_days for step in rules.steps)
    last = max(step.offset_days for step in rules.steps)
    today = rules.calendar.next_working_day(today)
    return QuoteFilter(
        end_of_validity_from=rules.calendar.break_start(today) - timedelta(days=last + rules.last_step_window_days),
        end_of_validity_before=today - timedelta(days=first) + timedelta(days=1),
    )


# Due quotes re-checked together (one list request with their ids, one events request) and sent together.
AUTO_BATCH = 100


async def _recipients_of(rt: Runtime, quote_id: int) -> tuple[Quote, Customer, tuple[Recipient, ...]]:
    quote = await rt.dolibarr.get_quote(quote_id)
    customer = await rt.dolibarr.get_customer(quote.customer_id)
    return quote, customer, choose_recipients(quote, customer)


@dataclass
class _People:
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


class Explanation(NamedTuple):
    """The automatic decision for one quote, with what was read to make it (so no one reads it again)."""

    decision: Decision
    quote: Quote
    customer: Customer
    recipients: tuple[Recipient, ...]
    history: QuoteHistory  # the quote's follow-ups, to-dos, replies and bounces
    blocked: frozenset[str]  # lower-case addresses that bounced and were not fixed since: not used


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
    if any(answer.kind == "bounce" for answer in history.answers):  # who changed since: one more request
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


@dataclass
class RunPlan:
    """What a run decided before re-checking anything: every candidate's decision, the cap applied."""

    decisions: list[Decision]
    quotes: dict[int, Quote]
    past: dict[int, list[PastFollowUp]]
    due_before_cap: int
    histories: dict[int, QuoteHistory] = field(default_factory=dict)

    @property
    def to_send(self) -> list[Decision]:
        """The due decisions within the cap, most urgent first."""
        due = [d for d in self.decisions if d.kind is DecisionKind.DUE]
        return sorted(due, key=lambda d: urgency_key(d, self.quotes[d.quote_id].total_excl_tax))


async def plan_run(rt: Runtime, today: date, rules: AutoRules) -> RunPlan:
    """The candidates (one paged list of the step windows), their history (one paged query), the decisions."""
    quotes = await rt.dolibarr.list_quotes(candidate_filter(rt, rules, today), properties=WINDOW_QUOTE_PROPERTIES)
    ids = [q.id for q in quotes]
    issued = [q.issue_date for q in quotes if q.issue_date is not None]
    since = min(issued) if issued and len(issued) == len(quotes) else None
    histories = await load_history(rt, ids, followups_only=True, since=since) if ids else {}
    past = await asyncio.to_thread(past_followups, rt, ids, histories)
    decisions = plan(quotes, past, rules, today, answers_by_quote=customer_answers(rt, histories))
    due = sum(1 for d in decisions if d.kind is DecisionKind.DUE)
    amounts = {q.id: q.total_excl_tax for q in quotes}
    decisions = cap_due(decisions, amounts, rt.settings.auto.max_per_run)
    return RunPlan(
        decisions=decisions, quotes={q.id: q for q in quotes}, past=past, due_before_cap=due, histories=histories
    )


async def run_auto(
    rt: Runtime,
    *,
    dry_run: bool = False,
    on: date | None = None,
    progress: Callable[[FollowUpOutcome], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> AutoReport:
    """One automatic run: plan every open quote, e-mail the due ones (at most ``[auto] max_per_run``,
    the most urgent first), record them, report.

    The due quotes go in batches of :data:`AUTO_BATCH`: each batch is re-read just before it is sent
    (one list request with their ids, one events request), its customers and contacts in bulk; each
    follow-up of the batch is then prepared, sent and recorded, ``[dolibarr] max_concurrency`` at once.
    """
    today = on or rt.today()
    report = AutoReport(today=today, dry_run=dry_run, decisions=[], started_at=rt.now())
    report.cap = rt.settings.auto.max_per_run
    rt.forget_people()
    try:
        if not dry_run:
            recovered = await asyncio.to_thread(rt.ledger.recover_abandoned)
            # claims released (nothing had left) are not news; those that may have left are
            report.newly_uncertain = [e for e in recovered if e.state is FollowUpState.UNCERTAIN]
            for entry in report.newly_uncertain:
                log.error(
                    "follow-up %s of %s is UNCERTAIN (the process died while handing it over); %s",
                    entry.key,
                    entry.quote_ref,
                    how_to_settle(entry),
                )
            report.recorded_later = await retry_unrecorded(rt)
        rules = auto_rules(rt)
        report.day_off = rules.calendar.why_not_working(today)
        if report.day_off is not None:
            report.next_working_day = rules.calendar.next_working_day(today)
            if not dry_run:  # the next working day's run catches up; windows closing meanwhile wait for it
                log.info(
                    "automatic run for %s: %s; nothing is decided or sent; the run of %s catches up",
                    today.isoformat(),
                    report.day_off,
                    describe_day(report.next_working_day),
                )
                report.uncertain = rt.ledger.uncertain()
                report.finished_at = rt.now()
                return report
        with rt.dolibarr.collecting_rejected_rows() as report.rejected:
            planned = await plan_run(rt, today, rules)
        report.decisions = planned.decisions
        report.due_before_cap = planned.due_before_cap
        due = planned.to_send
        me = await rt.me() if due else None
        if me is not None:
            await require_rights(rt, me)
            await require_access(rt, Access.SEND, me)
    except DolirelanceError as exc:
        # Nothing was claimed yet: the run stops here, says why, and the next run does the work.
        report.error = exc.message + (f" ({exc.remedy})" if exc.remedy else "")
        log.error("automatic run for %s failed before sending anything: %s", today.isoformat(), report.error)
        with contextlib.suppress(DolirelanceError):
            report.uncertain = await asyncio.to_thread(rt.ledger.uncertain)
        report.finished_at = rt.now()
        return report
    if report.deferred:
        log.warning(
            "%d due automatic follow-up(s) deferred to a later run: [auto] max_per_run = %d",
            len(report.deferred),
            report.cap,
        )
    if not due or me is None:
        report.uncertain = await asyncio.to_thread(rt.ledger.uncertain)
        report.finished_at = rt.now()
        return report
    run = _Run(rt, rules, today, me, f"auto-{uuid.uuid4().hex[:8]}", dry_run, report, planned.quotes, planned.past)
    run.planned_histories = planned.histories
    smtp_cm: AbstractContextManager[SmtpSender | None] = nullcontext(None) if dry_run else rt.open_smtp()
    size = max(1, min(AUTO_BATCH, rt.settings.dolibarr.page_size))
    with smtp_cm as smtp:
        run.smtp = None if smtp is None else SharedSmtp(smtp, should_stop)
        for start in range(0, len(due), size):
            if should_stop():
                break
            await run.batch(due[start : start + size], should_stop)
    index = {d.quote_id: i for i, d in enumerate(report.decisions)}
    for final in run.finals:
        report.decisions[index[final.quote_id]] = final
    report.uncertain = await asyncio.to_thread(rt.ledger.uncertain)
    report.finished_at = rt.now()
    for outcome in report.outcomes:
        if progress is not None:
            progress(outcome)
    return report


@dataclass
class _Run:
    rt: Runtime
    rules: AutoRules
    today: date
    me: User
    run_id: str
    dry_run: bool
    report: AutoReport
    listed: dict[int, Quote]
    planned_past: dict[int, list[PastFollowUp]]
    smtp: SmtpSender | None = None
    planned_histories: dict[int, QuoteHistory] = field(default_factory=dict)
    people: _People = field(default_factory=_People)
    finals: list[Decision] = field(default_factory=list)

    async def batch(self, decisions: Sequence[Decision], should_stop: Callable[[], bool]) -> None:
        rt = self.rt
        keys: dict[int, str] = {}
        for decision in decisions:
            assert decision.step is not None
            keys[decision.quote_id] = rt.ledger.auto_key(decision.quote_id, decision.step.number)
        ids = sorted(keys)
        try:
            if self.dry_run:  # the plan was made a moment ago: its quotes and history are fresh
                quotes = {qid: self.listed[qid] for qid in ids}
                histories: dict[int, QuoteHistory] = {}
            else:  # re-read just before sending: still open, opt-out unset, no follow-up since the plan
                fresh, histories = await asyncio.gather(
                    rt.dolibarr.list_quotes(QuoteFilter(statuses=(), ids=tuple(ids))), load_history(rt, ids)
                )
                quotes = {q.id: q for q in fresh}
            await self.people.read(rt, list(quotes.values()))
        except DolirelanceError as exc:  # nothing claimed yet: the next run does these
            for decision in decisions:
                self._failed(decision, keys[decision.quote_id], exc.message)
            return
        semaphore = asyncio.Semaphore(rt.settings.dolibarr.max_concurrency)

        async def one(decision: Decision) -> None:
            async with semaphore:
                if not should_stop():
                    await self._one(decision, keys[decision.quote_id], quotes.get(decision.quote_id), histories)

        await asyncio.gather(*(one(d) for d in decisions))

    def _failed(self, decision: Decision, key: str, message: str) -> None:
        assert decision.step is not None
        outcome = FollowUpOutcome(
            decision.quote_ref,
            "",
            decision.step.model,
            Channel.EMAIL,
            "failed",
            key=key,
            error=message,
            step=decision.step.number,
        )
        self.report.outcomes.append(outcome)
        _log_auto_outcome(outcome)

    async def _decide_again(
        self, decision: Decision, quote: Quote, histories: Mapping[int, QuoteHistory]
    ) -> tuple[Decision, Quote, Customer, QuoteHistory]:
        """The decision for the step from the batch's fresh reads (and, in a real run, the ledger now)."""
        assert decision.step is not None
        customer = self.people.customer_of(quote)
        has_email = email_known(quote, customer, self.people.contacts)
        history = histories.get(quote.id, QuoteHistory())
        if self.dry_run:
            history = self.planned_histories.get(quote.id, history)
        bounces = any(answer.kind == "bounce" for answer in history.answers)
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
        return final, quote, customer, history

    async def _one(
        self, decision: Decision, key: str, quote: Quote | None, histories: Mapping[int, QuoteHistory]
    ) -> None:
        rt, step = self.rt, decision.step
        assert step is not None
        if quote is None:  # gone from Dolibarr since the plan
            self.finals.append(replace(decision, kind=DecisionKind.SKIPPED, reason=SkipReason.NOT_OPEN,
                                       summary="skipped: the quote is no longer in Dolibarr"))  # fmt: skip
            return
        if self.dry_run:
            try:
                self.finals.append((await self._decide_again(decision, quote, histories))[0])
            except DolirelanceError as exc:
                self._failed(decision, key, exc.message)
            return
        listed = quote
        attempt = Attempt(
            key=key,
            quote_id=listed.id,
            quote_ref=listed.ref,
            channel=Channel.EMAIL,
            run_id=self.run_id,
            model=step.model,
            user_id=self.me.id,
            next_date=self.today + timedelta(days=rt.settings.followup.next_delay),
            step=step.number,
        )

        async def prepare() -> PreparedFollowUp:
            final, fresh, customer, history = await self._decide_again(decision, listed, histories)
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
                blocked_addresses=frozenset(blocked_addresses(history, customer, self.people.contacts, rt.tz)),
            )

        try:
            outcome = await deliver(rt, attempt, prepare, smtp=self.smtp)
        except _NoLongerDue as stop:  # the claim was released by deliver
            self.finals.append(stop.decision)
            return
        except Exception as exc:  # one quote's trouble never stops the others (deliver released the claim)
            if isinstance(exc, (DolirelanceError, OSError)):
                message = exc.message if isinstance(exc, DolirelanceError) else str(exc)
            else:
                log.exception("unexpected error on quote %s", listed.ref)
                message = f"unexpected {type(exc).__name__}: {exc}"
            self._failed(decision, key, message)
            return
        if outcome.outcome == "failed" and STOPPED_BEFORE_SENDING in (outcome.error or ""):
            return  # not started: the next run does it
        if outcome.outcome == "refused":  # another run, or a person, holds the quote (or did this step)
            outcome = replace(outcome, outcome="skipped")
        self.report.outcomes.append(outcome)
        _log_auto_outcome(outcome)


class _NoLongerDue(DolirelanceError):
    def __init__(self, decision: Decision) -> None:
        super().__init__(f"no longer due when re-read: {decision.summary}")
        self.decision = decision


def _log_auto_outcome(outcome: FollowUpOutcome) -> None:
    """The one structured log line of an automatic follow-up."""
    level = logging.WARNING if outcome.outcome in ("failed", "uncertain", "sent-not-recorded") else logging.INFO
    log.log(
        level,
        "followup key=%s ref=%s step=%s model=%r outcome=%s recipients=%r event=%s%s",
        outcome.key,
        outcome.quote_ref,
        outcome.step,
        outcome.model,
        outcome.outcome,
        outcome.recipients,
        outcome.event_id,
        f" error={outcome.error!r}" if outcome.error else "",
        extra={  # the fields of `serve --log-format json`
            "quote_ref": outcome.quote_ref,
            "outcome": outcome.outcome,
            "key": outcome.key,
            "step": outcome.step,
            "model": outcome.model,
        },
    )
