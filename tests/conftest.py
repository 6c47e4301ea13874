"""Shared fixtures: a fake Dolibarr seeded with the French sample data, and an httpx client on it."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote as url_quote

import httpx
import pytest
import time_machine
from sqlalchemy import create_engine, text

from dolirelance.config import Settings, load_config
from dolirelance.demo import write_demo_config
from dolirelance.dolibarr import DolibarrClient
from dolirelance.dolibarr.client import forget_learned_paths
from dolirelance.service import Runtime, open_runtime
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data
from dolirelance.testing.smtp_sink import SmtpSink

if TYPE_CHECKING:
    from in_process_cli import DemoCli

SAMPLE_TODAY = date(2026, 11, 28)
# The versions whose real answers were recorded: every end-to-end test of the CLI and the web runs on both.
RECORDED_VERSIONS = ("20.0.0", "23.0.0-beta")
# In a test module: ``pytestmark = ON_EACH_RECORDED_VERSION`` runs each of its tests against both fakes.
ON_EACH_RECORDED_VERSION = pytest.mark.parametrize("dolibarr_version", RECORDED_VERSIONS)
SAMPLE_NOW = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)

# Set to an ISO instant, the machine's wall clock is moved there for the whole run (time-machine):
# `.ci/run` runs the suite this way at other dates (a DST change, a leap day, a year end), so a test
# whose outcome depends on the real date fails there. Tests that start real processes are left out of
# those runs (marker `wall_clock_process`): a child process lives on the real clock.
WALL_CLOCK_ENV = "DOLIRELANCE_TEST_WALL_CLOCK"


@pytest.fixture(autouse=True, scope="session")
def _moved_wall_clock() -> Iterator[None]:
    moment = os.environ.get(WALL_CLOCK_ENV)
    if not moment:
        yield
        return
    with time_machine.travel(datetime.fromisoformat(moment), tick=True):
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get(WALL_CLOCK_ENV):
        return
    skip = pytest.mark.skip(reason=f"starts a real process, which runs on the real clock ({WALL_CLOCK_ENV} is set)")
    for item in items:
        if item.get_closest_marker("wall_clock_process"):
            item.add_marker(skip)


class MutableClock:
    """One clock shared by the fake Dolibarr and the runtime, so tests can move days forward."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    async def sleep_until(self, moment: datetime) -> None:
        """Wait until a test moves this clock to ``moment`` (the daemon waits for its runs this way)."""
        while self.current < moment:
            await asyncio.sleep(0.005)

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        self.current = moment


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(SAMPLE_NOW)


def without_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client still retries GETs on 5xx, without waiting (no test sleeps)."""

    async def pause(self: DolibarrClient, attempt: int, slept: float) -> float:
        return 0.0

    monkeypatch.setattr(DolibarrClient, "_pause", pause)


@pytest.fixture(autouse=True)
def _fresh_learned_paths() -> Iterator[None]:
    """The client remembers fallbacks for the process: each test starts without any."""
    forget_learned_paths()
    yield
    forget_learned_paths()


@pytest.fixture
def dolibarr_version() -> str:
    """The version the fake plays: 20.0.0 unless a module parametrizes it (``ON_EACH_RECORDED_VERSION``)."""
    return os.environ.get("DOLIRELANCE_TEST_DOLIBARR_VERSION", "20.0.0")


@pytest.fixture
def fake_dolibarr(clock: MutableClock, dolibarr_version: str) -> FakeDolibarr:
    """An empty fake (admin user only), Paris time, clock at 2026-11-28 09:30 local (see ``clock``)."""
    return FakeDolibarr(timezone="Europe/Paris", now=clock, version=dolibarr_version)


@pytest.fixture
def sample_data(fake_dolibarr: FakeDolibarr) -> SampleData:
    return load_sample_data(fake_dolibarr, SAMPLE_TODAY)


@pytest.fixture
async def dolibarr_client(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> AsyncIterator[httpx.AsyncClient]:
    """Client of the seeded fake, authenticated as the sales user ``jdupont``."""
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://dolibarr.test/api/index.php",
        headers={"DOLAPIKEY": sample_data.api_keys["jdupont"]},
    ) as client:
        yield client


# --------------------------------------------------------------------------- the whole product

FAKE_URL = "http://dolibarr.test/api/index.php"


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """A real SMTP server on loopback that keeps what it receives (also as .eml files)."""
    with SmtpSink(eml_dir=tmp_path / "eml") as sink:
        yield sink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback that keeps what it receives in memory (no .eml files)."""
    with SmtpSink() as running:
        yield running


@pytest.fixture
def make_cli() -> Callable[..., DemoCli]:
    """What the ``cli`` fixture builds on its parts. A test module overrides it to use its own ``DemoCli``
    subclass (more methods, other fields) or to prepare the fake Dolibarr before it is served."""
    from in_process_cli import DemoCli  # in_process_cli imports this module: not at its top

    return DemoCli


@pytest.fixture
def cli(
    make_cli: Callable[..., DemoCli],
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[DemoCli]:
    """`dolirelance ARGS` in this process as the demo's users, on the fake served over HTTP; the product's
    clock is the one the sample data was built on."""
    from in_process_cli import served_for_cli

    with served_for_cli(fake_dolibarr, clock, monkeypatch) as url:
        yield make_cli(fake_dolibarr, sample_data, smtp_sink, url, tmp_path, capsys, monkeypatch)


def product_settings(tmp_path: Path, smtp_port: int, api_key: str) -> Settings:
    """The demo's configuration (the example models, auto steps -5/+10 days) in ``tmp_path``."""
    return load_config(write_demo_config(tmp_path, dolibarr_url=FAKE_URL, api_key=api_key, smtp_port=smtp_port))


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: SmtpSink, sample_data: SampleData) -> Settings:
    return product_settings(tmp_path, smtp_sink.port, sample_data.api_keys["jdupont"])


@pytest.fixture
async def runtime(
    settings: Settings, fake_dolibarr: FakeDolibarr, clock: MutableClock
) -> AsyncIterator[Runtime]:
    """The product wired to the fake Dolibarr (in-process), the SMTP sink and a SQLite ledger; user jdupont."""
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with open_runtime(settings, transport=transport, now=clock) as rt:
        yield rt


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema on ``DOLIRELANCE_TEST_PG_URL`` (search_path in the URL), dropped afterwards."""
    pg_url = os.environ.get("DOLIRELANCE_TEST_PG_URL")
    if not pg_url:
        if os.environ.get("DOLIRELANCE_REQUIRE_PG"):
            pytest.fail("DOLIRELANCE_REQUIRE_PG is set but DOLIRELANCE_TEST_PG_URL is not")
        pytest.skip("set DOLIRELANCE_TEST_PG_URL (scripts/start-test-postgres.sh DIR prints one)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{separator}options={url_quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ledger database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL schema (each test runs on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        with pg_schema_url() as url:
            yield url
