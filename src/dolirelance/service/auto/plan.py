"""Planning a run: the candidate quotes, their history, every decision, the cap applied; nothing re-checked.

A due quote that bulk reads already show has no e-mail address (no address on its customer nor on any
contact it lists) is decided "no e-mail address" here, before the cap: it would never go out, and must
not take the place of one that can, run after run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta

from dolirelance.domain import Quote, QuoteFilter, email_known
from dolirelance.history import QuoteHistory
from dolirelance.policy import (
    AutoRules,
    Decision,
    DecisionKind,
    PastFollowUp,
    cap_due,
    decide,
    plan,
    urgency_key,
)
from dolirelance.service.agenda import past_followups
from dolirelance.service.auto.customer_answers import customer_answers
from dolirelance.service.auto.fresh import People
from dolirelance.service.reads import load_history
from dolirelance.service.runtime import Runtime


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


@dataclass
class RunPlan:
    """What a run decided before re-checking anything: every candidate's decision, the cap applied."""

    decisions: list[Decision]
    quotes: dict[int, Quote]
    past: dict[int, list[PastFollowUp]]
    due_before_cap: int
    histories: dict[int, QuoteHistory] = field(default_factory=dict)
    people: People = field(default_factory=People)  # the due quotes' customers and contacts, read in bulk

    @property
    def to_send(self) -> list[Decision]:
        """The due decisions within the cap, most urgent first."""
        due = [d for d in self.decisions if d.kind is DecisionKind.DUE]
        return sorted(due, key=lambda d: urgency_key(d, self.quotes[d.quote_id].total_excl_tax))


async def plan_run(rt: Runtime, today: date, rules: AutoRules) -> RunPlan:
    """The candidates (one paged list of the step windows), their history (one paged query), the due
    quotes' people (in bulk), the decisions."""
    # every property sending needs: a row Dolibarr sends damaged is named by the plan, so a dry run says so too
    quotes = await rt.dolibarr.list_quotes(candidate_filter(rt, rules, today))
    ids = [q.id for q in quotes]
    issued = [q.issue_date for q in quotes if q.issue_date is not None]
    since = min(issued) if issued and len(issued) == len(quotes) else None
    histories = await load_history(rt, ids, followups_only=True, since=since) if ids else {}
    past = await asyncio.to_thread(past_followups, rt, ids, histories)
    answers = customer_answers(rt, histories)
    decisions = plan(quotes, past, rules, today, answers_by_quote=answers)
    people = People()
    due_quotes = [q for q, d in zip(quotes, decisions, strict=True) if d.kind is DecisionKind.DUE]
    if due_quotes:
        await people.read(rt, due_quotes)
        no_email = [q for q in due_quotes if email_known(q, people.customer_of(q), people.contacts) is False]
        again = {
            q.id: decide(q, past.get(q.id, ()), rules, today, has_email=False, answers=answers.get(q.id, ()))
            for q in no_email
        }
        decisions = [again.get(d.quote_id, d) for d in decisions]
    due = sum(1 for d in decisions if d.kind is DecisionKind.DUE)
    amounts = {q.id: q.total_excl_tax for q in quotes}
    decisions = cap_due(decisions, amounts, rt.settings.auto.max_per_run)
    return RunPlan(
        decisions=decisions,
        quotes={q.id: q for q in quotes},
        past=past,
        due_before_cap=due,
        histories=histories,
        people=people,
    )
