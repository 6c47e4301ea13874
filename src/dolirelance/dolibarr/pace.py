"""Dolibarr's pace: how many requests it gets at once, as many as it really serves at once.

Why: a small Dolibarr (Apache with mod_php on 2 cores shared with dolirelance) given 4 requests at
once mostly queues them: a run hardly faster than at 2 at once, but half as much server time again
per request (below), which the sales people using Dolibarr meanwhile feel (docs/automatic.md,
"Dolibarr's pace"). A bigger
server serves 4 or more at once and a run is faster for it. So the number of requests in flight
adapts, between 2 (:data:`FLOOR_LIMIT`; 1 when the maximum is 1) and ``[dolibarr] max_concurrency``,
to the parallelism Dolibarr delivers.

Why it starts at :data:`START_LIMIT` (2, or ``max_concurrency`` when lower) and rises only when
Dolibarr served :data:`RISE_SHARE` (0.9) of the limit: measured by the integrator on a real Dolibarr
20.0.0 (Apache mod_php, MariaDB, the same 2 cores as dolirelance), ``run --once`` sending 200
follow-ups (816 requests), server time = Σ Apache's ``%D`` per follow-up, three interleaved rounds:

- fixed 4 at once: 82–94 ms (wall 8.7–10.0 s); fixed 2: 57–60.5 ms (wall 10.2–10.7 s); fixed 1:
  44 ms (wall 14.5 s: the least server time, but 40 % more wall time than 2);
- the pace before, starting at 4 and rising at 0.8 × the limit: 64–74 ms. It spent the run's first
  seconds at 3–4 before it knew each kind's cost alone, and at 2 in flight Dolibarr served 1.6–1.7 at
  once, enough for 0.8 × 2: it rose to 3, then fell back;
- starting at 2 and rising at 0.9 × the limit: 58–65 ms, wall 10.4–10.5 s, as good as fixed 2 (issue
  28 asks ≤ 60 ms). A bigger server costs a few windows: one more at once per window (0.3 s) once
  each kind's cost alone is known.

Not to the latency: the client's own delay (its event loop busy rendering and sending, 5–10 ms a
request) is in every latency it sees, its best too, so 3 requests queued in Apache at 1.5 times their
time alone looked 1.0–1.2 times their best to the client, and a latency rule kept 3–4 at once where
2 did as well (issue 28). What Dolibarr served is seen in the throughput, whoever is the bottleneck.

How (:class:`Pace`, pure logic fed with answers and their times; :class:`PaceGate`, the async gate
around each request, which owns the clock):

- Each kind of request (method and route, a list's page size too) has its own cost alone: a list
  page of 100 quotes is several events' worth of work for Dolibarr.
- A kind's **best** is the median of its last :data:`SOLO_SAMPLES_KEPT` answers given while no other
  request was in flight (alone): its cost when nothing of ours queues. Not the minimum of every
  answer: with the server always holding 4 of ours, that minimum is itself a queued time; and a
  minimum is one lucky outlier on a loaded machine.
- A kind seen often with no answer alone yet, or none for a while (:meth:`Pace.probe_due`), sends its
  next request alone: the gate lets the requests in flight end, sends it, then the others. A kind seen
  a few times only (the report's one events list) is never held back for that: it has no best; nor is
  a slow kind (over :data:`PROBE_AT_MOST_SECONDS`: pages of 500 quotes), whose probe would stall the
  others for as long; and no probe waits for a slow request in flight to end, nor longer than
  :data:`PROBE_WAIT_AT_MOST_SECONDS` for any (a hung upload would hold every request behind the
  probe until its timeout): it then goes with the others, and a later request probes.
- **Delivered parallelism.** Answers are counted in windows of at least :data:`WINDOW_SECONDS` and
  ``2 × limit`` answers. A window's ``P`` is the work alone Dolibarr got done per second of the
  window: Σ (each answer's kind best) / the window's wall time, i.e. how many requests it served at
  once. An answer of a kind with no best is counted as the requests with a best did (``P`` = the
  requests in flight on average, Σ latency / wall time, × Σ best / Σ latency of those with a best);
  a window mostly made of them (by latency: unprobed list pages) decides nothing.
- The limit aims at ``ceil(P × FALL_MARGIN)``: it falls by 1 when that is below it, never under
  :data:`FLOOR_LIMIT`: one request hanging until its timeout must not hold every other back (a server serving
  1.3 at once keeps 2: 1.3 × 1.35 = 1.8; started at 4 it would come down to 2), and rises by 1 when
  ``P`` is at least :data:`RISE_SHARE` of the limit (Dolibarr served nearly all it got: a server that
  scales keeps growing up to ``max_concurrency``; the real small one, 1.6–1.7 at once at 2 in flight,
  does not). Between the two it stays. When dolirelance itself is the
  bottleneck (rendering, SMTP), ``P`` is low and fewer in flight costs nothing: the run's wall time
  is set by the client.
- A window lowers the limit only when the target would have held back some of the requests the
  caller had in flight at once in it, and raises it only when the caller reached the limit: a caller
  that sends one request at a time (an interactive ``remind``) says nothing of what Dolibarr would
  serve at once, and must not lower the limit for the next burst. A caller busy between its
  requests (4 follow-ups at a time, each rendering and sending between its requests) that reaches
  3 in flight now and then but is served 1 at once gets 2: the third only queued. No window spans a
  pause of the caller (nothing in flight for :data:`IDLE_GAP_SECONDS`): it restarts after it.
- A rise that a later window takes back is tried again only after twice as many windows as the last
  time (up to :data:`MOST_WINDOWS_BEFORE_RETRY`); a level that holds for :data:`LEVEL_HOLDS_AFTER`
  windows in a row is tried freely again.
- Pages of lists are let in up to ``max_concurrency`` at once whatever the limit, and never sent
  alone as probes: a list is read in one go (the step windows, ``quotes``, the report), its pages are
  few against a run's follow-ups, and they are never measured alone, so no window of them would ever
  raise a limit started at 2. Held at 2, ``quotes --json`` on the bench's fake took 1.22 × its floor
  instead of 1.10–1.13 × (on the real small server, 4.8–5.2 s either way).

- A caller may hold the requests in flight under a ceiling for a while (:meth:`PaceGate.holding`,
  list pages aside): the automatic run holds them at ``[auto] requests_at_once``, 1 by default. The
  pace cannot tell from the client whether 1 or 2 at once serves a small server better (its own work is
  in every latency and throughput it sees), and never goes under 2 by itself: on the real server
  above, 2 at once gave the most work done per second, 1 the least server time per follow-up (46–51 ms
  against 62–67 ms, issue 28 asking at most 60), which a background run values more.

Hand-written: the PyPI packages found for adaptive concurrency (ace-concurrency, adaptive-concurrency,
aimd-limiter) are at 0.1 (2025–2026), not well-kept libraries yet, and they are latency rules fed one
latency; this one needs each kind's cost measured alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "FALL_MARGIN",
    "FIRST_PROBE_AFTER",
    "FLOOR_LIMIT",
    "IDLE_GAP_SECONDS",
    "LEVEL_HOLDS_AFTER",
    "MOST_WINDOWS_BEFORE_RETRY",
    "PROBE_AT_MOST_SECONDS",
    "PROBE_EVERY",
    "PROBE_WAIT_AT_MOST_SECONDS",
    "RISE_SHARE",
    "SOLO_SAMPLES_KEPT",
    "START_LIMIT",
    "WINDOW_SECONDS",
    "Pace",
    "PaceChange",
    "PaceGate",
    "Slot",
]

log = logging.getLogger(__name__)

START_LIMIT = 2  # requests at once before Dolibarr's pace is known
FLOOR_LIMIT = 2  # the fewest requests at once the pace goes down to (1 when max_concurrency is 1)
SOLO_SAMPLES_KEPT = 20  # a kind's best: the median of its last 20 answers given alone
# The limit falls while ceil(P × 1.35) is below it: a server serving 1.1–1.4 at once (the real one of
# issue 28 at 4 in flight) gets 2; at most 0.74 at once, 1.
FALL_MARGIN = 1.35
# It rises when P is at least 0.9 × the limit: a server serving nearly all it gets is given one more.
# Not 0.8: the real small server of issue 28 served 1.6–1.7 at once at 2 in flight, rose to 3 and fell
# back. Above 1 / FALL_MARGIN (0.74): a level just reached is not left again with the same P (no see-saw).
RISE_SHARE = 0.9
WINDOW_SECONDS = 0.3  # a window lasts at least this long (and 2 × limit answers): P over a few answers is noise
UNPROBED_AT_MOST = 0.5  # a window whose answers with no best took more than half its latency decides nothing
IDLE_GAP_SECONDS = 1.0  # nothing in flight this long: the caller paused, the window restarts after it
FIRST_PROBE_AFTER = 8  # answers of a kind in company, none alone, before one is sent alone
PROBE_EVERY = 200  # answers of a kind in company before one of them is sent alone again
# A probe stalls the others for about its own time: a kind slower than this alone (a page of 500
# quotes) is never probed, only measured when it happens to be alone (the first page of a list often
# is). Its time alone is at least its latency shared by the requests in flight with it.
PROBE_AT_MOST_SECONDS = 0.1
# A probe waits at most this long for the requests in flight to end, then goes with them (not alone):
# the others wait behind it meanwhile, and a request in flight may hang until its timeout.
PROBE_WAIT_AT_MOST_SECONDS = PROBE_AT_MOST_SECONDS
MOST_WINDOWS_BEFORE_RETRY = 64  # a level that fell is tried again after 2, 4, … up to 64 windows
LEVEL_HOLDS_AFTER = 8  # windows in a row at a level before its past falls are forgotten


@dataclass(frozen=True, slots=True)
class PaceChange:
    """The limit changed: how many requests at once now, and how many Dolibarr served at once before."""

    limit: int
    previous: int
    served: float  # the deciding window's P: work alone done per second, i.e. requests served at once

    def describe(self) -> str:
        requests = "request" if self.limit == 1 else "requests"
        return (
            f"Dolibarr pace: {self.limit} {requests} at once "
            f"(Dolibarr served {self.served:.1f} at once with {self.previous} in flight)"
        )


@dataclass(slots=True)
class _Kind:
    solo: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=SOLO_SAMPLES_KEPT))
    since_solo: int = 0  # answers in company since the last one alone
    # latest latencies shared by the requests in flight when each started: at most its time alone
    shares: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=FIRST_PROBE_AFTER))
    probing: bool = False  # a request of this kind is on its way alone

    def best(self) -> float | None:
        return statistics.median(self.solo) if self.solo else None

    def slow(self) -> bool:
        """Too slow to probe (:data:`PROBE_AT_MOST_SECONDS`), by its latest shares of latency."""
        return bool(self.shares) and statistics.median(self.shares) > PROBE_AT_MOST_SECONDS


@dataclass(slots=True)
class _Window:
    """The answers since the last decision: what Dolibarr served over a stretch of wall time."""

    start: float | None = None  # on the gate's clock
    answers: int = 0
    latency: float = 0.0  # Σ latency of every answer: the requests in flight × the wall time
    known_latency: float = 0.0  # Σ latency of the answers whose kind has a best
    known_best: float = 0.0  # Σ their kinds' bests: their work alone
    most_in_flight: int = 0

    def served(self, end: float) -> float | None:
        """P: requests served at once over the window ending at ``end``; None when too few have a best."""
        assert self.start is not None
        wall = end - self.start
        if wall <= 0 or self.known_latency <= 0 or self.known_latency < (1 - UNPROBED_AT_MOST) * self.latency:
            return None
        return self.latency / wall * (self.known_best / self.known_latency)


class Pace:
    """The adaptive limit of requests in flight, from 1 to ``max_limit``; fed answers and their times
    on the caller's clock, never reading one.

    ``adaptive=False`` keeps the limit at ``max_limit`` (``[dolibarr] adapt_concurrency = false``).
    ``start``: the limit before Dolibarr's pace is known, :data:`START_LIMIT` unless told (at most
    ``max_limit``).
    """

    def __init__(self, max_limit: int, *, adaptive: bool = True, start: int = START_LIMIT) -> None:
        if max_limit < 1:
            raise ValueError("max_limit must be >= 1")
        if start < 1:
            raise ValueError("start must be >= 1")
        self.max_limit = max_limit
        self.adaptive = adaptive and max_limit > 1
        # most Dolibarr servers are small (2 cores, often shared): starting at 2 spares them the first
        # seconds of queueing, and a server that serves more is found out in a few windows
        self.limit = min(max_limit, start) if self.adaptive else max_limit
        # never fewer than 2 at once (when allowed 2): one request that hangs until its timeout (an
        # upload, a slow PDF) must not hold every other one back
        self.floor = min(max_limit, FLOOR_LIMIT)
        self.lowest = self.limit  # the fewest at once during this pace's life, for the reports
        # callers' own bounds under max_limit for a while (:meth:`hold`): the automatic run's
        # ``[auto] requests_at_once``; the lowest holds; list pages still go up to max_limit
        self._holds: list[int] = []
        self._kinds: dict[str, _Kind] = {}
        self._window = _Window()
        self._last_end: float | None = None  # of the latest answer
        self._windows_at_limit = 0  # windows decided since the limit last changed
        self._falls_from: collections.Counter[int] = collections.Counter()  # per level, since it last held

    @property
    def at_once(self) -> int:
        """Requests let in at once now, list pages aside: the limit, under the caller's ceiling."""
        return min(self.limit, self.ceiling)

    @property
    def ceiling(self) -> int:
        """The lowest bound held now (:meth:`hold`), else ``max_limit``."""
        return min(self._holds, default=self.max_limit)

    def hold(self, ceiling: int) -> None:
        """At most ``ceiling`` requests at once (list pages aside) until :meth:`release`; with several
        held (two runs at once in one process), the lowest. The limit still adapts under it."""
        if ceiling < 1:
            raise ValueError("ceiling must be >= 1")
        self._holds.append(min(ceiling, self.max_limit))
        self.lowest = min(self.lowest, self.at_once)

    def release(self, ceiling: int) -> None:
        """End one :meth:`hold` of ``ceiling``."""
        self._holds.remove(min(ceiling, self.max_limit))

    def probe_due(self, kind: str) -> bool:
        """True when the next request of ``kind`` must go alone (the gate then drains first); taken once."""
        if not self.adaptive or self.at_once == 1:
            return False  # one at a time: every answer is an answer alone
        state = self._kinds.setdefault(kind, _Kind())
        if state.probing:
            return False
        # a kind seen often only (a one-off request never holds the others back), sooner while it
        # has few answers alone, so its best firms up early in a run
        after = min(PROBE_EVERY, 20 * len(state.solo)) if state.solo else FIRST_PROBE_AFTER
        due = state.since_solo >= after and not state.slow()
        state.probing = due
        return due

    def is_slow(self, kind: str) -> bool:
        """True for a kind too slow to probe (see :data:`PROBE_AT_MOST_SECONDS`): nor is a probe sent
        while one is in flight, since the probe would wait for it to end, the others stalled meanwhile."""
        state = self._kinds.get(kind)
        return state is not None and state.slow()

    def probe_dropped(self, kind: str) -> None:
        """The probe of ``kind`` got no answer to measure (an error, cancelled): the next request probes."""
        if kind in self._kinds:
            self._kinds[kind].probing = False

    def started(self, in_flight: int, at: float) -> None:
        """A request started at ``at``; ``in_flight`` counts it."""
        window = self._window
        paused = in_flight == 1 and self._last_end is not None and at - self._last_end >= IDLE_GAP_SECONDS
        if paused or window.start is None:
            self._window = window = _Window(start=at)  # the caller's pause is not Dolibarr's pace
        window.most_in_flight = max(window.most_in_flight, in_flight)

    def answered(
        self, kind: str, seconds: float, *, end: float, alone: bool, probe: bool, in_flight: int = 1
    ) -> PaceChange | None:
        """One answer of ``kind`` after ``seconds``, in at ``end``; ``alone``: no other request was in
        flight meanwhile; ``in_flight``: the requests in flight when it started, itself included.
        Returns the change of limit this answer decided, if any."""
        if not self.adaptive:
            return None
        state = self._kinds.setdefault(kind, _Kind())
        if probe:
            state.probing = False
        state.shares.append(seconds / max(1, in_flight))
        if alone or probe:  # a probe is alone by the gate's rule
            state.solo.append(seconds)
            state.since_solo = 0
        else:
            state.since_solo += 1
        self._last_end = end
        window = self._window
        if window.start is None:
            window.start = end - seconds
        window.answers += 1
        window.latency += seconds
        best = state.best()
        if best is not None:
            window.known_latency += seconds
            window.known_best += best
        if window.answers < 2 * self.limit or end - window.start < WINDOW_SECONDS:
            return None
        self._window = _Window(start=end)
        return self._decide(window, end)

    def _decide(self, window: _Window, end: float) -> PaceChange | None:
        served = window.served(end)
        if served is None:
            return None  # too few answers with a best to tell
        previous = self.limit
        target = math.ceil(served * FALL_MARGIN)
        # a fall only when the target would have held back some of the requests the caller had in
        # flight; a rise only when the caller reached the limit: a window of one request at a time
        # says nothing of what Dolibarr would serve at once
        if target < self.limit and window.most_in_flight > target and self.limit > self.floor:
            self._falls_from[self.limit] += 1
            self.limit -= 1
            self.lowest = min(self.lowest, self.limit)
        elif (
            served >= RISE_SHARE * self.limit
            and window.most_in_flight >= self.limit
            and self.limit < self.ceiling
            and self._may_retry(self.limit + 1)
        ):
            self.limit += 1
        else:
            self._windows_at_limit += 1
            if self._windows_at_limit >= LEVEL_HOLDS_AFTER:
                self._falls_from[self.limit] = 0  # this level holds
            return None
        self._windows_at_limit = 0
        return PaceChange(self.limit, previous, served)

    def _may_retry(self, level: int) -> bool:
        """A level the limit fell from is tried again after 2, 4, 8… windows below it."""
        falls = self._falls_from[level]
        wait = min(2**falls, MOST_WINDOWS_BEFORE_RETRY) if falls else 0
        return self._windows_at_limit + 1 >= wait


class Slot:
    """A request's place in a :class:`PaceGate`, held from ``async with`` to its end.

    :meth:`answered` marks the answer that is measured (an error answer is not: its cost is not the kind's).
    Whether it goes alone (a probe) is decided when its turn comes, with the answers in by then.
    """

    __slots__ = (
        "_alone_at_start", "_ended", "_gate", "_in_flight", "_started", "_starts_before", "bulk", "kind", "probe",
        "probe_deadline_set", "seconds",
    )  # fmt: skip

    def __init__(self, gate: PaceGate, kind: str, *, bulk: bool = False) -> None:
        self._gate = gate
        self.kind = kind
        self.bulk = bulk  # a page of a list: up to the maximum at once, never a probe
        self.probe_deadline_set = False  # a probe waiting for the gate to drain gives up after a while
        self.probe: bool | None = None  # decided at its turn
        self.seconds: float | None = None
        self._started = 0.0
        self._alone_at_start = False
        self._starts_before = 0
        self._in_flight = 1
        self._ended = 0.0

    def answered(self) -> None:
        self._ended = self._gate.clock()
        self.seconds = self._ended - self._started

    async def __aenter__(self) -> Slot:
        gate = self._gate
        try:
            await gate._enter(self)
        except BaseException:
            self._drop_probe()
            raise
        self._starts_before = gate.started - 1
        self._alone_at_start = gate.in_flight == 1
        self._in_flight = gate.in_flight
        self._started = gate.clock()
        gate.pace.started(gate.in_flight, self._started)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        gate = self._gate
        # alone: nothing else in flight when it started, nothing started since
        alone = self._alone_at_start and gate.started == self._starts_before + 1
        gate._leave(self)
        if self.seconds is None:
            self._drop_probe()
            return
        change = gate.pace.answered(
            self.kind, self.seconds, end=self._ended, alone=alone, probe=bool(self.probe), in_flight=self._in_flight
        )
        if change is not None:
            log.info("%s", change.describe())
            gate._wake()  # a higher limit lets more in at once

    def _drop_probe(self) -> None:
        if self.probe:
            self._gate.pace.probe_dropped(self.kind)


class PaceGate:
    """At most ``pace.limit`` requests in flight, first come first served; a probe goes alone.

    ``async with gate.slot(kind) as slot:`` holds a place while the request is sent; ``slot.answered()``
    once the answer is in.
    """

    def __init__(self, pace: Pace, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.pace = pace
        self.clock = clock
        self.in_flight = 0
        self.started = 0  # requests started, ever
        self._probe_in_flight = False
        self._kinds_in_flight: collections.Counter[str] = collections.Counter()
        self._waiting: collections.deque[tuple[asyncio.Future[None], Slot]] = collections.deque()

    def slot(self, kind: str, *, bulk: bool = False) -> Slot:
        return Slot(self, kind, bulk=bulk)

    def _may_start(self, slot: Slot) -> bool:
        if slot.bulk:  # list pages keep max_concurrency at once: see the module docstring
            slot.probe = False
            return not self._probe_in_flight and self.in_flight < self.pace.max_limit
        if slot.probe is None:  # its turn: alone or not, from the answers in by now
            slow = any(self.pace.is_slow(kind) for kind, count in self._kinds_in_flight.items() if count)
            slot.probe = not slow and self.pace.probe_due(slot.kind)
        if self._probe_in_flight:
            return False
        if not slot.probe:
            return self.in_flight < self.pace.at_once
        if self.in_flight and not slot.probe_deadline_set:
            slot.probe_deadline_set = True
            asyncio.get_running_loop().call_later(PROBE_WAIT_AT_MOST_SECONDS, self._give_up_probe, slot)
        return self.in_flight == 0

    @contextlib.contextmanager
    def holding(self, ceiling: int) -> Iterator[None]:
        """At most ``ceiling`` requests at once meanwhile, list pages aside (:meth:`Pace.hold`)."""
        self.pace.hold(ceiling)
        try:
            yield
        finally:
            self.pace.release(ceiling)
            self._wake()  # a higher ceiling lets more in at once

    def _give_up_probe(self, slot: Slot) -> None:
        """A probe still waiting for the requests in flight to end goes as any request: one of them may
        take its whole timeout (a hung upload), and every request behind the probe would wait as long."""
        if slot.probe and any(waiting is slot for _, waiting in self._waiting):
            slot.probe = False
            self.pace.probe_dropped(slot.kind)
            self._wake()

    def _start(self, slot: Slot) -> None:
        self.in_flight += 1
        self.started += 1
        self._kinds_in_flight[slot.kind] += 1
        self._probe_in_flight = bool(slot.probe)

    async def _enter(self, slot: Slot) -> None:
        if not self._waiting and self._may_start(slot):
            self._start(slot)
            return
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (ticket, slot)
        self._waiting.append(entry)
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._leave(slot)  # let in, then cancelled before it could start: give the place back
            else:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                self._wake()  # it may have held back those behind it
            raise

    def _leave(self, slot: Slot) -> None:
        self.in_flight -= 1
        self._kinds_in_flight[slot.kind] -= 1
        if slot.probe:
            self._probe_in_flight = False
        self._wake()

    def _wake(self) -> None:
        # strictly in order: a probe at the head holds the others back until the server is free
        while self._waiting:
            ticket, slot = self._waiting[0]
            if ticket.done():
                self._waiting.popleft()
                continue
            if not self._may_start(slot):
                return
            self._waiting.popleft()
            self._start(slot)
            ticket.set_result(None)
