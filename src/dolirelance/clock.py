"""The one clock that answers "now", injected everywhere that asks the time.

A clock is any zero-argument callable returning a timezone-aware ``datetime``. A clock that can
also wait (``sleep_until``) lets the daemon wait for its next run on that same clock, so tests
move time forward instead of waiting for the wall clock. :func:`sleep_until` works with both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

Now = Callable[[], datetime]

# A long wait is cut into slices so that a suspended machine or a clock step is noticed soon.
_LONGEST_SLEEP_SECONDS = 30.0


@runtime_checkable
class WaitingClock(Protocol):
    def __call__(self) -> datetime: ...

    async def sleep_until(self, moment: datetime) -> None: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        await _sleep_by_polling(self, moment, _LONGEST_SLEEP_SECONDS)

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock = SystemClock()


async def sleep_until(now: Now, moment: datetime) -> None:
    """Return once ``now()`` has reached ``moment``, whatever kind of clock ``now`` is."""
    if isinstance(now, WaitingClock):
        await now.sleep_until(moment)
    else:
        await _sleep_by_polling(now, moment, _LONGEST_SLEEP_SECONDS)


async def _sleep_by_polling(now: Now, moment: datetime, longest: float) -> None:
    while True:
        remaining = (moment - now()).total_seconds()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, longest))
