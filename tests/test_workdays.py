"""The working-day calendar: weekends, public holidays by region, and the next working day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dolirelance.config import AutoSettings, parse_config
from dolirelance.errors import ConfigError
from dolirelance.policy import local_day
from dolirelance.workdays import WorkingCalendar, describe_day, parse_region, parse_weekday

D = date.fromisoformat
WEEK = ["monday", "tuesday", "wednesday", "thursday", "friday"]
FRANCE = WorkingCalendar.from_names(WEEK, "FR")
MOSELLE = WorkingCalendar.from_names(WEEK, "FR-57")
NO_HOLIDAYS = WorkingCalendar.from_names(WEEK, "none")
PARIS = ZoneInfo("Europe/Paris")


# fmt: off
DAYS = [
    pytest.param(FRANCE, "2026-12-04", True, "2026-12-04", None, id="a Friday"),
    pytest.param(FRANCE, "2026-12-05", False, "2026-12-07", "Saturday is not a working day", id="Saturday"),
    pytest.param(FRANCE, "2026-12-06", False, "2026-12-07", "Sunday is not a working day", id="Sunday"),
    pytest.param(FRANCE, "2026-12-25", False, "2026-12-28",
                 "Friday 25 December is a public holiday (Christmas Day)", id="Christmas on a Friday"),
    pytest.param(FRANCE, "2026-07-14", False, "2026-07-15",
                 "Tuesday 14 July is a public holiday (National Day)", id="14 July"),
    pytest.param(FRANCE, "2026-05-14", False, "2026-05-15",
                 "Thursday 14 May is a public holiday (Ascension Day)", id="Ascension Thursday"),
    pytest.param(FRANCE, "2026-05-15", True, "2026-05-15", None, id="the Ascension bridge Friday works"),
    pytest.param(FRANCE, "2026-04-03", True, "2026-04-03", None, id="Good Friday works in Paris"),
    pytest.param(MOSELLE, "2026-04-03", False, "2026-04-07",
                 "Friday 3 April is a public holiday (Good Friday)", id="Good Friday off in Moselle"),
    pytest.param(FRANCE, "2025-12-26", True, "2025-12-26", None, id="26 December works in Paris"),
    pytest.param(MOSELLE, "2025-12-26", False, "2025-12-29",
                 "Friday 26 December is a public holiday (Saint Stephen's Day)", id="26 December off in Moselle"),
    pytest.param(NO_HOLIDAYS, "2026-12-25", True, "2026-12-25", None, id="holidays none"),
    pytest.param(WorkingCalendar.every_day(), "2026-12-06", True, "2026-12-06", None, id="every day"),
    pytest.param(WorkingCalendar.from_names([*WEEK, "saturday"], "FR"), "2026-12-05", True, "2026-12-05", None,
                 id="Saturday as a working day"),
]
# fmt: on


@pytest.mark.parametrize(("calendar", "day", "working", "next_working", "why"), DAYS)
def test_working_days(calendar: WorkingCalendar, day: str, working: bool, next_working: str, why: str | None) -> None:
    """Weekends and the region's public holidays are days off; the next working day skips them all."""
    assert calendar.is_working_day(D(day)) is working
    assert calendar.next_working_day(D(day)) == D(next_working)
    assert calendar.why_not_working(D(day)) == why


@pytest.mark.parametrize(
    ("day", "start"),
    [
        pytest.param("2026-12-08", "2026-12-08", id="after a working day"),
        pytest.param("2026-12-07", "2026-12-05", id="Monday after a weekend"),
        pytest.param("2026-12-28", "2026-12-25", id="Monday after Christmas Friday"),
        pytest.param("2026-05-15", "2026-05-14", id="Friday after Ascension"),
    ],
)
def test_break_start(day: str, start: str) -> None:
    """The break before a working day starts the day after the previous working day."""
    assert FRANCE.break_start(D(day)) == D(start)


# A DST weekend: the local day (Europe/Paris) decides, never the UTC one.
@pytest.mark.parametrize(
    ("instant", "local", "working"),
    [
        pytest.param(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "2026-03-29", False, id="spring: Sunday 00:30 CET"),
        pytest.param(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), "2026-03-30", True, id="spring: Monday 00:30 CEST"),
        pytest.param(datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "2026-10-25", False, id="autumn: Sunday 00:30 CEST"),
        pytest.param(datetime(2026, 10, 25, 23, 30, tzinfo=UTC), "2026-10-26", True, id="autumn: Monday 00:30 CET"),
        pytest.param(datetime(2026, 10, 25, 22, 59, tzinfo=UTC), "2026-10-25", False, id="autumn: Sunday 23:59 CET"),
    ],
)
def test_dst_weekend_days_are_local(instant: datetime, local: str, working: bool) -> None:
    """Around a change of clocks the instant's day in Paris says whether it is a working day."""
    assert local_day(instant, PARIS) == D(local)
    assert FRANCE.is_working_day(local_day(instant, PARIS)) is working


def test_describe_day_ignores_the_machine_locale() -> None:
    """Days are written in English whatever the machine's locale."""
    assert describe_day(D("2026-12-07")) == "Monday 7 December"
    assert describe_day(D("2027-01-01")) == "Friday 1 January"


def test_parsing_weekdays_and_regions() -> None:
    """Weekdays in English, short or in French; regions as country or country-subdivision or none."""
    assert [parse_weekday(name) for name in ("Monday", "tue", "dimanche")] == [0, 1, 6]
    assert parse_region("fr") == ("FR", None)
    assert parse_region("FR-57") == ("FR", "57")
    assert parse_region("None") is None
    with pytest.raises(ValueError, match="not a day of the week"):
        parse_weekday("funday")
    with pytest.raises(ValueError, match="not a known country"):
        parse_region("XX")
    with pytest.raises(ValueError, match="no subdivision '99'"):
        parse_region("FR-99")
    with pytest.raises(ValueError, match="at least one"):
        WorkingCalendar(frozenset())


def test_far_dates_do_not_crash() -> None:
    """The calendar answers at the very ends of the date range too."""
    assert FRANCE.next_working_day(date.max) == date.max
    assert FRANCE.break_start(D("0001-01-01")) == D("0001-01-01")


def test_config_defaults_and_values() -> None:
    """[auto] defaults to Monday to Friday with French holidays; other values are read as written."""
    auto = AutoSettings()
    assert auto.working_days == WEEK and auto.holidays == "FR"
    custom = AutoSettings.model_validate({"working_days": ["lundi", "mardi"], "holidays": "FR-57"})
    calendar = WorkingCalendar.from_names(custom.working_days, custom.holidays)
    assert calendar.working_weekdays == frozenset({0, 1}) and calendar.region == "FR-57"


CONFIG = """
[dolibarr]
url = "https://erp.example.fr"
api_key = "k"

[smtp]
sender = "devis@example.fr"

[[models]]
name = "1ère relance"
email_subject = "s"
email_text = "t"
letter_subject = "s"
letter_text = "t"

[auto]
working_days = {days}
holidays = {region}
"""


@pytest.mark.parametrize(
    ("days", "region", "key", "message"),
    [
        pytest.param('["monday", "funday"]', '"FR"', "auto.working_days", "'funday' is not a day", id="bad day"),
        pytest.param("[]", '"FR"', "auto.working_days", "at least one working day", id="no day"),
        pytest.param('["monday", "lundi"]', '"FR"', "auto.working_days", "each day once", id="day twice"),
        pytest.param('["monday"]', '"Mars"', "auto.holidays", "not a known country", id="bad country"),
        pytest.param('["monday"]', '"FR-99"', "auto.holidays", "no subdivision", id="bad subdivision"),
    ],
)
def test_config_errors_name_the_line(days: str, region: str, key: str, message: str) -> None:
    """A bad working day or holiday region is a config error with its line and what to write."""
    text = CONFIG.format(days=days, region=region)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="dolirelance.toml", base_dir=Path("."))
    problem = caught.value.problems[0]
    assert problem.key_path == key and message in problem.message
    expected_line = next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(key.split(".")[1]))
    assert problem.line == expected_line
