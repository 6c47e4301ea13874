"""The effectiveness report: which follow-ups pay. Pure: plain values in, figures out.

Definitions (also in ``docs/report.md``; the tests compute these by hand):

- The **period** is a closed range of days. A **follow-up in the period** is one done on one of
  those days (its day in the business timezone, decided by the caller).
- A **quote concerned** has at least one follow-up in the period; its follow-ups in the period are
  ranked by day: the 1st, 2nd... (the funnel's stages).
- Each quote concerned gets one **outcome** from its status today: *signed* (signed or billed, on
  or after the day of its first follow-up in the period; an unknown signature day counts as
  after, since only open quotes are followed up), *refused*, *open* (still valid today),
  *expired* (open but past its end of validity: no answer), *other* (draft, cancelled, deleted, or
  signed before the follow-ups).
- **Credit**: the outcome goes to one follow-up of the quote: for a signature, the last follow-up
  done on or before the signature day (the last one when the day is unknown); otherwise the last
  follow-up in the period. Days to signature = signature day - credited follow-up's day.
- A **group** (a model, a step, a channel, a sales person) counts the follow-ups it did, the quotes
  it concerned (a quote may concern several groups), and the outcomes credited to its follow-ups:
  conversion = signed / quotes concerned, always given with both counts.
- **Comparison**: quotes issued in the period, validated (open, signed, refused or billed), with no
  follow-up at all among those given: signed / all of them.
- **Months**: follow-ups by the month of their day; amount signed after a follow-up by the month
  of the signature (of the credited follow-up when the signature day is unknown); months of the
  period only.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from dolirelance.domain import Channel, Quote, QuoteStatus

__all__ = [
    "Comparison",
    "FollowUpFact",
    "FunnelStage",
    "GroupRow",
    "Month",
    "Outcome",
    "Period",
    "Rate",
    "Report",
    "Tally",
    "as_dict",
    "compute_report",
    "csv_rows",
]

MANUAL_STEP = "manual"  # the step group of follow-ups not made by an automatic step
UNKNOWN_MODEL = "?"


class Outcome(StrEnum):
    SIGNED = "signed"
    REFUSED = "refused"
    OPEN = "open"
    EXPIRED = "expired"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Period:
    """Days ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def months(self) -> list[date]:
        """The first day of every month the period touches."""
        months: list[date] = []
        current = self.start.replace(day=1)
        while current <= self.end:
            months.append(current)
            current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
        return months


@dataclass(frozen=True, slots=True)
class FollowUpFact:
    """One follow-up done, as the report sees it."""

    quote_id: int
    done_on: date
    channel: Channel
    model: str
    step: int | None  # the automatic step that made it; None for a manual or mass follow-up
    sales_person: str

    @property
    def step_label(self) -> str:
        return str(self.step) if self.step is not None else MANUAL_STEP


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` out of ``total``: never shown as a bare percentage."""

    count: int
    total: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.count / self.total, 1) if self.total else None

    def __str__(self) -> str:
        percent = self.percent
        return f"{self.count}/{self.total}" + (f" ({percent:g} %)" if percent is not None else "")


@dataclass(slots=True)
class Tally:
    """Follow-ups, quotes and credited outcomes of the whole report or of one group."""

    followups: int = 0
    quotes: int = 0
    signed: int = 0
    refused: int = 0
    open: int = 0
    expired: int = 0
    other: int = 0
    amount_signed: Decimal = Decimal(0)
    days_to_signature: list[int] = field(default_factory=list)

    @property
    def conversion(self) -> Rate:
        return Rate(self.signed, self.quotes)

    @property
    def median_days_to_signature(self) -> float | None:
        return float(statistics.median(self.days_to_signature)) if self.days_to_signature else None

    def signed_within(self, days: int) -> int:
        return sum(1 for value in self.days_to_signature if value <= days)

    def credit(self, outcome: Outcome, amount: Decimal, days: int | None) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
        if outcome is Outcome.SIGNED:
            self.amount_signed += amount
            if days is not None:
                self.days_to_signature.append(days)


@dataclass(frozen=True, slots=True)
class GroupRow:
    key: str
    tally: Tally


@dataclass(frozen=True, slots=True)
class FunnelStage:
    rank: int  # the quote's 1st, 2nd... follow-up in the period
    reached: int  # quotes that had at least this many follow-ups
    signed: int  # quotes signed after this one (and before the next)
    amount_signed: Decimal


@dataclass(frozen=True, slots=True)
class Comparison:
    """Quotes of the period without any follow-up: how many were signed anyway."""

    quotes: int
    signed: int
    amount_signed: Decimal

    @property
    def rate(self) -> Rate:
        return Rate(self.signed, self.quotes)


@dataclass(frozen=True, slots=True)
class Month:
    month: date  # its first day
    followups: int
    signed: int
    amount_signed: Decimal


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    today: date
    total: Tally
    by_model: tuple[GroupRow, ...]
    by_step: tuple[GroupRow, ...]
    by_channel: tuple[GroupRow, ...]
    by_sales_person: tuple[GroupRow, ...]
    funnel: tuple[FunnelStage, ...]
    without_followup: Comparison
    months: tuple[Month, ...]


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The outcome of one quote concerned and the follow-up it is credited to."""

    outcome: Outcome
    credited: FollowUpFact
    rank: int  # of the credited follow-up, from 1
    amount: Decimal
    days: int | None
    signed_on: date | None


_SIGNED_STATUSES = (QuoteStatus.SIGNED, QuoteStatus.BILLED)
_VALIDATED_STATUSES = (QuoteStatus.OPEN, *_SIGNED_STATUSES, QuoteStatus.REFUSED)


def _verdict(quote: Quote | None, followups: list[FollowUpFact], today: date) -> _Verdict:
    last = followups[-1]
    rank = len(followups)
    if quote is None:
        return _Verdict(Outcome.OTHER, last, rank, Decimal(0), None, None)
    if quote.status in _SIGNED_STATUSES:
        signed_on = quote.signed_on
        if signed_on is None:
            return _Verdict(Outcome.SIGNED, last, rank, quote.total_excl_tax, None, None)
        before = [index for index, fu in enumerate(followups) if fu.done_on <= signed_on]
        if not before:  # signed before its first follow-up of the period
            return _Verdict(Outcome.OTHER, last, rank, Decimal(0), None, signed_on)
        index = before[-1]
        credited = followups[index]
        days = (signed_on - credited.done_on).days
        return _Verdict(Outcome.SIGNED, credited, index + 1, quote.total_excl_tax, days, signed_on)
    if quote.status is QuoteStatus.REFUSED:
        return _Verdict(Outcome.REFUSED, last, rank, Decimal(0), None, None)
    if quote.status is QuoteStatus.OPEN:
        valid = quote.end_of_validity is None or quote.end_of_validity >= today
        return _Verdict(Outcome.OPEN if valid else Outcome.EXPIRED, last, rank, Decimal(0), None, None)
    return _Verdict(Outcome.OTHER, last, rank, Decimal(0), None, None)


def _groups(
    key_of: Callable[[FollowUpFact], str],
    by_quote: dict[int, list[FollowUpFact]],
    verdicts: dict[int, _Verdict],
) -> tuple[GroupRow, ...]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for followups in by_quote.values():
        for fu in followups:
            tallies[key_of(fu)].followups += 1
        for key in {key_of(fu) for fu in followups}:
            tallies[key].quotes += 1
    for verdict in verdicts.values():
        tallies[key_of(verdict.credited)].credit(verdict.outcome, verdict.amount, verdict.days)
    return tuple(GroupRow(key, tallies[key]) for key in sorted(tallies, key=_natural))


def _natural(key: str) -> tuple[int, int, str]:
    """Numbers first, in numeric order ("2" before "10"), then words."""
    return (0, int(key), "") if key.isdigit() else (1, 0, key.casefold())


def compute_report(
    quotes: Iterable[Quote],
    followups: Iterable[FollowUpFact],
    period: Period,
    *,
    today: date,
    model: str | None = None,
    sales_person: str | None = None,
) -> Report:
    """The report over ``followups`` (any days; only those in the period count) and ``quotes``.

    ``quotes`` must hold every quote followed up in the period (one missing counts as *other*)
    and every quote issued in the period (the comparison); others are ignored. ``model`` and
    ``sales_person`` keep only those follow-ups (the comparison still excludes every quote
    followed up by anyone).
    """
    quotes_by_id = {quote.id: quote for quote in quotes}
    all_followups = list(followups)
    followed_ever = {fu.quote_id for fu in all_followups}
    kept = (
        fu
        for fu in all_followups
        if fu.done_on in period
        and (model is None or fu.model == model)
        and (sales_person is None or fu.sales_person == sales_person)
    )
    by_quote: dict[int, list[FollowUpFact]] = defaultdict(list)
    for fu in sorted(kept, key=lambda fu: fu.done_on):
        by_quote[fu.quote_id].append(fu)
    verdicts = {
        quote_id: _verdict(quotes_by_id.get(quote_id), followups, today) for quote_id, followups in by_quote.items()
    }

    total = Tally()
    for quote_id, quote_followups in by_quote.items():
        total.followups += len(quote_followups)
        total.quotes += 1
        verdict = verdicts[quote_id]
        total.credit(verdict.outcome, verdict.amount, verdict.days)

    deepest = max((len(fus) for fus in by_quote.values()), default=0)
    funnel = tuple(
        FunnelStage(
            rank=rank,
            reached=sum(1 for fus in by_quote.values() if len(fus) >= rank),
            signed=sum(1 for v in verdicts.values() if v.outcome is Outcome.SIGNED and v.rank == rank),
            amount_signed=sum(
                (v.amount for v in verdicts.values() if v.outcome is Outcome.SIGNED and v.rank == rank), Decimal(0)
            ),
        )
        for rank in range(1, deepest + 1)
    )

    unfollowed = [
        quote
        for quote in quotes_by_id.values()
        if quote.id not in followed_ever
        and quote.issue_date in period
        and quote.status in _VALIDATED_STATUSES
    ]
    unfollowed_signed = [quote for quote in unfollowed if quote.status in _SIGNED_STATUSES]
    comparison = Comparison(
        quotes=len(unfollowed),
        signed=len(unfollowed_signed),
        amount_signed=sum((quote.total_excl_tax for quote in unfollowed_signed), Decimal(0)),
    )

    followups_by_month: dict[date, int] = defaultdict(int)
    for fus in by_quote.values():
        for fu in fus:
            followups_by_month[fu.done_on.replace(day=1)] += 1
    signed_by_month: dict[date, int] = defaultdict(int)
    amount_by_month: dict[date, Decimal] = defaultdict(Decimal)
    for verdict in verdicts.values():
        if verdict.outcome is Outcome.SIGNED:
            month = (verdict.signed_on or verdict.credited.done_on).replace(day=1)
            signed_by_month[month] += 1
            amount_by_month[month] += verdict.amount
    months = tuple(
        Month(month, followups_by_month[month], signed_by_month[month], amount_by_month[month])
        for month in period.months()
    )

    return Report(
        period=period,
        today=today,
        total=total,
        by_model=_groups(lambda fu: fu.model, by_quote, verdicts),
        by_step=_groups(lambda fu: fu.step_label, by_quote, verdicts),
        by_channel=_groups(lambda fu: fu.channel.value, by_quote, verdicts),
        by_sales_person=_groups(lambda fu: fu.sales_person, by_quote, verdicts),
        funnel=funnel,
        without_followup=comparison,
        months=months,
    )


# --------------------------------------------------------------------------- one shape for every view


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


def _rate(rate: Rate) -> dict[str, int | float | None]:
    return {"count": rate.count, "of": rate.total, "percent": rate.percent}


def _tally_counts(tally: Tally) -> dict[str, object]:
    """The counts of a tally, in the order the JSON and the CSV show them."""
    return {
        "followups": tally.followups,
        "quotes": tally.quotes,
        "signed": tally.signed,
        "refused": tally.refused,
        "open": tally.open,
        "expired": tally.expired,
        "other": tally.other,
    }


def tally_dict(tally: Tally) -> dict[str, object]:
    return {
        **_tally_counts(tally),
        "conversion": _rate(tally.conversion),
        "median_days_to_signature": tally.median_days_to_signature,
        "signed_within_7_days": tally.signed_within(7),
        "signed_within_30_days": tally.signed_within(30),
        "amount_signed_excl_tax": _money(tally.amount_signed),
    }


GROUPINGS = ("model", "step", "channel", "sales_person")


def groups_of(report: Report, grouping: str) -> tuple[GroupRow, ...]:
    rows: dict[str, tuple[GroupRow, ...]] = {
        "model": report.by_model,
        "step": report.by_step,
        "channel": report.by_channel,
        "sales_person": report.by_sales_person,
    }
    return rows[grouping]


def as_dict(report: Report) -> dict[str, object]:
    """The report as JSON-ready values (amounts as strings with 2 decimals): the CLI's and the web's."""
    return {
        "period": {"from": report.period.start.isoformat(), "to": report.period.end.isoformat()},
        "today": report.today.isoformat(),
        "total": tally_dict(report.total),
        "by": {
            grouping: [{"key": row.key, **tally_dict(row.tally)} for row in groups_of(report, grouping)]
            for grouping in GROUPINGS
        },
        "funnel": [
            {
                "rank": stage.rank,
                "reached": stage.reached,
                "signed": stage.signed,
                "amount_signed_excl_tax": _money(stage.amount_signed),
            }
            for stage in report.funnel
        ],
        "without_followup": {
            "quotes": report.without_followup.quotes,
            "signed": report.without_followup.signed,
            "conversion": _rate(report.without_followup.rate),
            "amount_signed_excl_tax": _money(report.without_followup.amount_signed),
        },
        "months": [
            {
                "month": month.month.strftime("%Y-%m"),
                "followups": month.followups,
                "signed": month.signed,
                "amount_signed_excl_tax": _money(month.amount_signed),
            }
            for month in report.months
        ],
    }


CSV_COLUMNS = (
    "section",
    "key",
    "followups",
    "quotes",
    "signed",
    "refused",
    "open",
    "expired",
    "other",
    "conversion_percent",
    "median_days_to_signature",
    "amount_signed_excl_tax",
)


def csv_rows(report: Report) -> list[dict[str, object]]:
    """One flat table (``CSV_COLUMNS``): totals, each grouping, the funnel, the comparison, the months."""

    def tally_row(section: str, key: str, tally: Tally) -> dict[str, object]:
        return {
            "section": section,
            "key": key,
            **_tally_counts(tally),
            "conversion_percent": tally.conversion.percent,
            "median_days_to_signature": tally.median_days_to_signature,
            "amount_signed_excl_tax": _money(tally.amount_signed),
        }

    rows = [tally_row("total", "all", report.total)]
    for grouping in GROUPINGS:
        rows.extend(tally_row(grouping, row.key, row.tally) for row in groups_of(report, grouping))
    for stage in report.funnel:
        rows.append(
            {
                "section": "funnel",
                "key": str(stage.rank),
                "quotes": stage.reached,
                "signed": stage.signed,
                "conversion_percent": Rate(stage.signed, stage.reached).percent,
                "amount_signed_excl_tax": _money(stage.amount_signed),
            }
        )
    comparison = report.without_followup
    rows.append(
        {
            "section": "without_followup",
            "key": "all",
            "quotes": comparison.quotes,
            "signed": comparison.signed,
            "conversion_percent": comparison.rate.percent,
            "amount_signed_excl_tax": _money(comparison.amount_signed),
        }
    )
    for month in report.months:
        rows.append(
            {
                "section": "month",
                "key": month.month.strftime("%Y-%m"),
                "followups": month.followups,
                "signed": month.signed,
                "amount_signed_excl_tax": _money(month.amount_signed),
            }
        )
    return [{column: row.get(column, "") for column in CSV_COLUMNS} for row in rows]
