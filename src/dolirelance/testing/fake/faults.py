"""Fault injection and the request log: failures, hangs (before or after applying), latency."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from dolirelance.testing.fake.records import RequestLogEntry


def _below(path: str, prefix: str | None) -> bool:
    """``path`` is ``prefix`` or below it, segment by segment (a targeted fault hits one object)."""
    if prefix is None:
        return True
    if prefix.endswith("/"):  # "/proposals/": any single proposal, not the list
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


@dataclass(slots=True)
class _Aimed:
    """A queued fault (a status to answer, or seconds to hang) and the requests it is aimed at: those below
    ``prefix`` (any when None) with ``method`` (any when None), once ``after`` of them have gone through."""

    value: float
    prefix: str | None
    method: str | None
    after: int


def _aimed(count: int, value: float, path_prefix: str | None, method: str | None, after: int) -> list[_Aimed]:
    wanted = method.upper() if method else None
    return [_Aimed(value, path_prefix, wanted, after) for _ in range(count)]


def _take(queue: list[_Aimed], method: str, path: str) -> _Aimed | None:
    """The first fault of ``queue`` aimed at this request, taken out of it (None: let the request through)."""
    for index, entry in enumerate(queue):
        if _below(path, entry.prefix) and (entry.method is None or entry.method == method):
            if entry.after:
                entry.after -= 1
                return None
            del queue[index]
            return entry
    return None


class FaultInjection:
    """Queued failures and hangs a test aims at some requests, and the log of every request served."""

    def __init__(self) -> None:
        self.latency = 0.0
        self.requests: list[RequestLogEntry] = []
        # The first entry aimed at a request is used: failures (status), hangs aimed at some requests and
        # hangs after the request was applied (stored, written) (seconds); plain hangs hit the next requests.
        self._fail_queue: list[_Aimed] = []
        self._hang_queue: list[float] = []
        self._targeted_hangs: list[_Aimed] = []
        self._hangs_after_applying: list[_Aimed] = []
        self._hang_generation = 0
        self.hanging = 0  # requests sleeping in a hang right now

    # ---- fault injection and request log --------------------------------------------------------------

    def fail_next(
        self, count: int = 1, status: int = 503, *,
        path_prefix: str | None = None, method: str | None = None, after: int = 0,
    ) -> None:
        """The next ``count`` requests answer ``status`` with Dolibarr's error body.

        With ``path_prefix`` (below /api/index.php, e.g. ``"/agendaevents"``: that path and the paths
        below it, ``"/proposals/1"`` is not ``"/proposals/12"``) and/or ``method``, only the next
        ``count`` requests that match fail, once ``after`` matching ones have gone through; the others
        are answered normally.
        """
        self._fail_queue.extend(_aimed(count, status, path_prefix, method, after))

    def _take_failure(self, method: str, path: str) -> int | None:
        entry = _take(self._fail_queue, method, path)
        return None if entry is None else int(entry.value)

    def hang_next(
        self, count: int = 1, seconds: float = 30.0, *,
        path_prefix: str | None = None, method: str | None = None, after: int = 0,
    ) -> None:
        """The next ``count`` requests sleep ``seconds`` before being answered (client timeouts).

        With ``path_prefix`` and/or ``method``, only matching requests hang, once ``after`` matching
        ones have gone through. :meth:`release_hangs` wakes every hang in progress early; the
        request is then answered (or fails, when a failure is queued for it).
        """
        if path_prefix is None and method is None and not after:
            self._hang_queue.extend([seconds] * count)
            return
        self._targeted_hangs.extend(_aimed(count, seconds, path_prefix, method, after))

    def hang_after_applying(
        self, count: int = 1, seconds: float = 30.0, *, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """The next ``count`` matching requests are applied (the upload stored, the event written), then
        their answer is held ``seconds``: the client times out not knowing that it worked.
        :meth:`release_hangs` sends the held answers at once."""
        self._hangs_after_applying.extend(_aimed(count, seconds, path_prefix, method, 0))

    def _take_hang_after_applying(self, method: str, path: str) -> float | None:
        entry = _take(self._hangs_after_applying, method, path)
        return None if entry is None else float(entry.value)

    def release_hangs(self) -> None:
        """End every hang in progress now (the requests go on and are answered)."""
        self._hang_generation += 1

    def clear_faults(self) -> None:
        """Forget every queued failure and hang, and end the hangs in progress (Dolibarr is back)."""
        self._fail_queue.clear()
        self._hang_queue.clear()
        self._targeted_hangs.clear()
        self._hangs_after_applying.clear()
        self.release_hangs()

    def _take_hang(self, method: str, path: str) -> float | None:
        entry = _take(self._targeted_hangs, method, path)
        return None if entry is None else float(entry.value)

    async def _hang(self, seconds: float) -> None:
        generation = self._hang_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self.hanging += 1
        try:
            while loop.time() < deadline and generation == self._hang_generation:
                await asyncio.sleep(min(0.02, max(0.0, deadline - loop.time())))
        finally:
            self.hanging -= 1

    def count_requests(
        self, path: str | None = None, method: str | None = None, *, prefix: bool = False
    ) -> int:
        """How many requests matched ``path`` (exact, or as a prefix) and ``method``."""
        return sum(
            1
            for entry in self.requests
            if (method is None or entry.method == method.upper())
            and (path is None or (entry.path.startswith(path) if prefix else entry.path == path))
        )

    def requests_by_path(self) -> Counter[str]:
        return Counter(f"{entry.method} {entry.path}" for entry in self.requests)

    def reset_requests(self) -> None:
        self.requests.clear()
