"""A live claim is never lost: the heartbeat renews its lease, SENDING begins only with its SMTP turn,
and only a claim whose heartbeat stopped is recovered (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from conftest import SAMPLE_NOW, MutableClock, product_settings
from dolirelance.config import Settings, load_config
from dolirelance.demo import write_demo_config
from dolirelance.ledger import Entry, FollowUpState, Ledger
from dolirelance.service import MassSelection, mass_follow_up, open_runtime, plan_mass
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink

INSTANCE = "test"
# Every open quote of the sample data that has an e-mail address and is not opted out.
MAILED_ROLES = ("expired", "about_to_expire", "not_yet_due", "two_contacts", "no_pdf")


def _claim(ledger: Ledger, key: str, quote_id: int) -> bool:
    return ledger.claim(
        key, quote_id=quote_id, quote_ref=f"PR{quote_id}", step=None, model="m", channel="email", run_id="r"
    ).won


def test_the_heartbeat_renews_only_the_claims_its_process_works_on(ledger_url: str) -> None:
    clock = MutableClock(SAMPLE_NOW)
    with (
        Ledger(ledger_url, instance=INSTANCE, lease_seconds=600, clock=clock, lease_clock=clock) as live,
        Ledger(ledger_url, instance=INSTANCE, lease_seconds=600, clock=clock, lease_clock=clock) as other,
    ):
        assert _claim(live, "manual:a", 1) and _claim(live, "manual:b", 2) and _claim(other, "manual:c", 3)
        live.mark_sending("manual:b")
        live.let_go("manual:a")  # e.g. the run gave up on it without a word to the ledger
        assert live.heartbeat.held == {"manual:b"}

        clock.advance(seconds=500)
        assert live.renew_leases(live.heartbeat.held) == 1
        assert other.renew_leases({"manual:b"}) == 0  # never another process's claim
        clock.advance(seconds=200)  # 700 s after the claims: only the renewed one still holds

        recovered = {e.key: e.state for e in other.recover_abandoned()}
        assert recovered == {"manual:a": FollowUpState.FAILED, "manual:c": FollowUpState.FAILED}
        sending = other.get("manual:b")
        assert sending is not None and sending.state is FollowUpState.SENDING  # live: not made uncertain

        live.mark_sent("manual:b", message_id="<b@x>", recipients="c@example.fr")
        live.mark_recorded("manual:b", event_id=7)
        assert live.heartbeat.held == frozenset()  # recorded: nothing left to keep alive


def test_a_claim_whose_heartbeat_stopped_is_recovered(ledger_url: str) -> None:
    """Real time on the database's clock: a 2 s lease outlives 4 s while its heartbeat beats, and runs
    out once the heartbeat stops (the process died)."""
    with Ledger(ledger_url, instance=INSTANCE, lease_seconds=2) as live, Ledger(ledger_url, instance=INSTANCE) as other:
        assert _claim(live, "manual:live", 1)
        live.mark_sending("manual:live")
        stop = threading.Event()
        recovered: list[Entry] = []
        for _ in range(40):  # 4 s, two lease lengths
            recovered += other.recover_abandoned()
            stop.wait(0.1)
        assert recovered == [] and live.heartbeat.beats >= 2

        live.heartbeat.stop()  # the process dies: no more beats, the row stays SENDING
        for _ in range(80):
            recovered += other.recover_abandoned()
            if recovered:
                break
            stop.wait(0.1)
        assert [(e.key, e.state) for e in recovered] == [("manual:live", FollowUpState.UNCERTAIN)]


async def test_a_slow_paced_mass_run_loses_no_claim_to_a_busy_neighbour(
    tmp_path: Path,
    ledger_url: str,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    """The issue's case scaled down: a 2 s lease, 2 s between two e-mails, 4 follow-ups at once, and another
    process recovering abandoned claims all the while (a web preview, a refused `remind`...)."""
    mailed_quotes = tuple(sample_data.refs[role] for role in MAILED_ROLES)
    settings = product_settings(tmp_path, smtp_sink.port, sample_data.api_keys["jdupont"])
    instance = settings.ledger.instance
    settings = settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"rate_limit_per_minute": 30}),
            "dolibarr": settings.dolibarr.model_copy(update={"max_concurrency": 4}),
        }
    )
    neighbour_found: list[Entry] = []
    done = threading.Event()

    def neighbour() -> None:
        with Ledger(ledger_url, instance=instance) as other:
            while not done.is_set():
                neighbour_found.extend(other.recover_abandoned())
                done.wait(0.05)

    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    with Ledger(ledger_url, instance=instance, lease_seconds=2, clock=clock) as ledger:
        watcher = threading.Thread(target=neighbour)
        watcher.start()
        try:
            async with open_runtime(settings, transport=transport, now=clock, ledger=ledger) as rt:
                items = await plan_mass(rt, MassSelection(refs=mailed_quotes), channel="email", force=True)
                report = await mass_follow_up(rt, items, channel="email", force=True)
        finally:
            done.set()
            watcher.join()
        entries = ledger.recent(100)

    assert neighbour_found == []
    assert Counter(o.outcome for o in report.outcomes) == {"recorded": len(mailed_quotes)}
    assert Counter(e.state for e in entries) == {FollowUpState.RECORDED: len(mailed_quotes)}
    sent = Counter(str(m.message["Message-ID"]) for m in smtp_sink.messages)
    assert len(sent) == len(mailed_quotes) and set(sent.values()) == {1}
    done_events = [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_EMAIL"]
    assert Counter(e.email_msgid for e in done_events) == sent  # each e-mail recorded once


def test_a_lease_shorter_than_the_settings_worst_case_is_a_config_error(tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, dolibarr_url="http://127.0.0.1:9/api/index.php", api_key="k", smtp_port=25)
    base = load_config(config)
    assert base.lease_seconds == 600  # computed: the default 600 s, the worst case being shorter
    slow = {
        "smtp": base.smtp.model_copy(update={"rate_limit_per_minute": 1, "timeout": 30.0, "max_retries": 2}),
        "dolibarr": base.dolibarr.model_copy(update={"max_concurrency": 11}),
    }
    data = base.model_dump()
    data.update({name: section.model_dump() for name, section in slow.items()})
    computed = Settings.model_validate(data)
    assert computed.lease_seconds == int(-(-computed.worst_smtp_wait() // 1)) > 600  # 11 × (3 × (60 + 30) + 1 + 3)

    data["ledger"] = {**data["ledger"], "lease_seconds": 600}
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(data)
    message = str(refused.value)
    assert "lease_seconds = 600 is shorter than" in message and "max_concurrency = 11" in message
    assert f"at least {computed.lease_seconds}" in message


def test_the_runtime_opens_the_ledger_with_the_settings_lease(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    settings = product_settings(tmp_path, smtp_sink.port, "k")
    from dolirelance.service.runtime import open_ledger

    with open_ledger(settings) as ledger:
        assert ledger.lease == timedelta(seconds=settings.lease_seconds)
        assert ledger.heartbeat.interval == pytest.approx(settings.lease_seconds / 3)


def test_a_read_as_recovered_shows_abandoned_claims_moved_on_and_moves_nothing(ledger_url: str) -> None:
    """What a preview reads: an abandoned claim as recovery would leave it (SENDING → UNCERTAIN, CLAIMED →
    FAILED), a live one as it is; the rows themselves stay until a sending path recovers them."""
    clock = MutableClock(SAMPLE_NOW)
    with (
        Ledger(ledger_url, instance=INSTANCE, clock=clock, lease_clock=clock) as dead,
        Ledger(ledger_url, instance=INSTANCE, clock=clock, lease_clock=clock) as reader,
    ):
        assert _claim(dead, "manual:sending", 1) and _claim(dead, "manual:claimed", 2)
        dead.mark_sending("manual:sending")
        dead.heartbeat.stop()
        assert {e.key: e.state for e in reader.entries_for_quotes([1, 2], as_recovered=True)} == {
            "manual:sending": FollowUpState.SENDING, "manual:claimed": FollowUpState.CLAIMED}  # leases still run

        clock.advance(seconds=601)  # past every lease: the claims are abandoned
        stored = reader.entries_for_quotes([1, 2])
        seen = {e.key: e for e in reader.entries_for_quotes([1, 2], as_recovered=True)}
        assert (seen["manual:sending"].state, seen["manual:claimed"].state) == (
            FollowUpState.UNCERTAIN, FollowUpState.FAILED)
        assert seen["manual:sending"].error == "the process died while talking to SMTP"
        assert reader.entries_for_quotes([1, 2]) == stored  # nothing moved
        assert {e.key: e.state for e in stored} == {
            "manual:sending": FollowUpState.SENDING, "manual:claimed": FollowUpState.CLAIMED}

        moved = {e.key: e.state for e in reader.recover_abandoned()}  # the sending paths' recovery agrees
        assert moved == {key: entry.state for key, entry in seen.items()}
