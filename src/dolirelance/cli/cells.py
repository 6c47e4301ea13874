"""How values are written in the tables and the JSON of the command line: amounts, days, times, refs, answers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dolirelance.terminal import text
from dolirelance.terminal_tables import Column

if TYPE_CHECKING:
    from dolirelance.config import Settings
    from dolirelance.service import QuoteRow, UpcomingLine


def money(value: Decimal, currency: str) -> str:
    # the customers' language, as in the models; plain spaces in a terminal (copied into mails, sheets)
    from dolirelance.formatting import format_amount  # babel's number formats: not for --json

    return format_amount(value, currency, "fr").replace("\u202f", " ").replace("\u00a0", " ")


def iso_day(value: date | None) -> str:
    return value.isoformat() if value else ""


def business_tz(settings: Settings) -> ZoneInfo:
    """The time zone every time is shown in (named in the column), the one the days are counted in."""
    return ZoneInfo(settings.auto.timezone)


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


_CENT = Decimal("0.01")


def amount_json(value: Decimal) -> str:
    """Amounts in JSON: a decimal string with two decimals ("910.00"), never a float."""
    return str(value.quantize(_CENT))


def answer_marks(row: QuoteRow | UpcomingLine, tz: ZoneInfo) -> str:
    """The short marker of a quote list: "replied 2026-11-30", "bounced jean@client.fr"."""
    marks = [f"replied {row.last_reply.on(tz).isoformat()}"] if row.last_reply is not None else []
    marks += [f"bounced {bounce.address or '?'}" for bounce in row.bounces]
    return "; ".join(marks)


def ref_cell(ref: str, *, opt_out: bool) -> str:
    """A quote's ref, and under it whether it is opt-out (the ref column stays as wide as the ref)."""
    return text(ref) + ("\n[dim](opt-out)[/]" if opt_out else "")


def short(value: str, limit: int = 100) -> str:
    """One line, cut at ``limit`` characters (a table cell; --json keeps the whole text)."""
    one_line = " ".join(value.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


# The columns every table of quotes starts with (`quotes`, the mass plan); quote_head_cells fills them.
QUOTE_HEAD_COLUMNS = (
    Column("Ref", whole=True),
    Column("Customer"),
    Column("Amount excl. tax", whole=True, right=True),
    Column("End of validity", whole=True),
    Column("Last follow-up", whole=True),
)


def quote_head_cells(row: QuoteRow, tz: ZoneInfo, *, unknown_customer: str) -> list[str]:
    """The cells under :data:`QUOTE_HEAD_COLUMNS`; ``unknown_customer`` when the third party is not read."""
    return [
        ref_cell(row.quote.ref, opt_out=row.quote.opt_out),
        text(row.customer.name) if row.customer else unknown_customer,
        money(row.quote.total_excl_tax, row.quote.currency),
        iso_day(row.quote.end_of_validity),
        row.last.done_on(tz).isoformat() if row.last is not None else "",
    ]
