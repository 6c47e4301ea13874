"""Dolibarr's pace: the requests in flight adapt to the latency the server shows, between 1 and max_concurrency."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from conftest import MutableClock
from dolirelance.config import Settings
from dolirelance.dolibarr import DolibarrClient
from dolirelance.dolibarr.pace import FIRST_PROBE_AFTER, Pace, PaceGate
from dolirelance.service import open_runtime
from dolirelance.testing import CostModel, FakeDolibarr, SampleData, create_app, serve_in_thread

EVENT = "POST /agendaevents"
READ = "GET /proposals/{id}"
PAGE = "GET /proposals limit=100"


def serve(pace: Pace, latencies: dict[str, float], cores: float, answers: int) -> list[int]:
    """Feed ``pace`` the answers of a server that runs ``cores`` requests at full speed, the others
    sharing it (processor sharing): a request of each kind in turn, the limit always used.
    Returns the limit after each answer."""
    limits = []
    kinds = list(latencies)
    for index in range(answers):
        kind = kinds[index % len(kinds)]
        if pace.probe_due(kind):  # sent alone: the server's own time
            pace.started(1)
            pace.answered(kind, latencies[kind], alone=True, probe=True, limit=pace.limit)
        else:
            in_flight = pace.limit
            pace.started(in_flight)
            seconds = latencies[kind] * max(1.0, in_flight / cores)
            pace.answered(kind, seconds, alone=in_flight == 1, probe=False, limit=pace.limit)
        limits.append(pace.limit)
    return limits


def test_a_server_that_only_queues_gets_fewer_requests_at_once() -> None:
    """With 2 cores, 4 at once take twice their time: the limit falls until the latency recovers."""
    pace = Pace(4)
    limits = serve(pace, {EVENT: 0.009, READ: 0.010}, cores=2, answers=400)
    assert limits[0] == 4
    assert pace.limit < 4
    # at 3 (1.5 × the latency) or 2 (the best) it stays: never down to 1, where nothing queues anyway
    assert set(limits[-100:]) <= {2, 3}
    assert min(limits) >= 2


def test_one_core_settles_at_one_and_retries_two_ever_more_rarely() -> None:
    """A one-core server: two at once double the latency; the limit settles at 1, retrying 2 seldom."""
    pace = Pace(4)
    limits = serve(pace, {EVENT: 0.009, READ: 0.010}, cores=1, answers=2000)
    assert limits[-1] == 1
    assert min(limits) == 1  # never below
    later = limits[1000:]
    assert later.count(2) < len(later) / 10


def test_a_server_that_keeps_its_latency_keeps_the_maximum() -> None:
    """A big server answers as fast with 4 in flight: the limit stays at max_concurrency."""
    pace = Pace(4)
    limits = serve(pace, {EVENT: 0.009, READ: 0.010}, cores=16, answers=500)
    assert set(limits) == {4}


def test_the_limit_rises_again_when_the_server_keeps_up() -> None:
    """Pushed down by a busy server, the limit climbs back to the maximum, not above, once it keeps up."""
    pace = Pace(4)
    serve(pace, {EVENT: 0.009, READ: 0.010}, cores=1, answers=200)
    assert pace.limit == 1
    limits = serve(pace, {EVENT: 0.009, READ: 0.010}, cores=16, answers=2000)
    assert limits[-1] == 4
    assert max(limits) == 4
    assert pace.lowest == 1


def test_a_slow_kind_of_request_does_not_look_like_queueing() -> None:
    """List pages taking 70 ms beside 9 ms events, nothing queued: each is compared with its own best."""
    pace = Pace(4)
    limits = serve(pace, {EVENT: 0.009, PAGE: 0.070, READ: 0.010}, cores=16, answers=600)
    assert set(limits) == {4}


def test_a_frequent_kind_is_measured_alone_then_seldom() -> None:
    """A kind seen a few times goes in company; seen often, one request goes alone (its best), then seldom."""
    pace = Pace(4)
    due = []
    for _ in range(200):
        due.append(pace.probe_due(EVENT))
        if due[-1]:
            assert not pace.probe_due(EVENT)  # one probe at a time
        pace.answered(EVENT, 0.009, alone=False, probe=due[-1], limit=4)
    first = due.index(True)
    assert first == FIRST_PROBE_AFTER
    assert 2 <= due.count(True) <= 6  # then after 20, 40, 60… answers in company
    single = Pace(4)
    assert not any(single.probe_due(READ) for _ in range(FIRST_PROBE_AFTER))  # unanswered: none yet


def test_answers_sent_under_another_limit_do_not_judge_this_one() -> None:
    """Answers of requests sent before the limit changed neither lower nor raise the new limit."""
    pace = Pace(4)
    pace.answered(READ, 0.010, alone=True, probe=False, limit=4)
    for _ in range(8):
        pace.started(4)
        pace.answered(READ, 0.040, alone=False, probe=False, limit=4)
    assert pace.limit == 3
    for _ in range(50):  # still arriving, sent when 4 were allowed
        pace.answered(READ, 0.040, alone=False, probe=False, limit=4)
    assert pace.limit == 3


def test_fixed_pace_and_a_maximum_of_one_never_change() -> None:
    """adapt_concurrency = false keeps max_concurrency; a maximum of 1 has nothing to adapt."""
    fixed = Pace(4, adaptive=False)
    assert serve(fixed, {READ: 0.010}, cores=1, answers=200)[-1] == 4
    assert not fixed.probe_due(EVENT)
    single = Pace(1)
    assert set(serve(single, {READ: 0.010}, cores=1, answers=50)) == {1}
    with pytest.raises(ValueError):
        Pace(0)


class Ticks:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_gate_holds_at_most_the_limit_and_lets_a_probe_go_alone() -> None:
    """Never more than the limit in flight; a probe waits for the server to be free and goes alone."""
    pace = Pace(3)
    for _ in range(FIRST_PROBE_AFTER):  # READ seen often in company, never alone: its next request probes
        pace.answered(READ, 0.010, alone=False, probe=False, limit=3)
    gate = PaceGate(pace, clock=Ticks())
    release = asyncio.Event()
    most = 0
    alongside_probe: list[int] = []

    async def request(kind: str) -> None:
        nonlocal most
        async with gate.slot(kind) as slot:
            most = max(most, gate.in_flight)
            if slot.probe:
                alongside_probe.append(gate.in_flight)
            await release.wait()
            slot.answered()

    tasks = [asyncio.ensure_future(request(READ)) for _ in range(8)]
    await asyncio.sleep(0)
    assert gate.in_flight == 1  # the probe: alone, the others wait behind it
    release.set()
    await asyncio.gather(*tasks)
    assert most == 3
    assert alongside_probe == [1]
    assert gate.in_flight == 0


async def test_a_request_cancelled_while_waiting_leaves_the_gate_whole() -> None:
    """Cancelled waiters give their place up: the requests behind them still go, none is lost."""
    pace = Pace(2, adaptive=False)
    gate = PaceGate(pace, clock=Ticks())
    release = asyncio.Event()
    served: list[int] = []

    async def request(number: int) -> None:
        async with gate.slot(READ) as slot:
            await release.wait()
            slot.answered()
            served.append(number)

    tasks = [asyncio.ensure_future(request(number)) for number in range(6)]
    await asyncio.sleep(0)
    assert gate.in_flight == 2
    tasks[2].cancel()
    tasks[3].cancel()
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(served) == [0, 1, 4, 5]
    assert gate.in_flight == 0


async def test_a_one_core_dolibarr_gets_fewer_requests_at_once_over_http(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, caplog: pytest.LogCaptureFixture
) -> None:
    """A fake Dolibarr serving one request at a time (25 ms each): 4 in flight take ~4 × as long, so after
    some dozens of quote reads side by side the client sends fewer than 4 at once, and logs it."""
    fake_dolibarr.cost = CostModel(per_request=0.025, per_row=0.0, kinds={}, capacity=1)
    quote_id = sample_data.quotes["about_to_expire"]
    caplog.set_level(logging.INFO, logger="dolirelance.dolibarr.pace")
    with serve_in_thread(create_app(fake_dolibarr)) as url:
        async with DolibarrClient(url, sample_data.api_keys["jdupont"], max_concurrency=4) as dolibarr:
            quotes = await asyncio.gather(*(dolibarr.get_quote(quote_id) for _ in range(80)))
            assert {quote.id for quote in quotes} == {quote_id}
            assert dolibarr.pace.limit < 4
            assert dolibarr.pace.lowest < 4
    assert fake_dolibarr._costs is not None and fake_dolibarr._costs.most_busy_workers >= 2
    changes = [record.getMessage() for record in caplog.records if record.name == "dolirelance.dolibarr.pace"]
    assert changes and changes[0].startswith("Dolibarr pace: 3 requests at once (latency ")


async def test_an_answer_not_marked_is_not_measured_and_its_probe_is_offered_again() -> None:
    """An error (no answer marked) teaches the pace nothing; the probe it was goes to the next request."""
    pace = Pace(2)
    for _ in range(FIRST_PROBE_AFTER):
        pace.answered(READ, 0.010, alone=False, probe=False, limit=2)
    ticks = Ticks()
    gate = PaceGate(pace, clock=ticks)
    with pytest.raises(RuntimeError):
        async with gate.slot(READ) as failed:
            assert failed.probe
            raise RuntimeError("Dolibarr answered 500")
    async with gate.slot(READ) as probe:
        assert probe.probe  # offered again
        ticks.now += 0.012
        probe.answered()
    async with gate.slot(READ) as after:
        assert not after.probe  # measured now: the kind has its best
        after.answered()
    assert gate.in_flight == 0


def test_a_slow_kind_is_never_probed() -> None:
    """Pages of 500 quotes (~350 ms alone) are not sent alone: the others would stall as long."""
    pace = Pace(4)
    for _ in range(3 * FIRST_PROBE_AFTER):
        assert not pace.probe_due(PAGE)
        pace.answered(PAGE, 1.2, alone=False, probe=False, limit=4, in_flight=3)
    assert pace.is_slow(PAGE)
    assert not pace.is_slow(READ)  # never seen: nothing says so


async def test_no_probe_waits_for_a_slow_request_in_flight() -> None:
    """While a slow page is in flight, a quote read due for its probe goes in company instead."""
    pace = Pace(4)
    for _ in range(FIRST_PROBE_AFTER):
        pace.answered(PAGE, 1.2, alone=False, probe=False, limit=4, in_flight=3)
        pace.answered(READ, 0.010, alone=False, probe=False, limit=4, in_flight=2)
    gate = PaceGate(pace, clock=Ticks())
    async with gate.slot(PAGE) as page:
        async with gate.slot(READ) as read:
            assert not read.probe and gate.in_flight == 2
            read.answered()
        page.answered()
    async with gate.slot(READ) as read:  # nothing slow in flight now: its probe
        assert read.probe
        read.answered()


async def test_adapt_concurrency_false_keeps_max_concurrency(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: MutableClock
) -> None:
    """[dolibarr] adapt_concurrency = false: a one-core Dolibarr still gets max_concurrency requests at once."""
    fake_dolibarr.cost = CostModel(per_request=0.01, per_row=0.0, kinds={}, capacity=1)
    fixed = settings.dolibarr.model_copy(update={"adapt_concurrency": False})
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    quote_id = sample_data.quotes["about_to_expire"]
    async with open_runtime(settings.model_copy(update={"dolibarr": fixed}), transport=transport, now=clock) as rt:
        await asyncio.gather(*(rt.dolibarr.get_quote(quote_id) for _ in range(40)))
        assert (rt.dolibarr.pace.limit, rt.dolibarr.pace.lowest) == (4, 4)
    assert fake_dolibarr._costs is not None and fake_dolibarr._costs.most_busy_workers == 4
