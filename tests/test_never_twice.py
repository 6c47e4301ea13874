"""Paths found in review where a customer could have been followed up twice, or wrongly recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from conftest import SAMPLE_TODAY, product_settings
from dolirelance.config import Settings
from dolirelance.domain import Channel
from dolirelance.errors import FollowUpError, FollowUpInProgress, LedgerError, RecentFollowUp
from dolirelance.ledger import FollowUpState
from dolirelance.policy import SkipReason
from dolirelance.scheduler import Daemon
from dolirelance.service import (
    AutoReport,
    MassSelection,
    Runtime,
    explain,
    follow_up,
    mass_follow_up,
    plan_mass,
    retry_unrecorded,
    run_auto,
)
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink


async def test_a_sent_but_unrecorded_follow_up_blocks_another_until_retry(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref = sample_data.refs["about_to_expire"]
    fake_dolibarr.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    first = await follow_up(runtime, ref, channel=Channel.EMAIL)
    assert first.outcome == "sent-not-recorded" and len(smtp_sink.messages) == 1

    with pytest.raises(FollowUpError, match="not recorded in Dolibarr yet"):
        await follow_up(runtime, ref, channel=Channel.EMAIL)
    (item,) = await plan_mass(runtime, MassSelection(refs=(ref,)), channel="email")
    assert item.problem is not None and "dolirelance retry" in item.problem
    report = await mass_follow_up(runtime, [item], channel="email")
    assert [o.outcome for o in report.outcomes] == ["refused"]
    assert len(smtp_sink.messages) == 1  # never a second e-mail

    assert [o.outcome for o in await retry_unrecorded(runtime)] == ["recorded"]
    with pytest.raises(RecentFollowUp, match="less than 3 day"):  # recorded now, but only just
        await follow_up(runtime, ref, channel=Channel.EMAIL)
    second = await follow_up(runtime, ref, channel=Channel.EMAIL, force=True)  # the person says so
    assert second.outcome == "recorded" and len(smtp_sink.messages) == 2


async def test_a_ledger_failure_after_the_mail_left_is_not_reported_as_failed(
    runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise LedgerError("database is locked")

    monkeypatch.setattr(runtime.ledger, "mark_sent", broken)
    outcome = await follow_up(runtime, sample_data.refs["about_to_expire"], channel=Channel.EMAIL)
    # done (never "failed"), but "recorded" only once the ledger says so (issue 25)
    assert outcome.outcome == "sent-not-recorded" and outcome.ok and len(smtp_sink.messages) == 1
    assert "the ledger could not note it" in (outcome.error or "")
    assert [e.code for e in fake_dolibarr.events.values() if e.code.startswith("AC_RELANCE")] == [
        "AC_RELANCE_EMAIL",
        "AC_RELANCE_TODO",
    ]
    entry = runtime.ledger.get(outcome.key or "")
    assert entry is not None and entry.state is FollowUpState.SENDING  # surfaced, never released
    with pytest.raises(FollowUpInProgress, match=r"in progress \(remind run remind-\w+ by user #\d+, sending since"):
        await follow_up(runtime, sample_data.refs["about_to_expire"], channel=Channel.EMAIL)


async def test_an_automatic_follow_up_recorded_later_keeps_its_next_date(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    fake_dolibarr.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    report = await run_auto(runtime)
    assert "sent-not-recorded" in [o.outcome for o in report.outcomes]
    assert not report.ok  # not recorded yet: the run says so (exit code 1)
    assert [o.outcome for o in await retry_unrecorded(runtime)] == ["recorded"]
    todos = [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_TODO"]
    expected = SAMPLE_TODAY + timedelta(days=runtime.settings.followup.next_delay)
    assert {fake_dolibarr.day_of_epoch(todo.datep) for todo in todos} == {expected}


async def test_a_renamed_opt_out_field_is_the_one_every_decision_reads(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: object
) -> None:
    import httpx

    from dolirelance.service import open_runtime
    from dolirelance.testing import create_app

    fake_dolibarr.add_extrafield("propal", "sansrelance", label="Ne pas relancer automatiquement")
    about = sample_data.quotes["about_to_expire"]
    fake_dolibarr.set_proposal_options(about, sansrelance="1")
    base = product_settings(tmp_path, smtp_sink.port, sample_data.api_keys["jdupont"])
    settings = base.model_copy(update={"followup": base.followup.model_copy(update={"opt_out_field": "sansrelance"})})
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with open_runtime(settings, transport=transport, now=clock) as rt:  # type: ignore[arg-type]
        decision, *_ = await explain(rt, str(about))
        report = await run_auto(rt, dry_run=True)
    planned = next(d for d in report.decisions if d.quote_id == about)
    assert decision.reason is SkipReason.OPT_OUT and planned.reason is SkipReason.OPT_OUT
    old_flagged = sample_data.quotes["opt_out"]  # flagged with "norelance" only: no longer an opt-out
    assert all(d.reason is not SkipReason.OPT_OUT for d in report.decisions if d.quote_id == old_flagged)


async def test_a_run_stopped_by_sigterm_is_run_again_at_restart(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: object
) -> None:
    import httpx

    from dolirelance.testing import create_app

    daemon = Daemon(
        settings, now=clock, runtime_options={"transport": httpx.ASGITransport(app=create_app(fake_dolibarr))}
    )  # type: ignore[arg-type]
    daemon.state.stopping = True  # SIGTERM arrived: the run sends nothing more and stops
    await daemon.run_once()
    assert daemon.state.last_run_day is None
    restarted = Daemon(settings, now=clock)  # type: ignore[arg-type]
    assert restarted.missed_today()


def test_uncertain_follow_ups_make_the_run_report_not_ok() -> None:
    report = AutoReport(today=SAMPLE_TODAY, dry_run=False, decisions=[])
    assert report.ok
    report.newly_uncertain = [object()]  # type: ignore[list-item]
    assert not report.ok
