"""The ledger's memory of the replies mailbox, on SQLite and PostgreSQL: each message claimed by one run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from conftest import MutableClock
from dolirelance.errors import LedgerError
from dolirelance.ledger import Ledger, MailboxLedger, MessageState

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@contextmanager
def two_processes(ledger_url: str, lease_clock: MutableClock) -> Iterator[tuple[Ledger, Ledger]]:
    """Two processes of one instance on one ledger, on one clock (leases included); both closed after."""
    first = Ledger(ledger_url, instance="t", clock=lease_clock, lease_clock=lease_clock)
    second = Ledger(ledger_url, instance="t", clock=lease_clock, lease_clock=lease_clock)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_one_claim_per_message_until_its_lease_ends(ledger_url: str) -> None:
    lease_clock = MutableClock(NOW)
    with two_processes(ledger_url, lease_clock) as (first, second):
        mine, theirs = MailboxLedger(first, "box"), MailboxLedger(second, "box")
        assert mine.claim_message(7, 1) is not None
        assert theirs.claim_message(7, 1) is None  # held by a live run
        assert MailboxLedger(second, "another box").claim_message(7, 1) is not None  # another mailbox
        assert theirs.claim_message(8, 1) is not None  # a new UIDVALIDITY: another message
        lease_clock.advance(minutes=11)  # the first run died: its lease ran out
        taken = theirs.claim_message(7, 1)
        assert taken is not None and taken.owner == second.owner
        with pytest.raises(LedgerError, match="no longer held by this process"):
            mine.mark(7, 1, MessageState.RECORDED)
        theirs.note(7, 1, kind="reply", event_id=412)
        recorded = theirs.mark(7, 1, MessageState.RECORDED)
        assert (recorded.state, recorded.event_id, recorded.lease_until) == (MessageState.RECORDED, 412, None)
        assert mine.claim_message(7, 1) is None  # recorded: nobody writes it to Dolibarr again
        assert [m.uid for m in mine.recorded_not_done()] == [1]
        assert theirs.mark(7, 1, MessageState.DONE).state is MessageState.DONE
        assert mine.recorded_not_done() == []
        assert set(mine.known(7, [1, 2])) == {1}


def test_follow_ups_are_found_by_message_id_and_by_recipient(ledger_url: str) -> None:
    clock = MutableClock(NOW)
    with Ledger(ledger_url, instance="t", clock=clock) as ledger:
        ledger.claim("auto:t:5:step1", quote_id=5, quote_ref="PR2611-0005", step=1, model="m", channel="email",
                     run_id="r")  # fmt: skip
        ledger.mark_sending("auto:t:5:step1")
        ledger.mark_sent("auto:t:5:step1", message_id="<a@x>", recipients=["Jean@Client.test", "b@client.test"])
        assert [e.key for e in ledger.by_message_ids(["<a@x>", "<other@x>"])] == ["auto:t:5:step1"]
        assert [e.key for e in ledger.sent_to("jean@client.test", NOW - timedelta(days=1))] == ["auto:t:5:step1"]
        assert ledger.sent_to("jean@client.test", NOW + timedelta(days=1)) == []  # too old
        assert ledger.sent_to("ean@client.test", NOW - timedelta(days=1)) == []  # whole addresses only
        assert ledger.sent_to("%", NOW - timedelta(days=1)) == []


def test_readings_that_died_while_parsing_are_counted_across_processes(ledger_url: str) -> None:
    """start_reading counts the readings before this one that began parsing and never finished; a
    finished one (read or found unreadable) resets the count."""
    lease_clock = MutableClock(NOW)
    with two_processes(ledger_url, lease_clock) as (first, second):
        dead, alive = MailboxLedger(first, "box"), MailboxLedger(second, "box")
        assert dead.claim_message(7, 1) is not None
        assert dead.start_reading(7, 1) == 0  # ... and the process is killed while parsing
        lease_clock.advance(minutes=11)
        assert alive.claim_message(7, 1) is not None
        assert alive.start_reading(7, 1) == 1  # one reading died before this one
        alive.finish_reading(7, 1)
        assert alive.known(7, [1])[1].read_attempts == 0
        assert alive.start_reading(7, 1) == 0
        with pytest.raises(LedgerError, match="no longer held"):
            dead.start_reading(7, 1)  # not its claim any more
