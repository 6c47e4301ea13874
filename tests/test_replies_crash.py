"""Real processes: `dolirelance replies --once` killed (SIGKILL) at each point of recording a reply, then run again.

The fake Dolibarr is served over HTTP on loopback, the SMTP sink and dovecot are real. Recording one reply::

    claim (CLAIMED) ─► upload .eml ─► POST reply event ─► PUT: close the follow-up to-do ─► POST "Répondre à" to-do
                        (a)             (b)                 (c)                            (d)
    ─► RECORDED ─► flag in the mailbox ─► DONE

Each test holds one request in the fake, kills the process while it waits, lets the request complete
(Dolibarr then has what the dead process asked for), ends the lease ("ten minutes later") and runs again:
each message is recorded exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from crash_helpers import CliWorld, expire_leases, kill, served_demo, wait_until
from dolirelance.history import decode_facts
from dolirelance.imap import PROCESSED_KEYWORD
from dolirelance.ledger import MessageState, mailbox_messages
from dolirelance.testing.imap_server import DovecotServer
from mailbox_samples import IMAP_PASSWORD_ENV, NEEDS_DOVECOT, add_imap_section, sample_message

pytestmark = [pytest.mark.wall_clock_process, NEEDS_DOVECOT]


@dataclass
class World(CliWorld):
    dovecot: DovecotServer

    def env(self) -> dict[str, str]:
        return {**super().env(), IMAP_PASSWORD_ENV: self.dovecot.password}

    def events(self, code: str, purpose: str | None = None) -> list[object]:
        quote_id = self.sample.quotes["about_to_expire"]
        return [
            e
            for e in self.fake.events.values()
            if e.code == code and e.fk_element == quote_id and decode_facts(e.note).get("for") == purpose
        ]

    def expire_leases(self) -> None:
        expire_leases(self.ledger_url, mailbox_messages)

    def message_states(self) -> list[str]:
        engine = create_engine(self.ledger_url)
        try:
            with engine.begin() as conn:
                return [row.state for row in conn.execute(mailbox_messages.select())]
        finally:
            engine.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with served_demo(tmp_path) as (fake, sample, sink, config), DovecotServer() as dovecot:
        add_imap_section(config, dovecot)
        world = World(fake, sample, sink, config, f"sqlite:///{tmp_path / 'ledger.sqlite3'}", dovecot)
        sent = world.cli("run", "--once")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        address = "sophie.dupont@garage-dupont.test"
        [mail] = [m for m in sink.messages if address in m.rcpt_tos]
        message_id, ref = str(mail.message["Message-ID"]), sample.refs["about_to_expire"]
        dovecot.deliver(sample_message("thunderbird_reply.eml", message_id=message_id, ref=ref, customer=address))
        yield world


def assert_recorded_exactly_once(world: World) -> None:
    quote = world.fake.proposals[world.sample.quotes["about_to_expire"]]
    assert len(world.events("AC_RELANCE_REPLY")) == 1
    assert len(world.events("AC_RELANCE_TODO", "reply")) == 1
    assert all(todo.percentage == 100 for todo in world.events("AC_RELANCE_TODO"))  # the follow-up to-do closed
    assert len([f for f in world.fake.proposal_files(quote) if f.name.endswith(".eml")]) == 1
    [(_, flags, _)] = world.dovecot.messages()
    assert PROCESSED_KEYWORD in flags
    assert world.message_states() == [MessageState.DONE.value]


@pytest.mark.parametrize(
    ("method", "path", "after"),
    [
        ("POST", "/documents/upload", 0),  # (a)
        ("POST", "/agendaevents", 0),  # (b)
        ("PUT", "/agendaevents/", 0),  # (c)
        ("POST", "/agendaevents", 1),  # (d)
    ],
    ids=["upload", "reply-event", "close-todo", "reply-todo"],
)
def test_killed_while_recording_a_reply_then_run_again_records_it_once(
    world: World, method: str, path: str, after: int
) -> None:
    world.fake.hang_next(1, 60, path_prefix=path, method=method, after=after)
    proc = world.start("replies", "--once")
    wait_until(lambda: world.fake.hanging == 1, proc, f"the {method} {path} request")
    kill(proc)
    world.fake.release_hangs()  # the request completes: Dolibarr has what the dead process asked for
    assert world.message_states() == [MessageState.CLAIMED.value]

    if after == 0 and method == "POST" and path == "/documents/upload":  # once is enough (each run costs seconds)
        held = world.cli("replies", "--once")  # the dead run's lease still holds the message
        assert held.returncode == 0, held.stdout + held.stderr
        assert world.message_states() == [MessageState.CLAIMED.value]

    world.expire_leases()
    again = world.cli("replies", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "recorded 1" in again.stdout
    assert_recorded_exactly_once(world)


def test_replies_once_prints_what_it_did(world: World) -> None:
    result = world.cli("replies", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"reply from sophie.dupont@garage-dupont.test to {world.sample.refs['about_to_expire']}" in result.stdout
    assert "recorded 1, noted 0, ignored 0, unreadable 0, failed 0" in result.stdout
    assert_recorded_exactly_once(world)
    again = world.cli("replies", "--once")
    assert again.returncode == 0 and "recorded 0" in again.stdout
    assert_recorded_exactly_once(world)
    explained = world.cli("explain", world.sample.refs["about_to_expire"], "--on", date(2027, 1, 1).isoformat())
    assert "the customer replied on" in explained.stdout
