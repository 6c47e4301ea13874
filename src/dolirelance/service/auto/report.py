"""The report of one automatic run, and the one structured log line of each follow-up it lists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from dolirelance.dolibarr.wire import RejectedRow
from dolirelance.domain import Channel
from dolirelance.ledger import Entry
from dolirelance.policy import Decision, DecisionKind, SkipReason
from dolirelance.service.delivery import FollowUpOutcome

# The automatic run's one logger, named for the package (the ``logger`` of `serve --log-format json`).
log = logging.getLogger(__package__)


@dataclass(frozen=True, slots=True)
class DolibarrUse:
    """What a run asked of Dolibarr: its requests, and how many it sent at once by the end (the pace)."""

    requests: int
    at_once: int  # requests let in at once when the run ended: the pace's limit under requests_at_once
    fewest_at_once: int  # the lowest it went during the run (the life of its connection to Dolibarr)
    max_concurrency: int  # [dolibarr] max_concurrency, the upper bound (and its list pages' at once)
    requests_at_once: int  # [auto] requests_at_once, the bound of its follow-ups' requests

    def describe(self) -> str:
        fewest = f", down to {self.fewest_at_once} on the way" if self.fewest_at_once < self.at_once else ""
        return (
            f"Dolibarr: {self.requests} requests, {self.at_once} at once at the end{fewest} "
            f"([auto] requests_at_once = {self.requests_at_once}; list pages up to "
            f"[dolibarr] max_concurrency = {self.max_concurrency})"
        )

    def summary(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "at_once": self.at_once,
            "fewest_at_once": self.fewest_at_once,
            "max_concurrency": self.max_concurrency,
            "requests_at_once": self.requests_at_once,
        }


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
    dolibarr: DolibarrUse | None = None  # set when the run ends

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

    def add(self, outcome: FollowUpOutcome) -> None:
        """One automatic follow-up's outcome, listed and logged."""
        self.outcomes.append(outcome)
        _log_outcome(outcome)


def failed_outcome(decision: Decision, key: str, message: str) -> FollowUpOutcome:
    """A due follow-up that failed with nothing sent (no claim left held): the next run does it."""
    assert decision.step is not None
    return FollowUpOutcome(
        decision.quote_ref,
        "",
        decision.step.model,
        Channel.EMAIL,
        "failed",
        key=key,
        error=message,
        step=decision.step.number,
    )


def _log_outcome(outcome: FollowUpOutcome) -> None:
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
