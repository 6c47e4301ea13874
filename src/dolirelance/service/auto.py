"""Automatic follow-ups: the daily run and `explain`, over the pure decisions of :mod:`dolirelance.policy`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from dolirelance.config import AutoSettings
from dolirelance.dolibarr.wire import RejectedRow
from dolirelance.domain import (
    Channel,
    Customer,
    Quote,
    QuoteFilter,
    Recipient,
    User,
    choose_recipients,
)
from dolirelance.errors import DolirelanceError
from dolirelance.history import QuoteHistory
from dolirelance.ledger import Entry
from dolirelance.mail import SmtpSender
from dolirelance.policy import AutoRules, Decision, DecisionKind, PastFollowUp, decide, local_day, plan
from dolirelance.service.delivery import (
    SENT_STATES,
    Attempt,
    FollowUpOutcome,
    deliver,
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


def _past_followups(
    rt: Runtime, quote_ids: Sequence[int], histories: dict[int, QuoteHistory]
) -> dict[int, list[PastFollowUp]]:
    past: dict[int, list[PastFollowUp]] = {}
    keys_seen: set[str] = set()
    for quote_id, history in histories.items():
        for record in history.followups:
            if record.key:
                keys_seen.add(record.key)
            past.setdefault(quote_id, []).append(
                PastFollowUp(
                    quote_id=quote_id,
                    done_on=record.done_on(rt.tz),
                    model=record.model,
                    channel=record.channel.value,
                    automatic=record.automatic,
                    step=record.step,
                    source="dolibarr",
                )
            )
    for entry in rt.ledger.entries_for_quotes(quote_ids):
        if entry.state not in SENT_STATES or entry.key in keys_seen:
            continue
        past.setdefault(entry.quote_id, []).append(
            PastFollowUp(
                quote_id=entry.quote_id,
                done_on=local_day(entry.sent_at or entry.created_at, rt.tz),
                model=entry.model,
                channel=entry.channel,
                automatic=entry.step is not None,
                step=entry.step,
                source="ledger",
            )
        )
    return past


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


async def _recipients_of(rt: Runtime, quote_id: int) -> tuple[Quote, Customer, tuple[Recipient, ...]]:
    quote = await rt.dolibarr.get_quote(quote_id)
    customer = await rt.dolibarr.get_customer(quote.customer_id)
    return quote, customer, choose_recipients(quote, customer)


async def explain(
    rt: Runtime, quote_key: int | str, *, on: date | None = None
) -> tuple[Decision, Quote, Customer, tuple[Recipient, ...]]:
    """The automatic decision for one quote on a day, exactly as the run makes it."""
    quote, customer, recipients = await _recipients_of(
        rt, int(quote_key) if str(quote_key).isdigit() else (await read_quote(rt, quote_key)).id
    )
    histories = await load_history(rt, [quote.id])
    past = (await asyncio.to_thread(_past_followups, rt, [quote.id], histories)).get(quote.id, [])
    decision = decide(quote, past, auto_rules(rt), on or rt.today(), has_email=bool(recipients))
    return decision, quote, customer, recipients


async def run_auto(
    rt: Runtime,
    *,
    dry_run: bool = False,
    on: date | None = None,
    progress: Callable[[FollowUpOutcome], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> AutoReport:
    """One automatic run: plan every open quote, e-mail the due ones, record them, report."""
    today = on or rt.today()
    report = AutoReport(today=today, dry_run=dry_run, decisions=[], started_at=rt.now())
    try:
        if not dry_run:
            report.newly_uncertain = await asyncio.to_thread(rt.ledger.recover_abandoned)
            for entry in report.newly_uncertain:
                log.error(
                    "follow-up %s of %s is UNCERTAIN (the process died while sending); "
                    "check the mailbox, then `dolirelance ledger resolve %s --sent|--not-sent`",
                    entry.key,
                    entry.quote_ref,
                    entry.key,
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
            quotes = await rt.dolibarr.list_quotes(candidate_filter(rt, rules, today))
            ids = [q.id for q in quotes]
            issued = [q.issue_date for q in quotes if q.issue_date is not None]
            since = min(issued) if issued and len(issued) == len(quotes) else None
            histories = await load_history(rt, ids, followups_only=True, since=since) if ids else {}
        past = await asyncio.to_thread(_past_followups, rt, ids, histories)
        report.decisions = plan(quotes, past, rules, today)
        due = sorted((d for d in report.decisions if d.kind is DecisionKind.DUE), key=lambda d: d.quote_ref)
        me = await rt.me() if due else None
        if me is not None:
            await require_rights(rt, me)
    except DolirelanceError as exc:
        # Nothing was claimed yet: the run stops here, says why, and the next run does the work.
        report.error = exc.message + (f" ({exc.remedy})" if exc.remedy else "")
        log.error("automatic run for %s failed before sending anything: %s", today.isoformat(), report.error)
        with contextlib.suppress(DolirelanceError):
            report.uncertain = await asyncio.to_thread(rt.ledger.uncertain)
        report.finished_at = rt.now()
        return report
    if not due or me is None:
        report.uncertain = await asyncio.to_thread(rt.ledger.uncertain)
        report.finished_at = rt.now()
        return report
    run_id = f"auto-{uuid.uuid4().hex[:8]}"
    by_id = {q.id: q for q in quotes}
    smtp_cm: AbstractContextManager[SmtpSender | None] = nullcontext(None) if dry_run else rt.open_smtp()
    with smtp_cm as smtp:
        for decision in due:
            if should_stop():
                break
            final = await _auto_one(
                rt, decision, by_id[decision.quote_id], rules, today, me, smtp, run_id, dry_run, report
            )
            report.decisions = [final if d.quote_id == final.quote_id else d for d in report.decisions]
    report.uncertain = await asyncio.to_thread(rt.ledger.uncertain)
    report.finished_at = rt.now()
    for outcome in report.outcomes:
        if progress is not None:
            progress(outcome)
    return report


async def _auto_one(
    rt: Runtime,
    decision: Decision,
    listed: Quote,
    rules: AutoRules,
    today: date,
    me: User,
    smtp: SmtpSender | None,
    run_id: str,
    dry_run: bool,
    report: AutoReport,
) -> Decision:
    assert decision.step is not None
    step = decision.step
    key = rt.ledger.auto_key(listed.id, step.number)
    if dry_run:
        return (await _decide_again(rt, listed, step.number, rules, today, dry_run=True))[0]
    attempt = Attempt(
        key=key,
        quote_id=listed.id,
        quote_ref=listed.ref,
        channel=Channel.EMAIL,
        run_id=run_id,
        model=step.model,
        user_id=me.id,
        next_date=today + timedelta(days=rt.settings.followup.next_delay),
        step=step.number,
    )

    async def prepare() -> PreparedFollowUp:
        # Read again once claimed: still open, opt-out unset, no follow-up since the plan.
        final, quote, customer, history = await _decide_again(rt, listed, step.number, rules, today)
        if final.kind is not DecisionKind.DUE or final.step is None or final.step.number != step.number:
            raise _NoLongerDue(final)
        return await prepare_followup(
            rt,
            quote,
            channel=Channel.EMAIL,
            acting_user=me,
            model=step.model,
            key=key,
            automatic_step=step.number,
            history=history,
            customer=customer,
        )

    try:
        outcome = await deliver(rt, attempt, prepare, smtp=smtp)
    except _NoLongerDue as stop:  # the claim was released by deliver
        return stop.decision
    except Exception as exc:  # one quote's trouble never stops the others (deliver released the claim)
        if isinstance(exc, (DolirelanceError, OSError)):
            message = exc.message if isinstance(exc, DolirelanceError) else str(exc)
        else:
            log.exception("unexpected error on quote %s", listed.ref)
            message = f"unexpected {type(exc).__name__}: {exc}"
        outcome = FollowUpOutcome(
            listed.ref, "", step.model, Channel.EMAIL, "failed", key=key, error=message, step=step.number
        )
    if outcome.outcome == "refused":  # another run, or a person, holds the quote (or did this step)
        outcome = replace(outcome, outcome="skipped")
    report.outcomes.append(outcome)
    _log_auto_outcome(outcome)
    return decision


class _NoLongerDue(DolirelanceError):
    def __init__(self, decision: Decision) -> None:
        super().__init__(f"no longer due when re-read: {decision.summary}")
        self.decision = decision


async def _decide_again(
    rt: Runtime, listed: Quote, step_number: int, rules: AutoRules, today: date, *, dry_run: bool = False
) -> tuple[Decision, Quote, Customer, QuoteHistory]:
    """The decision for the step, from the quote and its history read afresh."""
    quote, customer, recipients = await _recipients_of(rt, listed.id)
    history = (await load_history(rt, [quote.id])).get(quote.id, QuoteHistory())
    past = (await asyncio.to_thread(_past_followups, rt, [quote.id], {quote.id: history})).get(quote.id, [])
    if not dry_run:  # our own fresh claim must not count as "already done"
        past = [p for p in past if not (p.source == "ledger" and p.step == step_number)]
    final = decide(quote, past, rules, today, has_email=bool(recipients))
    return final, quote, customer, history


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
