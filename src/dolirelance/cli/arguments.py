"""What the command line says, read: usage errors, and the dates and delays of --next, --on, --from, --to."""

from __future__ import annotations

from datetime import date, timedelta

from dolirelance.errors import FollowUpError


class CommandLineError(FollowUpError):
    """The command line does not say what to do (an option missing, two that exclude each other, a bad date).

    Exit 2, as Click's own usage errors, with our ``error:`` and ``→`` remedy.
    """


def parse_next(value: str | None, today: date) -> date | None:
    if value is None:
        return None
    from dolirelance.config import parse_day_offset

    text = value.strip()
    try:
        return not_past(date.fromisoformat(text), today)
    except ValueError:
        pass
    try:
        day = today + timedelta(days=parse_day_offset(text))
    except ValueError:
        raise CommandLineError(
            f"--next {value!r} is neither a date nor a delay",
            remedy="write --next 2026-12-15 or --next '+15 days'",
        ) from None
    return not_past(day, today)


def not_past(day: date, today: date) -> date:
    """A next follow-up date from today on: refused before anything starts (nothing claimed in the ledger)."""
    if day < today:
        raise CommandLineError(
            f"the next follow-up date {day.isoformat()} is in the past",
            remedy="give a date from today on, or a delay like --next '+15 days'",
        )
    return day


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CommandLineError(f"{option} {value!r} is not a date", remedy=f"write {option} 2026-12-03") from None
