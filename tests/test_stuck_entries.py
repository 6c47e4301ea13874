"""Entries that cannot move on by themselves: a quote deleted in Dolibarr, an entry a person gives up on.
Each ends closed with a note, never failing every run, never done again (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from conftest import SAMPLE_NOW, MutableClock
from dolirelance.config import Settings
from dolirelance.domain import Channel
from dolirelance.errors import LedgerError
from dolirelance.ledger import FollowUpState, Ledger
from dolirelance.service import Runtime, follow_up, open_runtime, retry_unrecorded, run_auto
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink
from in_process_cli import DemoCli

INSTANCE = "test"


def _claim(ledger: Ledger, key: str, quote_id: int, channel: str = "email") -> bool:
    return ledger.claim(
        key, quote_id=quote_id, quote_ref=f"PR{quote_id}", step=None, model="m", channel=channel, run_id="r"
    ).won


def test_a_person_abandons_a_stuck_entry_once_no_process_works_on_it(ledger_url: str) -> None:
    clock = MutableClock(SAMPLE_NOW)
    with (
        Ledger(ledger_url, instance=INSTANCE, clock=clock, lease_clock=clock) as sender,
        Ledger(ledger_url, instance=INSTANCE, clock=clock, lease_clock=clock) as person,
    ):
        assert _claim(sender, "manual:sent", 1)
        sender.mark_sending("manual:sent")
        sender.mark_sent("manual:sent", message_id="<m@x>", recipients="c@example.fr")
        with pytest.raises(LedgerError, match="still worked on by"):  # its sender is alive
            person.abandon("manual:sent", by="claire", reason="gave up")

        clock.advance(seconds=601)  # the sender died: its heartbeat stopped, its lease ran out
        closed = person.abandon("manual:sent", by="claire", reason="gave up")
        assert (closed.state, closed.resolved_by, closed.error) == (FollowUpState.ABANDONED, "claire", "gave up")
        assert person.to_record() == [] and person.holder(1) is None  # retry leaves it; the quote is free
        assert not _claim(person, "manual:sent", 1)  # never done again under its key
        assert _claim(person, "manual:next", 1)

        assert _claim(sender, "manual:uncertain", 2)
        sender.mark_sending("manual:uncertain")
        sender.mark_uncertain("manual:uncertain", "no reply after DATA")
        assert person.abandon("manual:uncertain", by="claire", reason="x").state is FollowUpState.ABANDONED
        with pytest.raises(LedgerError, match="is abandoned: nothing to abandon"):
            person.abandon("manual:uncertain", by="claire", reason="again")
        with pytest.raises(LedgerError, match="no ledger entry"):
            person.abandon("manual:nothing", by="claire", reason="x")


@pytest.fixture
async def runtime_on(
    settings: Settings, fake_dolibarr: FakeDolibarr, clock: MutableClock, ledger_url: str
) -> AsyncIterator[Runtime]:
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    with Ledger(ledger_url, instance=settings.ledger.instance, clock=clock) as ledger:
        async with open_runtime(settings, transport=transport, now=clock, ledger=ledger) as rt:
            yield rt


async def test_a_follow_up_whose_quote_was_deleted_is_closed_not_retried_every_day(
    runtime_on: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    rt = runtime_on
    quote_id = sample_data.quotes["about_to_expire"]
    fake_dolibarr.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    sent = await follow_up(rt, sample_data.refs["about_to_expire"], channel=Channel.EMAIL)
    assert sent.outcome == "sent-not-recorded" and len(smtp_sink.messages) == 1
    fake_dolibarr.delete_proposal(quote_id)  # someone deletes the quote in Dolibarr

    (closed,) = await retry_unrecorded(rt)
    assert closed.outcome == "closed" and closed.ok and "is gone from Dolibarr" in (closed.error or "")
    entry = rt.ledger.get(sent.key or "")
    assert entry is not None and entry.state is FollowUpState.ABANDONED and "gone" in (entry.error or "")
    assert await retry_unrecorded(rt) == []  # nothing left to fail on

    clock.advance(days=1)
    report = await run_auto(rt)  # `run --once` the next day: nothing about the closed entry fails it
    assert report.recorded_later == [] and report.ok, report
    assert not [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_EMAIL" and e.fk_element == quote_id]


def test_status_lists_letters_in_no_print_file_and_letters_print_makes_it(
    cli: DemoCli, sample_data: SampleData, tmp_path: Path
) -> None:
    ref = sample_data.refs["no_email"]
    done = cli("remind", ref, "--letter")  # filed and recorded; no local copy asked for
    assert done.code == 0, done.text
    status = cli("status")
    assert "1 letter(s) filed in Dolibarr but in no print file" in status.flat and ref in status.flat
    assert "`dolirelance letters print` makes one" in status.flat

    printed = cli("letters", "print", "--out", str(tmp_path / "print"))
    assert printed.code == 0, printed.text
    (pdf,) = (tmp_path / "print").glob("relances-*.pdf")
    assert "1 letter(s) in" in printed.flat and ref in printed.flat
    assert f"Relance de notre proposition {ref}" in PdfReader(pdf).pages[0].extract_text()
    assert "no print file" not in cli("status").flat
    assert "nothing to print" in cli("letters", "print").flat


def test_ledger_resolve_abandon_closes_a_sent_entry_for_good(
    cli: DemoCli, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    ref = sample_data.refs["about_to_expire"]
    fake_dolibarr.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    sent = cli("remind", ref, "--email")
    assert sent.code == 1 and "not recorded yet" in sent.flat
    match = re.search(r"sent, not recorded (manual:[0-9a-f-]+)", cli("status").flat)
    assert match is not None
    key = match.group(1)
    assert cli("ledger", "resolve", key).code == 2  # a usage error: say what happened, one of the three
    closed = cli("ledger", "resolve", key, "--abandon")
    assert closed.code == 0 and "closed: dolirelance will not send, file or record it" in closed.flat
    after = cli("status")
    assert f"closed unrecorded {key}" in after.flat and "sent, not recorded" not in after.flat
    assert "nothing to record" in cli("retry").flat
    assert cli("remind", ref, "--email", "--force").code == 0  # the quote is free again
