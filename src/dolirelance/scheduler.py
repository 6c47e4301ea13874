"""``dolirelance serve``: the daily automatic run, a health endpoint, clean stops.

- one run a day at ``[auto] time`` in ``[auto] timezone``; never two runs at once (one run at a
  time in the process, and the ledger's claims protect replicas from each other);
- the next run is computed by APScheduler's ``CronTrigger`` (days, DST) from the injected clock,
  and waited for on that same clock: nothing here reads the wall clock behind the clock's back;
- at start, today's run is made at once if its time has passed and it has not run today;
- SIGTERM/SIGINT: no new send starts, the e-mail being sent finishes and is recorded, then exit;
- ``GET /health`` on ``[serve] health_host:health_port``: last run, its outcome, uncertain count;
- with an ``[imap]`` section, the replies mailbox is read every ``[imap] every_minutes`` (at start,
  then on the same injected clock); health shows the last reading under ``replies``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from apscheduler.triggers.cron import CronTrigger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dolirelance.clock import Now, sleep_until, system_clock
from dolirelance.config import Settings
from dolirelance.errors import DolirelanceError
from dolirelance.files import write_atomically
from dolirelance.service import AutoReport, open_ledger, open_runtime, read_replies, run_auto, state_directory

log = logging.getLogger("dolirelance.serve")


@dataclass
class DaemonState:
    """What the health endpoint shows; persisted so a restart knows whether today's run happened."""

    state_file: Path
    last_run_day: date | None = None
    last_run: dict[str, Any] = field(default_factory=dict)
    running: bool = False
    stopping: bool = False
    uncertain: int = 0
    last_replies: dict[str, Any] = field(default_factory=dict)  # the last reading of the replies mailbox

    def load(self) -> None:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.last_run_day = date.fromisoformat(data["last_run_day"]) if data.get("last_run_day") else None
            self.last_run = data.get("last_run", {})
        except (OSError, ValueError, KeyError):
            return

    def save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "last_run_day": self.last_run_day.isoformat() if self.last_run_day else None,
            "last_run": self.last_run,
        }
        write_atomically(self.state_file, json.dumps(payload, indent=2).encode("utf-8"))


def state_file_for(settings: Settings) -> Path:
    return state_directory(settings) / f"serve-{settings.ledger.instance}.json"


def report_summary(report: AutoReport) -> dict[str, Any]:
    return {
        "day": report.today.isoformat(),
        "started_at": report.started_at.isoformat() if report.started_at else None,
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "outcome": "ok" if report.ok else "failed",
        "due": len(report.due),
        "sent": len(report.sent),
        "failed": len(report.failed),
        "skipped": report.skipped_by_reason(),
        "uncertain": len(report.uncertain),
        "left_out": [f"{row.describe()} ({row.remedy})" for row in report.rejected],
        "error": report.error,
        # A day off: nothing decided or sent; the run of next_working_day catches up.
        "day_off": report.day_off,
        "next_working_day": report.next_working_day.isoformat() if report.next_working_day else None,
        # requests sent, and how many at once by the end: Dolibarr's pace (docs/automatic.md)
        "dolibarr": report.dolibarr.summary() if report.dolibarr else None,
    }


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        now: Now = system_clock,
        runtime_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.now = now
        self.runtime_options = runtime_options or {}
        self.tz = ZoneInfo(settings.auto.timezone)
        self.state = DaemonState(state_file_for(settings))
        self.state.load()
        self._lock = asyncio.Lock()
        self.runs_done = 0
        self.next_run_time: datetime | None = None  # the next daily run, once `serve_forever` plans it

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def missed_today(self) -> bool:
        local = self.now().astimezone(self.tz)
        return local.time() >= self.settings.auto.time and self.state.last_run_day != local.date()

    async def run_once(self) -> AutoReport | None:
        if self._lock.locked():  # never two runs at once
            log.warning("a run is already in progress: this one is skipped")
            return None
        async with self._lock:
            self.state.running = True
            day = self.today()
            log.info("automatic run for %s starts", day.isoformat())
            try:
                async with open_runtime(self.settings, now=self.now, **self.runtime_options) as rt:
                    report = await run_auto(rt, should_stop=lambda: self.state.stopping)
            except Exception as exc:  # the daemon must survive: the next run does the work
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                log.error("automatic run for %s failed: %s", day.isoformat(), message)
                self.state.last_run = {
                    "day": day.isoformat(),
                    "outcome": "failed",
                    "error": message,
                    "finished_at": self.now().isoformat(),
                }
                await asyncio.to_thread(self.state.save)  # last_run_day unchanged: a restart today tries again
                self.state.running = False  # only once saved: the health endpoint never shows a half-ended run
                return None
            # (each follow-up already has its structured log line, from the service)
            for entry in report.uncertain:
                log.error(
                    "UNCERTAIN followup key=%s ref=%s: check the mailbox, then "
                    "`dolirelance ledger resolve %s --sent|--not-sent`",
                    entry.key,
                    entry.quote_ref,
                    entry.key,
                )
            self.state.last_run = report_summary(report)
            self.state.uncertain = len(report.uncertain)
            # A run stopped by an error (Dolibarr down) or cut short by a stop is run again on restart.
            if report.error is None and not self.state.stopping:
                self.state.last_run_day = day
            await asyncio.to_thread(self.state.save)  # a file write: off the event loop
            self.state.running = False  # only once saved: the health endpoint never shows a half-ended run
            self.runs_done += 1
            if report.error is None:
                log.info("automatic run for %s done: %s", day.isoformat(), json.dumps(self.state.last_run))
            else:
                log.error("automatic run for %s failed: %s", day.isoformat(), json.dumps(self.state.last_run))
            return report

    def read_uncertain_count(self) -> None:
        """The ledger's uncertain count, so the health endpoint is right from the start."""
        try:
            ledger = open_ledger(self.settings)
        except DolirelanceError as exc:
            log.warning("cannot read the ledger: %s", exc.message)
            return
        try:
            self.state.uncertain = len(ledger.uncertain())
        except DolirelanceError as exc:
            log.warning("cannot read the ledger: %s", exc.message)
        finally:
            ledger.close()

    def health_app(self, next_run: Callable[[], str | None]) -> Starlette:
        async def health(_: Request) -> JSONResponse:
            last = self.state.last_run
            healthy = not last or last.get("outcome") == "ok"
            body = {
                "status": "ok" if healthy and self.state.uncertain == 0 else "attention",
                "auto_enabled": self.settings.auto.enabled,
                "running": self.state.running,
                "last_run": last or None,
                "uncertain": self.state.uncertain,
                "next_run": next_run(),
            }
            if self.settings.imap is not None:  # the replies mailbox's last reading
                body["replies"] = self.state.last_replies or None
            return JSONResponse(body, status_code=200)

        return Starlette(routes=[Route("/health", health), Route("/", health)])


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_forever(
    settings: Settings,
    *,
    now: Now = system_clock,
    runtime_options: dict[str, Any] | None = None,
    stop_event: asyncio.Event | None = None,
    ready: Callable[[int], None] | None = None,
    daemon: Daemon | None = None,
) -> Daemon:
    daemon = daemon or Daemon(settings, now=now, runtime_options=runtime_options)
    now = daemon.now
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    await asyncio.to_thread(daemon.read_uncertain_count)  # SQL: off the event loop
    daily: asyncio.Task[None] | None = None
    if settings.auto.enabled:
        trigger = CronTrigger(
            hour=settings.auto.time.hour,
            minute=settings.auto.time.minute,
            timezone=daemon.tz,
        )
        daemon.next_run_time = next_fire_time(trigger, now(), daemon.tz)
        daily = asyncio.create_task(_daily_runs(daemon, trigger, stop))
    else:
        log.warning("[auto] enabled = false: no automatic run is scheduled (health endpoint only)")

    def next_run() -> str | None:
        return daemon.next_run_time.isoformat() if daemon.next_run_time else None

    server = _EmbeddedServer(
        uvicorn.Config(
            daemon.health_app(next_run),
            host=settings.serve.health_host,
            port=settings.serve.health_port,
            log_level="warning",
            log_config=None,  # the root logger's format (text or JSON lines) applies to uvicorn too
            lifespan="off",
        )
    )
    server_task = asyncio.create_task(server.serve())
    while not server.started and not server_task.done():
        await asyncio.sleep(0.01)
    if server_task.done():
        server_task.result()  # raise the bind error
    port = server.servers[0].sockets[0].getsockname()[1] if server.servers else settings.serve.health_port
    log.info("health endpoint on http://%s:%s/health", settings.serve.health_host, port)
    if ready is not None:
        ready(port)
    replies: asyncio.Task[None] | None = None
    if settings.imap is not None and settings.imap.every_minutes > 0:
        replies = asyncio.create_task(_mailbox_reads(daemon, stop))
    catch_up: asyncio.Task[AutoReport | None] | None = None
    if settings.auto.enabled and daemon.missed_today():
        log.info("today's run (%s) was missed: running now", settings.auto.time.strftime("%H:%M"))
        catch_up = asyncio.create_task(daemon.run_once())
    await stop.wait()
    log.info("stopping: no new follow-up starts; the one being sent finishes")
    daemon.state.stopping = True
    if daily is not None:
        await daily
    if catch_up is not None:
        await catch_up
    if replies is not None:
        await replies
    async with daemon._lock:  # wait for a scheduled run in progress
        pass
    server.should_exit = True
    await server_task
    log.info("stopped")
    return daemon


def next_fire_time(trigger: CronTrigger, after: datetime, tz: ZoneInfo) -> datetime:
    """The trigger's first firing strictly after ``after`` (DST handled by the trigger)."""
    fire: datetime | None = trigger.get_next_fire_time(None, after.astimezone(tz) + timedelta(microseconds=1))
    if fire is None:  # a daily cron trigger without an end date always has a next firing
        raise RuntimeError("the daily trigger has no next firing")
    return fire


async def _daily_runs(daemon: Daemon, trigger: CronTrigger, stop: asyncio.Event) -> None:
    """Wait on the daemon's clock for each daily firing and run, until ``stop`` is set."""
    stopped = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            fire = daemon.next_run_time or next_fire_time(trigger, daemon.now(), daemon.tz)
            daemon.next_run_time = fire
            waiting = asyncio.create_task(sleep_until(daemon.now, fire))
            await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                return
            # Plan the next firing first, so health shows it while this run goes on.
            daemon.next_run_time = next_fire_time(trigger, max(daemon.now(), fire), daemon.tz)
            # A late wake-up (machine suspended past midnight) runs only if today's run has not happened.
            if daemon.state.last_run_day != daemon.today():
                await daemon.run_once()
    finally:
        stopped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopped


async def read_mailbox_once(daemon: Daemon) -> None:
    """One reading of the replies mailbox; the daemon survives whatever goes wrong (the next one goes on)."""
    try:
        async with open_runtime(daemon.settings, now=daemon.now, **daemon.runtime_options) as rt:
            report = await read_replies(rt, should_stop=lambda: daemon.state.stopping)
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.error("reading the replies mailbox failed: %s", message)
        daemon.state.last_replies = {"outcome": "failed", "error": message, "finished_at": daemon.now().isoformat()}
        return
    daemon.state.last_replies = {
        "outcome": "ok" if report.ok else "failed",
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "counts": {name: len(report.of(name)) for name in ("recorded", "noted", "ignored", "unreadable", "failed")},
        "error": report.error,
    }
    if report.messages or report.error:
        log.info("replies mailbox read: %s", json.dumps(daemon.state.last_replies))


async def _mailbox_reads(daemon: Daemon, stop: asyncio.Event) -> None:
    """Read the replies mailbox at once, then every ``[imap] every_minutes`` on the daemon's clock."""
    assert daemon.settings.imap is not None
    every = timedelta(minutes=daemon.settings.imap.every_minutes)
    stopped = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            await read_mailbox_once(daemon)
            waiting = asyncio.create_task(sleep_until(daemon.now, daemon.now() + every))
            await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
    finally:
        stopped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopped
