"""`dolirelance serve`: the catch-up run, the daily trigger, the health endpoint, one run at a time,
and a clean stop on SIGTERM (in-process with the shared clock, and as a real subprocess)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from conftest import MutableClock
from dolirelance.config import Settings
from dolirelance.demo import write_demo_config
from dolirelance.ledger import FollowUpState, Ledger
from dolirelance.scheduler import Daemon, serve_forever
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink

DOLIRELANCE = str(Path(sys.executable).parent / "dolirelance")
DUE_TODAY = ("expired", "about_to_expire", "contact_without_email")


def _options(fake: FakeDolibarr) -> dict[str, Any]:
    return {"transport": httpx.ASGITransport(app=create_app(fake))}


@asynccontextmanager
async def running_daemon(
    settings: Settings, fake: FakeDolibarr, now: Callable[[], datetime]
) -> AsyncIterator[tuple[httpx.AsyncClient, asyncio.Task[Daemon], asyncio.Event]]:
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_forever(settings, now=now, runtime_options=_options(fake), stop_event=stop, ready=port.set_result)
    )
    bound = await asyncio.wait_for(port, timeout=10)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound}") as client:
        try:
            yield client, task, stop
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)


async def _health_once_run(client: httpx.AsyncClient) -> dict[str, Any]:
    for _ in range(1000):
        health = (await client.get("/health")).json()
        if health["last_run"] is not None and not health["running"]:
            return dict(health)
        await asyncio.sleep(0.02)
    raise AssertionError("the catch-up run did not finish")


async def test_catch_up_run_at_start_sends_records_and_shows_in_health(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    # An uncertain follow-up left by an earlier crash: health shows it from the start.
    yesterday = lambda: clock() - timedelta(days=1)  # noqa: E731
    stale = Ledger(settings.ledger.url, instance=settings.ledger.instance, clock=yesterday, lease_clock=yesterday)
    quote_id, ref = sample_data.quotes["not_yet_due"], sample_data.refs["not_yet_due"]
    key = stale.auto_key(quote_id, 1)
    assert stale.claim(key, quote_id=quote_id, quote_ref=ref, step=1, model="1ère relance", channel="email", run_id="r")
    stale.mark_sending(key)
    stale.close()
    with Ledger(settings.ledger.url, instance=settings.ledger.instance, clock=clock, lease_clock=clock) as ledger:
        assert [e.key for e in ledger.recover_abandoned()] == [key]

    # 09:30 in Paris, past the 08:30 run, and no run today yet.
    async with running_daemon(settings, fake_dolibarr, clock) as (client, task, _stop):
        health = await _health_once_run(client)
        assert health["status"] == "attention"  # an uncertain entry waits for a person
        assert health["uncertain"] == 1 and health["auto_enabled"] is True
        last = health["last_run"]
        assert last["day"] == "2026-11-28" and last["outcome"] == "ok"
        assert (last["due"], last["sent"], last["failed"], last["uncertain"]) == (3, 3, 0, 1)
        assert last["dolibarr"]["requests"] > 0  # and how many at once by the end: Dolibarr's pace
        assert 1 <= last["dolibarr"]["at_once"] <= last["dolibarr"]["max_concurrency"]
        assert health["next_run"] == "2026-11-29T08:30:00+01:00"
    daemon = task.result()
    assert daemon.runs_done == 1
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        "accueil@garage-dupont.test",
        "jean.martin@boulangerie-martin.test",
        "sophie.dupont@garage-dupont.test",
    ]
    done = {e.fk_element for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_EMAIL"}
    assert done == {sample_data.quotes[role] for role in DUE_TODAY}
    saved = json.loads(daemon.state.state_file.read_text(encoding="utf-8"))
    assert saved["last_run_day"] == "2026-11-28"

    # Restarted the same day: today's run is not made again.
    restarted = Daemon(settings, now=clock, runtime_options=_options(fake_dolibarr))
    assert not restarted.missed_today()


async def test_health_before_any_run(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: MutableClock
) -> None:
    clock.set(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))  # 07:00 in Paris: before the 08:30 run
    async with running_daemon(settings, fake_dolibarr, clock) as (client, task, _stop):
        health = (await client.get("/health")).json()
        assert health == {
            "status": "ok",
            "auto_enabled": True,
            "running": False,
            "last_run": None,
            "uncertain": 0,
            "next_run": "2026-11-28T08:30:00+01:00",
        }
    assert task.result().runs_done == 0


async def test_the_daily_trigger_is_at_the_configured_time_in_paris(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: MutableClock
) -> None:
    clock.set(datetime(2027, 3, 29, 5, 0, tzinfo=UTC))  # 07:00 in Paris, summer time since 28 March
    async with running_daemon(settings, fake_dolibarr, clock) as (client, task, _stop):
        assert (await client.get("/health")).json()["next_run"] == "2027-03-29T08:30:00+02:00"
    daemon = task.result()
    assert daemon.runs_done == 0 and daemon.next_run_time is not None
    assert daemon.next_run_time.isoformat() == "2027-03-29T08:30:00+02:00"


async def test_a_run_in_progress_is_never_doubled(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    daemon = Daemon(settings, now=clock, runtime_options=_options(fake_dolibarr))
    first, second = await asyncio.gather(daemon.run_once(), daemon.run_once())
    reports = [r for r in (first, second) if r is not None]
    assert len(reports) == 1 and daemon.runs_done == 1
    assert len(smtp_sink.messages) == len(DUE_TODAY)


async def test_dolibarr_down_the_daemon_survives_and_tries_again(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    daemon = Daemon(settings, now=clock, runtime_options=_options(fake_dolibarr))
    fake_dolibarr.fail_next(10_000, 503)
    report = await daemon.run_once()
    assert report is not None and report.error is not None
    assert daemon.state.last_run["outcome"] == "failed" and daemon.state.last_run["error"]
    assert daemon.missed_today()  # a restart today tries again
    assert smtp_sink.messages == []
    fake_dolibarr.clear_faults()
    report = await daemon.run_once()
    assert report is not None and report.ok
    assert len(smtp_sink.messages) == len(DUE_TODAY) and not daemon.missed_today()


# --------------------------------------------------------------------------- a real process


def _serve_subprocess(config: Path) -> tuple[subprocess.Popen[str], int, list[str]]:
    proc = subprocess.Popen(
        [DOLIRELANCE, "--config", str(config), "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"health endpoint on http://127\.0\.0\.1:(\d+)/health", line)
        if found:
            return proc, int(found.group(1)), lines
    proc.kill()
    raise AssertionError("serve did not start:\n" + "".join(lines))


@pytest.mark.wall_clock_process
def test_serve_stops_cleanly_on_sigterm_without_cutting_a_send(tmp_path: Path) -> None:
    fake = FakeDolibarr(timezone="Europe/Paris")
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    sample = load_sample_data(fake, today)
    with serve_in_thread(create_app(fake)) as url, SmtpSink() as sink:
        config = write_demo_config(tmp_path, dolibarr_url=url, api_key=sample.api_keys["jdupont"], smtp_port=sink.port)
        # time 00:00: today's run is always "missed" at start, so a run is in progress for the SIGTERM
        config.write_text(config.read_text(encoding="utf-8").replace('time = "08:30"', 'time = "00:00"'))
        sink.hold_next_data()
        proc, port, lines = _serve_subprocess(config)
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
            assert health["auto_enabled"] is True
            deadline = time.monotonic() + 30
            while sink.holding == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert sink.holding == 1, "the first e-mail never reached the SMTP server"
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)  # SIGTERM is handled while the e-mail is still on the wire
            assert proc.poll() is None
            sink.release_data()
            _, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        stderr = "".join(lines) + err
        assert proc.returncode == 0, stderr
        assert "stopping: no new follow-up starts" in stderr and stderr.rstrip().endswith("stopped")
        assert len(sink.messages) == 1  # the send in progress finished; no new one started
        with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", instance="demo") as ledger:
            counts = ledger.counts()
        assert counts[FollowUpState.RECORDED] == 1  # ... and it was recorded in Dolibarr
        assert counts[FollowUpState.SENDING] == counts[FollowUpState.CLAIMED] == counts[FollowUpState.SENT] == 0
        assert sum(1 for e in fake.events.values() if e.code == "AC_RELANCE_EMAIL") == 1
        assert "followup key=auto:demo:" in stderr and "outcome=recorded" in stderr  # one structured line


@pytest.mark.wall_clock_process
def test_serve_idle_stops_on_sigterm(tmp_path: Path) -> None:
    fake = FakeDolibarr(timezone="Europe/Paris")
    sample = load_sample_data(fake, datetime.now(UTC).date())
    with serve_in_thread(create_app(fake)) as url, SmtpSink() as sink:
        config = write_demo_config(tmp_path, dolibarr_url=url, api_key=sample.api_keys["jdupont"], smtp_port=sink.port)
        config.write_text(
            config.read_text(encoding="utf-8").replace("[auto]\nenabled = true", "[auto]\nenabled = false")
        )
        proc, port, _lines = _serve_subprocess(config)
        try:
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0 and time.monotonic() - started < 5
        assert err.rstrip().endswith("stopped")


async def test_the_scheduled_job_itself_sends_and_records(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """No catch-up (07:00 in Paris, before the 08:30 run): the e-mails come from the daily firing itself."""
    clock.set(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    daemon = Daemon(settings, now=clock, runtime_options=_options(fake_dolibarr))
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_forever(settings, stop_event=stop, ready=port.set_result, daemon=daemon))
    bound = await asyncio.wait_for(port, timeout=10)
    assert daemon.runs_done == 0 and not smtp_sink.messages
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound}") as client:
        assert (await client.get("/health")).json()["next_run"] == "2026-11-28T08:30:00+01:00"
        clock.set(datetime(2026, 11, 28, 7, 30, tzinfo=UTC))  # 08:30 in Paris: the daily run fires
        health = await _health_once_run(client)
        assert health["next_run"] == "2026-11-29T08:30:00+01:00"
    stop.set()
    await asyncio.wait_for(task, timeout=20)
    assert health["last_run"]["outcome"] == "ok" and health["last_run"]["sent"] == len(DUE_TODAY)
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted({m.rcpt_tos[0] for m in smtp_sink.messages})
    assert len(smtp_sink.messages) == len(DUE_TODAY)
    recorded = [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_EMAIL"]
    assert sorted(e.fk_element for e in recorded) == sorted(sample_data.quotes[role] for role in DUE_TODAY)
    assert daemon.runs_done == 1


async def test_the_next_days_run_fires_on_the_injected_clock_once(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """After the catch-up run, moving the clock to the next day's run time makes exactly one more run."""
    async with running_daemon(settings, fake_dolibarr, clock) as (client, task, _stop):
        health = await _health_once_run(client)
        assert health["last_run"]["day"] == "2026-11-28"
        assert health["next_run"] == "2026-11-29T08:30:00+01:00"
        clock.set(datetime(2026, 11, 29, 7, 45, tzinfo=UTC))  # 08:45 in Paris on the 29th
        for _ in range(2000):
            health = (await client.get("/health")).json()
            if health["last_run"]["day"] == "2026-11-29" and not health["running"]:
                break
            await asyncio.sleep(0.01)
        assert health["last_run"]["day"] == "2026-11-29" and health["last_run"]["outcome"] == "ok"
        assert health["next_run"] == "2026-11-30T08:30:00+01:00"
        await asyncio.sleep(0.1)  # more polls of the unchanged clock must not start another run
    assert task.result().runs_done == 2
