"""Working days: on which days automatic follow-ups may go out.

Pure: a :class:`WorkingCalendar` is built from plain values (the working weekdays and a public
holiday region such as ``"FR"`` or ``"FR-57"``) and answers whether a day is a working day, why
not, and which working day comes next. Public holidays come from the ``holidays`` package; a
region is a country code with an optional subdivision (``"FR-57"``: Moselle, whose Good Friday and
26 December are holidays too), or ``"none"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a region is read: ~20 ms of start-up a configuration without holidays saves
    import holidays

# English names: the CLI, logs and docs are in English, and ``strftime`` would follow the machine's locale.
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Accepted spellings of a weekday in the configuration (French too: most users are French).
_WEEKDAY_SPELLINGS = {
    **{name.lower(): index for index, name in enumerate(WEEKDAY_NAMES)},
    **{name.lower()[:3]: index for index, name in enumerate(WEEKDAY_NAMES)},
    **{
        name: index
        for index, name in enumerate(("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"))
    },
}
MONDAY_TO_FRIDAY = ("monday", "tuesday", "wednesday", "thursday", "friday")
NO_HOLIDAYS = "none"
# No calendar closes for this long; a search that goes further means a calendar error.
_LONGEST_BREAK_DAYS = 366


def describe_day(day: date) -> str:
    """``Monday 7 December`` (the year is left out: it is the one being talked about)."""
    return f"{WEEKDAY_NAMES[day.weekday()]} {day.day} {_MONTH_NAMES[day.month - 1]}"


def parse_weekday(name: str) -> int:
    """``"monday"``, ``"Mon"`` or ``"lundi"`` → 0; a clear ``ValueError`` for anything else."""
    index = _WEEKDAY_SPELLINGS.get(name.strip().lower())
    if index is None:
        raise ValueError(f"{name!r} is not a day of the week; write it like \"monday\" (or \"lundi\")")
    return index


def parse_region(text: str) -> tuple[str, str | None] | None:
    """``"FR"`` → ``("FR", None)``, ``"FR-57"`` → ``("FR", "57")``, ``"none"`` → ``None``.

    Raises ``ValueError`` naming what the ``holidays`` package knows when the region is unknown.
    """
    cleaned = text.strip()
    if cleaned.lower() == NO_HOLIDAYS:
        return None
    country, _, subdivision = cleaned.partition("-")
    country = country.upper()
    import holidays

    try:  # one country's table is cheap; listing every supported country imports them all (~0.3 s)
        table = holidays.country_holidays(country)
    except NotImplementedError:
        raise ValueError(
            f"{text!r} is not a known country for public holidays; write a country code like \"FR\", "
            f"a country and subdivision like \"FR-57\", or \"none\""
        ) from None
    if not subdivision:
        return country, None
    known = {str(code).upper(): str(code) for code in table.subdivisions}
    match = known.get(subdivision.upper())
    if match is None:
        raise ValueError(
            f"{text!r}: {country} has no subdivision {subdivision!r}; "
            f"known: {', '.join(sorted(known.values())) or 'none'}"
        )
    return country, match


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The working weekdays (0 = Monday) and the public holidays of ``region`` (None: no holidays)."""

    working_weekdays: frozenset[int]
    region: str | None = None
    _holidays: holidays.HolidayBase | None = field(init=False, repr=False, compare=False, default=None)
    # Answers already computed: a run asks about the same few days for every quote.
    _working: dict[date, bool] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.working_weekdays:
            raise ValueError("at least one day of the week must be a working day")
        if not self.working_weekdays <= set(range(7)):
            raise ValueError("working weekdays are numbers from 0 (Monday) to 6 (Sunday)")
        parsed = parse_region(self.region) if self.region is not None else None
        table = None
        if parsed is not None:
            import holidays

            country, subdivision = parsed
            languages = holidays.country_holidays(country).supported_languages
            table = holidays.country_holidays(
                country, subdiv=subdivision, language="en_US" if "en_US" in languages else None
            )
        object.__setattr__(self, "_holidays", table)

    @classmethod
    def every_day(cls) -> WorkingCalendar:
        """Every day is a working day: the behaviour before working days existed."""
        return cls(frozenset(range(7)))

    @classmethod
    def from_names(cls, weekdays: Iterable[str], region: str = NO_HOLIDAYS) -> WorkingCalendar:
        """From the configuration's words: ``["monday", ..., "friday"]`` and ``"FR-57"`` or ``"none"``."""
        cleaned = region.strip()
        days = frozenset(parse_weekday(name) for name in weekdays)
        return cls(days, None if cleaned.lower() == NO_HOLIDAYS else cleaned)

    def holiday_name(self, day: date) -> str | None:
        if self._holidays is None:
            return None
        name = self._holidays.get(day)
        return str(name) if name is not None else None

    def is_working_day(self, day: date) -> bool:
        known = self._working.get(day)
        if known is None:
            known = self._working[day] = day.weekday() in self.working_weekdays and self.holiday_name(day) is None
        return known

    def why_not_working(self, day: date) -> str | None:
        """``"Sunday is not a working day"``, ``"Thursday 14 May is a public holiday (Ascension Day)"``, or None."""
        if day.weekday() not in self.working_weekdays:
            return f"{WEEKDAY_NAMES[day.weekday()]} is not a working day"
        name = self.holiday_name(day)
        if name is not None:
            return f"{describe_day(day)} is a public holiday ({name})"
        return None

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        for offset in range(_LONGEST_BREAK_DAYS + 1):
            try:
                candidate = day + timedelta(days=offset)
            except OverflowError:  # the end of the calendar: nothing comes after
                return day
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within a year after {day}; check [auto] working_days and holidays")

    def break_start(self, day: date) -> date:
        """The first day of the break that ends on ``day``: ``day`` itself after a working day.

        A window that ended on or after this day is still open on ``day`` (it was extended over the break).
        """
        start = day
        for _ in range(_LONGEST_BREAK_DAYS):
            if start == date.min:
                return start
            before = start - timedelta(days=1)
            if self.is_working_day(before):
                return start
            start = before
        return start
