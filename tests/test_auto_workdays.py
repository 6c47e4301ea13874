"""Automatic runs on working days only, with the fake Dolibarr, a real SMTP sink, SQLite and the injected clock.

The sample clock starts on Saturday 28 November 2026 (09:30 in Paris); the calendar here is
Monday to Friday with French public holidays (the configuration's default).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from conftest import MutableClock
from dolirelance.config import Settings
from dolirelance.domain import Channel
from dolirelance.policy import DecisionKind, SkipReason
from dolirelance.scheduler import Daemon
from dolirelance.service import Runtime, day_off, explain, follow_up, open_runtime, run_auto
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.workdays import MONDAY_TO_FRIDAY, WorkingCalendar
from test_serve import _health_once_run, running_daemon

DUE_ON_SATURDAY = {"expired": 2, "about_to_expire": 1, "contact_without_email": 2}
FRANCE = WorkingCalendar.from_names(MONDAY_TO_FRIDAY, "FR")


def at_paris(day: date, hour: int = 9, minute: int = 30) -> datetime:
    """``day`` at ``hour:minute`` in Paris, as a UTC instant (winter time: UTC+1; summer: UTC+2)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


def working_day_settings(settings: Settings) -> Settings:
    auto = settings.auto.model_copy(update={"working_days": list(MONDAY_TO_FRIDAY), "holidays": "FR"})
    return settings.model_copy(update={"auto": auto})


@pytest.fixture
async def workdays_runtime(
    settings: Settings, fake_dolibarr: FakeDolibarr, clock: MutableClock
) -> AsyncIterator[Runtime]:
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with open_runtime(working_day_settings(settings), transport=transport, now=clock) as rt:
        yield rt


async def test_a_run_on_saturday_decides_and_sends_nothing_and_monday_catches_up(
    workdays_runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Saturday: no decision, no claim, no e-mail, a log line; Monday's run sends what was due."""
    events_before = len(fake_dolibarr.events)
    with caplog.at_level(logging.INFO, logger="dolirelance"):
        saturday = await run_auto(workdays_runtime)
    assert saturday.ok and saturday.day_off == "Saturday is not a working day"
    assert saturday.next_working_day == date(2026, 11, 30)
    assert saturday.decisions == [] and saturday.outcomes == []
    assert smtp_sink.messages == [] and len(fake_dolibarr.events) == events_before
    assert workdays_runtime.ledger.entries_for_quotes(list(sample_data.quotes.values())) == []
    assert any(
        "Saturday is not a working day; nothing is decided or sent; the run of Monday 30 November catches up"
        in record.getMessage()
        for record in caplog.records
    )

    clock.set(at_paris(date(2026, 11, 29)))
    assert (await run_auto(workdays_runtime)).day_off == "Sunday is not a working day"
    assert smtp_sink.messages == []

    clock.set(at_paris(date(2026, 11, 30)))
    monday = await run_auto(workdays_runtime)
    assert monday.ok and monday.day_off is None
    assert sorted(o.quote_ref for o in monday.sent) == sorted(sample_data.refs[role] for role in DUE_ON_SATURDAY)
    assert len(smtp_sink.messages) == len(DUE_ON_SATURDAY)


async def test_dry_run_and_explain_on_a_weekend_say_when_it_goes_out(
    workdays_runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """The dry run on a day off shows the next working day's decisions; explain works on any date."""
    dry = await run_auto(workdays_runtime, dry_run=True)
    assert dry.day_off == "Saturday is not a working day" and dry.next_working_day == date(2026, 11, 30)
    due = {d.quote_id: d for d in dry.due}
    assert set(due) == {sample_data.quotes[role] for role in DUE_ON_SATURDAY}
    for decision in due.values():
        assert decision.summary.startswith("due, goes out Monday 30 November: Saturday is not a working day; ")
        assert decision.goes_out_on == date(2026, 11, 30)
    assert smtp_sink.messages == []

    decision, *_ = await explain(workdays_runtime, sample_data.refs["expired"], on=date(2026, 11, 29))
    assert decision.summary.startswith("due, goes out Monday 30 November: Sunday is not a working day; step 2")
    decision, *_ = await explain(workdays_runtime, sample_data.refs["expired"], on=date(2026, 12, 25))
    assert decision.summary.startswith(
        "due, goes out Monday 28 December: Friday 25 December is a public holiday (Christmas Day); step 2"
    )
    # Long after every window, and long before: still an answer, never an error.
    late, *_ = await explain(workdays_runtime, sample_data.refs["expired"], on=date(2030, 1, 1))
    assert late.reason is SkipReason.WINDOW_PASSED
    early, *_ = await explain(workdays_runtime, sample_data.refs["expired"], on=date(2020, 1, 1))
    assert early.kind is DecisionKind.NOT_DUE


async def test_a_window_closing_over_christmas_is_extended_to_the_monday(
    workdays_runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """Step 2 of ``expired`` may go out until Sunday 27 December; after Christmas Friday it still goes on Monday."""
    clock.set(at_paris(date(2026, 12, 28)))
    report = await run_auto(workdays_runtime)
    sent = {o.quote_ref: o for o in report.sent}
    assert sample_data.refs["expired"] in sent and sent[sample_data.refs["expired"]].step == 2
    expired = next(d for d in report.decisions if d.quote_id == sample_data.quotes["expired"])
    assert expired.window_end == date(2026, 12, 28)

    clock.set(at_paris(date(2026, 12, 29)))
    assert sample_data.refs["expired"] not in {o.quote_ref for o in (await run_auto(workdays_runtime)).sent}


async def test_manual_follow_ups_are_not_restricted_but_the_day_off_is_known(
    workdays_runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """A person may send on a Saturday; ``day_off`` gives the front ends the reason to warn."""
    assert day_off(workdays_runtime) == "Saturday is not a working day"
    assert day_off(workdays_runtime, date(2026, 11, 30)) is None
    outcome = await follow_up(workdays_runtime, sample_data.refs["two_contacts"], channel=Channel.EMAIL)
    assert outcome.ok and len(smtp_sink.messages) == 1


async def test_the_daemon_says_so_in_its_log_and_health(
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On a day off the daemon's run counts as done (no retry at restart) and health names the day off."""
    options: dict[str, Any] = {"transport": httpx.ASGITransport(app=create_app(fake_dolibarr))}
    daemon = Daemon(working_day_settings(settings), now=clock, runtime_options=options)
    with caplog.at_level(logging.INFO, logger="dolirelance"):
        report = await daemon.run_once()
    assert report is not None and report.ok and smtp_sink.messages == []
    assert daemon.state.last_run["day_off"] == "Saturday is not a working day"
    assert daemon.state.last_run["next_working_day"] == "2026-11-30"
    assert daemon.state.last_run["outcome"] == "ok" and not daemon.missed_today()
    assert any("nothing is decided or sent" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("instant", "day_off"),
    [
        pytest.param(datetime(2026, 10, 25, 22, 30, tzinfo=UTC), "Sunday is not a working day", id="Sunday 23:30 CET"),
        pytest.param(datetime(2026, 10, 25, 23, 30, tzinfo=UTC), None, id="Monday 00:30 CET, Sunday in UTC"),
        pytest.param(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "Sunday is not a working day", id="Sunday 00:30 CET"),
        pytest.param(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), None, id="Monday 00:30 CEST, Sunday in UTC"),
    ],
)
async def test_runs_around_a_dst_weekend_follow_the_paris_day(
    workdays_runtime: Runtime,
    sample_data: SampleData,
    clock: MutableClock,
    instant: datetime,
    day_off: str | None,
) -> None:
    """Around a change of clocks, the run's day is the day in Paris, so is whether it may send."""
    clock.set(instant)
    report = await run_auto(workdays_runtime, dry_run=True)
    assert report.day_off == day_off
    assert report.today.weekday() == (6 if day_off else 0)


async def test_the_daemon_on_a_dst_sunday_shows_the_day_off_in_health(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """The catch-up run of Sunday 25 October 2026 (clocks went back that night) sends nothing and says why."""
    clock.set(at_paris(date(2026, 10, 25)))
    async with running_daemon(working_day_settings(settings), fake_dolibarr, clock) as (client, _task, _stop):
        health = await _health_once_run(client)
    assert health["status"] == "ok"
    last = health["last_run"]
    assert last["day"] == "2026-10-25" and last["outcome"] == "ok" and last["sent"] == 0
    assert last["day_off"] == "Sunday is not a working day" and last["next_working_day"] == "2026-10-26"
    assert health["next_run"] == "2026-10-26T08:30:00+01:00"
    assert smtp_sink.messages == []


def _new_quote(fake: FakeDolibarr, sample: SampleData, end: date, index: int) -> tuple[int, str]:
    """An open quote of the garage, valid until ``end``, with its PDF and a CUSTOMER contact."""
    user = next(u for u in fake.users.values() if u.login == "jdupont")
    proposal = fake.add_proposal(
        sample.customers["garage"], date=end - timedelta(days=30), duree_validite=30, user_id=user.id
    )
    fake.add_proposal_line(proposal.id, description=f"Installation {index}", qty=1, subprice="1000", tva_tx=20)
    fake.link_contact(proposal.id, sample.contacts["sophie_dupont"], "CUSTOMER", "external")
    fake.validate_proposal(proposal.id, user_id=user.id)
    fake.build_proposal_pdf(proposal.id, user_id=user.id)
    record = fake.proposals[proposal.id]
    return record.id, record.ref


async def test_a_year_of_daily_runs_sends_every_step_on_its_first_working_day(
    workdays_runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    """A run every day for a year: nothing leaves on a day off, nothing is lost, nothing goes out late."""
    first_end = date(2026, 12, 10)
    # Every 9 days: the end of validity walks through every weekday, Christmas, Easter, May and 14 July.
    ends = [first_end + timedelta(days=9 * n) for n in range(41)]
    created = [_new_quote(fake_dolibarr, sample_data, end, n) for n, end in enumerate(ends)]
    # The end of validity as Dolibarr gives it (datep + 30 × 86400 s falls on the eve across a change of clocks).
    quotes: dict[str, date] = {}
    for quote_id, ref in created:
        end_of_validity = (await workdays_runtime.dolibarr.get_quote(quote_id)).end_of_validity
        assert end_of_validity is not None
        quotes[ref] = end_of_validity
    sent_on: dict[tuple[str, int], date] = {}
    day = date(2026, 11, 28)
    last_day = ends[-1] + timedelta(days=45)
    while day <= last_day:
        clock.set(at_paris(day, 8, 30))
        report = await run_auto(workdays_runtime)
        assert report.ok, report.error
        for outcome in report.sent:
            if outcome.quote_ref in quotes:
                assert outcome.step is not None
                assert (outcome.quote_ref, outcome.step) not in sent_on, "sent twice"
                sent_on[outcome.quote_ref, outcome.step] = day
        day += timedelta(days=1)

    expected = {
        (ref, step): FRANCE.next_working_day(end + timedelta(days=offset))
        for ref, end in quotes.items()
        for step, offset in ((1, -5), (2, 10))
    }
    assert sent_on == expected
    assert all(FRANCE.is_working_day(day) for day in sent_on.values())
    mine = [m for m in smtp_sink.messages if any(ref in str(m.message["Subject"]) for ref in quotes)]
    assert len(mine) == len(expected)
