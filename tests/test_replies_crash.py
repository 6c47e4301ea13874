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

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, update

from dolirelance.demo import write_demo_config
from dolirelance.history import decode_facts
from dolirelance.imap import PROCESSED_KEYWORD
from dolirelance.ledger import MessageState, mailbox_messages
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.imap_server import DovecotServer, dovecot_available
from dolirelance.testing.smtp_sink import SmtpSink

DOLIRELANCE = str(Path(sys.executable).parent / "dolirelance")
SAMPLES = Path(__file__).parent / "samples" / "mailbox"
PASSWORD_ENV = "DOLIRELANCE_TEST_IMAP_PASSWORD"

pytestmark = [
    pytest.mark.wall_clock_process,
    pytest.mark.skipif(
        not dovecot_available() and not os.environ.get("CI"),
        reason="dovecot-imapd is not installed (.ci/run installs it)",
    ),
]


@dataclass
class World:
    fake: FakeDolibarr
    sample: SampleData
    sink: SmtpSink
    dovecot: DovecotServer
    config: Path
    ledger_url: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "COLUMNS": "200", PASSWORD_ENV: self.dovecot.password}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [DOLIRELANCE, "--config", str(self.config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=self.env())

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [DOLIRELANCE, "--config", str(self.config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )

    def events(self, code: str, purpose: str | None = None) -> list[object]:
        quote_id = self.sample.quotes["about_to_expire"]
        return [
            e
            for e in self.fake.events.values()
            if e.code == code and e.fk_element == quote_id and decode_facts(e.note).get("for") == purpose
        ]

    def expire_leases(self) -> None:
        engine = create_engine(self.ledger_url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(mailbox_messages)
                    .where(mailbox_messages.c.lease_until.is_not(None))
                    .values(lease_until=datetime(2000, 1, 1, tzinfo=UTC))
                )
        finally:
            engine.dispose()

    def message_states(self) -> list[str]:
        engine = create_engine(self.ledger_url)
        try:
            with engine.begin() as conn:
                return [row.state for row in conn.execute(mailbox_messages.select())]
        finally:
            engine.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    fake = FakeDolibarr(timezone="Europe/Paris")  # the real clock, like the CLI's
    sample = load_sample_data(fake, datetime.now(ZoneInfo("Europe/Paris")).date())
    with (
        serve_in_thread(create_app(fake)) as url,
        SmtpSink(eml_dir=tmp_path / "eml") as sink,
        DovecotServer() as dovecot,
    ):
        config = write_demo_config(tmp_path, dolibarr_url=url, api_key=sample.api_keys["jdupont"], smtp_port=sink.port)
        config.write_text(
            config.read_text(encoding="utf-8")
            + f'\n[imap]\nhost = "{dovecot.host}"\nport = {dovecot.port}\nsecurity = "none"\n'
            f'username = "{dovecot.user}"\npassword_env = "{PASSWORD_ENV}"\n',
            encoding="utf-8",
        )
        world = World(fake, sample, sink, dovecot, config, f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
        sent = world.cli("run", "--once")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        address = "sophie.dupont@garage-dupont.test"
        [mail] = [m for m in sink.messages if address in m.rcpt_tos]
        raw = (SAMPLES / "thunderbird_reply.eml").read_bytes()
        for placeholder, value in (
            (b"@@MESSAGE_ID@@", str(mail.message["Message-ID"])),
            (b"@@QUOTE_REF@@", sample.refs["about_to_expire"]),
            (b"@@CUSTOMER@@", address),
            (b"@@US@@", "devis@solaire-rhone-alpes.test"),
        ):
            raw = raw.replace(placeholder, value.encode())
        dovecot.deliver(raw)
        try:
            yield world
        finally:
            fake.clear_faults()


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


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
