"""Automatic follow-up decisions. Pure: no I/O, no clock; ``today`` is an argument.

For each quote, :func:`decide` returns exactly one :class:`Decision` (so at most one automatic
follow-up per quote per run), with its reason, a one-line summary and the arithmetic behind it.

Semantics (docs/automatic.md says the same for users):

* **Sign convention.** Step *i* is due on ``D_i = end_of_validity + offset_i``: ``-5 days`` is five
  days *before* the end of validity, ``+10 days`` ten days *after*.
* **Current step.** The latest step with ``D_i <= today``. "Due" means on or after the due day, so a
  run missed during downtime catches up.
* **Window** (``window_end`` is the last day, inclusive). Step *i* may go out until the day before
  ``D_{i+1}`` (a later step supersedes a missed one); the last step until ``D_last +
  last_step_window_days``. A step with a negative offset ("expires in N days") never goes out after
  the end of validity itself: its window ends on that day at the latest.
* **Done.** Step *i* is done when an automatic follow-up names step *i* or a later step, or when any
  other follow-up (manual, or automatic without a step number, any channel) used a model whose
  level (1-based position in the configured models) is at least the level of step *i*'s model.
  An automatic follow-up that names its step does not count for later steps by level, so a model
  used by two steps still goes out twice.
* **Choice.** Before step 1, or when the current step is done or its window has passed, the decision
  is NOT_DUE for the next step that is not done (with its due day). When no such step remains:
  SKIPPED ALREADY_DONE (current step done) or WINDOW_PASSED.
* **Order of checks.** not open → opt-out → replied → no end of validity → steps, windows and done →
  minimum gap since the last follow-up of any kind (``today - last < min_gap_days`` → RECENT_FOLLOWUP
  with ``retry_on`` = the first working day from ``last + min_gap_days``; the summary says when the
  gap outlasts the window) → bounced / no e-mail address (only when ``has_email is False``) → DUE.
* **Working days** (``AutoRules.calendar``). Automatic follow-ups go out on working days only. On a
  day that is not one, the decision is the one the next working day's run will make, and a due
  follow-up says when it goes out ("due, goes out Monday 7 December: Sunday is not a working
  day"). A window whose last day is not a working day is extended to the first working day after
  it, unless the next step is due by then (it supersedes the step, as on any day). The minimum gap
  ends on a working day too: ``retry_on`` is the first working day it allows.
* **Customer answers** (``answers``; read with the follow-ups, in the same paged events query). A
  reply on or after the day of the quote's last follow-up (or with no follow-up at all) stops the
  automatic steps: SKIPPED REPLIED, checked right after the opt-out ("the customer replied on 3
  December (see event 412)"). A follow-up made after the reply (by a person) starts them again.
  A due step whose every address bounced for good (the caller says so with ``bounced``) is SKIPPED
  BOUNCED instead of NO_EMAIL.
* **Cap.** :func:`cap_due` keeps the ``max_per_run`` most urgent due decisions (the window closing
  soonest, then the largest amount) and turns the others into SKIPPED DEFERRED: a later run sends them.
* All arithmetic is on calendar dates in the configured timezone; :func:`local_day` converts an
  instant to its day there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from dolirelance.domain import Quote, format_day_offset, model_level
from dolirelance.workdays import WorkingCalendar, describe_day

OPT_OUT_LABEL = "Ne pas relancer automatiquement"


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar day of ``instant`` in ``tz`` (a naive instant is refused: its day is unknown)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"local_day needs a timezone-aware instant, got {instant!r}")
    return instant.astimezone(tz).date()


@dataclass(frozen=True, slots=True)
class Step:
    number: int  # 1-based, in config order
    model: str
    offset_days: int

    @property
    def label(self) -> str:
        return f"step {self.number} ({self.model})"


@dataclass(frozen=True, slots=True)
class AutoRules:
    steps: tuple[Step, ...]
    min_gap_days: int
    last_step_window_days: int
    model_levels: Mapping[str, int]
    # Days automatic follow-ups may go out on; every day unless configured.
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar.every_day)

    def __post_init__(self) -> None:
        offsets = [step.offset_days for step in self.steps]
        if offsets != sorted(set(offsets)):
            raise ValueError("steps must be ordered by offset, each offset once")
        if [step.number for step in self.steps] != list(range(1, len(self.steps) + 1)):
            raise ValueError("steps must be numbered 1, 2, ... in order")
        if self.min_gap_days < 0 or self.last_step_window_days < 0:
            raise ValueError("min_gap_days and last_step_window_days cannot be negative")

    @classmethod
    def build(
        cls,
        steps: Sequence[tuple[str, int]],
        *,
        min_gap_days: int,
        last_step_window_days: int,
        model_names: Sequence[str],
        calendar: WorkingCalendar | None = None,
    ) -> AutoRules:
        """Rules from plain values: ``steps`` as (model, offset in days), numbered in order from 1."""
        levels: dict[str, int] = {}
        for name in model_names:
            level = model_level(model_names, name)
            assert level is not None
            levels[name] = level
        for model, _ in steps:
            if model not in levels:
                raise ValueError(f"auto step uses model {model!r}, which is not defined")
        numbered = tuple(Step(number, model, offset) for number, (model, offset) in enumerate(steps, start=1))
        return cls(numbered, min_gap_days, last_step_window_days, levels, calendar or WorkingCalendar.every_day())

    def level_of(self, model: str | None) -> int | None:
        return self.model_levels.get(model) if model is not None else None


@dataclass(frozen=True, slots=True)
class PastFollowUp:
    """One follow-up already made (from Dolibarr's events or from the ledger)."""

    quote_id: int
    done_on: date
    model: str | None
    channel: str
    automatic: bool
    step: int | None
    source: str  # "dolibarr" or "ledger": shown in explanations
    # The level recorded with the follow-up; used only when its model is no longer configured.
    level: int | None = None

    @property
    def kind(self) -> str:
        return "automatic" if self.automatic else "manual"


class DecisionKind(StrEnum):
    DUE = "due"
    NOT_DUE = "not_due"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    NOT_OPEN = "not_open"
    OPT_OUT = "opt_out"
    NO_END_OF_VALIDITY = "no_end_of_validity"
    ALREADY_DONE = "already_done"
    WINDOW_PASSED = "window_passed"
    RECENT_FOLLOWUP = "recent_followup"
    NO_EMAIL = "no_email"
    DEFERRED = "deferred"
    REPLIED = "replied"
    BOUNCED = "bounced"


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip


@dataclass(frozen=True, slots=True)
class CustomerAnswer:
    """A reply of the customer, or a permanent bounce, recorded in Dolibarr (event ``event_id``)."""

    quote_id: int
    kind: str  # "reply" or "bounce"
    on: date
    event_id: int
    address: str | None = None

    def describe(self) -> str:
        day = f"{self.on.day} {_MONTHS[self.on.month - 1]}"
        if self.kind == "reply":
            return f"the customer replied on {day} (see event {self.event_id})"
        return f"{self.address or 'the address'} bounced on {day} (see event {self.event_id})"


@dataclass(frozen=True, slots=True)
class Decision:
    quote_id: int
    quote_ref: str
    kind: DecisionKind
    reason: SkipReason | None
    step: Step | None
    due_on: date | None  # when the relevant step is, was or will be due
    window_end: date | None  # last day (inclusive) the step may go out
    retry_on: date | None  # RECENT_FOLLOWUP: first day the minimum gap allows
    summary: str
    arithmetic: list[str] = field(default_factory=list)
    # DUE: the day it goes out: today, or the next working day when today is not one.
    goes_out_on: date | None = None

    @property
    def is_due(self) -> bool:
        return self.kind is DecisionKind.DUE


@dataclass(frozen=True, slots=True)
class _Slot:
    """A step placed on the calendar of one quote."""

    step: Step
    due_on: date
    window_end: date
    window_note: str


def _schedule(end_of_validity: date, rules: AutoRules) -> list[_Slot]:
    steps = rules.steps
    slots = []
    for index, step in enumerate(steps):
        due_on = end_of_validity + timedelta(days=step.offset_days)
        if index + 1 < len(steps):
            following = steps[index + 1]
            window_end = end_of_validity + timedelta(days=following.offset_days - 1)
            note = f"step {following.number} is due from {window_end + timedelta(days=1)}"
        else:
            window_end = due_on + timedelta(days=rules.last_step_window_days)
            note = f"last step: due day + {rules.last_step_window_days} days"
        if step.offset_days < 0 and window_end > end_of_validity:
            window_end = end_of_validity
            note = "a step before expiry never goes out after the end of validity"
        next_step = steps[index + 1] if index + 1 < len(steps) else None
        window_end, note = _extend_over_break(window_end, note, next_step, end_of_validity, rules)
        slots.append(_Slot(step, due_on, window_end, note))
    return slots


def _extend_over_break(
    window_end: date, note: str, next_step: Step | None, end_of_validity: date, rules: AutoRules
) -> tuple[date, str]:
    """A window closing on a day off stays open until the first working day after it.

    Not when the next step is due by then: on that day the next step supersedes this one anyway.
    """
    calendar = rules.calendar
    extended = calendar.next_working_day(window_end)
    if extended == window_end:
        return window_end, note
    if next_step is not None:
        next_due = end_of_validity + timedelta(days=next_step.offset_days)
        if calendar.next_working_day(next_due) <= extended:
            return window_end, note
    why = calendar.why_not_working(window_end)
    return extended, f"{note}; it ends on {window_end}: {why}, so it is extended to {extended}"


def _covering(slot: _Slot, past: Sequence[PastFollowUp], rules: AutoRules) -> PastFollowUp | None:
    """The latest past follow-up that makes ``slot``'s step done, if any."""
    step_level = rules.level_of(slot.step.model)
    found: PastFollowUp | None = None
    for followup in past:
        if followup.automatic and followup.step is not None:
            covers = followup.step >= slot.step.number
        else:
            level = rules.level_of(followup.model)
            level = followup.level if level is None else level
            covers = level is not None and step_level is not None and level >= step_level
        if covers and (found is None or followup.done_on >= found.done_on):
            found = followup
    return found


def _describe(followup: PastFollowUp) -> str:
    details = [followup.kind]
    if followup.model:
        details.append(followup.model)
    if followup.automatic and followup.step is not None:
        details.append(f"step {followup.step}")
    if followup.channel != "email":
        details.append(f"by {followup.channel}")
    return f"{followup.done_on} ({', '.join(details)})"


def decide(
    quote: Quote,
    past: Sequence[PastFollowUp],
    rules: AutoRules,
    today: date,
    *,
    has_email: bool | None = None,
    answers: Sequence[CustomerAnswer] = (),
    bounced: CustomerAnswer | None = None,
) -> Decision:
    """The one decision for ``quote`` on ``today`` (see the module docstring for the rules).

    ``bounced``: the bounce that left the quote without a working address (``has_email`` is then False).

    On a day that is not a working day, the decision of the next working day's run.
    """
    calendar = rules.calendar
    asked_day = today
    # From here on ``today`` is the day the run decides for: the asked day, or the next working day.
    today = calendar.next_working_day(asked_day)
    day_off = calendar.why_not_working(asked_day) if today != asked_day else None

    def when_it_goes_out(day: date) -> str:
        """`` (goes out Monday 7 December: Sunday is not a working day)`` when ``day`` is a day off."""
        off = calendar.why_not_working(day)
        return f" (goes out {describe_day(calendar.next_working_day(day))}: {off})" if off else ""

    def make(
        kind: DecisionKind,
        summary: str,
        arithmetic: list[str],
        *,
        reason: SkipReason | None = None,
        slot: _Slot | None = None,
        retry_on: date | None = None,
    ) -> Decision:
        return Decision(
            quote_id=quote.id,
            quote_ref=quote.ref,
            kind=kind,
            reason=reason,
            step=slot.step if slot else None,
            due_on=slot.due_on if slot else None,
            window_end=slot.window_end if slot else None,
            retry_on=retry_on,
            summary=summary,
            arithmetic=arithmetic,
            goes_out_on=today if kind is DecisionKind.DUE else None,
        )

    skipped = DecisionKind.SKIPPED
    if not quote.is_open:
        return make(
            skipped,
            f"skipped: the quote is {quote.status.label}, only open quotes are followed up",
            [f"status {quote.status.label} ({int(quote.status)})"],
            reason=SkipReason.NOT_OPEN,
        )
    if quote.opt_out:
        return make(
            skipped,
            f'skipped: "{OPT_OUT_LABEL}" is set on the quote',
            [f'extrafield "{OPT_OUT_LABEL}" is set'],
            reason=SkipReason.OPT_OUT,
        )
    replied = _reply_since_last_followup(answers, past)
    if replied is not None:
        return make(
            skipped,
            f"skipped: {replied.describe()}; no further automatic step (a manual follow-up still works)",
            [f"reply on {replied.on}, event {replied.event_id}"],
            reason=SkipReason.REPLIED,
        )
    end_of_validity = quote.end_of_validity
    if end_of_validity is None:
        return make(
            skipped,
            "skipped: the quote has no end of validity date, so no step can be placed",
            ["end of validity: none"],
            reason=SkipReason.NO_END_OF_VALIDITY,
        )
    if not rules.steps:
        return make(DecisionKind.NOT_DUE, "not due: no automatic steps are configured", [])

    slots = _schedule(end_of_validity, rules)
    lines = [
        f"end of validity {end_of_validity}, step {slot.step.number} at "
        f"{format_day_offset(slot.step.offset_days)} → due from {slot.due_on}"
        for slot in slots
    ]
    if day_off is not None:
        lines.append(f"today {asked_day}: {day_off}; automatic follow-ups wait for {today}, decided as on that day")
    else:
        lines.append(f"today {today}")
    done_by = [_covering(slot, past, rules) for slot in slots]

    def next_open_after(index: int) -> Decision | None:
        """NOT_DUE for the first step after ``index`` that is not done, or None."""
        for later in range(index + 1, len(slots)):
            covering = done_by[later]
            if covering is not None:
                lines.append(f"step {later + 1} done: follow-up on {_describe(covering)}")
                continue
            slot = slots[later]
            lines.append(f"window until {slot.window_end} ({slot.window_note})")
            return make(
                DecisionKind.NOT_DUE,
                f"not due yet: {slot.step.label} is due from {slot.due_on}{when_it_goes_out(slot.due_on)}",
                lines,
                slot=slot,
            )
        return None

    current = max((index for index, slot in enumerate(slots) if slot.due_on <= today), default=None)
    if current is None:
        not_due = next_open_after(-1)
        if not_due is not None:
            return not_due
        last_covering = done_by[-1]
        assert last_covering is not None  # next_open_after found every step done
        return make(
            skipped,
            f"skipped: {slots[-1].step.label} already done (follow-up on {_describe(last_covering)})",
            lines,
            reason=SkipReason.ALREADY_DONE,
            slot=slots[-1],
        )

    slot = slots[current]
    covering = done_by[current]
    lines.append(f"window until {slot.window_end} ({slot.window_note})")
    if covering is not None or today > slot.window_end:
        if covering is not None:
            lines.append(f"{slot.step.label} done: follow-up on {_describe(covering)}")
        else:
            lines.append(f"today {today} is after the window of {slot.step.label}")
        not_due = next_open_after(current)
        if not_due is not None:
            return not_due
        # Every later step is done too: the latest done step is the one worth naming.
        done_index = len(slots) - 1 if current + 1 < len(slots) else current
        done_covering = done_by[done_index]
        if done_covering is not None:
            done_slot = slots[done_index]
            return make(
                skipped,
                f"skipped: {done_slot.step.label} already done (follow-up on {_describe(done_covering)})",
                lines,
                reason=SkipReason.ALREADY_DONE,
                slot=done_slot,
            )
        return make(
            skipped,
            f"skipped: {slot.step.label} could go out until {slot.window_end}; it is too late now",
            lines,
            reason=SkipReason.WINDOW_PASSED,
            slot=slot,
        )

    last = max(past, key=lambda followup: followup.done_on, default=None)
    if last is not None:
        gap_end = last.done_on + timedelta(days=rules.min_gap_days)
        retry_on = calendar.next_working_day(gap_end)
        lines.append(f"last follow-up {_describe(last)}; minimum gap {rules.min_gap_days} days → not before {gap_end}")
        if retry_on != gap_end:
            lines.append(f"{gap_end}: {calendar.why_not_working(gap_end)} → first working day {retry_on}")
        if (today - last.done_on).days < rules.min_gap_days:
            if retry_on <= slot.window_end:
                summary = (
                    f"skipped: last follow-up on {last.done_on}, minimum gap {rules.min_gap_days} days; "
                    f"{slot.step.label} may go out from {retry_on}"
                )
            else:
                summary = (
                    f"skipped: last follow-up on {last.done_on}, minimum gap {rules.min_gap_days} days "
                    f"ends after the window ({slot.window_end}), so {slot.step.label} will not go out"
                )
            return make(skipped, summary, lines, reason=SkipReason.RECENT_FOLLOWUP, slot=slot, retry_on=retry_on)

    if has_email is False and bounced is not None:
        return make(
            skipped,
            f"skipped: {slot.step.label} is due but {bounced.describe()}; fix the address in Dolibarr "
            "(the change unblocks it)",
            [*lines, f"permanent bounce of {bounced.address} on {bounced.on}, event {bounced.event_id}"],
            reason=SkipReason.BOUNCED,
            slot=slot,
        )
    if has_email is False:
        return make(
            skipped,
            f"skipped: {slot.step.label} is due but the quote has no e-mail address (add one, or follow up by letter)",
            lines,
            reason=SkipReason.NO_EMAIL,
            slot=slot,
        )
    details = f"{slot.step.label}, due since {slot.due_on}, may go out until {slot.window_end}"
    return make(
        DecisionKind.DUE,
        f"due, goes out {describe_day(today)}: {day_off}; {details}" if day_off else f"due: {details}",
        lines,
        slot=slot,
    )


def _reply_since_last_followup(
    answers: Sequence[CustomerAnswer], past: Sequence[PastFollowUp]
) -> CustomerAnswer | None:
    """The latest reply on or after the day of the last follow-up, if any."""
    replies = [answer for answer in answers if answer.kind == "reply"]
    if not replies:
        return None
    latest = max(replies, key=lambda answer: (answer.on, answer.event_id))
    last = max((followup.done_on for followup in past), default=None)
    return latest if last is None or latest.on >= last else None


def plan(
    quotes: Sequence[Quote],
    past_by_quote: Mapping[int, Sequence[PastFollowUp]],
    rules: AutoRules,
    today: date,
    *,
    has_email: Mapping[int, bool] | None = None,
    answers_by_quote: Mapping[int, Sequence[CustomerAnswer]] | None = None,
) -> list[Decision]:
    """One decision per quote, in the order given."""
    emails = has_email or {}
    answers = answers_by_quote or {}
    return [
        decide(
            quote,
            past_by_quote.get(quote.id, ()),
            rules,
            today,
            has_email=emails.get(quote.id),
            answers=answers.get(quote.id, ()),
        )
        for quote in quotes
    ]


def urgency_key(decision: Decision, amount: Decimal) -> tuple[date, Decimal, str]:
    """Most urgent first: the step window closing soonest, then the largest amount, then the ref."""
    return (decision.window_end or date.max, -amount, decision.quote_ref)


def cap_due(decisions: Sequence[Decision], amounts: Mapping[int, Decimal], cap: int) -> list[Decision]:
    """The decisions with every due one past the ``cap`` most urgent turned into SKIPPED DEFERRED.

    Order of the result = order given. A deferred follow-up is still due: the next run takes it,
    most urgent first again, so a window closing soon is not lost behind a long queue.
    """
    due = sorted(
        (d for d in decisions if d.kind is DecisionKind.DUE),
        key=lambda d: urgency_key(d, amounts.get(d.quote_id, Decimal(0))),
    )
    deferred = {d.quote_id for d in due[cap:]}
    if not deferred:
        return list(decisions)
    return [
        replace(
            d,
            kind=DecisionKind.SKIPPED,
            reason=SkipReason.DEFERRED,
            summary=f"deferred: {d.step.label if d.step else 'a step'} is due, but this run's cap of {cap} "
            f"automatic follow-ups is reached by more urgent ones; a later run sends it (until {d.window_end})",
            arithmetic=[*d.arithmetic, f"[auto] max_per_run = {cap}: {len(due)} due, the {cap} most urgent go out"],
        )
        if d.quote_id in deferred
        else d
        for d in decisions
    ]


def summarize(decisions: Sequence[Decision]) -> dict[str, int]:
    """Counts for the run report: ``total``, every kind and every skip reason (zeros included)."""
    counts: dict[str, int] = {"total": len(decisions)}
    counts.update({kind.value: 0 for kind in DecisionKind})
    counts.update({reason.value: 0 for reason in SkipReason})
    for decision in decisions:
        counts[decision.kind.value] += 1
        if decision.reason is not None:
            counts[decision.reason.value] += 1
    return counts
