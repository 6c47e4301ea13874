"""What a request costs a real Dolibarr, so that a benchmark on the fake predicts a real server.

Measured on a real Dolibarr 20.0.0 (PHP built-in server with 4 workers, MariaDB, 2 cores, loopback,
10,006 open proposals; ``shared/dolibarr/API.md``, "What a list costs"):

- about 10 ms per request whatever it asks (bootstrap, authentication, routing);
- about 1 ms per object the answer holds, whatever ``properties`` says: the server loads every
  object of a list page before it drops the fields nobody asked for;
- at most 4 requests served at once (the PHP workers); the others wait in the listen queue;
- the per-object work is CPU: with 2 cores, 4 pages read at once run about 2.5 times faster than
  one after another (10.5 s → 4.0 s), not 4 times.

:class:`CostModel` charges exactly that: a request holds one of ``workers`` slots from the moment
it is accepted to its answer, pays ``per_request`` of waiting, then ``per_row`` × rows of CPU time
shared by ``cores``. The fake's own Python time for the request counts towards its CPU time, so
the fake is never cheaper than the model says, and not much dearer. Writes are charged as one row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["CostModel", "RequestCosts"]

T = TypeVar("T")

# CPU time is handed out in slices so that concurrent requests share the cores (processor sharing).
_SLICE_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class CostModel:
    """Per-request and per-row cost and the number of requests served at once (PHP workers)."""

    per_request: float = 0.010
    per_row: float = 0.001
    workers: int = 4
    cores: int = 2

    def __post_init__(self) -> None:
        if self.per_request < 0 or self.per_row < 0 or self.workers < 1 or self.cores < 1:
            raise ValueError("costs must be >= 0, workers and cores >= 1")


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

    def _slots(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._workers is None or self._cores is None:
            self._loop = loop
            self._workers = asyncio.Semaphore(self.model.workers)
            self._cores = asyncio.Semaphore(self.model.cores)
        return self._workers, self._cores

    async def serve(self, handle: Callable[[], Awaitable[T]], rows_of: Callable[[T], int]) -> T:
        """Run ``handle`` as a real server would: in a worker slot, then wait what the model charges."""
        workers, cores = self._slots()
        async with workers:
            self.busy_workers += 1
            self.most_busy_workers = max(self.most_busy_workers, self.busy_workers)
            try:
                started = time.perf_counter()
                answer = await handle()
                spent = time.perf_counter() - started
                await asyncio.sleep(self.model.per_request)
                rows = rows_of(answer)
                self.rows_served += rows
                cpu = rows * self.model.per_row - spent
                while cpu > 0:
                    async with cores:
                        piece = min(cpu, _SLICE_SECONDS)
                        await asyncio.sleep(piece)
                    cpu -= piece
                return answer
            finally:
                self.busy_workers -= 1


def rows_in(answer: Any) -> int:
    """Objects a JSON answer holds: the items of a list, else one."""
    return len(answer) if isinstance(answer, list) else 1
