"""The daily automatic run: settle what a dead run left, plan, then send the due quotes batch by batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date

from dolirelance.domain import Quote
from dolirelance.errors import DolirelanceError
from dolirelance.ledger import FollowUpState
from dolirelance.mail import SmtpSender
from dolirelance.policy import Decision, DecisionKind, SkipReason
from dolirelance.service.access import Access, require_access
from dolirelance.service.auto.fresh import AUTO_BATCH, FreshBatch, read_batch
from dolirelance.service.auto.plan import plan_run
from dolirelance.service.auto.recheck import Recheck
from dolirelance.service.auto.report import AutoReport, DolibarrUse, failed_outcome
from dolirelance.service.auto.rules import auto_rules
from dolirelance.service.auto.send import AutoSender
from dolirelance.service.delivery import FollowUpOutcome, SharedSmtp, how_to_settle, retry_unrecorded
from dolirelance.service.runtime import Runtime, require_rights
from dolirelance.workdays import describe_day

log = logging.getLogger(__package__)


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
    follow-up of the batch is then prepared, sent and recorded, ``[dolibarr] max_concurrency`` at once,
    their requests ``[auto] requests_at_once`` in flight at most (paced by the client under it:
    ``dolibarr/pace.py``; list pages up to ``max_concurrency``). The report names the requests the run
    sent and how many it sent at once by its end.
    """
    clients = [client for client in (rt.dolibarr, rt.service_dolibarr) if client is not None]
    requests_before = sum(client.request_count for client in clients)
    at_most = rt.settings.auto.requests_at_once
    with rt.dolibarr.holding(at_most):  # the service key's client shares its gate (Runtime)
        report = await _run_auto(rt, dry_run=dry_run, on=on, progress=progress, should_stop=should_stop)
        pace = rt.dolibarr.pace
        report.dolibarr = DolibarrUse(
            requests=sum(client.request_count for client in clients) - requests_before,
            at_once=pace.at_once,
            fewest_at_once=pace.lowest,
            max_concurrency=pace.max_limit,
            requests_at_once=at_most,
        )
    if pace.lowest < min(at_most, pace.max_limit):
        log.info("%s", report.dolibarr.describe())
    return report


async def _run_auto(
    rt: Runtime,
    *,
    dry_run: bool,
    on: date | None,
    progress: Callable[[FollowUpOutcome], None] | None,
    should_stop: Callable[[], bool],
) -> AutoReport:
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
    recheck = Recheck(
        rt, rules, today, dry_run, people=planned.people, planned_past=planned.past,
        planned_histories=planned.histories,
    )  # fmt: skip
    run = _Run(report, recheck, AutoSender(recheck, f"auto-{uuid.uuid4().hex[:8]}", me), planned.quotes)
    smtp_cm: AbstractContextManager[SmtpSender | None] = nullcontext(None) if dry_run else rt.open_smtp()
    size = max(1, min(AUTO_BATCH, rt.settings.dolibarr.page_size))
    with smtp_cm as smtp:
        run.sender.smtp = None if smtp is None else SharedSmtp(smtp, should_stop)
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
    """A run's due quotes, batch by batch: each re-read, then each decided again (a dry run) or sent."""

    report: AutoReport
    recheck: Recheck
    sender: AutoSender
    listed: dict[int, Quote]  # the plan's quotes
    finals: list[Decision] = field(default_factory=list)  # decisions made again, in place of the plan's
    damaged: set[str] = field(default_factory=set)  # ids of quotes the re-read left out as damaged

    async def batch(self, decisions: Sequence[Decision], should_stop: Callable[[], bool]) -> None:
        rt = self.recheck.rt
        keys: dict[int, str] = {}
        for decision in decisions:
            assert decision.step is not None
            keys[decision.quote_id] = rt.ledger.auto_key(decision.quote_id, decision.step.number)
        try:
            with rt.dolibarr.collecting_rejected_rows() as rejected:
                fresh = await read_batch(
                    rt, sorted(keys), self.recheck.people, planned=self.listed if self.recheck.dry_run else None
                )
        except DolirelanceError as exc:  # nothing claimed yet: the next run does these
            for decision in decisions:
                self.report.add(failed_outcome(decision, keys[decision.quote_id], exc.message))
            return
        named = {(row.route, row.row_id, row.field) for row in self.report.rejected}
        self.report.rejected.extend(row for row in rejected if (row.route, row.row_id, row.field) not in named)
        self.damaged.update(row.row_id for row in rejected if row.row_id is not None)
        # max_concurrency follow-ups at once whatever the pace: a follow-up waiting for its request's
        # turn holds only its claim, which the heartbeat keeps alive (ledger/lease.py), and the client
        # always has the next request ready when Dolibarr can take one more
        semaphore = asyncio.Semaphore(rt.settings.dolibarr.max_concurrency)

        async def one(decision: Decision) -> None:
            async with semaphore:
                if not should_stop():
                    await self._one(decision, keys[decision.quote_id], fresh)

        await asyncio.gather(*(one(d) for d in decisions))

    async def _one(self, decision: Decision, key: str, fresh: FreshBatch) -> None:
        quote = fresh.quotes.get(decision.quote_id)
        if quote is None:  # gone from Dolibarr since the plan, or sent damaged (then named in the report)
            why = (
                "Dolibarr now sends this quote damaged (see the rows left out)"
                if str(decision.quote_id) in self.damaged
                else "the quote is no longer in Dolibarr"
            )
            self.finals.append(replace(decision, kind=DecisionKind.SKIPPED, reason=SkipReason.NOT_OPEN,
                                       summary=f"skipped: {why}"))  # fmt: skip
            return
        if self.recheck.dry_run:
            try:
                self.finals.append((await self.recheck.decide(decision, quote, fresh.histories)).decision)
            except DolirelanceError as exc:
                self.report.add(failed_outcome(decision, key, exc.message))
            return
        result = await self.sender.send(decision, key, quote, fresh.histories)
        if isinstance(result, FollowUpOutcome):
            self.report.add(result)
        elif result is not None:
            self.finals.append(result)
