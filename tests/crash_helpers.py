"""The crash tests' world: `dolirelance` run as a real process, killed (SIGKILL) while the fake Dolibarr or the
SMTP sink holds one of its requests, then run again.

The fake Dolibarr is served over HTTP on loopback (real clock, Paris time, like the CLI's), the SMTP sink is
real and the configuration is the demo's. A killed process leaves its ledger rows with a lease (10 minutes);
:func:`expire_leases` stands for "ten minutes later", so that the next run sees them as abandoned.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import ColumnElement, Table, create_engine, update

from dolirelance.demo import write_demo_config
from dolirelance.ledger import Entry, Ledger, followups
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink

DOLIRELANCE = str(Path(sys.executable).parent / "dolirelance")


def paris_today() -> date:
    return datetime.now(ZoneInfo("Europe/Paris")).date()


@dataclass
class CliWorld:
    """The fake Dolibarr and the SMTP sink a demo configuration points at, for `dolirelance` processes."""

    fake: FakeDolibarr
    sample: SampleData
    sink: SmtpSink
    config: Path
    ledger_url: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "COLUMNS": "200"}

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `dolirelance --config … ARGS` to its end."""
        command = [DOLIRELANCE, "--config", str(self.config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=self.env())

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `dolirelance --config … ARGS` and leave it running (to be killed)."""
        command = [DOLIRELANCE, "--config", str(self.config), *args]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env())


@contextmanager
def served_demo(tmp_path: Path) -> Iterator[tuple[FakeDolibarr, SampleData, SmtpSink, Path]]:
    """The sample data of today in a fake Dolibarr served over HTTP, an SMTP sink, and the demo's config file."""
    fake = FakeDolibarr(timezone="Europe/Paris")  # the real clock, like the CLI's
    sample = load_sample_data(fake, paris_today())
    with serve_in_thread(create_app(fake)) as url, SmtpSink(eml_dir=tmp_path / "eml") as sink:
        config = write_demo_config(tmp_path, dolibarr_url=url, api_key=sample.api_keys["jdupont"], smtp_port=sink.port)
        try:
            yield fake, sample, sink, config
        finally:
            fake.clear_faults()
            sink.release_data()


@dataclass
class FollowUpWorld(CliWorld):
    """A world for the commands that send follow-ups (`run`, `remind`, `mass`), one follow-up at a time."""

    instance: str

    def ledger(self) -> Ledger:
        return Ledger(self.ledger_url, instance=self.instance)

    def entries(self) -> dict[str, Entry]:
        with self.ledger() as ledger:
            return {e.key: e for e in ledger.recent(1000)}

    def emails_per_ref(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for received in self.sink.messages:
            match = re.search(r"PR\d{4}-\d{4}", str(received.message["Subject"]))
            assert match, received.message["Subject"]
            counts[match.group(0)] += 1
        return counts

    def expire_leases(self) -> None:
        """Ten minutes later: every lease held by a (dead) process has run out."""
        expire_leases(self.ledger_url, followups, followups.c.instance == self.instance)


def follow_up_world(tmp_path: Path, ledger_url: str | None = None) -> Iterator[FollowUpWorld]:
    """The world on a SQLite ledger in ``tmp_path``, or on ``ledger_url`` under an instance name of its own."""
    with served_demo(tmp_path) as (fake, sample, sink, config):
        instance = "demo"
        # one follow-up at a time: each test kills the run at a known point of one follow-up
        config.write_text(
            config.read_text(encoding="utf-8").replace("timeout = 10", "timeout = 10\nmax_concurrency = 1", 1),
            encoding="utf-8",
        )
        if ledger_url is not None:
            instance = f"t{uuid.uuid4().hex[:10]}"
            text = config.read_text(encoding="utf-8")
            text = re.sub(r'(?m)^url = "sqlite:///.*"$', f'url = "{ledger_url}"', text)
            text = text.replace('instance = "demo"', f'instance = "{instance}"')
            config.write_text(text, encoding="utf-8")
        url = ledger_url or f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        yield FollowUpWorld(fake, sample, sink, config, url, instance)


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 30) -> None:
    """Wait for ``condition`` while ``proc`` runs; the test fails if the process ends first or time runs out."""
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
    """kill -9: the process gets no chance to clean up."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def fail_the_held_request(fake: FakeDolibarr, *, path_prefix: str, method: str) -> None:
    """Release the request the fake holds with an error (503): what the dead process asked for never lands."""
    fake.fail_next(1, 503, path_prefix=path_prefix, method=method)
    fake.release_hangs()
    deadline = time.monotonic() + 10
    while fake.hanging and time.monotonic() < deadline:
        time.sleep(0.02)


def expire_leases(ledger_url: str, table: Table, *where: ColumnElement[bool]) -> None:
    """Ten minutes later: every lease in ``table`` (rows matching ``where``) has run out."""
    engine = create_engine(ledger_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.lease_until.is_not(None), *where)
                .values(lease_until=datetime(2000, 1, 1, tzinfo=UTC))
            )
    finally:
        engine.dispose()
