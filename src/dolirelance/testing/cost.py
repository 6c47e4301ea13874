"""What a request costs a real Dolibarr, so that a benchmark on the fake predicts a real server.

Measured on a real Dolibarr 20.0.0 (2 cores, MariaDB, loopback, 10,006 open proposals; ``shared/dolibarr/API.md``,
"What a list costs", and issue 28: Apache with mod_php, 8 workers):

- about 10 ms per request whatever it asks (bootstrap, authentication, routing);
- a list: about 0.7 ms per object the answer holds, whatever ``properties`` says (the server loads
  every object of a page, its lines, contacts and links, before it drops the fields nobody asked
  for). Nothing per property kept: pages of 500 open quotes with ``properties=id``, the 10 of the
  overview and the 19 of a run took the same time on a real 20.0.0 (integrator, 7 Dec 2026:
  9.4–9.6, 9.0–9.4 and 6.7–8.3 s, ±20 % under load); ``per_property`` stays for whole objects (~100
  properties and their lines, ~12 KB each), which no list of dolirelance asks for. (Issue 28's
  model charged 0.04 ms a property, calibrated on the first-day dry run at 0.76–0.99 × the floor;
  the real server does not show it, and the dry run's gap is elsewhere: docs/automatic.md);
- requests on one object, by kind (issue 28, a real run of 200 follow-ups): ``PUT /documents/builddoc``
  ~140 ms (the PDF is drawn again), ``POST /agendaevents`` ~15 ms, ``GET /proposals/{id}`` ~19 ms.
  ``GET /documents`` (the proposal fetched, its directory and file index listed) and
  ``GET /documents/download`` (an access check, the file read and encoded) measured relative to a
  bare request (``GET /status``) on a real 20.0.0 (PHP's built-in server, MariaDB, 30 requests each,
  7 Dec 2026): medians +4 ms and +0 ms (p90 +0.7 ms) over ``GET /status``'s 16 ms; charged here
  as that difference over Apache's ~10 ms: ~14 ms and ~11 ms. (``GET /proposals/{id}`` was +4 ms
  there and +9 ms on Apache: if Apache scales the difference alike, the file list costs ~19 ms);
- at most ``workers`` requests served at once (the PHP workers); the others wait in the listen queue;
- the per-object work is CPU: with 2 cores, 4 pages read at once run about 2.5 times faster than
  one after another (10.5 s → 4.0 s), not 4 times.

:class:`CostModel` charges exactly that: a request holds one of ``workers`` slots from the moment
it is accepted to its answer, pays ``per_request`` of waiting, then its CPU time (by kind, else by
rows and properties) shared by ``cores``. The fake's own Python time for the request counts towards
its CPU time, so the fake is never cheaper than the model says, and not much dearer. Other writes
are charged as one row. :class:`RequestCosts` adds up the server time charged, by kind of request.

A server with a ``capacity`` (:meth:`CostModel.small_server`) is one whose every request is CPU,
bootstrap included, as a real Dolibarr under Apache with mod_php on 2 cores shared with dolirelance
(integrator, 7 Dec 2026: 200 follow-ups, 4 requests in flight: 82 ms of server time per follow-up,
2 in flight: 52–56 ms, the same CPU and wall time; each request alone: event POST 8.8 ms, quote read
10.4, download 8.2, ``GET /status`` 6.7). There the whole request (``per_request`` and its kind's
cost) is served ``capacity`` at once, the others waiting their turn, and the server time counted is
each request's time in its worker, that wait included, as Apache's ``%D`` counts it. Without a
capacity (the default, and the figures above) the server time counted is the charge alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = ["Charge", "CostModel", "RequestCosts"]

T = TypeVar("T")

# CPU time is handed out in slices so that concurrent requests share the cores (processor sharing).
_SLICE_SECONDS = 0.02

# CPU seconds of a request on one object, by route ("METHOD /template"), on top of ``per_request``.
KIND_COSTS: Mapping[str, float] = MappingProxyType(
    {
        "PUT /documents/builddoc": 0.130,  # 140 ms measured
        "POST /agendaevents": 0.005,  # 15 ms measured
        "PUT /agendaevents/{id}": 0.005,  # a write like the create, without triggers
        "GET /proposals/{id}": 0.009,  # 19 ms measured (contacts, links, a 12 KB answer)
        "GET /proposals/ref/{ref}": 0.009,
        "GET /documents": 0.004,  # measured: +4 ms over a bare request (real 20.0.0, php -S)
        "GET /documents/download": 0.001,  # measured: +0 ms median, +0.7 ms p90 over a bare request
        "POST /documents/upload": 0.005,  # estimated: a file written and indexed
        "PUT /proposals/{id}": 0.010,  # estimated: the row rewritten, two PROPAL_MODIFY triggers
    }
)


@dataclass(frozen=True, slots=True)
class CostModel:
    """Per-request, per-row, per-property and per-kind costs, and the requests served at once."""

    per_request: float = 0.010
    per_row: float = 0.0007
    per_property: float = 0.0  # none measured up to 19 properties (see above)
    workers: int = 8
    cores: int = 2
    kinds: Mapping[str, float] = field(default_factory=lambda: KIND_COSTS)
    # Requests served at full speed at once, each all CPU (see above); None: per_request is waiting
    capacity: int | None = None

    def __post_init__(self) -> None:
        costs = (self.per_request, self.per_row, self.per_property, *self.kinds.values())
        if any(cost < 0 for cost in costs) or self.workers < 1 or self.cores < 1:
            raise ValueError("costs must be >= 0, workers and cores >= 1")
        if self.capacity is not None and self.capacity < 1:
            raise ValueError("capacity must be >= 1, or None for a server without one")

    @classmethod
    def small_server(cls, capacity: int = 2) -> CostModel:
        """The real 20.0.0 of the integrator's measure, each request alone, served ``capacity`` at once."""
        alone = 0.0067  # GET /status alone: bootstrap, authentication, routing
        measured = {"POST /agendaevents": 0.0088, "GET /proposals/{id}": 0.0104, "GET /documents/download": 0.0082}
        kinds = {**KIND_COSTS, **{kind: seconds - alone for kind, seconds in measured.items()}}
        return cls(per_request=alone, kinds=MappingProxyType(kinds), capacity=capacity)

    @classmethod
    def free(cls) -> CostModel:
        """Nothing charged (a warm-up), but the fake keeps its list caches as with a real model."""
        return cls(per_request=0.0, per_row=0.0, per_property=0.0, kinds={})

    def cpu_seconds(self, charge: Charge) -> float:
        """The CPU time a request costs: its kind's, else its rows' and their properties'."""
        if charge.kind in self.kinds:
            return self.kinds[charge.kind]
        return charge.rows * self.per_row + charge.properties * self.per_property

    def __str__(self) -> str:
        return (
            f"{self.per_request * 1000:g} ms per request, {self.per_row * 1000:g} ms per list row + "
            f"{self.per_property * 1000:g} ms per property, by kind: "
            + ", ".join(f"{kind} +{cost * 1000:g} ms" for kind, cost in self.kinds.items())
            + f"; {self.workers} workers, "
            + (f"{self.cores} cores" if self.capacity is None else f"{self.capacity} requests at once, all CPU")
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """What one answer is charged for: its kind ("METHOD /template"), rows and list properties."""

    kind: str = ""
    rows: int = 0
    properties: int = 0


@dataclass
class RequestCosts:
    """The running state of a :class:`CostModel`: the worker and core slots of one event loop."""

    model: CostModel
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _workers: asyncio.Semaphore | None = field(default=None, repr=False)
    _cores: asyncio.Semaphore | None = field(default=None, repr=False)
    busy_workers: int = 0
    most_busy_workers: int = 0  # the most requests served at once so far
    rows_served: int = 0  # objects charged for so far
    # Server time so far, by kind: the charge (waiting + CPU, not the queueing for a worker or a core);
    # with a capacity, each request's time in its worker (its queueing for the capacity included).
    server_seconds: float = 0.0
    seconds_by_kind: dict[str, float] = field(default_factory=dict)
    requests_by_kind: Counter[str] = field(default_factory=Counter)

    def _slots(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._workers is None or self._cores is None:
            self._loop = loop
            self._workers = asyncio.Semaphore(self.model.workers)
            self._cores = asyncio.Semaphore(self.model.capacity or self.model.cores)
        return self._workers, self._cores

    async def serve(self, handle: Callable[[], Awaitable[T]], charge_of: Callable[[T], Charge]) -> T:
        """Run ``handle`` as a real server would: in a worker slot, then wait what the model charges."""
        workers, cores = self._slots()
        async with workers:
            self.busy_workers += 1
            self.most_busy_workers = max(self.most_busy_workers, self.busy_workers)
            try:
                started = time.perf_counter()
                answer = await handle()
                spent = time.perf_counter() - started
                if self.model.capacity is None:
                    await asyncio.sleep(self.model.per_request)
                charge = charge_of(answer)
                self.rows_served += charge.rows
                charged = self.model.per_request + self.model.cpu_seconds(charge)
                cpu = charged - spent
                if self.model.capacity is None:
                    cpu -= self.model.per_request  # waited above, not CPU
                    self._count(charge.kind, charged)
                while cpu > 0:
                    async with cores:
                        piece = min(cpu, _SLICE_SECONDS)
                        await asyncio.sleep(piece)
                    cpu -= piece
                if self.model.capacity is not None:
                    self._count(charge.kind, time.perf_counter() - started)
                return answer
            finally:
                self.busy_workers -= 1

    def _count(self, kind: str, seconds: float) -> None:
        self.server_seconds += seconds
        self.seconds_by_kind[kind] = self.seconds_by_kind.get(kind, 0.0) + seconds
        self.requests_by_kind[kind] += 1

    def summary(self) -> dict[str, Any]:
        """Server time and requests so far, by kind (plain values: it crosses a process pipe)."""
        return {
            "server_seconds": self.server_seconds,
            "requests": sum(self.requests_by_kind.values()),
            "seconds_by_kind": dict(self.seconds_by_kind),
            "requests_by_kind": dict(self.requests_by_kind),
        }


def charge_of(kind: str, answer: Any) -> Charge:
    """The charge of a JSON answer: the items of a list and their properties, else one object."""
    if isinstance(answer, dict) and isinstance(answer.get("data"), list):  # pagination_data=true
        answer = answer["data"]
    if isinstance(answer, list):
        return Charge(kind, len(answer), sum(len(item) for item in answer if isinstance(item, dict)))
    return Charge(kind, 1, 0)
