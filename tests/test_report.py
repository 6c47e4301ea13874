"""The effectiveness report on hand-made data: every expected figure is worked out by hand below."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dolirelance.domain import Channel, Quote, QuoteStatus
from dolirelance.effectiveness import FollowUpFact, Period, Rate, Report, as_dict, compute_report, csv_rows

TODAY = date(2026, 11, 28)
PERIOD = Period(date(2026, 9, 1), date(2026, 11, 30))
EMAIL, LETTER = Channel.EMAIL, Channel.LETTER


def quote(
    quote_id: int,
    status: QuoteStatus,
    *,
    issued: date,
    end: date | None = None,
    signed: date | None = None,
    amount: str = "0",
) -> Quote:
    return Quote(
        id=quote_id,
        ref=f"PR-{quote_id}",
        customer_id=1,
        status=status,
        issue_date=issued,
        end_of_validity=end or date(issued.year + (issued.month == 12), issued.month % 12 + 1, issued.day),
        total_excl_tax=Decimal(amount),
        total_tax=Decimal(0),
        total_incl_tax=Decimal(amount),
        currency="EUR",
        signed_on=signed,
    )


def fu(quote_id: int, day: date, step: int | None, channel: Channel, person: str, model: str) -> FollowUpFact:
    return FollowUpFact(quote_id, day, channel, model, step, person)


D = date
QUOTES = [
    # Q1 signed 09-20, ten days after its step-1 e-mail of 09-10; the step-2 e-mail came after the signature.
    quote(1, QuoteStatus.SIGNED, issued=D(2026, 9, 1), signed=D(2026, 9, 20), amount="1000"),
    # Q2 signed 10-14, twelve days after its step-2 letter of 10-02.
    quote(2, QuoteStatus.SIGNED, issued=D(2026, 9, 5), signed=D(2026, 10, 14), amount="2000"),
    quote(3, QuoteStatus.REFUSED, issued=D(2026, 9, 10)),
    quote(4, QuoteStatus.OPEN, issued=D(2026, 11, 1), end=D(2026, 12, 15)),  # still valid today
    quote(5, QuoteStatus.OPEN, issued=D(2026, 10, 1), end=D(2026, 11, 1)),  # expired, no answer
    # Q6 billed, signature day unknown; issued before the period, followed up in August and September.
    quote(6, QuoteStatus.BILLED, issued=D(2026, 8, 1), amount="500"),
    # Q7 signed before its first follow-up: not a signature after a follow-up.
    quote(7, QuoteStatus.SIGNED, issued=D(2026, 8, 20), signed=D(2026, 9, 1), amount="700"),
    # without any follow-up: Q8, Q9, Q10 compared; Q11 draft, Q12 issued before, Q13 followed up later
    quote(8, QuoteStatus.SIGNED, issued=D(2026, 9, 15), signed=D(2026, 9, 30), amount="300"),
    quote(9, QuoteStatus.OPEN, issued=D(2026, 10, 10)),
    quote(10, QuoteStatus.REFUSED, issued=D(2026, 11, 1)),
    quote(11, QuoteStatus.DRAFT, issued=D(2026, 10, 1)),
    quote(12, QuoteStatus.SIGNED, issued=D(2026, 8, 15), signed=D(2026, 9, 2), amount="900"),
    quote(13, QuoteStatus.OPEN, issued=D(2026, 10, 1)),
]
FOLLOWUPS = [
    fu(1, D(2026, 9, 10), 1, EMAIL, "alice", "Relance 1"),
    fu(1, D(2026, 9, 25), 2, EMAIL, "alice", "Relance 2"),
    fu(2, D(2026, 9, 15), 1, EMAIL, "alice", "Relance 1"),
    fu(2, D(2026, 10, 2), 2, LETTER, "alice", "Relance 2"),
    fu(3, D(2026, 10, 1), 1, EMAIL, "bob", "Relance 1"),
    fu(4, D(2026, 11, 20), None, LETTER, "bob", "Relance 1"),
    fu(5, D(2026, 11, 5), 2, EMAIL, "alice", "Relance 2"),  # given out of order on purpose
    fu(5, D(2026, 10, 20), 1, EMAIL, "alice", "Relance 1"),
    fu(6, D(2026, 8, 25), 1, EMAIL, "bob", "Relance 1"),  # before the period: ignored
    fu(6, D(2026, 9, 2), None, EMAIL, "bob", "Relance 1"),
    fu(7, D(2026, 9, 3), 1, EMAIL, "alice", "Relance 1"),
    fu(99, D(2026, 11, 10), None, EMAIL, "bob", "Relance 1"),  # its quote was deleted
    fu(13, D(2026, 12, 2), 1, EMAIL, "alice", "Relance 1"),  # after the period
]


@pytest.fixture
def report() -> Report:
    return compute_report(QUOTES, FOLLOWUPS, PERIOD, today=TODAY)


def figures(tally: object) -> tuple[object, ...]:
    from dolirelance.effectiveness import Tally

    assert isinstance(tally, Tally)
    return (
        tally.followups,
        tally.quotes,
        tally.signed,
        tally.refused,
        tally.open,
        tally.expired,
        tally.other,
        tally.amount_signed,
        sorted(tally.days_to_signature),
    )


def test_totals_count_followups_quotes_and_outcomes_of_the_period(report: Report) -> None:
    """11 follow-ups in the period on 8 quotes: Q1, Q2, Q6 signed after one (Q7 signed before, Q99 gone)."""
    # followups, quotes, signed, refused, open, expired, other, amount, days to signature
    assert figures(report.total) == (11, 8, 3, 1, 1, 1, 2, Decimal(3500), [10, 12])
    assert report.total.conversion == Rate(3, 8)
    assert report.total.conversion.percent == 37.5
    assert report.total.median_days_to_signature == 11.0
    assert report.total.signed_within(7) == 0
    assert report.total.signed_within(30) == 2


def test_per_model_the_signature_goes_to_the_last_followup_before_it(report: Report) -> None:
    """Q1 signed before its 'Relance 2': credited to 'Relance 1'; Q2 after its 'Relance 2' letter."""
    rows = {row.key: figures(row.tally) for row in report.by_model}
    assert rows == {
        "Relance 1": (8, 8, 2, 1, 1, 0, 2, Decimal(1500), [10]),
        "Relance 2": (3, 3, 1, 0, 0, 1, 0, Decimal(2000), [12]),
    }


def test_per_step_manual_followups_form_their_own_group(report: Report) -> None:
    """Steps 1 and 2 then 'manual' (Q4, Q6, Q99), in that order."""
    assert [row.key for row in report.by_step] == ["1", "2", "manual"]
    rows = {row.key: figures(row.tally) for row in report.by_step}
    assert rows == {
        "1": (5, 5, 1, 1, 0, 0, 1, Decimal(1000), [10]),
        "2": (3, 3, 1, 0, 0, 1, 0, Decimal(2000), [12]),
        "manual": (3, 3, 1, 0, 1, 0, 1, Decimal(500), []),
    }
    assert {row.key: row.tally.median_days_to_signature for row in report.by_step} == {
        "1": 10.0,
        "2": 12.0,
        "manual": None,
    }


def test_per_channel_and_per_sales_person(report: Report) -> None:
    """A quote reached by e-mail and by letter counts in both; its outcome only where credited."""
    assert {row.key: figures(row.tally) for row in report.by_channel} == {
        "email": (9, 7, 2, 1, 0, 1, 2, Decimal(1500), [10]),
        "letter": (2, 2, 1, 0, 1, 0, 0, Decimal(2000), [12]),
    }
    assert {row.key: figures(row.tally) for row in report.by_sales_person} == {
        "alice": (7, 4, 2, 0, 0, 1, 1, Decimal(3000), [10, 12]),
        "bob": (4, 4, 1, 1, 1, 0, 1, Decimal(500), []),
    }
    assert {row.key: str(row.tally.conversion) for row in report.by_sales_person} == {
        "alice": "2/4 (50 %)",
        "bob": "1/4 (25 %)",
    }


def test_credited_outcomes_of_every_grouping_add_up_to_the_totals(report: Report) -> None:
    """Each quote's outcome is credited to exactly one follow-up, so no grouping double-counts it."""
    for rows in (report.by_model, report.by_step, report.by_channel, report.by_sales_person):
        assert sum(row.tally.followups for row in rows) == report.total.followups
        assert sum(row.tally.signed for row in rows) == report.total.signed
        assert sum(row.tally.amount_signed for row in rows) == report.total.amount_signed
        assert sum(row.tally.refused + row.tally.open + row.tally.expired + row.tally.other for row in rows) == 5


def test_funnel_by_rank_of_followup_in_the_period(report: Report) -> None:
    """8 quotes had a 1st follow-up (Q1, Q6 signed after it), 3 a 2nd (Q2 signed after it)."""
    assert [(s.rank, s.reached, s.signed, s.amount_signed) for s in report.funnel] == [
        (1, 8, 2, Decimal(1500)),
        (2, 3, 1, Decimal(2000)),
    ]


def test_comparison_counts_validated_quotes_of_the_period_never_followed_up(report: Report) -> None:
    """Q8 (signed), Q9 (open), Q10 (refused); not the draft, not Q12 (issued before), not Q13 (followed later)."""
    comparison = report.without_followup
    assert (comparison.quotes, comparison.signed, comparison.amount_signed) == (3, 1, Decimal(300))
    assert str(comparison.rate) == "1/3 (33.3 %)"


def test_months_count_followups_and_amount_signed_by_signature_month(report: Report) -> None:
    """Q6's unknown signature day falls in the month of its credited follow-up (September)."""
    assert [(m.month, m.followups, m.signed, m.amount_signed) for m in report.months] == [
        (D(2026, 9, 1), 5, 2, Decimal(1500)),
        (D(2026, 10, 1), 3, 1, Decimal(2000)),
        (D(2026, 11, 1), 3, 0, Decimal(0)),
    ]


def test_a_signature_on_the_day_of_the_followup_counts_zero_days() -> None:
    """Same-day signature: credited, 0 days; an empty period gives empty figures and no percentage."""
    quotes = [quote(1, QuoteStatus.SIGNED, issued=D(2026, 1, 5), signed=D(2026, 1, 10), amount="10")]
    report = compute_report(
        quotes, [fu(1, D(2026, 1, 10), 1, EMAIL, "a", "m")], Period(D(2026, 1, 1), D(2026, 1, 31)), today=TODAY
    )
    assert report.total.days_to_signature == [0]
    assert report.total.signed_within(7) == 1
    empty = compute_report([], [], Period(D(2026, 1, 1), D(2026, 1, 31)), today=TODAY)
    assert empty.total.conversion.percent is None
    assert str(empty.total.conversion) == "0/0"
    assert empty.funnel == ()


def test_period_months_cross_the_year_and_a_reversed_period_is_refused() -> None:
    """December to February: three months; an end before the start is an error naming both days."""
    assert Period(D(2026, 12, 15), D(2027, 2, 1)).months() == [D(2026, 12, 1), D(2027, 1, 1), D(2027, 2, 1)]
    with pytest.raises(ValueError, match=r"2026-01-01.*2026-02-01"):
        Period(D(2026, 2, 1), D(2026, 1, 1))


def test_json_and_csv_views_carry_the_same_figures(report: Report) -> None:
    """The JSON gives rates with their counts; the CSV has one row per total, group, stage, month."""
    data = as_dict(report)
    assert data["total"]["conversion"] == {"count": 3, "of": 8, "percent": 37.5}  # type: ignore[index]
    assert data["total"]["amount_signed_excl_tax"] == "3500.00"  # type: ignore[index]
    assert data["without_followup"]["conversion"] == {"count": 1, "of": 3, "percent": 33.3}  # type: ignore[index]
    assert [m["month"] for m in data["months"]] == ["2026-09", "2026-10", "2026-11"]  # type: ignore[attr-defined]
    rows = csv_rows(report)
    keyed = {(row["section"], row["key"]): row for row in rows}
    assert keyed[("step", "manual")]["signed"] == 1
    assert keyed[("funnel", "2")]["quotes"] == 3
    assert keyed[("month", "2026-10")]["amount_signed_excl_tax"] == "2000.00"
    assert len(rows) == 1 + 2 + 3 + 2 + 2 + 2 + 1 + 3


def test_filters_keep_one_models_or_one_persons_followups_and_credit_among_them() -> None:
    """With 'Relance 2' only, Q1 was signed before it (other); Q2 after it; Q5 expired: 1/3."""
    only_second = compute_report(QUOTES, FOLLOWUPS, PERIOD, today=TODAY, model="Relance 2")
    assert figures(only_second.total) == (3, 3, 1, 0, 0, 1, 1, Decimal(2000), [12])
    assert [row.key for row in only_second.by_model] == ["Relance 2"]
    # the comparison is the same: Q1, Q2, Q5 are still followed up (by another model)
    assert only_second.without_followup == compute_report(QUOTES, FOLLOWUPS, PERIOD, today=TODAY).without_followup
    bob = compute_report(QUOTES, FOLLOWUPS, PERIOD, today=TODAY, sales_person="bob")
    assert figures(bob.total) == (4, 4, 1, 1, 1, 0, 1, Decimal(500), [])
    assert [(m.followups, m.signed) for m in bob.months] == [(1, 1), (1, 0), (2, 0)]
