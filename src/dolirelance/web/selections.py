"""The mass page's selections, kept a short while per session: paging, totals and "select all" read them once.

Listing every quote of a large selection costs Dolibarr about a millisecond per quote; the first
screen does without it (Dolibarr pages and sorts), the totals and "the whole selection" read it
once and share it until it is ``max_age`` seconds old.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from dolirelance.service import QuotesSelection

__all__ = ["SelectionCache"]


class SelectionCache:
    def __init__(
        self, *, max_age: float = 120.0, max_entries: int = 64, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age, self.max_entries, self.clock = max_age, max_entries, clock
        self._entries: OrderedDict[tuple[str, Hashable], tuple[float, QuotesSelection]] = OrderedDict()

    def get(self, session_id: str, key: Hashable) -> QuotesSelection | None:
        found = self._entries.get((session_id, key))
        if found is None:
            return None
        if self.clock() - found[0] > self.max_age:
            del self._entries[(session_id, key)]
            return None
        return found[1]

    def put(self, session_id: str, key: Hashable, selection: QuotesSelection) -> None:
        self._entries[(session_id, key)] = (self.clock(), selection)
        self._entries.move_to_end((session_id, key))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
