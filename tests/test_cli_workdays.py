"""Working days through the real entry point: `run`, `run --dry-run`, `explain --on`, and warnings on manual sends.

The sample clock is Saturday 28 November 2026; the configuration here is Monday to Friday with French holidays.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import MutableClock
from test_cli_followup import Cli, flat, writes

EVERY_DAY = 'working_days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]'
WORKING_WEEK = 'working_days = ["monday", "tuesday", "wednesday", "thursday", "friday"]'


class WorkdaysCli(Cli):
    """The demo's configuration with the default calendar (Monday to Friday, French public holidays)."""

    def config(self, login: str = "jdupont") -> Path:
        path = super().config(login)
        text = path.read_text(encoding="utf-8")
        assert EVERY_DAY in text and 'holidays = "none"' in text
        path.write_text(text.replace(EVERY_DAY, WORKING_WEEK).replace('holidays = "none"', 'holidays = "FR"'))
        return path


@pytest.fixture
def workdays_cli(cli: Cli) -> WorkdaysCli:
    return WorkdaysCli(cli.fake, cli.sample, cli.sink, cli.url, cli.tmp_path, cli.capsys, cli.monkeypatch)


def test_run_on_saturday_sends_nothing_and_says_when_it_catches_up(workdays_cli: WorkdaysCli) -> None:
    """`run --once` on a Saturday: exit 0, nothing decided, nothing written, and which run catches up."""
    result = workdays_cli("run", "--once")
    assert result.code == 0, result
    assert "Saturday is not a working day: nothing decided or sent; the run of Monday 30 November catches up" in (
        flat(result.out)
    )
    assert workdays_cli.sink.messages == [] and writes(workdays_cli.fake) == []


def test_dry_run_on_saturday_shows_mondays_decisions(workdays_cli: WorkdaysCli) -> None:
    """The dry run says the day sends nothing and each due quote goes out on Monday."""
    result = workdays_cli("run", "--once", "--dry-run")
    assert result.code == 0, result
    text = flat(result.out)
    assert "Saturday is not a working day: the run of this day sends nothing; shown: what Monday 30 November" in text
    expired = workdays_cli.sample.refs["expired"]
    assert f"{expired} due, goes out Monday 30 November: Saturday is not a working day; step 2" in text
    assert workdays_cli.sink.messages == [] and writes(workdays_cli.fake) == []


@pytest.mark.parametrize(
    ("day", "summary"),
    [
        pytest.param("2026-12-25", "due, goes out Monday 28 December: Friday 25 December is a public holiday "
                      "(Christmas Day); step 2", id="Christmas"),
        pytest.param("2026-11-30", "due: step 2", id="a Monday"),
        pytest.param("2031-06-01", "skipped: step 2 (2nde relance) could go out until", id="years later"),
        pytest.param("1999-01-01", "not due yet: step 1", id="years before"),
    ],
)  # fmt: skip
def test_explain_on_any_date(workdays_cli: WorkdaysCli, day: str, summary: str) -> None:
    """`explain --on` answers for any day, and names the day off and when the follow-up goes out."""
    result = workdays_cli("explain", workdays_cli.sample.refs["expired"], "--on", day)
    assert result.code == 0, result
    assert summary in flat(result.out)


def test_remind_on_saturday_warns_and_sends(workdays_cli: WorkdaysCli) -> None:
    """A person may follow up on a Saturday: a warning first, then the e-mail goes out."""
    result = workdays_cli("remind", workdays_cli.sample.refs["about_to_expire"], "--email")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith("warning: Saturday is not a working day: this follow-up is made today all the same")
    assert lines[1].startswith("✔ ") and len(workdays_cli.sink.messages) == 1


def test_mass_on_saturday_warns_before_sending(workdays_cli: WorkdaysCli) -> None:
    """The mass plan is followed by the warning, before anything is sent."""
    refs = workdays_cli.sample.refs
    result = workdays_cli("mass", refs["expired"], refs["two_contacts"], "--email")
    assert result.code == 0, result
    text = flat(result.out)
    warning = text.index("warning: Saturday is not a working day")
    assert warning < text.index("following up 2 quote(s)")
    assert len(workdays_cli.sink.messages) == 2


def test_no_warning_on_a_working_day(workdays_cli: WorkdaysCli, clock: MutableClock) -> None:
    """On a Monday there is nothing to warn about."""
    clock.advance(days=2)
    result = workdays_cli("remind", workdays_cli.sample.refs["about_to_expire"], "--email")
    assert result.code == 0, result
    assert "warning" not in result.out
