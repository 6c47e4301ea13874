"""The ledger: claims, transitions, recovery, and races between processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from sqlalchemy import create_engine

from conftest import pg_schema_url
from dolirelance.errors import LedgerError
from dolirelance.ledger import FollowUpState, Ledger, auto_key, default_ledger_path, manual_key

INSTANCE = "test"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema_url() as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(ledger_url: str, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger(ledger_url, instance=INSTANCE, lease_seconds=600, clock=clock, lease_clock=clock) as opened:
        yield opened


@contextmanager
def another_process(ledger: Ledger, clock: FakeClock, instance: str = INSTANCE) -> Iterator[Ledger]:
    """A second process on ``ledger``'s database (another owner), on the same clock; closed after."""
    other = Ledger(ledger.url, instance=instance, clock=clock, lease_clock=clock)
    try:
        yield other
    finally:
        other.close()


def claim(ledger: Ledger, key: str, *, quote_id: int | None = None, step: int | None = 1, **extra: Any) -> bool:
    if quote_id is None:  # auto keys name their quote; one follow-up in flight per quote
        quote_id = int(key.split(":")[2]) if key.startswith("auto:") else 7
    return ledger.claim(
        key,
        quote_id=quote_id,
        quote_ref=f"PR2611-{quote_id:04d}",
        step=step,
        model="1ère relance",
        channel="email",
        run_id="run-1",
        **extra,
    )


def test_happy_path(ledger: Ledger, clock: FakeClock) -> None:
    key = ledger.auto_key(7, 1)
    assert key == "auto:test:7:step1"
    assert claim(ledger, key, note="n", user_id=4, next_date=date(2026, 12, 18))
    entry = ledger.get(key)
    assert entry is not None and entry.state is FollowUpState.CLAIMED
    assert entry.owner == ledger.owner and entry.lease_until == clock.now + timedelta(seconds=600)
    assert (entry.note, entry.user_id, entry.next_date, entry.automatic) == ("n", 4, date(2026, 12, 18), True)
    assert entry.created_at.tzinfo is not None

    assert ledger.mark_sending(key).state is FollowUpState.SENDING
    clock.advance(seconds=2)
    sent = ledger.mark_sent(key, message_id="<m1@example.fr>", recipients=["a@example.fr", "b@example.fr"])
    assert sent.state is FollowUpState.SENT
    assert (sent.message_id, sent.recipients, sent.sent_at) == (
        "<m1@example.fr>",
        "a@example.fr, b@example.fr",
        clock.now,
    )
    assert [e.key for e in ledger.to_record()] == [key]

    recorded = ledger.mark_recorded(key, event_id=501, todo_event_id=502, file_name=None)
    assert recorded.state is FollowUpState.RECORDED
    assert (recorded.event_id, recorded.todo_event_id, recorded.recorded_at) == (501, 502, clock.now)
    assert ledger.to_record() == []
    assert ledger.counts()[FollowUpState.RECORDED] == 1
    assert not claim(ledger, key)


def test_the_facts_to_record_are_kept_at_sending_and_read_back_by_retry(ledger: Ledger) -> None:
    """What the recorder writes in Dolibarr is known before the message leaves: kept with SENDING, unchanged
    by SENT, listed by to_record (``retry`` records from it, nothing rebuilt)."""
    key = manual_key()
    assert claim(ledger, key, step=None)
    claimed = ledger.get(key)
    assert claimed is not None and claimed.facts is None
    facts = json.dumps({"key": key, "model": "1ère relance", "sales_rep_id": 4})
    assert ledger.mark_sending(key, facts=facts).facts == facts
    ledger.mark_sent(key, message_id="<m2@example.fr>", recipients="a@example.fr")
    assert [(e.key, e.facts) for e in ledger.to_record()] == [(key, facts)]


@pytest.mark.parametrize(
    "state_to_reach",
    [
        FollowUpState.CLAIMED,
        FollowUpState.SENDING,
        FollowUpState.SENT,
        FollowUpState.RECORDED,
        FollowUpState.UNCERTAIN,
        FollowUpState.RESOLVED_SENT,
    ],
)
def test_claim_is_refused_while_taken(ledger: Ledger, clock: FakeClock, state_to_reach: FollowUpState) -> None:
    key = ledger.auto_key(7, 1)
    reach(ledger, clock, key, state_to_reach)
    assert ledger.get(key) is not None
    entry = ledger.get(key)
    assert entry is not None and entry.state is state_to_reach
    assert not claim(ledger, key)
    assert not claim(Ledger(ledger.url, instance=INSTANCE, clock=clock, lease_clock=clock), key)


def reach(ledger: Ledger, clock: FakeClock, key: str, state: FollowUpState) -> None:
    assert claim(ledger, key)
    if state is FollowUpState.CLAIMED:
        return
    ledger.mark_sending(key)
    if state in (FollowUpState.UNCERTAIN, FollowUpState.RESOLVED_SENT):
        clock.advance(seconds=601)
        assert [e.key for e in ledger.recover_abandoned()] == [key]
        if state is FollowUpState.RESOLVED_SENT:
            ledger.resolve(key, sent=True, by="julie")
        return
    if state is FollowUpState.SENDING:
        return
    ledger.mark_sent(key, message_id="<m@x>", recipients="a@example.fr")
    if state is FollowUpState.RECORDED:
        ledger.mark_recorded(key, event_id=1)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (FollowUpState.CLAIMED, "sent"),
        (FollowUpState.CLAIMED, "recorded"),
        (FollowUpState.SENDING, "sending"),
        (FollowUpState.SENDING, "recorded"),
        (FollowUpState.SENT, "sending"),
        (FollowUpState.SENT, "failed"),
        (FollowUpState.RECORDED, "sent"),
        (FollowUpState.RECORDED, "failed"),
        (FollowUpState.UNCERTAIN, "sent"),
        (FollowUpState.UNCERTAIN, "recorded"),
    ],
)
def test_illegal_transitions(ledger: Ledger, clock: FakeClock, state: FollowUpState, action: str) -> None:
    key = ledger.auto_key(7, 1)
    reach(ledger, clock, key, state)
    with pytest.raises(LedgerError, match=f"is {state.value}, not"):
        apply(ledger, key, action)
    entry = ledger.get(key)
    assert entry is not None and entry.state is state


def apply(ledger: Ledger, key: str, action: str) -> None:
    if action == "sending":
        ledger.mark_sending(key)
    elif action == "sent":
        ledger.mark_sent(key, message_id="<m@x>", recipients="a@example.fr")
    elif action == "recorded":
        ledger.mark_recorded(key, event_id=1)
    elif action == "failed":
        ledger.mark_failed(key, "refused")


def test_unknown_key_and_foreign_owner(ledger: Ledger, clock: FakeClock) -> None:
    with pytest.raises(LedgerError, match="no ledger entry"):
        ledger.mark_sending("auto:test:1:step1")
    key = ledger.auto_key(7, 1)
    assert claim(ledger, key)
    with another_process(ledger, clock) as other, pytest.raises(LedgerError, match="belongs to"):
        other.mark_sending(key)


def test_failed_claim_is_taken_over(ledger: Ledger, clock: FakeClock) -> None:
    key = ledger.auto_key(7, 1)
    assert claim(ledger, key)
    ledger.mark_sending(key)
    failed = ledger.mark_failed(key, "550 mailbox unavailable")
    assert (failed.state, failed.error) == (FollowUpState.FAILED, "550 mailbox unavailable")
    with another_process(ledger, clock) as other:
        assert claim(other, key)
        entry = other.get(key)
        assert entry is not None
        assert (entry.state, entry.owner, entry.error) == (FollowUpState.CLAIMED, other.owner, None)
        assert not claim(ledger, key)
        with pytest.raises(LedgerError, match="belongs to"):
            ledger.mark_sending(key)


def test_expired_claim_is_taken_over_and_the_late_owner_is_refused(ledger: Ledger, clock: FakeClock) -> None:
    key = ledger.auto_key(7, 1)
    assert claim(ledger, key)
    with another_process(ledger, clock) as other:
        clock.advance(seconds=599)
        assert not claim(other, key)
        clock.advance(seconds=2)
        assert claim(other, key)
        with pytest.raises(LedgerError, match="belongs to"):
            ledger.mark_sending(key)


def test_recover_abandoned(ledger: Ledger, clock: FakeClock) -> None:
    sending, claimed, fresh, sent = (ledger.auto_key(quote_id, 1) for quote_id in (1, 2, 3, 4))
    for key in (sending, claimed, sent):
        assert claim(ledger, key)
    ledger.mark_sending(sending)
    ledger.mark_sending(sent)
    ledger.mark_sent(sent, message_id="<m@x>", recipients="a@example.fr")
    clock.advance(seconds=300)
    assert claim(ledger, fresh)
    assert ledger.recover_abandoned() == []

    clock.advance(seconds=301)
    recovered = {entry.key: entry for entry in ledger.recover_abandoned()}
    assert set(recovered) == {sending, claimed}
    assert recovered[sending].state is FollowUpState.UNCERTAIN
    assert recovered[claimed].state is FollowUpState.FAILED
    assert recovered[claimed].error == "abandoned before sending"
    assert [e.key for e in ledger.uncertain()] == [sending]
    assert [e.key for e in ledger.to_record()] == [sent]  # SENT is never turned uncertain
    assert ledger.recover_abandoned() == []

    # Never re-sent by itself: an uncertain key cannot be claimed, a failed one can.
    assert not claim(ledger, sending)
    assert claim(ledger, claimed)

    counts = ledger.counts()
    assert counts[FollowUpState.UNCERTAIN] == 1 and counts[FollowUpState.CLAIMED] == 2
    assert counts[FollowUpState.SENT] == 1 and sum(counts.values()) == 4


def test_resolve(ledger: Ledger, clock: FakeClock) -> None:
    left, not_left = ledger.auto_key(1, 1), ledger.auto_key(2, 1)
    for key in (left, not_left):
        assert claim(ledger, key)
        ledger.mark_sending(key)
    clock.advance(seconds=601)
    ledger.recover_abandoned()

    resolved = ledger.resolve(left, sent=True, by="julie")
    assert (resolved.state, resolved.resolved_by, resolved.resolution) == (
        FollowUpState.RESOLVED_SENT,
        "julie",
        "sent",
    )
    assert [e.key for e in ledger.to_record()] == [left]
    assert not claim(ledger, left)

    assert ledger.resolve(not_left, sent=False, by="julie").state is FollowUpState.RESOLVED_NOT_SENT
    assert ledger.uncertain() == []
    assert claim(ledger, not_left)  # released like FAILED

    with pytest.raises(LedgerError, match="is resolved_sent, not uncertain"):
        ledger.resolve(left, sent=False, by="julie")
    with pytest.raises(LedgerError, match="no ledger entry"):
        ledger.resolve("auto:test:99:step1", sent=True, by="julie")

    # A resolved entry has no lease: any process records it.
    with another_process(ledger, clock) as recorder:
        assert recorder.mark_recorded(left, event_id=9).state is FollowUpState.RECORDED


def test_to_record_after_a_crash_is_taken_over_once_the_lease_expires(ledger: Ledger, clock: FakeClock) -> None:
    key = ledger.auto_key(7, 1)
    reach(ledger, clock, key, FollowUpState.SENT)
    with another_process(ledger, clock) as retry:
        assert not retry.take_for_recording(key)  # the sender may still be recording it
        clock.advance(seconds=601)
        assert retry.take_for_recording(key)
        assert not ledger.take_for_recording(key)
        failed = retry.mark_record_failed(key, "Dolibarr unavailable")
        assert (failed.state, failed.error) == (FollowUpState.SENT, "Dolibarr unavailable")
        assert ledger.take_for_recording(key)  # released at once for the next retry
        with pytest.raises(LedgerError, match="belongs to"):
            retry.mark_recorded(key, event_id=3)  # ledger holds it now
        assert ledger.mark_recorded(key, event_id=3).state is FollowUpState.RECORDED
        with pytest.raises(LedgerError):
            ledger.mark_record_failed(key, "too late")


def test_entries_recent_and_instances(ledger: Ledger, clock: FakeClock) -> None:
    for quote_id in (1, 2, 3):
        assert claim(ledger, ledger.auto_key(quote_id, 1), quote_id=quote_id)
        clock.advance(seconds=1)
    manual = manual_key()
    assert manual.startswith("manual:")
    refused = ledger.claim(
        manual, quote_id=2, quote_ref="PR2611-0002", step=None, model="m", channel="email", run_id="remind-1"
    )
    assert not refused and refused.holder is not None and refused.holder.key == "auto:test:2:step1"
    ledger.mark_failed("auto:test:2:step1", "released")
    clock.advance(seconds=1)
    assert claim(ledger, manual, quote_id=2, step=None)
    with another_process(ledger, clock, instance="other") as other_instance:
        assert claim(other_instance, other_instance.auto_key(2, 1), quote_id=2)

        entries = ledger.entries_for_quotes([2, 3, 3])
        assert sorted(e.key for e in entries) == sorted([manual, "auto:test:2:step1", "auto:test:3:step1"])
        assert {e.automatic for e in entries if e.key == manual} == {False}
        assert ledger.entries_for_quotes([]) == []
        assert [e.key for e in ledger.recent(2)] == [manual, "auto:test:2:step1"]
        assert sum(ledger.counts().values()) == 4
        assert sum(other_instance.counts().values()) == 1


def test_default_path_in_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    state_dir = tmp_path / "state" / "dolirelance"
    monkeypatch.setattr(platformdirs, "user_state_dir", lambda app: str(state_dir))
    assert default_ledger_path() == state_dir / "dolirelance-ledger.sqlite3"
    with Ledger(None, instance=INSTANCE, clock=clock, lease_clock=clock) as opened:
        assert claim(opened, auto_key(INSTANCE, 1, 1))
    assert (state_dir / "dolirelance-ledger.sqlite3").is_file()
    with Ledger(None, instance=INSTANCE, clock=clock, lease_clock=clock) as reopened:
        assert not claim(reopened, auto_key(INSTANCE, 1, 1))


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite3'}"
    Ledger(url, instance=INSTANCE).close()
    with create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"  # persistent in the file


@pytest.mark.parametrize(
    "url",
    ["not a url", "nosuchdriver://x/y", "postgresql+psycopg://app:s3cret@127.0.0.1:1/db?connect_timeout=1"],
)
def test_errors_name_the_database_without_the_password(url: str) -> None:
    with pytest.raises(LedgerError) as caught:
        Ledger(url, instance=INSTANCE)
    assert "s3cret" not in str(caught.value)
    assert caught.value.remedy
    if "s3cret" in url:
        assert "postgresql+psycopg://app:***@127.0.0.1:1/db" in str(caught.value)


def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    with (
        Ledger(f"sqlite:///{tmp_path / 'l.sqlite3'}", instance=INSTANCE, clock=datetime.now) as naive,
        pytest.raises(LedgerError),
    ):
        claim(naive, "auto:test:1:step1")


# -- two processes at once -----------------------------------------------------------------------

KEY_COUNT = 200
PROCESSES = 2


def claim_all(url: str, keys: list[str], barrier: Any, results: Any) -> None:
    """In a child process: claim every key; report the ones won."""
    with Ledger(url, instance=INSTANCE) as opened:
        barrier.wait(timeout=60)
        won = [key for key in keys if claim(opened, key, quote_id=int(key.split(":")[2]))]
        results.put(won)


def race(url: str) -> None:
    keys = [auto_key(INSTANCE, quote_id, 1) for quote_id in range(1, KEY_COUNT + 1)]
    with Ledger(url, instance=INSTANCE) as setup:
        # A quarter of the keys exist already as FAILED: the race also covers takeovers.
        for key in keys[: KEY_COUNT // 4]:
            assert claim(setup, key, quote_id=int(key.split(":")[2]))
            setup.mark_failed(key, "earlier run failed")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        # Opposite orders make the processes meet in the middle as well as at the start.
        context.Process(target=claim_all, args=(url, keys if n % 2 == 0 else keys[::-1], barrier, results))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    won = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    all_won = [key for batch in won for key in batch]
    assert sorted(all_won) == sorted(keys), "every key claimed exactly once"
    with Ledger(url, instance=INSTANCE) as check:
        assert check.counts()[FollowUpState.CLAIMED] == KEY_COUNT


def test_two_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    race(f"sqlite:///{tmp_path / 'shared.sqlite3'}")


@pytest.mark.postgres
def test_two_processes_on_postgresql(pg_url: str) -> None:
    race(pg_url)


def test_retry_records_a_crashed_senders_entry_once_its_lease_expired(ledger: Ledger, clock: FakeClock) -> None:
    key = ledger.auto_key(7, 1)
    reach(ledger, clock, key, FollowUpState.SENT)
    with another_process(ledger, clock) as retry:
        with pytest.raises(LedgerError, match="belongs to"):
            retry.mark_recorded(key, event_id=3)
        clock.advance(seconds=601)
        recorded = retry.mark_recorded(key, event_id=3)
        assert (recorded.state, recorded.owner, recorded.event_id) == (FollowUpState.RECORDED, retry.owner, 3)


def test_leases_run_on_the_database_clock_not_the_process_clock(ledger_url: str) -> None:
    """Two processes whose clocks disagree by a day still agree on whose lease holds."""
    behind = Ledger(ledger_url, instance=INSTANCE, clock=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    ahead = Ledger(ledger_url, instance=INSTANCE, clock=lambda: datetime(2100, 1, 1, tzinfo=UTC))
    try:
        assert claim(behind, "auto:test:5:step1")
        taken = behind.get("auto:test:5:step1")
        assert taken is not None and taken.lease_until is not None
        assert taken.lease_until > datetime(2020, 1, 1, tzinfo=UTC)  # the database's now, not the year 2000
        assert not claim(ahead, "auto:test:5:step1")  # its clock says 2100: the lease still holds
        assert ahead.recover_abandoned() == []
        behind.mark_sending("auto:test:5:step1")
        assert ahead.recover_abandoned() == []
    finally:
        behind.close()
        ahead.close()
