"""Dolibarr's pace: the requests in flight adapt to how many Dolibarr really serves at once, between 1 and
max_concurrency."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from conftest import MutableClock
from dolirelance.config import Settings
from dolirelance.dolibarr import DolibarrClient
from dolirelance.dolibarr.pace import FIRST_PROBE_AFTER, FLOOR_LIMIT, START_LIMIT, WINDOW_SECONDS, Pace, PaceGate
from dolirelance.service import open_runtime
from dolirelance.testing import CostModel, FakeDolibarr, SampleData, create_app, serve_in_thread

EVENT = "POST /agendaevents"
READ = "GET /proposals/{id}"
PAGE = "GET /proposals limit=100"
SMALL = {EVENT: 0.009, READ: 0.010}  # each request's work alone, seconds


@dataclass
class _Request:
    kind: str
    work: float  # left to do, in seconds of the server alone
    started: float
    in_flight: int
    alone: bool
    probe: bool


@dataclass
class Server:
    """A synthetic Dolibarr on a synthetic clock: ``capacity`` requests progress at full speed, more
    share it (processor sharing: 4 in flight on a server serving 1.3 at once each go at 1.3 / 4). The
    caller has ``demand`` workers, each sending a request (a kind after the other), then after its
    answer ``think`` seconds of its own work before the next; at most the limit in flight, and a probe
    goes alone once those in flight have ended, as the gate does."""

    work: dict[str, float]
    capacity: float
    demand: int = 32
    think: float = 0.0
    now: float = 0.0

    def run(self, pace: Pace, seconds: float) -> list[int]:
        """Serve for ``seconds`` more; the limit after each answer."""
        limits: list[int] = []
        flight: list[_Request] = []
        kinds = itertools.cycle(self.work)
        ready = [self.now] * self.demand  # when each idle worker has its next request ready
        probe_waiting: str | None = None
        until = self.now + seconds
        while self.now < until:
            while ready and ready[0] <= self.now and not any(request.probe for request in flight):
                if probe_waiting is None and len(flight) >= pace.at_once:
                    break
                kind = probe_waiting or next(kinds)
                slow = any(pace.is_slow(request.kind) for request in flight)
                probe = probe_waiting is not None or (not slow and pace.probe_due(kind))
                if probe and flight:
                    probe_waiting = kind  # the gate drains first
                    break
                probe_waiting = None
                heapq.heappop(ready)
                for other in flight:
                    other.alone = False
                flight.append(_Request(kind, self.work[kind], self.now, len(flight) + 1, not flight, probe))
                pace.started(len(flight), self.now)
            if not flight:
                self.now = ready[0]
                continue
            rate = min(1.0, self.capacity / len(flight))
            step = min(request.work for request in flight) / rate
            if ready and self.now < ready[0] < self.now + step and len(flight) < pace.at_once:
                step = ready[0] - self.now  # a worker is ready before the next answer
            self.now += step
            for request in flight:
                request.work -= step * rate
            for request in [request for request in flight if request.work <= 1e-12]:
                flight.remove(request)
                heapq.heappush(ready, self.now + self.think)
                pace.answered(
                    request.kind, self.now - request.started, end=self.now, alone=request.alone,
                    probe=request.probe, in_flight=request.in_flight,
                )  # fmt: skip
                limits.append(pace.limit)
        return limits


def test_a_server_that_serves_1_3_at_once_gets_2() -> None:
    """The real small server of issue 28: 4 in flight served 1.3 at once. It starts at 2 and keeps 2
    (1.3 at once from 2 in flight: no reason to go up, nor down to 1); started at 4, it comes down to 2."""
    pace = Pace(4)
    assert pace.limit == START_LIMIT == 2
    limits = Server(SMALL, capacity=1.3).run(pace, 30.0)
    assert set(limits) == {2}
    assert pace.lowest == 2
    from_max = Pace(4, start=4)
    limits = Server(SMALL, capacity=1.3).run(from_max, 30.0)
    assert limits[0] == 4
    assert from_max.limit == 2
    assert set(limits[len(limits) // 2 :]) == {2}
    assert from_max.lowest == 2


def test_a_server_serving_a_fraction_at_once_still_gets_two() -> None:
    """Windows where Dolibarr served 0.3 at once with 2 in flight (the caller busy between its
    requests, as at a run's start) would ask for 1 at once: the pace keeps 2, its floor, so that one
    request hanging until its timeout never holds every other one back."""
    pace = Pace(4)
    for _ in range(3):  # READ's cost alone: 10 ms
        pace.answered(READ, 0.010, end=0.0, alone=True, probe=False)
    now = 1.0
    for _ in range(60):  # 2 in flight, 10 ms each, answered every 60 ms: 0.33 served at once
        pace.started(2, now)
        now += 0.030
        pace.answered(READ, 0.010, end=now, alone=False, probe=False, in_flight=2)
        now += 0.030
        pace.answered(READ, 0.010, end=now, alone=False, probe=False, in_flight=2)
    assert pace.limit == pace.lowest == FLOOR_LIMIT == 2


def test_a_one_core_server_gets_two_never_one() -> None:
    """One at a time served: P is 1 and the limit settles at 2 (ceil(1 × 1.35)), never lower."""
    pace = Pace(4)
    limits = Server(SMALL, capacity=1).run(pace, 30.0)
    assert limits[-1] == 2
    assert min(limits) == 2


def test_a_server_that_scales_climbs_to_the_maximum_and_keeps_it() -> None:
    """A big server serves all it gets at once: the limit climbs from 2 to max_concurrency, never
    falling on the way, and stays there; started at the maximum, it never leaves it."""
    pace = Pace(4)
    limits = Server(SMALL, capacity=16).run(pace, 20.0)
    assert limits[0] == 2
    assert limits == sorted(limits)
    assert set(limits[len(limits) // 4 :]) == {4}
    from_max = Pace(4, start=4)
    assert set(Server(SMALL, capacity=16).run(from_max, 20.0)) == {4}


def test_a_big_server_is_found_out_within_a_few_windows() -> None:
    """Perfect scaling fed by hand: every request takes its time alone whatever the number in flight,
    the caller always has the limit in flight. From 2, one more at once each window: max_concurrency
    (8) in 6 windows, each lasting about WINDOW_SECONDS here (it fills its 2 × limit answers sooner)."""
    pace = Pace(8)
    assert pace.limit == 2
    now = 0.0
    pace.started(1, now)
    now += 0.010
    pace.answered(READ, 0.010, end=now, alone=True, probe=False)  # its best: 10 ms
    windows_for_the_rises = 0.0
    while pace.limit < 8 and now < 20 * WINDOW_SECONDS:
        in_flight = pace.limit
        for count in range(1, in_flight + 1):
            pace.started(count, now)
        now += 0.010
        for _ in range(in_flight):
            pace.answered(READ, 0.010, end=now, alone=False, probe=False, in_flight=in_flight)
        windows_for_the_rises = now / WINDOW_SECONDS
    assert pace.limit == 8
    assert windows_for_the_rises <= 6.5  # 6 windows, and at most a step of 10 ms past each
    assert pace.lowest == 2


def test_the_limit_rises_again_when_the_server_scales() -> None:
    """Pushed down by a small server, the limit climbs back to the maximum, not above, once it scales."""
    pace = Pace(4, start=4)
    server = Server(SMALL, capacity=1.3)
    server.run(pace, 10.0)
    assert pace.limit == 2
    server.capacity = 16
    limits = server.run(pace, 20.0)
    assert limits[-1] == 4
    assert max(limits) == 4
    assert pace.lowest == 2


def test_a_slow_kind_of_request_does_not_look_like_little_served() -> None:
    """List pages (70 ms) beside 9 ms events on a server that scales: each counts its own work alone,
    so the limit climbs to the maximum from 2 and, started there, never leaves it."""
    work = {EVENT: 0.009, PAGE: 0.070, READ: 0.010}
    limits = Server(work, capacity=16).run(Pace(4), 20.0)
    assert limits == sorted(limits)
    assert limits[-1] == 4
    assert set(Server(work, capacity=16).run(Pace(4, start=4), 20.0)) == {4}


def test_a_caller_that_is_the_bottleneck_gets_what_it_needs_at_no_cost() -> None:
    """dolirelance itself the bottleneck (the real run of issue 28: 4 follow-ups at a time, each busy
    30 ms rendering and sending between requests), on a server that would serve 2 at once: Dolibarr
    serves about 1 at once, so 2 in flight do; the follow-ups go as fast as with 4."""
    pace = Pace(4)
    limits = Server(SMALL, capacity=2, demand=4, think=0.030).run(pace, 20.0)
    assert set(limits[len(limits) // 2 :]) == {2}
    at_four = Server(SMALL, capacity=2, demand=4, think=0.030).run(Pace(4, adaptive=False), 20.0)
    assert len(limits) >= 0.98 * len(at_four)


def test_a_caller_sending_one_at_a_time_does_not_lower_the_limit() -> None:
    """An interactive remind (one request in flight at a time) never uses the limit: it says nothing of
    what Dolibarr would serve at once, and the next burst still gets what it had (started at 4: 4)."""
    pace = Pace(4, start=4)
    limits = Server(SMALL, capacity=1.3, demand=1, think=0.005).run(pace, 20.0)
    assert set(limits) == {4}


def test_a_window_of_unprobed_slow_kinds_holds() -> None:
    """Pages of 500 quotes (350 ms alone, never probed, never alone) read beside quotes on a one-core
    server: the quote reads have a best, the pages none; the pages' time is most of the windows', so
    nothing is decided and a long list keeps being read as many pages at once as before (here 4)."""
    pace = Pace(4, start=4)
    pace.started(1, 0.0)
    pace.answered(READ, 0.010, end=0.010, alone=True, probe=False)
    limits = Server({"GET /proposals limit=500": 0.35, READ: 0.010}, capacity=1, now=0.010).run(pace, 60.0)
    assert len(limits) > 100
    assert set(limits) == {4}


def test_a_frequent_kind_is_measured_alone_then_seldom() -> None:
    """A kind seen a few times goes in company; seen often, one request goes alone (its best), then seldom."""
    pace = Pace(4)
    due = []
    for index in range(200):
        due.append(pace.probe_due(EVENT))
        if due[-1]:
            assert not pace.probe_due(EVENT)  # one probe at a time
        pace.answered(EVENT, 0.009, end=0.01 * index, alone=False, probe=due[-1])
    first = due.index(True)
    assert first == FIRST_PROBE_AFTER
    assert 2 <= due.count(True) <= 6  # then after 20, 40, 60… answers in company
    single = Pace(4)
    assert not any(single.probe_due(READ) for _ in range(FIRST_PROBE_AFTER))  # unanswered: none yet


def test_a_change_is_judged_on_a_whole_window_after_it() -> None:
    """Answers right after a change (still those sent under the former limit) do not decide another:
    a window lasts at least WINDOW_SECONDS and 2 × limit answers."""
    pace = Pace(4, start=4)
    now = 0.0
    pace.started(1, now)
    now += 0.010
    pace.answered(READ, 0.010, end=now, alone=True, probe=False)
    while pace.limit == 4:  # 4 in flight, one answer every 10 ms: served 1 at once
        pace.started(4, now)
        now += 0.010
        pace.answered(READ, 0.040, end=now, alone=False, probe=False, in_flight=4)
    assert pace.limit == 3
    changed_at = now
    while now - changed_at < WINDOW_SECONDS * 0.9:  # many answers, a short time: no decision yet
        now += 0.001
        pace.answered(READ, 0.040, end=now, alone=False, probe=False, in_flight=4)
    assert pace.limit == 3


def test_fixed_pace_and_a_maximum_of_one_never_change() -> None:
    """adapt_concurrency = false keeps max_concurrency from the start; a maximum of 1 has nothing to adapt."""
    fixed = Pace(4, adaptive=False)
    assert fixed.limit == 4
    assert Server({READ: 0.010}, capacity=1).run(fixed, 5.0)[-1] == 4
    assert not fixed.probe_due(EVENT)
    single = Pace(1)
    assert set(Server({READ: 0.010}, capacity=1).run(single, 2.0)) == {1}
    with pytest.raises(ValueError):
        Pace(0)
    with pytest.raises(ValueError):
        Pace(4, start=0)


def test_a_maximum_of_one_starts_and_stays_at_one() -> None:
    """max_concurrency = 1: one request at a time from the first, even on a server that would serve
    many at once (the start at 2 is bounded by the maximum), and no request is held back to probe."""
    single = Pace(1)
    assert (single.limit, single.lowest) == (1, 1)
    limits = Server(SMALL, capacity=16).run(single, 5.0)
    assert len(limits) > 100
    assert set(limits) == {1}
    assert single.lowest == 1
    assert not single.probe_due(READ)


def test_a_held_pace_stays_under_its_ceiling_and_climbs_once_it_is_lifted() -> None:
    """The automatic run holds the pace at ``[auto] requests_at_once``: at 1, one request at a time and
    none held back to probe, even on a server that would serve 16 at once; at 2 it adapts up to 2 only;
    released, it climbs to the maximum as before. Two holds at once (two runs in one process): the
    lowest, until it is released."""
    pace = Pace(4)
    server = Server(SMALL, capacity=16)
    pace.hold(1)
    assert (pace.at_once, pace.lowest) == (1, 1)
    assert set(server.run(pace, 3.0)) <= {2}  # the limit itself is left as it was
    assert pace.at_once == 1
    assert not pace.probe_due(READ) and not pace.probe_due(EVENT)
    pace.hold(2)  # a second caller holds 2: the first's 1 still holds
    assert pace.ceiling == 1
    pace.release(1)
    server.run(pace, 3.0)
    assert (pace.limit, pace.at_once) == (2, 2)
    pace.release(2)
    server.run(pace, 3.0)
    assert pace.at_once == pace.limit == pace.ceiling == 4
    assert pace.lowest == 1
    pace.hold(9)  # above the maximum: the maximum
    assert pace.ceiling == 4
    pace.release(9)
    with pytest.raises(ValueError):
        pace.hold(0)


class Ticks:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_gate_holds_at_most_the_limit_and_lets_a_probe_go_alone() -> None:
    """Never more than the limit in flight; a probe waits for the server to be free and goes alone."""
    pace = Pace(3, start=3)
    for _ in range(FIRST_PROBE_AFTER):  # READ seen often in company, never alone: its next request probes
        pace.answered(READ, 0.010, end=0.0, alone=False, probe=False)
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


async def test_pages_of_a_list_go_up_to_the_maximum_whatever_the_limit() -> None:
    """A list read in one go keeps ``max_concurrency`` pages in flight while the pace holds single
    requests at its start of 2; pages are never probes, and requests beyond the maximum wait."""
    pace = Pace(4)
    assert pace.limit == 2
    gate = PaceGate(pace, clock=Ticks())
    release = asyncio.Event()
    most = 0
    probes = 0

    async def request(kind: str, *, bulk: bool) -> None:
        nonlocal most, probes
        async with gate.slot(kind, bulk=bulk) as slot:
            most = max(most, gate.in_flight)
            probes += bool(slot.probe)
            await release.wait()
            slot.answered()

    pages = [asyncio.ensure_future(request("GET /proposals limit=500", bulk=True)) for _ in range(6)]
    await asyncio.sleep(0)
    assert gate.in_flight == 4  # the maximum, not the pace's 2
    release.set()
    await asyncio.gather(*pages)
    assert most == 4 and probes == 0 and pace.limit == 2
    release.clear()
    reads = [asyncio.ensure_future(request(READ, bulk=False)) for _ in range(6)]
    await asyncio.sleep(0)
    assert gate.in_flight == 2  # single requests keep to the pace
    release.set()
    await asyncio.gather(*reads)


async def test_a_gate_holding_one_sends_single_requests_one_by_one_and_pages_beside_them() -> None:
    """``holding(1)``: a second single request waits for the first; list pages still go up to the
    maximum beside it; once the hold ends, the pace's own limit (2 at its start) lets them in again."""
    pace = Pace(4)
    gate = PaceGate(pace, clock=Ticks())
    release = asyncio.Event()
    singles_at_once: list[int] = []
    singles = 0

    async def request(kind: str, *, bulk: bool) -> None:
        nonlocal singles
        async with gate.slot(kind, bulk=bulk) as slot:
            if not bulk:
                singles += 1
                singles_at_once.append(singles)
            await release.wait()
            slot.answered()
            if not bulk:
                singles -= 1

    with gate.holding(1):
        reads = [asyncio.ensure_future(request(READ, bulk=False))]
        pages = [asyncio.ensure_future(request(PAGE, bulk=True)) for _ in range(3)]
        reads += [asyncio.ensure_future(request(READ, bulk=False)) for _ in range(2)]
        await asyncio.sleep(0)
        assert gate.in_flight == 4  # the pages beside the one read: up to max_concurrency
        assert singles == 1  # the two other reads wait
        release.set()
        await asyncio.gather(*reads, *pages)
    assert set(singles_at_once) == {1}
    release.clear()
    reads = [asyncio.ensure_future(request(READ, bulk=False)) for _ in range(3)]
    await asyncio.sleep(0)
    assert gate.in_flight == 2  # the hold is over: the pace's limit again
    release.set()
    await asyncio.gather(*reads)


def test_holds_that_overlap_keep_the_lowest_until_each_ends() -> None:
    """Two callers hold the gate and end in the order they began (not nested): the lowest holds while
    both do, the other's while it alone does, none once both have ended."""
    pace = Pace(4, start=4)
    gate = PaceGate(pace, clock=Ticks())
    first, second = gate.holding(1), gate.holding(2)
    first.__enter__()
    second.__enter__()
    assert pace.at_once == 1  # the second's 2 does not lift the first's 1
    first.__exit__(None, None, None)
    assert pace.at_once == 2
    second.__exit__(None, None, None)
    assert pace.at_once == pace.ceiling == 4


async def test_a_probe_waits_for_a_hung_request_only_a_moment() -> None:
    """A request hangs (an upload, until its timeout): the probe due behind it waits a moment for the
    gate to drain, then goes with the others (not alone), and the requests behind it are not held."""
    pace = Pace(3, start=3)
    for _ in range(FIRST_PROBE_AFTER):  # READ seen often in company, never alone: its next request probes
        pace.answered(READ, 0.010, end=0.0, alone=False, probe=False)
    gate = PaceGate(pace, clock=Ticks())
    hung = asyncio.Event()  # never set: the upload's answer never comes
    started: list[bool] = []

    async def upload() -> None:
        async with gate.slot("POST /documents/upload"):
            await hung.wait()

    async def read() -> None:
        async with gate.slot(READ) as slot:
            started.append(bool(slot.probe))
            slot.answered()

    held = asyncio.ensure_future(upload())
    await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(read(), read()), timeout=5)  # without the deadline: never
    assert started == [False, False]  # the probe gave up being alone, and nobody waited for the upload
    assert gate.in_flight == 1
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)
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


async def test_a_one_core_dolibarr_never_gets_more_requests_at_once_than_it_serves_over_http(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, caplog: pytest.LogCaptureFixture
) -> None:
    """A fake Dolibarr serving one request at a time (25 ms each), max_concurrency 4: the client starts
    at 2 at once and, served 1 at once, never goes above it (ceil(1 × 1.35) = 2, whatever the client's
    own delay adds to each latency) over 160 quote reads side by side: no change logged above 2, the
    server never had more than 2 of them at once."""
    fake_dolibarr.cost = CostModel(per_request=0.025, per_row=0.0, kinds={}, capacity=1)
    quote_id = sample_data.quotes["about_to_expire"]
    caplog.set_level(logging.INFO, logger="dolirelance.dolibarr.pace")
    with serve_in_thread(create_app(fake_dolibarr)) as url:
        async with DolibarrClient(url, sample_data.api_keys["jdupont"], max_concurrency=4) as dolibarr:
            assert dolibarr.pace.limit == 2
            quotes = await asyncio.gather(*(dolibarr.get_quote(quote_id) for _ in range(80)))
            assert {quote.id for quote in quotes} == {quote_id}
            assert dolibarr.pace.limit <= 2
            await asyncio.gather(*(dolibarr.get_quote(quote_id) for _ in range(80)))
            assert dolibarr.pace.limit <= 2
            assert dolibarr.pace.lowest <= 2
    assert fake_dolibarr._costs is not None and fake_dolibarr._costs.most_busy_workers == 2
    changes = [record.getMessage() for record in caplog.records if record.name == "dolirelance.dolibarr.pace"]
    assert all(
        change.startswith(("Dolibarr pace: 1 request at once", "Dolibarr pace: 2 requests at once"))
        for change in changes
    ), changes


async def test_an_answer_not_marked_is_not_measured_and_its_probe_is_offered_again() -> None:
    """An error (no answer marked) teaches the pace nothing; the probe it was goes to the next request."""
    pace = Pace(2)
    for _ in range(FIRST_PROBE_AFTER):
        pace.answered(READ, 0.010, end=0.0, alone=False, probe=False)
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
        pace.answered(PAGE, 1.2, end=1.2, alone=False, probe=False, in_flight=3)
    assert pace.is_slow(PAGE)
    assert not pace.is_slow(READ)  # never seen: nothing says so


async def test_no_probe_waits_for_a_slow_request_in_flight() -> None:
    """While a slow page is in flight, a quote read due for its probe goes in company instead."""
    pace = Pace(4)
    for _ in range(FIRST_PROBE_AFTER):
        pace.answered(PAGE, 1.2, end=1.2, alone=False, probe=False, in_flight=3)
        pace.answered(READ, 0.010, end=1.2, alone=False, probe=False, in_flight=2)
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


async def test_the_service_key_and_the_acting_key_share_one_limit(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: MutableClock
) -> None:
    """A sales person's key and ``[dolibarr] service_api_key`` reach one Dolibarr: their requests go
    through one gate, so an automatic run held at 1 never has one of each in flight at once."""
    fake_dolibarr.cost = CostModel(per_request=0.01, per_row=0.0, kinds={}, capacity=None)
    admin_key = SecretStr(sample_data.api_keys["admin"])
    service = settings.dolibarr.model_copy(update={"service_api_key": admin_key})
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    quote_id = sample_data.quotes["about_to_expire"]
    async with open_runtime(settings.model_copy(update={"dolibarr": service}), transport=transport, now=clock) as rt:
        assert rt.service_dolibarr is not None
        assert rt.service_dolibarr.pace is rt.dolibarr.pace
        with rt.dolibarr.holding(1):  # held once, through the acting key: the service key's requests too
            await asyncio.gather(
                *(client.get_quote(quote_id) for client in (rt.dolibarr, rt.service_dolibarr) for _ in range(6))
            )
        assert rt.dolibarr.pace.ceiling == rt.dolibarr.pace.max_limit  # the hold undone
    assert fake_dolibarr._costs is not None and fake_dolibarr._costs.most_busy_workers == 1
