"""Working days: the cost of the calendar in the automatic decisions.

``policy.plan`` over N open quotes (ends of validity spread over a year, the demo's two steps),
with every day a working day and with Monday to Friday plus French public holidays, on a
Monday and on a Sunday; and a year of calendar questions for a fresh calendar (its holiday table
built on first use). Run: .venv/bin/python bench/workdays.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from decimal import Decimal

from dolirelance.domain import Quote, QuoteStatus
from dolirelance.policy import AutoRules, Step, plan
from dolirelance.workdays import MONDAY_TO_FRIDAY, WorkingCalendar

FIRST, SECOND = "1ère relance", "2nde relance"
MONDAY, SUNDAY = date(2026, 12, 7), date(2026, 12, 6)


def quotes(n: int) -> list[Quote]:
    start = MONDAY - timedelta(days=180)
    return [
        Quote(
            id=index,
            ref=f"PR{index:06d}",
            customer_id=1,
            status=QuoteStatus.OPEN,
            issue_date=start,
            end_of_validity=start + timedelta(days=index % 365),
            total_excl_tax=Decimal("1000"),
            total_tax=Decimal("200"),
            total_incl_tax=Decimal("1200"),
            currency="EUR",
        )
        for index in range(n)
    ]


def timed_plan(open_quotes: list[Quote], calendar: WorkingCalendar, today: date) -> float:
    rules = AutoRules((Step(1, FIRST, -5), Step(2, SECOND, 10)), 3, 30, {FIRST: 1, SECOND: 2}, calendar)
    started = time.perf_counter()
    plan(open_quotes, {}, rules, today)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args(argv)

    started = time.perf_counter()
    fresh = WorkingCalendar.from_names(MONDAY_TO_FRIDAY, "FR")
    built = time.perf_counter() - started
    started = time.perf_counter()
    working = sum(fresh.is_working_day(MONDAY + timedelta(days=n)) for n in range(365))
    year = time.perf_counter() - started
    print(
        f"first calendar FR: {built * 1000:.1f} ms (the holidays package loads its country tables once per process); "
        f"365 days asked in {year * 1000:.1f} ms ({working} working)"
    )

    print(f"{'N open':>7} {'calendar':<18} {'day':<7} {'plan ms':>8} {'µs/quote':>9}")
    for n in args.sizes:
        open_quotes = quotes(n)
        for label, calendar in (
            ("every day", WorkingCalendar.every_day()),
            ("Mon-Fri + FR", WorkingCalendar.from_names(MONDAY_TO_FRIDAY, "FR")),
        ):
            for day_label, day in (("Monday", MONDAY), ("Sunday", SUNDAY)):
                seconds = timed_plan(open_quotes, calendar, day)
                print(f"{n:>7} {label:<18} {day_label:<7} {seconds * 1000:>8.1f} {seconds / n * 1e6:>9.1f}")


if __name__ == "__main__":
    main()
