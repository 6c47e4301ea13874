"""Lists read from Dolibarr: every page of a list route read concurrently, or streamed a page at a time,
and their rows parsed one by one (a row that cannot be understood is left out and kept for the reports)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dolirelance.dolibarr import wire
from dolirelance.dolibarr.http import Call, DolibarrHttp
from dolirelance.dolibarr.sqlfilters import Filter, and_
from dolirelance.errors import DolibarrResponseError

__all__ = [
    "LIST_PAGES_IN_FLIGHT",
    "REFS_PER_REQUEST",
    "ListReads",
    "all_of",
    "ids_by_url_length",
    "in_chunks",
    "needs_several_requests",
    "unwrap_page",
    "with_filter",
]

log = logging.getLogger(__name__)
_KEEP_REJECTED_ROWS = 1000  # a daemon lives for months: keep the latest only
# Refs per request (each one its own ``or`` criterion): keeps URLs well under common 8 KB limits.
REFS_PER_REQUEST = 40
# Characters of ids (and their encoded commas, "%2C") in one filter: every id list is sized by the URL
# it makes (``ids_by_url_length``); 5,000 leaves room under the 8 KB request line of Apache and nginx.
ID_LIST_URL_CHARS = 5000
# Pages of one list read at once when the server gives no total (Dolibarr ≤ 20): two halve the
# wall time of sequential reading while costing at most two requests past the last page.
LIST_PAGES_IN_FLIGHT = 2

T = TypeVar("T")


class ListReads(DolibarrHttp):
    """Whole lists (``_paged``), lists a page at a time (``_stream``), and their rows (``_rows``)."""

    _page_size: int  # set by DolibarrClient, like the two below
    # Rows of lists that could not be understood: left out, the latest kept here for the reports.
    rejected_rows: list[wire.RejectedRow]
    _row_collectors: list[list[wire.RejectedRow]]

    async def _paged(
        self,
        path: str,
        route: str,
        params: dict[str, str | int],
        *,
        sortfield: str,
        empty_on_404: bool = False,
        at_most: int | None = None,
    ) -> list[Any]:
        """Every item of a list route, pages read concurrently within ``max_concurrency``.

        ``at_most``: the list cannot hold more (a filter on that many ids): one page one larger is
        one request, its shortness proving it complete.

        Page 0 asks for ``pagination_data`` (Dolibarr 21+): with the total known, exactly the
        remaining pages are read. Older servers ignore the parameter and give no total: then up to
        ``LIST_PAGES_IN_FLIGHT`` pages stay in flight until a short page is seen, so a list of N
        items costs at most ceil(N / page size) + 2 requests.
        """
        size = self._page_size if at_most is None else at_most + 1
        base = _list_query(params, size=size, sortfield=sortfield)
        fetch = self._page_fetcher(path, route, base, empty_on_404=empty_on_404)
        first, total = await self._read_page(
            path, route, {**base, "page": 0, "pagination_data": "true"}, empty_on_404=empty_on_404
        )
        if len(first) < size:
            return first
        if total is not None:
            rest = await asyncio.gather(*(fetch(page) for page in range(1, math.ceil(total / size))))
            return _dedupe([first, *rest])
        return _dedupe(await self._window(fetch, first, size))

    async def _stream(
        self,
        path: str,
        route: str,
        params: dict[str, str | int],
        *,
        sortfield: str,
        empty_on_404: bool = False,
        size: int | None = None,
    ) -> AsyncIterator[list[Any]]:
        """Every page of a list route in order, ``max_concurrency - 1`` requests in flight (at least one).

        A page read starts the next one at once, whatever the caller is doing with the pages already
        given, so the server is never left idle while the caller works; at most twice that many pages
        are held, read and not yet taken.
        """
        size = size or self._page_size
        base = _list_query(params, size=size, sortfield=sortfield)
        fetch = self._page_fetcher(path, route, base, empty_on_404=empty_on_404)
        in_flight_at_most = max(1, self._max_concurrency - 1)
        held_at_most = 2 * in_flight_at_most
        pending: collections.deque[asyncio.Task[list[Any]]] = collections.deque()
        reading = _PageReading()

        def top_up() -> None:
            while not reading.ended and reading.in_flight < in_flight_at_most and len(pending) < held_at_most:
                task = asyncio.ensure_future(fetch(reading.next_page))
                reading.next_page += 1
                reading.in_flight += 1
                task.add_done_callback(read)
                pending.append(task)

        def read(task: asyncio.Task[list[Any]]) -> None:
            reading.in_flight -= 1
            if task.cancelled() or task.exception() is not None or len(task.result()) < size:
                reading.ended = True  # the end of the list (or an error the caller will see): no more pages
            top_up()

        top_up()
        try:
            while pending:
                items = await pending.popleft()
                top_up()
                if items:
                    yield items
                if len(items) < size:
                    return
        finally:
            reading.ended = True
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _read_page(
        self, path: str, route: str, query: dict[str, str | int], *, empty_on_404: bool
    ) -> tuple[list[Any], int | None]:
        """One page of a list route: its items, and the list's total when the server gives one."""
        answer = await self._call(Call("GET", path, route, query, empty_on_404=empty_on_404))
        return unwrap_page(answer, route)

    def _page_fetcher(
        self, path: str, route: str, base: dict[str, str | int], *, empty_on_404: bool
    ) -> Callable[[int], Awaitable[list[Any]]]:
        """Reads page N of a list route (``base``: from :func:`_list_query`) and gives its items."""

        async def fetch(page: int) -> list[Any]:
            items, _ = await self._read_page(path, route, {**base, "page": page}, empty_on_404=empty_on_404)
            return items

        return fetch

    async def _window(
        self, fetch: Callable[[int], Awaitable[list[Any]]], first: list[Any], size: int
    ) -> list[list[Any]]:
        pages: dict[int, list[Any]] = {0: first}
        in_flight: dict[asyncio.Task[list[Any]], int] = {}
        next_page = 1
        last_page: int | None = None  # index of the first short page seen
        try:
            while True:
                while last_page is None and len(in_flight) < min(self._max_concurrency, LIST_PAGES_IN_FLIGHT):
                    in_flight[asyncio.ensure_future(fetch(next_page))] = next_page
                    next_page += 1
                if not in_flight:
                    break
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    index = in_flight.pop(task)
                    pages[index] = task.result()
                    if len(pages[index]) < size and (last_page is None or index < last_page):
                        last_page = index
                if last_page is not None:
                    for task, index in list(in_flight.items()):
                        if index > last_page:  # past the end: not needed
                            task.cancel()
                            del in_flight[task]
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
        end = last_page if last_page is not None else max(pages)
        return [pages[index] for index in range(end + 1)]

    def _rows(
        self,
        model: type[wire.ModelT],
        items: list[Any],
        route: str,
        convert: Callable[[wire.ModelT], wire.DomainT],
    ) -> list[wire.DomainT]:
        """Parse a list row by row: a row that cannot be understood is logged, kept, left out."""
        rejected: list[wire.RejectedRow] = []
        values = wire.parse_rows(model, items, route, convert, rejected)
        for row in rejected:
            log.warning("left out %s (%s)", row.describe(), row.remedy)
            for collected in self._row_collectors:
                if row not in collected:
                    collected.append(row)
            if row not in self.rejected_rows:
                self.rejected_rows.append(row)
        del self.rejected_rows[:-_KEEP_REJECTED_ROWS]
        return values

    @contextlib.contextmanager
    def collecting_rejected_rows(self) -> Iterator[list[wire.RejectedRow]]:
        """The rows left out by the list calls made inside the ``with`` block (for a run's report)."""
        collected: list[wire.RejectedRow] = []
        self._row_collectors.append(collected)
        try:
            yield collected
        finally:
            self._row_collectors.remove(collected)


def _list_query(params: dict[str, str | int], *, size: int, sortfield: str) -> dict[str, str | int]:
    """A list route's query without its page: pages of ``size`` items in a stable order (ascending ``sortfield``)."""
    return {**params, "limit": size, "sortfield": sortfield, "sortorder": "ASC"}


def in_chunks(values: Sequence[T], size: int) -> list[list[T]]:
    """``values`` in lists of at most ``size`` (one request each)."""
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def ids_by_url_length(ids: Sequence[int], max_chars: int = ID_LIST_URL_CHARS) -> list[list[int]]:
    """``ids`` in as few lists as fit ``max_chars`` of URL each (one request each): 625 five-digit ids,
    500 of seven digits; a real server charges each request ~10 ms, whatever the number of ids.
    Every id list sent to Dolibarr is cut here."""
    chunks: list[list[int]] = []
    used = max_chars
    for value in ids:
        cost = len(str(value)) + 3  # the id and the encoded comma after it
        if used + cost > max_chars:
            chunks.append([])
            used = 0
        chunks[-1].append(value)
        used += cost
    return chunks


def needs_several_requests(ids: Sequence[int]) -> bool:
    """Whether a filter on ``ids`` is cut over several requests (then Dolibarr cannot page across them)."""
    return len(ids_by_url_length(ids)) > 1


def all_of(parts: list[Filter]) -> Filter | None:
    """Every criterion at once; None when there is none."""
    return and_(*parts) if parts else None


def with_filter(params: dict[str, str | int], flt: Filter | None) -> dict[str, str | int]:
    """``params`` with ``sqlfilters`` set to ``flt`` (unchanged without one)."""
    return {**params, "sqlfilters": str(flt)} if flt is not None else dict(params)


def unwrap_page(answer: Any, route: str) -> tuple[list[Any], int | None]:
    """A page as (items, total); the total only with ``pagination_data`` (Dolibarr 21+)."""
    if answer is None:
        return [], None
    if isinstance(answer, list):
        return answer, None
    if isinstance(answer, dict) and isinstance(answer.get("data"), list):
        pagination = answer.get("pagination")
        total = pagination.get("total") if isinstance(pagination, dict) else None
        try:
            return answer["data"], int(total) if total is not None else None
        except (TypeError, ValueError):
            return answer["data"], None
    raise DolibarrResponseError(
        f"unexpected answer from Dolibarr on {route}: expected a list, got {type(answer).__name__}"
    )


def _dedupe(pages: list[list[Any]]) -> list[Any]:
    """Rows can shift between pages read at different moments: keep each id once."""
    seen: set[str] = set()
    items: list[Any] = []
    for page in pages:
        for item in page:
            key = str(item.get("id")) if isinstance(item, dict) and item.get("id") is not None else None
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            items.append(item)
    return items


@dataclass
class _PageReading:
    """Where a streamed list stands: the next page to ask for, the requests in flight, the end seen."""

    next_page: int = 0
    in_flight: int = 0
    ended: bool = False
