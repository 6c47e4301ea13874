"""Async client for Dolibarr's REST API: the only place that knows URLs, ``DOLAPIKEY``, paging and quirks.

One class for callers, made of one part per concern: ``http`` (requests, retries, errors, rights
hints), ``paging`` (whole and streamed lists), ``setup`` (status, time zone, version quirks, company,
extra fields, login), and one module per resource (``quotes``, ``people``, ``agenda``, ``documents``).
Every body goes through :mod:`dolirelance.dolibarr.wire` before it becomes a domain value.
See ``shared/dolibarr/API.md`` for the facts this relies on.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from dolirelance.dolibarr.agenda import EVENT_PROPERTIES, AgendaRoutes, event_body
from dolirelance.dolibarr.documents import DocumentRoutes
from dolirelance.dolibarr.http import MAX_BACKOFF_SECONDS, MAX_TOTAL_BACKOFF_SECONDS, Transport
from dolirelance.dolibarr.paging import ID_LIST_URL_CHARS, LIST_PAGES_IN_FLIGHT, REFS_PER_REQUEST
from dolirelance.dolibarr.people import CONTACT_PROPERTIES, CUSTOMER_PROPERTIES, PeopleRoutes
from dolirelance.dolibarr.quotes import (
    OVERVIEW_QUOTE_PROPERTIES,
    QUOTE_PROPERTIES,
    REPORT_QUOTE_PROPERTIES,
    STREAM_PAGE_SIZE,
    QuoteRoutes,
)
from dolirelance.dolibarr.setup import DEFAULT_TIMEZONE, forget_learned_paths, login_for_key, timezone_named

__all__ = [
    "CONTACT_PROPERTIES",
    "CUSTOMER_PROPERTIES",
    "DEFAULT_TIMEZONE",
    "EVENT_PROPERTIES",
    "ID_LIST_URL_CHARS",
    "LIST_PAGES_IN_FLIGHT",
    "MAX_BACKOFF_SECONDS",
    "MAX_TOTAL_BACKOFF_SECONDS",
    "OVERVIEW_QUOTE_PROPERTIES",
    "QUOTE_PROPERTIES",
    "REFS_PER_REQUEST",
    "REPORT_QUOTE_PROPERTIES",
    "STREAM_PAGE_SIZE",
    "DolibarrClient",
    "Transport",
    "event_body",
    "forget_learned_paths",
    "login_for_key",
]


class DolibarrClient(QuoteRoutes, PeopleRoutes, AgendaRoutes, DocumentRoutes):
    """Typed access to the Dolibarr routes dolirelance uses.

    ``async with DolibarrClient(url, key) as dolibarr: quote = await dolibarr.get_quote(12)``
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        verify_tls: bool = True,
        page_size: int = 100,
        max_concurrency: int = 4,
        adapt_concurrency: bool = True,
        max_retries: int = 3,
        backoff: float = 0.5,
        server_timezone: str | None = None,
        opt_out_field: str = "norelance",
        transport: Transport | None = None,
    ) -> None:
        if page_size < 1 or max_concurrency < 1 or max_retries < 0:
            raise ValueError("page_size and max_concurrency must be >= 1, max_retries >= 0")
        # checked before the connection opens: a bad key or time zone leaves nothing to close
        explicit_timezone = timezone_named(server_timezone) if server_timezone else None
        super().__init__(
            base_url,
            api_key,
            timeout=timeout,
            verify_tls=verify_tls,
            max_concurrency=max_concurrency,
            adapt_concurrency=adapt_concurrency,
            max_retries=max_retries,
            backoff=backoff,
            transport=transport,
        )
        self._page_size = page_size
        self._opt_out_field = opt_out_field
        self._explicit_timezone = explicit_timezone
        self._status_lock = asyncio.Lock()
        self.rejected_rows = []
        self._row_collectors = []

    def __repr__(self) -> str:
        return f"DolibarrClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> DolibarrClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
