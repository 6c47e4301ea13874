"""Automatic decisions on a working-day calendar (Monday to Friday, French public holidays), as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from dolirelance.domain import Quote, QuoteStatus
from dolirelance.policy import AutoRules, DecisionKind, PastFollowUp, SkipReason, Step, decide
from dolirelance.workdays import WorkingCalendar

FIRST = "1ère relance"
SECOND = "2nde relance"
D = date.fromisoformat
DUE = DecisionKind.DUE
NOT_DUE = DecisionKind.NOT_DUE
SKIPPED = DecisionKind.SKIPPED
WEEK = ["monday", "tuesday", "wednesday", "thursday", "friday"]
FRANCE = WorkingCalendar.from_names(WEEK, "FR")
MOSELLE = WorkingCalendar.from_names(WEEK, "FR-57")
RULES = AutoRules((Step(1, FIRST, -5), Step(2, SECOND, 10)), 3, 30, {FIRST: 1, SECOND: 2}, FRANCE)


def quote(end_of_validity: str) -> Quote:
    return Quote(
        id=7,
        ref="PR2611-0007",
        customer_id=3,
        status=QuoteStatus.OPEN,
        issue_date=D(end_of_validity) - timedelta(days=30),
        end_of_validity=D(end_of_validity),
        total_excl_tax=Decimal("1000.00"),
        total_tax=Decimal("200.00"),
        total_incl_tax=Decimal("1200.00"),
        currency="EUR",
    )


def manual(day: str) -> PastFollowUp:
    return PastFollowUp(7, D(day), "Ancien modèle", "email", automatic=False, step=None, source="dolibarr")


# id, calendar, end of validity, today, past, kind, reason, step, window_end, goes_out_on, summary start
Case = tuple[
    str, WorkingCalendar, str, str, list[PastFollowUp], DecisionKind, SkipReason | None, int, str, str | None, str
]
# fmt: off
CASES: list[Case] = [
    # End of validity Tuesday 8 December: step 1 due Thursday 3rd; step 2 due Friday 18th.
    ("weekday", FRANCE, "2026-12-08", "2026-12-04", [], DUE, None, 1, "2026-12-08", "2026-12-04",
     "due: step 1"),
    ("Saturday", FRANCE, "2026-12-08", "2026-12-05", [], DUE, None, 1, "2026-12-08", "2026-12-07",
     "due, goes out Monday 7 December: Saturday is not a working day; step 1"),
    ("Sunday", FRANCE, "2026-12-08", "2026-12-06", [], DUE, None, 1, "2026-12-08", "2026-12-07",
     "due, goes out Monday 7 December: Sunday is not a working day; step 1"),
    ("due on a Sunday, asked on Friday", FRANCE, "2026-12-11", "2026-12-04", [], NOT_DUE, None, 1,
     "2026-12-11", None,
     "not due yet: step 1 (1ère relance) is due from 2026-12-06 (goes out Monday 7 December: "
     "Sunday is not a working day)"),
    # Last step window: 17 December + 30 days = Saturday 16 January 2027, extended to Monday 18.
    ("last window closing on a Saturday", FRANCE, "2026-12-07", "2027-01-18", [], DUE, None, 2,
     "2027-01-18", "2027-01-18", "due: step 2"),
    ("asked on that Saturday", FRANCE, "2026-12-07", "2027-01-16", [], DUE, None, 2, "2027-01-18",
     "2027-01-18", "due, goes out Monday 18 January: Saturday is not a working day; step 2"),
    ("after the extended window", FRANCE, "2026-12-07", "2027-01-19", [], SKIPPED, SkipReason.WINDOW_PASSED, 2,
     "2027-01-18", None, "skipped: step 2 (2nde relance) could go out until 2027-01-18"),
    # A step before expiry whose window ends on a Saturday (the end of validity).
    ("pre-expiry window closing on a Saturday", FRANCE, "2026-12-05", "2026-12-07", [manual("2026-12-03")],
     DUE, None, 1, "2026-12-07", "2026-12-07", "due: step 1"),
    # Christmas Friday 25 December: step 1 of a quote valid until Wednesday 30th.
    ("Christmas", FRANCE, "2026-12-30", "2026-12-25", [], DUE, None, 1, "2026-12-30", "2026-12-28",
     "due, goes out Monday 28 December: Friday 25 December is a public holiday (Christmas Day); step 1"),
    ("the eve of Christmas", FRANCE, "2026-12-30", "2026-12-24", [], NOT_DUE, None, 1, "2026-12-30", None,
     "not due yet: step 1 (1ère relance) is due from 2026-12-25 (goes out Monday 28 December: "
     "Friday 25 December is a public holiday (Christmas Day))"),
    ("14 July", FRANCE, "2026-07-17", "2026-07-14", [], DUE, None, 1, "2026-07-17", "2026-07-15",
     "due, goes out Wednesday 15 July: Tuesday 14 July is a public holiday (National Day); step 1"),
    # Ascension Thursday 14 May 2026 is the end of validity: the window runs to the bridge Friday.
    ("Ascension Thursday", FRANCE, "2026-05-14", "2026-05-14", [], DUE, None, 1, "2026-05-15", "2026-05-15",
     "due, goes out Friday 15 May: Thursday 14 May is a public holiday (Ascension Day); step 1"),
    ("the Ascension bridge Friday", FRANCE, "2026-05-14", "2026-05-15", [], DUE, None, 1, "2026-05-15",
     "2026-05-15", "due: step 1"),
    ("gap ending on Ascension", FRANCE, "2026-05-14", "2026-05-13", [manual("2026-05-11")],
     SKIPPED, SkipReason.RECENT_FOLLOWUP, 1, "2026-05-15", None,
     "skipped: last follow-up on 2026-05-11, minimum gap 3 days; step 1 (1ère relance) may go out from 2026-05-15"),
    ("Saturday after the bridge", FRANCE, "2026-05-14", "2026-05-16", [], NOT_DUE, None, 2, "2026-06-23", None,
     "not due yet: step 2 (2nde relance) is due from 2026-05-24 (goes out Tuesday 26 May"),
    # Alsace-Moselle: Good Friday 3 April 2026, then the weekend and Easter Monday.
    ("Good Friday in Paris", FRANCE, "2026-04-06", "2026-04-03", [], DUE, None, 1, "2026-04-07", "2026-04-03",
     "due: step 1"),
    ("Good Friday in Moselle", MOSELLE, "2026-04-08", "2026-04-03", [], DUE, None, 1, "2026-04-08", "2026-04-07",
     "due, goes out Tuesday 7 April: Friday 3 April is a public holiday (Good Friday); step 1"),
    ("26 December in Moselle", MOSELLE, "2025-12-31", "2025-12-26", [], DUE, None, 1, "2025-12-31",
     "2025-12-29",
     "due, goes out Monday 29 December: Friday 26 December is a public holiday (Saint Stephen's Day); step 1"),
    ("26 December in Paris", FRANCE, "2025-12-31", "2025-12-26", [], DUE, None, 1, "2025-12-31", "2025-12-26",
     "due: step 1"),
    # DST weekend (clocks go back on Sunday 25 October 2026): the day, not the hour, decides.
    ("DST Sunday", FRANCE, "2026-10-28", "2026-10-25", [], DUE, None, 1, "2026-10-28", "2026-10-26",
     "due, goes out Monday 26 October: Sunday is not a working day; step 1"),
]
# fmt: on


@pytest.mark.parametrize(
    ("calendar", "end", "today", "past", "kind", "reason", "step", "window_end", "goes_out_on", "summary"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decisions_on_working_days(
    calendar: WorkingCalendar,
    end: str,
    today: str,
    past: list[PastFollowUp],
    kind: DecisionKind,
    reason: SkipReason | None,
    step: int,
    window_end: str,
    goes_out_on: str | None,
    summary: str,
) -> None:
    """On a day off the decision is the next working day's; windows closing on a day off are extended."""
    decision = decide(quote(end), past, replace(RULES, calendar=calendar), D(today), has_email=True)
    assert (decision.kind, decision.reason) == (kind, reason), decision.summary
    assert decision.step is not None and decision.step.number == step
    assert decision.window_end == D(window_end)
    assert decision.goes_out_on == (D(goes_out_on) if goes_out_on else None)
    assert decision.summary.startswith(summary), decision.summary


def test_arithmetic_says_why_it_waits_and_why_the_window_is_extended() -> None:
    """The explanation names the day off, the day decided for, and the extension of the window."""
    decision = decide(quote("2026-12-07"), [], RULES, D("2027-01-16"))
    assert (
        "today 2027-01-16: Saturday is not a working day; automatic follow-ups wait for 2027-01-18, "
        "decided as on that day"
    ) in decision.arithmetic
    assert (
        "window until 2027-01-18 (last step: due day + 30 days; it ends on 2027-01-16: "
        "Saturday is not a working day, so it is extended to 2027-01-18)"
    ) in decision.arithmetic


def test_superseded_window_is_not_extended() -> None:
    """A window ending on a Sunday is not extended when the next step is due on the Monday."""
    rules = replace(RULES, steps=(Step(1, FIRST, 0), Step(2, SECOND, 6)))
    # Step 1 due Tuesday 1 December, window until Sunday 6th; step 2 due Monday 7th.
    decision = decide(quote("2026-12-01"), [], rules, D("2026-12-06"))
    assert decision.step is not None and decision.step.number == 2
    assert decision.kind is DUE and decision.goes_out_on == D("2026-12-07")
    assert decide(quote("2026-12-01"), [], rules, D("2026-12-04")).window_end == D("2026-12-06")


def test_gap_ending_on_a_weekend_moves_to_monday() -> None:
    """retry_on is the first working day the minimum gap allows."""
    decision = decide(quote("2026-12-08"), [manual("2026-12-02")], RULES, D("2026-12-04"))
    assert decision.reason is SkipReason.RECENT_FOLLOWUP and decision.retry_on == D("2026-12-07")
    assert "2026-12-05: Saturday is not a working day → first working day 2026-12-07" in decision.arithmetic


def simulate(calendar: WorkingCalendar, ends: list[date], first: date, last: date) -> dict[tuple[int, int], date]:
    """Daily runs from ``first`` to ``last`` (runs on days off do nothing): (quote, step) → day sent."""
    rules = replace(RULES, calendar=calendar)
    sent: dict[tuple[int, int], date] = {}
    past: dict[int, list[PastFollowUp]] = {}
    day = first
    while day <= last:
        if calendar.is_working_day(day):
            # As the run's server-side filter: only quotes with a step window around today.
            earliest = calendar.break_start(day) - timedelta(days=10 + 30)
            for number, end in enumerate(ends):
                if not earliest <= end <= day + timedelta(days=5):
                    continue
                the_quote = replace(quote(end.isoformat()), id=number)
                decision = decide(the_quote, past.get(number, []), rules, day, has_email=True)
                if decision.is_due:
                    assert decision.step is not None and decision.goes_out_on == day
                    sent[number, decision.step.number] = day
                    past.setdefault(number, []).append(
                        PastFollowUp(number, day, decision.step.model, "email", True, decision.step.number, "ledger")
                    )
        day += timedelta(days=1)
    return sent


def test_a_year_of_daily_runs() -> None:
    """Over a year, every step goes out once, on a working day: the first working day from its due day."""
    ends = [date(2026, 1, 10) + timedelta(days=n) for n in range(365)]
    every_day = simulate(WorkingCalendar.every_day(), ends, date(2026, 1, 1), date(2027, 3, 1))
    assert len(every_day) == 2 * len(ends)
    for calendar in (FRANCE, MOSELLE):
        sent = simulate(calendar, ends, date(2026, 1, 1), date(2027, 3, 1))
        assert sent.keys() == every_day.keys()  # none lost
        for key, day in sent.items():
            assert calendar.is_working_day(day), (calendar.region, key, day)
            assert day == calendar.next_working_day(every_day[key]), (calendar.region, key, day)
