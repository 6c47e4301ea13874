"""Async client for Dolibarr's REST API: the only place that knows URLs, ``DOLAPIKEY``, paging and quirks.

Every httpx error and every non-2xx answer becomes a :class:`~dolirelance.errors.DolibarrError`
with a remedy; every body goes through :mod:`dolirelance.dolibarr.wire` before it becomes a domain
value. See ``shared/dolibarr/API.md`` for the facts this relies on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import functools
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote as url_quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import SecretStr

from dolirelance.dolibarr import versions, wire
from dolirelance.dolibarr.sqlfilters import Filter, and_, criterion, like_prefix, or_
from dolirelance.domain import (
    AgendaEvent,
    Company,
    Contact,
    Customer,
    Document,
    DolibarrStatus,
    EventFilter,
    ExtraField,
    NewAgendaEvent,
    Quote,
    QuoteFilter,
    QuoteStatus,
    User,
    UserGroup,
)
from dolirelance.errors import (
    DolibarrAuthError,
    DolibarrError,
    DolibarrNotFound,
    DolibarrRequestError,
    DolibarrResponseError,
    DolibarrUnavailable,
)

__all__ = ["DolibarrClient", "forget_learned_paths"]

log = logging.getLogger(__name__)
_KEEP_REJECTED_ROWS = 1000  # a daemon lives for months: keep the latest only

DEFAULT_TIMEZONE = "Europe/Paris"
# Only what Quote needs: without `properties` every proposal comes with all its lines (~12 KB each).
QUOTE_PROPERTIES = (
    "id,ref,socid,status,date,datep,fin_validite,total_ht,total_tva,total_ttc,multicurrency_code,"
    "ref_client,array_options,last_main_doc,user_author_id,note_public,contacts_ids,date_modification,date_validation"
)
# A real server charges a list row a little per property it keeps (testing/cost.py): lists that only
# show a few read only those. Servers before 20 ignore `properties` and send whole objects (same answers).
# The report: status, amount, issue, end and signature days.
REPORT_QUOTE_PROPERTIES = "id,ref,socid,status,date,datep,fin_validite,total_ht,multicurrency_code,date_signature"
# What the quotes overview (`quotes`) shows: ref, customer, amounts, end of validity, opt-out; the author
# stands in for the sales rep where Dolibarr cannot list representatives.
OVERVIEW_QUOTE_PROPERTIES = (
    "id,ref,socid,status,fin_validite,total_ht,total_ttc,multicurrency_code,array_options,user_author_id"
)
# Only what AgendaEvent needs (an event row has ~80 properties); `note`/`percent` are older names.
EVENT_PROPERTIES = (
    "id,code,type_code,label,note_private,note,datep,datef,percentage,percent,userownerid,socid,elementtype,"
    "elementid,fk_element,socpeopleassigned,email_to,email_subject,email_msgid"
)
# Only what Customer and Contact need, for the bulk reads (a real server still loads each object).
CUSTOMER_PROPERTIES = "id,name,email,address,zip,town,country_code,code_client,phone,default_lang,date_modification"
CONTACT_PROPERTIES = (
    "id,socid,firstname,lastname,email,civility_code,phone_pro,phone_mobile,poste,default_lang,statut,date_modification"
)
# Quotes per page when a list is streamed (``iter_quotes``).
STREAM_PAGE_SIZE = 500
# Criteria per request for id/ref lists: keeps URLs well under common 8 KB limits.
IDS_PER_REQUEST = 200
REFS_PER_REQUEST = 40
MAX_BACKOFF_SECONDS = 10.0
MAX_TOTAL_BACKOFF_SECONDS = 30.0
# Characters Dolibarr's firewall refuses in a URL path (a draft ref "(PROV12)" hits it).
_WAF_PATH_CHARS = set(":;\"'<>?(){}$%/\\")
_KEY_REMEDY = (
    "check [dolibarr] api_key / api_key_env; regenerate the key on the user card if the database was restored"
)

T = TypeVar("T")

# Paths learned by falling back after the preferred one failed: (API root, version text, feature) → path.
# Kept for the whole process, so every later client of the same server goes straight to what works.
_LEARNED_PATHS: dict[tuple[str, str, str], str] = {}


def forget_learned_paths() -> None:
    """Forget the fallbacks learned so far (tests start each from a clean process state)."""
    _LEARNED_PATHS.clear()


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str  # relative to the API root, already URL-encoded
    route: str  # "GET /proposals/{id}": for counters, logs and messages
    params: dict[str, str | int] | None = None
    body: Any = None
    what: str | None = None  # "quote 12": names the object in a 404 message
    empty_on_404: bool = False  # list routes answer 404 when nothing matches


class DolibarrClient:
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
        max_retries: int = 3,
        backoff: float = 0.5,
        server_timezone: str | None = None,
        opt_out_field: str = "norelance",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if page_size < 1 or max_concurrency < 1 or max_retries < 0:
            raise ValueError("page_size and max_concurrency must be >= 1, max_retries >= 0")
        if not api_key.isascii():  # HTTP headers are ASCII: httpx would fail on the first request
            raise DolibarrAuthError(
                "the Dolibarr API key contains characters that are not ASCII",
                remedy="copy the key again from the user's card in Dolibarr (it is letters and digits)",
            )
        self.base_url = base_url.rstrip("/")
        self._api_key = SecretStr(api_key)
        self._page_size = page_size
        self._max_concurrency = max_concurrency
        self._max_retries = max_retries
        self._backoff = backoff
        self._opt_out_field = opt_out_field
        self._explicit_timezone = _zone(server_timezone) if server_timezone else None
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._status: DolibarrStatus | None = None
        self._status_lock = asyncio.Lock()
        self.request_count = 0
        self.requests_by_route: collections.Counter[str] = collections.Counter()
        # Rows of lists that could not be understood: left out, the latest kept here for the reports.
        self.rejected_rows: list[wire.RejectedRow] = []
        self._row_collectors: list[list[wire.RejectedRow]] = []
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            # The key goes in a header only: URL parameters end up in access logs.
            headers={"DOLAPIKEY": self._api_key.get_secret_value(), "Accept": "application/json"},
            timeout=timeout,
            verify=verify_tls,
            transport=transport,
            follow_redirects=False,
        )

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

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ server

    async def status(self) -> DolibarrStatus:
        """``GET /status``: version and (non-production servers) PHP timezone. Cached."""
        if self._status is None:
            async with self._status_lock:
                if self._status is None:
                    route = "GET /status"
                    body = await self._call(_Call("GET", "status", route))
                    self._status = wire.parse(wire.WireStatus, body, route).to_domain()
        return self._status

    async def server_timezone(self) -> ZoneInfo:
        """The explicit setting, else what ``/status`` says, else Europe/Paris."""
        if self._explicit_timezone is not None:
            return self._explicit_timezone
        status = await self.status()
        if status.timezone:
            try:
                return ZoneInfo(status.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning(
                    "Dolibarr reports an unknown timezone %r; using %s", status.timezone, DEFAULT_TIMEZONE
                )
        return ZoneInfo(DEFAULT_TIMEZONE)

    # ------------------------------------------------------------------ quotes

    async def list_quotes(self, flt: QuoteFilter, *, light: bool = True) -> list[Quote]:
        tz = await self.server_timezone()
        common = self._common_quote_criteria(flt)
        # Long id/ref lists are split over several requests (URL length); refs are strings, so no `in`.
        customer_chunks: list[Filter | None] = [
            criterion("t.fk_soc", "in", chunk)
            for chunk in _chunks(sorted(set(flt.customer_ids)), IDS_PER_REQUEST)
        ] or [None]
        ref_chunks: list[Filter | None] = [
            or_(*(criterion("t.ref", "=", ref) for ref in chunk))
            for chunk in _chunks(sorted(set(flt.refs)), REFS_PER_REQUEST)
        ] or [None]
        id_chunks: list[Filter | None] = [
            criterion("t.rowid", "in", chunk) for chunk in _chunks(sorted(set(flt.ids)), IDS_PER_REQUEST)
        ] or [None]
        filters = [
            _all(common + [part for part in (customers, refs, ids) if part is not None])
            for customers in customer_chunks
            for refs in ref_chunks
            for ids in id_chunks
        ]
        params: dict[str, str | int] = {"properties": QUOTE_PROPERTIES} if light else {}
        route = "GET /proposals"
        pages = await asyncio.gather(
            *(
                self._paged(
                    "proposals",
                    route,
                    _with_filter(params, f),
                    sortfield="t.rowid",
                    empty_on_404=True,
                    at_most=IDS_PER_REQUEST if flt.ids else None,
                )
                for f in filters
            )
        )
        opt_out_field = flt.opt_out_field or self._opt_out_field
        found = self._rows(
            wire.WireQuote,
            [item for page in pages for item in page],
            route,
            lambda w: w.to_domain(tz, opt_out_field=opt_out_field),
        )
        quotes = {quote.id: quote for quote in found}
        return [quotes[key] for key in sorted(quotes)]

    async def list_quotes_issued(
        self, first_day: date, last_day: date, statuses: Sequence[QuoteStatus]
    ) -> list[Quote]:
        """Quotes dated ``first_day`` to ``last_day`` (both included), with their signature day."""
        common = [
            criterion("t.fk_statut", "in", [int(s) for s in statuses]),
            criterion("t.datep", ">=", first_day),
            criterion("t.datep", "<=", last_day),
        ]
        return await self._report_quotes([_all(common)])

    async def list_quotes_by_ids(self, ids: Iterable[int]) -> list[Quote]:
        """The quotes with these ids (any status), with their signature day; ids per request bounded."""
        chunks = _chunks(sorted(set(ids)), IDS_PER_REQUEST)
        return await self._report_quotes([criterion("t.rowid", "in", chunk) for chunk in chunks])

    async def _report_quotes(self, filters: Sequence[Filter | None]) -> list[Quote]:
        tz = await self.server_timezone()
        route = "GET /proposals"
        params: dict[str, str | int] = {"properties": REPORT_QUOTE_PROPERTIES}
        pages = await asyncio.gather(
            *(
                self._paged("proposals", route, _with_filter(params, f), sortfield="t.rowid", empty_on_404=True)
                for f in filters
            )
        )
        found = self._rows(
            wire.WireQuote,
            [item for page in pages for item in page],
            route,
            lambda w: w.to_domain(tz, opt_out_field=self._opt_out_field),
        )
        quotes = {quote.id: quote for quote in found}
        return [quotes[key] for key in sorted(quotes)]

    async def iter_quotes(self, flt: QuoteFilter, *, overview: bool = False) -> AsyncIterator[list[Quote]]:
        """The quotes of :meth:`list_quotes`, a page at a time, so that callers keep one page in memory.

        ``overview``: only what a list of quotes shows (``OVERVIEW_QUOTE_PROPERTIES``): no note, no
        contacts, no PDF path; such quotes are for showing, not for following up.

        Pages of at least ``STREAM_PAGE_SIZE`` quotes (a real server's cost is per quote, the
        request's own cost is paid once per page), read ahead with ``max_concurrency - 1`` requests
        so that the caller has one left. Filters on many customers, refs or ids (several requests)
        are read whole, then given in pages.
        """
        if (
            len(flt.customer_ids) > IDS_PER_REQUEST
            or len(flt.refs) > REFS_PER_REQUEST
            or len(flt.ids) > IDS_PER_REQUEST
        ):
            quotes = await self.list_quotes(flt)
            for start in range(0, len(quotes), self._page_size):
                yield quotes[start : start + self._page_size]
            return
        # the server's time zone (``/status`` when not configured) is asked while the first pages are read
        timezone = asyncio.ensure_future(self.server_timezone())
        opt_out_field = flt.opt_out_field or self._opt_out_field
        route = "GET /proposals"
        properties = OVERVIEW_QUOTE_PROPERTIES if overview else QUOTE_PROPERTIES
        params = _with_filter({"properties": properties}, _all(self._quote_criteria(flt)))
        seen: set[int] = set()
        size = max(self._page_size, STREAM_PAGE_SIZE)
        pages = self._stream("proposals", route, params, sortfield="t.rowid", empty_on_404=True, size=size)
        try:
            async for page in pages:
                to_domain = functools.partial(wire.WireQuote.to_domain, tz=await timezone, opt_out_field=opt_out_field)
                quotes = self._rows(wire.WireQuote, page, route, to_domain)
                fresh = [quote for quote in quotes if quote.id not in seen]  # rows shift between pages
                seen.update(quote.id for quote in fresh)
                if fresh:
                    yield fresh
        finally:
            if not timezone.done():
                timezone.cancel()
            await asyncio.gather(timezone, return_exceptions=True)

    async def quotes_by_end_of_validity(self, flt: QuoteFilter, *, page: int, size: int) -> list[Quote] | None:
        """One page of the quotes of ``flt``, sorted by Dolibarr by end of validity then id: one request.

        None when ``flt`` needs several requests (many customers, refs or ids): Dolibarr cannot page
        across them, the caller lists them whole instead.
        """
        if (
            len(flt.customer_ids) > IDS_PER_REQUEST
            or len(flt.refs) > REFS_PER_REQUEST
            or len(flt.ids) > IDS_PER_REQUEST
        ):
            return None
        tz = await self.server_timezone()
        opt_out_field = flt.opt_out_field or self._opt_out_field
        route = "GET /proposals"
        params = _with_filter(
            {
                "properties": QUOTE_PROPERTIES,
                "limit": size,
                "page": page,
                "sortfield": "t.fin_validite,t.rowid",
                "sortorder": "ASC,ASC",
            },
            _all(self._quote_criteria(flt)),
        )
        answer = await self._call(_Call("GET", "proposals", route, params, empty_on_404=True))
        items, _ = _unwrap_page(answer, route)
        return self._rows(wire.WireQuote, items, route, lambda w: w.to_domain(tz, opt_out_field=opt_out_field))

    def _common_quote_criteria(self, flt: QuoteFilter) -> list[Filter]:
        """The criteria of ``flt`` other than its customers, refs and ids (those may need several requests)."""
        parts: list[Filter] = []
        if len(flt.statuses) == 1:
            parts.append(criterion("t.fk_statut", "=", int(flt.statuses[0])))
        elif flt.statuses:
            parts.append(criterion("t.fk_statut", "in", [int(s) for s in flt.statuses]))
        if flt.end_of_validity_from is not None:
            parts.append(criterion("t.fin_validite", ">=", flt.end_of_validity_from))
        if flt.end_of_validity_before is not None:
            parts.append(criterion("t.fin_validite", "<", flt.end_of_validity_before))
        if flt.exclude_opt_out:
            column = f"ef.{flt.opt_out_field or self._opt_out_field}"
            parts.append(or_(criterion(column, "is", None), criterion(column, "=", 0)))
        return parts

    def _quote_criteria(self, flt: QuoteFilter) -> list[Filter]:
        """Every criterion of ``flt`` in one filter (for at most one chunk of customers, refs and ids)."""
        parts = self._common_quote_criteria(flt)
        if flt.customer_ids:
            parts.append(criterion("t.fk_soc", "in", sorted(set(flt.customer_ids))))
        if flt.refs:
            parts.append(or_(*(criterion("t.ref", "=", ref) for ref in sorted(set(flt.refs)))))
        if flt.ids:
            parts.append(criterion("t.rowid", "in", sorted(set(flt.ids))))
        return parts

    async def get_quote(self, quote_id: int) -> Quote:
        """The quote with its contacts (``contact_list=0``: rows with type codes, CUSTOMER first)."""
        route = "GET /proposals/{id}"
        body = await self._call(
            _Call("GET", f"proposals/{int(quote_id)}", route, {"contact_list": 0}, what=f"quote {quote_id}")
        )
        return await self._quote_from(body, route)

    async def get_quote_by_ref(self, ref: str) -> Quote:
        if ref.startswith("(PROV") or any(char in _WAF_PATH_CHARS for char in ref) or not ref.strip():
            raise DolibarrRequestError(
                f"cannot look up quote {ref!r} by reference: draft references like (PROV12) and "
                "references with special characters are blocked by Dolibarr's firewall",
                remedy="use the quote's id instead of its reference",
            )
        route = "GET /proposals/ref/{ref}"
        by_route = _Call(
            "GET", f"proposals/ref/{url_quote(ref, safe='')}", route, {"contact_list": 0}, what=f"quote {ref}"
        )
        feature = "quote_by_ref"
        if await self._path_for(feature, versions.REF_ROUTE_BROKEN, "ref_route", "list_filter") == "ref_route":
            found, body = await self._call_unless_broken(by_route, _ref_route_broken)
            if found:
                return await self._quote_from(body, route)
            await self._learn(feature, "list_filter", route)
        return await self._quote_by_ref_through_list(ref)

    async def _quote_by_ref_through_list(self, ref: str) -> Quote:
        """``GET /proposals?sqlfilters=(t.ref:=:'REF')`` for the id, then the quote with its contacts."""
        route = "GET /proposals"
        params: dict[str, str | int] = {
            "sqlfilters": str(criterion("t.ref", "=", ref)),
            "properties": "id,ref",
            "limit": 2,
        }
        body = await self._call(_Call("GET", "proposals", route, params, empty_on_404=True))
        items, _ = _unwrap_page(body, route)
        ids = [wire.parse(wire.WireId, item, route).id for item in items]
        if not ids:
            raise DolibarrNotFound(
                f"quote {ref} not found (no proposal has this reference)",
                remedy="check the reference in Dolibarr, or use the quote's id",
                status_code=404,
            )
        return await self.get_quote(ids[0])

    async def link_quote_contact(
        self, quote_id: int, contact_id: int, type_code: str = "CUSTOMER", *, source: str = "external"
    ) -> None:
        """Link a contact to a quote with a role (``CUSTOMER``, ``BILLING``...).

        Dolibarr ≤ 22 wants ``/contact/{cid}/{type}/{source}``; 23 wants ``/contact/{cid}/{type}?source=``
        and answers 404 to the other form: the form the version calls for is tried first, then the other.
        """
        base = f"proposals/{int(quote_id)}/contact/{int(contact_id)}/{url_quote(type_code, safe='')}"
        what = f"quote {quote_id}"
        forms = {
            "source_segment": _Call(
                "POST",
                f"{base}/{url_quote(source, safe='')}",
                "POST /proposals/{id}/contact/{contactid}/{type}/{source}",
                what=what,
            ),
            "source_query": _Call(
                "POST", base, "POST /proposals/{id}/contact/{contactid}/{type}", {"source": source}, what=what
            ),
        }
        feature = "contact_link"
        preferred = await self._path_for(
            feature, versions.CONTACT_SOURCE_IN_QUERY, "source_segment", "source_query"
        )
        other = "source_query" if preferred == "source_segment" else "source_segment"
        for form in (preferred, other):
            # a route that does not exist never ran: trying the other form cannot link twice
            linked, _ = await self._call_unless_broken(forms[form], _route_missing)
            if linked:
                if form != preferred:
                    await self._learn(feature, form, forms[preferred].route)
                return
        raise DolibarrRequestError(
            "this Dolibarr has neither form of the route that links a contact to a quote",
            remedy="check the Dolibarr version (18 to 23) and report it with that version",
            status_code=404,
        )

    # ------------------------------------------------------------------ version quirks

    async def quirks(self) -> tuple[versions.Quirk, ...]:
        """The known quirks of this server's version (from ``GET /status``)."""
        return versions.quirks_for((await self.status()).version)

    async def _path_for(self, feature: str, quirk: versions.Quirk, usual: str, workaround: str) -> str:
        """The path to use for ``feature``: what was learned in this process, else what the version calls for."""
        status = await self.status()
        learned = _LEARNED_PATHS.get((self.base_url, status.version_text, feature))
        if learned is not None:
            return learned
        return workaround if quirk.applies_to(status.version) else usual

    async def _learn(self, feature: str, path: str, failed_route: str) -> None:
        status = await self.status()
        _LEARNED_PATHS[(self.base_url, status.version_text, feature)] = path
        log.info(
            "Dolibarr %s: %s failed, using %s from now on", status.version_text or "?", failed_route, path
        )

    async def _call_unless_broken(
        self, call: _Call, broken: Callable[[httpx.Response], bool]
    ) -> tuple[bool, Any]:
        """(False, None) when ``broken`` says the answer is the route failing, else (True, the decoded body)."""
        response = await self._send(call)
        if broken(response):
            log.debug("%s is broken on this server (%s)", call.route, response.status_code)
            return False, None
        return True, self._answer(response, call)

    async def _quote_from(self, body: Any, route: str) -> Quote:
        tz = await self.server_timezone()
        return wire.parse(wire.WireQuote, body, route).to_domain(tz, opt_out_field=self._opt_out_field)

    async def set_opt_out(self, quote_id: int, field: str, value: bool) -> None:
        """Tick or untick the "do not follow up" extrafield of a quote.

        GET then PUT the *complete* ``array_options``: Dolibarr 16/17 replace the whole array.
        """
        path = f"proposals/{int(quote_id)}"
        raw = await self._call(_Call("GET", path, "GET /proposals/{id}", what=f"quote {quote_id}"))
        if not isinstance(raw, dict):
            raise DolibarrResponseError(f"unexpected answer from Dolibarr on GET /proposals/{quote_id}")
        options = raw.get("array_options")
        array_options: dict[str, Any] = dict(options) if isinstance(options, dict) else {}
        array_options[f"options_{field}"] = 1 if value else 0
        await self._put_proposal(quote_id, {"array_options": array_options})

    async def _put_proposal(self, quote_id: int, changes: dict[str, Any]) -> None:
        # Without duree_validite=0 Dolibarr resets fin_validite to datep + the default validity.
        body = {**changes, "duree_validite": 0}
        await self._call(
            _Call(
                "PUT",
                f"proposals/{int(quote_id)}",
                "PUT /proposals/{id}",
                body=body,
                what=f"quote {quote_id}",
            )
        )

    # ------------------------------------------------------------------ customers and contacts

    async def get_customer(self, customer_id: int) -> Customer:
        route = "GET /thirdparties/{id}"
        body = await self._call(
            _Call("GET", f"thirdparties/{int(customer_id)}", route, what=f"customer {customer_id}")
        )
        return wire.parse(wire.WireCustomer, body, route).to_domain()

    async def list_customers(self, ids: Iterable[int]) -> dict[int, Customer]:
        """Many customers in few requests: ``(t.rowid:in:...)`` by chunks, paged."""
        customers = await self._list_by_ids(
            "thirdparties", CUSTOMER_PROPERTIES, ids, wire.WireCustomer, wire.WireCustomer.to_domain
        )
        return {customer.id: customer for customer in customers}

    async def find_customers(self, name_or_code: str) -> list[Customer]:
        """Customers whose name or customer code contains the text (case rules are the database's)."""
        text = name_or_code.strip()
        try:
            flt = or_(
                criterion("t.nom", "like", f"%{text}%"), criterion("t.code_client", "like", f"%{text}%")
            )
        except ValueError as exc:
            raise DolibarrRequestError(
                str(exc), remedy="search with a shorter text, without ( ) \" '"
            ) from None
        route = "GET /thirdparties"
        items = await self._paged(
            "thirdparties", route, {"sqlfilters": str(flt)}, sortfield="t.rowid", empty_on_404=True
        )
        return self._rows(wire.WireCustomer, items, route, wire.WireCustomer.to_domain)

    async def list_contacts(self, ids: Iterable[int]) -> dict[int, Contact]:
        """Many contacts in few requests: ``(t.rowid:in:...)`` by chunks, paged; unknown ids are left out."""
        contacts = await self._list_by_ids(
            "contacts", CONTACT_PROPERTIES, ids, wire.WireContact, wire.WireContact.to_domain
        )
        return {contact.id: contact for contact in contacts}

    async def _list_by_ids(
        self,
        resource: str,
        properties: str,
        ids: Iterable[int],
        model: type[wire.ModelT],
        convert: Callable[[wire.ModelT], wire.DomainT],
    ) -> list[wire.DomainT]:
        """The rows of ``resource`` with these ids, ``IDS_PER_REQUEST`` per request, parsed row by row."""
        route = f"GET /{resource}"
        wanted = sorted({int(i) for i in ids})
        pages = await asyncio.gather(
            *(
                self._paged(
                    resource,
                    route,
                    {"sqlfilters": str(criterion("t.rowid", "in", chunk)), "properties": properties},
                    sortfield="t.rowid",
                    empty_on_404=True,
                    at_most=len(chunk),
                )
                for chunk in _chunks(wanted, IDS_PER_REQUEST)
            )
        )
        return self._rows(model, [item for page in pages for item in page], route, convert)

    async def get_contact(self, contact_id: int) -> Contact:
        route = "GET /contacts/{id}"
        body = await self._call(
            _Call("GET", f"contacts/{int(contact_id)}", route, what=f"contact {contact_id}")
        )
        return wire.parse(wire.WireContact, body, route).to_domain()

    # ------------------------------------------------------------------ users and company

    async def current_user(self) -> User:
        """The API key's user, with its rights as dotted names."""
        route = "GET /users/info"
        body = await self._call(_Call("GET", "users/info", route, {"includepermissions": 1}, what="API user"))
        return wire.parse(wire.WireUser, body, route).to_domain()

    async def get_user(self, user_id: int) -> User:
        route = "GET /users/{id}"
        body = await self._call(_Call("GET", f"users/{int(user_id)}", route, what=f"user {user_id}"))
        return wire.parse(wire.WireUser, body, route).to_domain()

    async def user_groups(self, user_id: int) -> frozenset[str]:
        """Names of a user's groups (``GET /users/{id}/groups``: needs user.user.lire or admin, even for oneself;
        ``current_user`` gives the API key's own groups with ``user.self.creer`` alone)."""
        route = "GET /users/{id}/groups"
        body = await self._call(
            _Call("GET", f"users/{int(user_id)}/groups", route, what=f"user {user_id}", empty_on_404=True)
        )
        return frozenset(group.name for group in wire.parse_list(wire.WireGroup, body, route))

    async def find_group(self, name: str) -> UserGroup | None:
        """The group of that exact name with its members, or None (needs user.user.lire or admin)."""
        route = "GET /users/groups"
        params: dict[str, str | int]
        try:
            params = {"sqlfilters": str(criterion("t.nom", "=", name)), "limit": 2}
        except ValueError:  # a name the filter cannot quote: read every group (a handful) and compare here
            params = {"limit": 0}
        body = await self._call(_Call("GET", "users/groups", route, params, empty_on_404=True))
        found = [group for group in wire.parse_list(wire.WireGroup, body, route) if group.name == name]
        if not found:
            return None
        route = "GET /users/groups/{id}"
        body = await self._call(
            _Call("GET", f"users/groups/{found[0].id}", route, {"load_members": 1}, what=f"group {name!r}")
        )
        return wire.parse(wire.WireGroup, body, route).to_domain()

    async def find_user_by_login(self, login: str) -> User:
        route = "GET /users"
        try:
            flt = criterion("t.login", "=", login)
        except ValueError as exc:
            raise DolibarrNotFound(f"no Dolibarr user with login {login!r}: {exc}") from None
        body = await self._call(
            _Call("GET", "users", route, {"sqlfilters": str(flt), "limit": 2}, empty_on_404=True)
        )
        users = wire.parse_list(wire.WireUser, body, route)
        if not users:
            raise DolibarrNotFound(
                f"no Dolibarr user with login {login!r}",
                remedy="check the login on the user's card in Dolibarr (Users & Groups)",
                status_code=404,
            )
        return users[0].to_domain()

    async def sales_representatives(self, customer_id: int) -> list[User]:
        """The customer's sales representatives; ``[]`` when unknown so callers fall back on the quote author.

        Dolibarr 22.x and 23.x always answer 404 on this route (issue #38985): not even asked there.
        """
        feature = "representatives"
        if not await self.representatives_known():
            return []
        route = "GET /thirdparties/{id}/representatives"
        call = _Call(
            "GET", f"thirdparties/{int(customer_id)}/representatives", route, {"mode": 0}, empty_on_404=True
        )
        answered, body = await self._call_unless_broken(call, _route_missing)
        if not answered:
            await self._learn(feature, "none", route)
            return []
        return [w.to_domain() for w in wire.parse_list(wire.WireUser, body, route)]

    async def representatives_known(self) -> bool:
        """False where ``/thirdparties/{id}/representatives`` is known (or found) broken: 22.x, 23.x."""
        path = await self._path_for("representatives", versions.REPRESENTATIVES_BROKEN, "route", "none")
        return path == "route"

    async def company(self) -> Company:
        """Our own company. Admin only (or the login in API_LOGINS_ALLOWED_FOR_GET_COMPANY)."""
        route = "GET /setup/company"
        try:
            body = await self._call(_Call("GET", "setup/company", route, what="company"))
        except DolibarrAuthError as exc:
            raise DolibarrAuthError(
                f"the API user may not read the company details ({exc.message})",
                remedy=(
                    "make the API user admin, or add its login to the Dolibarr constant "
                    "API_LOGINS_ALLOWED_FOR_GET_COMPANY, or fill the [company] table of dolirelance.toml"
                ),
                status_code=exc.status_code,
            ) from None
        return wire.parse(wire.WireCompany, body, route).to_domain()

    # ------------------------------------------------------------------ documents

    async def list_documents(self, quote: Quote) -> list[Document]:
        tz = await self.server_timezone()
        route = "GET /documents"
        body = await self._call(
            _Call("GET", "documents", route, {"modulepart": "propal", "id": quote.id}, empty_on_404=True)
        )
        return [w.to_domain(tz) for w in wire.parse_list(wire.WireDocument, body, route)]

    async def download_document(self, relative_path: str) -> bytes:
        """A file of a proposal; ``relative_path`` is relative to the proposal directory ("REF/REF.pdf")."""
        route = "GET /documents/download"
        params: dict[str, str | int] = {"modulepart": "propal", "original_file": relative_path.lstrip("/")}
        body = await self._call(
            _Call("GET", "documents/download", route, params, what=f"document {relative_path}")
        )
        return _file_content(body, route)

    async def build_document(self, quote: Quote, *, template: str = "", lang: str = "fr_FR") -> bytes:
        """(Re)generate the quote's PDF; ``template`` "" = the quote's or the default model."""
        route = "PUT /documents/builddoc"
        body = {
            "modulepart": "propal",
            "original_file": f"{quote.ref}/{quote.ref}.pdf",
            "doctemplate": template,
            "langcode": lang,
        }
        answer = await self._call(
            _Call("PUT", "documents/builddoc", route, body=body, what=f"quote {quote.ref}")
        )
        return _file_content(answer, route)

    async def upload_document(
        self, quote: Quote, filename: str, content: bytes, *, overwrite: bool = False
    ) -> str:
        """Attach a file to the quote; returns the name Dolibarr stored it under (sanitized)."""
        route = "POST /documents/upload"  # POST: PUT answers 405
        body = {
            "filename": wire.safe_file_name(filename),
            "modulepart": "propal",
            "ref": quote.ref,
            "subdir": "",
            "filecontent": base64.b64encode(content).decode("ascii"),
            "fileencoding": "base64",
            # Dolibarr's default is 0 whatever its docblock says; an existing file is then a 400
            "overwriteifexists": 1 if overwrite else 0,
        }
        answer = await self._call(
            _Call("POST", "documents/upload", route, body=body, what=f"quote {quote.ref}")
        )
        if not isinstance(answer, str) or not answer:
            raise DolibarrResponseError(
                f"unexpected answer from Dolibarr on {route}: expected the stored file name"
            )
        return answer

    # ------------------------------------------------------------------ agenda events

    async def list_events(self, flt: EventFilter) -> list[AgendaEvent]:
        tz = await self.server_timezone()
        common: list[Filter] = []
        if flt.code_prefix:
            common.append(like_prefix("t.code", flt.code_prefix))
        if flt.codes:
            common.append(or_(*(criterion("t.code", "=", code) for code in flt.codes)))
        if flt.element_type:
            common.append(criterion("t.elementtype", "=", flt.element_type))
        if flt.customer_id is not None:
            common.append(criterion("t.fk_soc", "=", flt.customer_id))
        if flt.owner_ids:
            common.append(criterion("t.fk_user_action", "in", sorted(set(flt.owner_ids))))
        if flt.percentage is not None:
            common.append(criterion("t.percent", "=", flt.percentage))
        if flt.start_from is not None:
            common.append(criterion("t.datep", ">=", flt.start_from, tz=tz))
        if flt.start_before is not None:
            common.append(criterion("t.datep", "<", flt.start_before, tz=tz))
        element_chunks: list[Filter | None] = [
            criterion("t.fk_element", "in", chunk)
            for chunk in _chunks(sorted(set(flt.element_ids)), IDS_PER_REQUEST)
        ] or [None]
        route = "GET /agendaevents"
        pages = await asyncio.gather(
            *(
                self._paged(
                    "agendaevents",
                    route,
                    _with_filter(
                        {"properties": EVENT_PROPERTIES}, _all(common + ([chunk] if chunk is not None else []))
                    ),
                    sortfield="t.id",
                    empty_on_404=True,
                )
                for chunk in element_chunks
            )
        )
        found = self._rows(
            wire.WireEvent, [item for page in pages for item in page], route, lambda w: w.to_domain(tz)
        )
        events = {event.id: event for event in found}
        return [events[key] for key in sorted(events)]

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

    async def get_event(self, event_id: int) -> AgendaEvent:
        tz = await self.server_timezone()
        route = "GET /agendaevents/{id}"
        body = await self._call(
            _Call("GET", f"agendaevents/{int(event_id)}", route, what=f"agenda event {event_id}")
        )
        return wire.parse(wire.WireEvent, body, route).to_domain(tz)

    async def create_event(self, event: NewAgendaEvent) -> int:
        route = "POST /agendaevents"
        answer = await self._call(_Call("POST", "agendaevents", route, body=event_body(event)))
        try:
            return int(answer)
        except (TypeError, ValueError):
            raise DolibarrResponseError(
                f"unexpected answer from Dolibarr on {route}: expected the new event id, got {answer!r:.80}"
            ) from None

    async def update_event(
        self,
        event_id: int,
        *,
        owner_id: int,
        percentage: int | None = None,
        note: str | None = None,
        start: datetime | None = None,
    ) -> None:
        # userownerid always: without agenda.allactions.create Dolibarr compares it with the API user.
        body: dict[str, Any] = {"userownerid": owner_id}
        if percentage is not None:
            body["percentage"] = percentage
        if note is not None:
            body["note"] = note
            body["note_private"] = note
        if start is not None:
            # moved as a point in time: the end follows so it never precedes the start
            body["datep"] = body["datef"] = _epoch(start)
        await self._call(
            _Call(
                "PUT",
                f"agendaevents/{int(event_id)}",
                "PUT /agendaevents/{id}",
                body=body,
                what=f"agenda event {event_id}",
            )
        )

    # ------------------------------------------------------------------ extrafields

    async def list_extrafields(self, element_type: str = "propal") -> list[ExtraField]:
        route = "GET /setup/extrafields"
        # the parameter is `type` on Dolibarr 16, `elementtype` later: unknown ones are ignored
        params: dict[str, str | int] = {"elementtype": element_type, "type": element_type}
        body = await self._call(_Call("GET", "setup/extrafields", route, params, empty_on_404=True))
        return wire.extrafields_to_domain(body, element_type, route)

    async def create_extrafield(
        self, name: str, label: str, *, field_type: str = "boolean", element_type: str = "propal"
    ) -> None:
        """Create an extra field (Dolibarr 20+, admin). Already there (409) is fine."""
        route = "POST /setup/extrafields/{elementtype}/{attrname}"
        body = {
            "label": label,
            "type": field_type,
            "pos": 100,
            "size": "",
            "required": 0,
            "default": "",
            "param": "",
            "list": "1",
            "perms": "",
            "alwayseditable": 1,
            "printable": 0,
            "totalizable": 0,
            "langfile": "",
            "computed": "",
            "unique": 0,
            "help": "",
        }
        path = f"setup/extrafields/{url_quote(element_type, safe='')}/{url_quote(name, safe='')}"
        try:
            await self._call(_Call("POST", path, route, body=body))
        except DolibarrRequestError as exc:
            if exc.status_code != 409:
                raise

    # ------------------------------------------------------------------ paging

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
        base = {**params, "limit": size, "sortfield": sortfield, "sortorder": "ASC"}

        async def fetch(page: int) -> list[Any]:
            answer = await self._call(
                _Call("GET", path, route, {**base, "page": page}, empty_on_404=empty_on_404)
            )
            items, _ = _unwrap_page(answer, route)
            return items

        first_answer = await self._call(
            _Call(
                "GET", path, route, {**base, "page": 0, "pagination_data": "true"}, empty_on_404=empty_on_404
            )
        )
        first, total = _unwrap_page(first_answer, route)
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
        base = {**params, "limit": size, "sortfield": sortfield, "sortorder": "ASC"}

        async def fetch(page: int) -> list[Any]:
            answer = await self._call(_Call("GET", path, route, {**base, "page": page}, empty_on_404=empty_on_404))
            items, _ = _unwrap_page(answer, route)
            return items

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

    # ------------------------------------------------------------------ HTTP

    async def _call(self, call: _Call) -> Any:
        """Send, map errors, decode JSON. ``None`` for 304 (nothing to do), ``[]`` for an empty 404 list."""
        return self._answer(await self._send(call), call)

    def _answer(self, response: httpx.Response, call: _Call) -> Any:
        status = response.status_code
        if status == 304:
            return None
        if 200 <= status < 300:
            return _decode(response, call)
        if status == 404 and call.empty_on_404 and _dolibarr_error(response) is not None:
            return []
        raise self._error(response, call)

    async def _send(self, call: _Call) -> httpx.Response:
        attempt = 0
        slept = 0.0
        while True:
            attempt += 1
            try:
                async with self._semaphore:
                    response = await self._send_once(call)
            except httpx.TransportError as exc:
                if _may_retry(call.method, exc) and attempt <= self._max_retries:
                    slept += await self._pause(attempt, slept)
                    continue
                raise _unreachable(self.base_url, call, exc) from None
            if (
                call.method == "GET"
                and response.status_code in (502, 503, 504)
                and not _is_query_error(response)
                and attempt <= self._max_retries
            ):
                slept += await self._pause(attempt, slept)
                continue
            return response

    async def _send_once(self, call: _Call) -> httpx.Response:
        self.request_count += 1
        self.requests_by_route[call.route] += 1
        started = time.perf_counter()
        try:
            response = await self._http.request(call.method, call.path, params=call.params, json=call.body)
        except httpx.TransportError as exc:
            log.debug("%s failed after %.0f ms: %s", call.route, _ms(started), type(exc).__name__)
            raise
        log.debug("%s -> %s in %.0f ms", call.route, response.status_code, _ms(started))
        return response

    async def _pause(self, attempt: int, slept: float) -> float:
        """Exponential backoff, each pause and the total bounded; returns the time slept."""
        delay = min(
            self._backoff * 2.0 ** (attempt - 1),
            MAX_BACKOFF_SECONDS,
            max(MAX_TOTAL_BACKOFF_SECONDS - slept, 0),
        )
        if delay > 0:
            await asyncio.sleep(delay)
        return delay

    def _error(self, response: httpx.Response, call: _Call) -> DolibarrError:
        status = response.status_code
        message = _dolibarr_error(response)
        detail = message or _short_body(response)
        where = call.route
        if status == 401:
            if self._status is not None and self._status.version and self._status.version < (20,):
                return DolibarrAuthError(
                    f"Dolibarr refused {where}: {detail} (Dolibarr {self._status.version_text} "
                    "answers 401 both for a bad API key and for a missing right)",
                    remedy=f"give the API user the right {_likely_right(call)}, or {_KEY_REMEDY}",
                    status_code=status,
                )
            return DolibarrAuthError(
                f"the API key was refused by Dolibarr ({detail})", remedy=_KEY_REMEDY, status_code=status
            )
        if status == 403:
            if message is None:
                return DolibarrRequestError(
                    f"{where} was blocked by Dolibarr's web application firewall (WAF)",
                    remedy="the request holds characters the firewall refuses (quote, parenthesis, "
                    "SQL words); report it with the command that failed",
                    status_code=status,
                )
            return DolibarrAuthError(
                f"Dolibarr denied {where}: {detail}",
                remedy=f"give the API user the right {_likely_right(call)} "
                "(Users & Groups > the user > Permissions)",
                status_code=status,
            )
        if status == 404:
            if message is None:
                return DolibarrRequestError(
                    f"{self.base_url} answered 404 on {where} without a Dolibarr error",
                    remedy="check [dolibarr] url: it must end with /api/index.php",
                    status_code=status,
                )
            return DolibarrNotFound(
                f"{call.what or 'the object of ' + where} not found ({detail})", status_code=status
            )
        if status in (301, 302, 303, 307, 308):
            location = response.headers.get("location", "?")
            return DolibarrRequestError(
                f"Dolibarr redirected {where} to {location}",
                remedy="set [dolibarr] url to the final address (https, host name) of the API",
                status_code=status,
            )
        if status == 503 and _is_query_error(response):
            return DolibarrRequestError(
                f"Dolibarr could not run the query of {where}: {detail}",
                remedy="the filter uses a column this Dolibarr version does not have; "
                "report it with your Dolibarr version (dolirelance status)",
                status_code=status,
            )
        if status in (502, 503, 504) or (status >= 500 and message is None):
            write_note = (
                "; the change may have been applied: check in Dolibarr before trying again"
                if call.method != "GET"
                else ""
            )
            return DolibarrUnavailable(
                f"Dolibarr answered {status} on {where}: {detail}",
                remedy=f"the server is down or overloaded; try again later{write_note}",
                status_code=status,
            )
        if status == 501:
            return DolibarrRequestError(
                f"{where} is not available on this Dolibarr: {detail}",
                remedy="check the Dolibarr version (18 to 23) and that the module is enabled",
                status_code=status,
            )
        return DolibarrRequestError(f"Dolibarr refused {where}: {detail}", status_code=status)


# ---------------------------------------------------------------------- helpers


def event_body(event: NewAgendaEvent) -> dict[str, Any]:
    """The ``POST /agendaevents`` body: integer dates, objects keyed by id, both link fields."""
    start = _epoch(event.start)
    body: dict[str, Any] = {
        "type_code": event.type_code,
        "code": event.code,
        "label": event.label[:128],
        "note": event.note,
        "note_private": event.note,
        "datep": start,
        "datef": _epoch(event.end) if event.end is not None else start,
        "percentage": event.percentage,
        "userownerid": event.owner_id,
        "userassigned": {str(event.owner_id): {"id": event.owner_id}},
        "fulldayevent": 1 if event.full_day else 0,
    }
    if event.customer_id is not None:
        body["socid"] = event.customer_id
    if event.contact_id is not None:
        body["contact_id"] = event.contact_id
        # an object keyed by contact id: a JSON list makes Dolibarr link contact 0
        body["socpeopleassigned"] = {str(event.contact_id): {"id": event.contact_id}}
    if event.element_type is not None:
        body["elementtype"] = event.element_type
    if event.element_id is not None:
        # 16 stores only fk_element, 20 copies elementid into it, 22 syncs both
        body["fk_element"] = event.element_id
        body["elementid"] = event.element_id
    for key, value in (
        ("email_from", event.email_from),
        ("email_to", event.email_to),
        ("email_subject", event.email_subject),
        ("email_msgid", event.email_msgid),
    ):
        if value:
            body[key] = value
    return body


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("Dolibarr dates must be timezone-aware datetimes")
    return int(moment.timestamp())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known timezone; use a name like 'Europe/Paris'") from None


def _chunks(values: Sequence[T], size: int) -> list[list[T]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _all(parts: list[Filter]) -> Filter | None:
    return and_(*parts) if parts else None


def _with_filter(params: dict[str, str | int], flt: Filter | None) -> dict[str, str | int]:
    return {**params, "sqlfilters": str(flt)} if flt is not None else dict(params)


def _unwrap_page(answer: Any, route: str) -> tuple[list[Any], int | None]:
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


def _decode(response: httpx.Response, call: _Call) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        raise DolibarrResponseError(
            f"Dolibarr answered {call.route} with something that is not JSON "
            f"({response.headers.get('content-type', 'no content type')}): {_short_body(response)}",
            remedy="enable the API REST module in Dolibarr (Home > Setup > Modules), and check that "
            "[dolibarr] url ends with /api/index.php",
            status_code=response.status_code,
        ) from None


def _dolibarr_error(response: httpx.Response) -> str | None:
    """The message of a Restler error body, without its "Not Found: " prefix; None if not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    message = str(error.get("message") or "").strip()
    try:
        phrase = HTTPStatus(int(error.get("code") or response.status_code)).phrase
    except ValueError:
        phrase = response.reason_phrase
    if message.startswith(f"{phrase}: "):
        message = message[len(phrase) + 2 :]
    # some 500s put Dolibarr's error codes under numeric keys: {"0": null, "1": "ErrorActionComm..."}
    extra = [str(value) for key, value in error.items() if str(key).isdigit() and value]
    if extra:
        message = f"{message} ({', '.join(extra)})"
    return message or phrase


def _route_missing(response: httpx.Response) -> bool:
    """Restler's "no such route": 404 (or 405/501) with no Dolibarr text, failed at its route stage."""
    if response.status_code in (405, 501):
        return True
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    debug = body.get("debug") if isinstance(body, dict) else None
    stages = debug.get("stages") if isinstance(debug, dict) else None
    failure = stages.get("failure") if isinstance(stages, dict) else None
    if isinstance(failure, list) and failure:
        return bool(failure[0] == "route")
    return _dolibarr_error(response) == HTTPStatus.NOT_FOUND.phrase  # production mode: no debug part


def _ref_route_broken(response: httpx.Response) -> bool:
    """The ref route answering 400 (23's "No proposal with id=0") or missing: the list filter works instead."""
    return response.status_code == 400 or _route_missing(response)


def _is_query_error(response: httpx.Response) -> bool:
    message = _dolibarr_error(response) or ""
    return "Unknown column" in message or "SQL" in message


def _short_body(response: httpx.Response) -> str:
    text = re.sub(r"<[^>]*>", " ", response.text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:200] or f"HTTP {response.status_code} {response.reason_phrase}"


def _may_retry(method: str, exc: httpx.TransportError) -> bool:
    # Never sent (connection refused, DNS, connect timeout, no free connection): always safe to retry.
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True
    # A write that timed out or lost its connection may have been applied: retrying could create
    # a second event or a second file. Only reads are retried then.
    return method == "GET" and isinstance(
        exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    )


def _unreachable(base_url: str, call: _Call, exc: httpx.TransportError) -> DolibarrUnavailable:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    remedy = "check [dolibarr] url and that the server is up"
    if "certificate" in reason.lower() or "ssl" in reason.lower():
        remedy = (
            "check the server's TLS certificate, or set [dolibarr] verify_tls = false for a self-signed one"
        )
    if call.method != "GET" and not _may_retry(call.method, exc):
        remedy += "; the change may have been applied: check in Dolibarr before trying again"
    return DolibarrUnavailable(f"cannot reach Dolibarr at {base_url} ({call.route}): {reason}", remedy=remedy)


# Pages of one list read at once when the server gives no total (Dolibarr ≤ 20): two halve the
# wall time of sequential reading while costing at most two requests past the last page.
LIST_PAGES_IN_FLIGHT = 2


@dataclass
class _PageReading:
    """Where a streamed list stands: the next page to ask for, the requests in flight, the end seen."""

    next_page: int = 0
    in_flight: int = 0
    ended: bool = False

_READ_RIGHTS = {
    "proposals": "propal.lire",
    "documents": "propal.lire",
    "thirdparties": "societe.lire (and societe.client.voir to see every customer)",
    "contacts": "societe.contact.lire",
    "agendaevents": "agenda.myactions.read (agenda.allactions.read for other users' events)",
    "users": "user.user.lire",
    "setup": "admin",
}
_WRITE_RIGHTS = {
    "proposals": "propal.creer",
    "documents": "propal.creer",
    "agendaevents": "agenda.myactions.create (agenda.allactions.create for events owned by someone else)",
}


def _likely_right(call: _Call) -> str:
    path = call.route.split(" ", 1)[-1].strip("/")
    if path == "users/info":  # reading oneself needs one of these, not user.user.lire alone
        return "user.self.creer (or user.user.lire)"
    if path.startswith("users/groups") or path.endswith("/groups"):  # one's own groups too
        return "user.user.lire (Read users, groups and permissions), or admin"
    resource = path.split("/")[0]
    if call.method != "GET" and resource in _WRITE_RIGHTS:
        return _WRITE_RIGHTS[resource]
    return _READ_RIGHTS.get(resource, "needed for this route")


def _file_content(answer: Any, route: str) -> bytes:
    payload = wire.parse(wire.WireFile, answer, route)
    try:
        content = base64.b64decode(payload.content, validate=False)
    except (binascii.Error, ValueError):
        raise DolibarrResponseError(
            f"unexpected answer from Dolibarr on {route}: content is not base64"
        ) from None
    if payload.filesize is not None and payload.filesize != len(content):
        raise DolibarrResponseError(
            f"unexpected answer from Dolibarr on {route}: {payload.filename or 'the file'} came with "
            f"{len(content)} bytes where Dolibarr says it has {payload.filesize}",
            remedy="try again; if it persists, check the web server's limits (memory, output size)",
        )
    return content


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def login_for_key(
    base_url: str,
    login: str,
    password: str,
    *,
    timeout: float = 30.0,
    verify_tls: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """The API key (``token``) of the Dolibarr user ``login``, through the API's login route.

    Sent as ``POST /login`` with a JSON body, the form of the route Dolibarr also offers: the
    password then stays out of URLs, hence out of Dolibarr's access logs and httpx's request log.
    """
    call = _Call("POST", "login", "POST /login", body={"login": login, "password": password})
    root = base_url.rstrip("/")
    try:
        async with httpx.AsyncClient(
            base_url=root + "/",
            headers={"Accept": "application/json"},
            timeout=timeout,
            verify=verify_tls,
            transport=transport,
            follow_redirects=False,
        ) as http:
            response = await http.post(call.path, json=call.body)
    except httpx.TransportError as exc:
        raise _unreachable(root, call, exc) from None
    if response.status_code in (401, 403):
        raise DolibarrAuthError(
            "wrong login or password",
            remedy="use your Dolibarr login and password; an administrator can check that the user is active",
            status_code=response.status_code,
        )
    if response.status_code >= 500:
        raise DolibarrUnavailable(
            f"Dolibarr answered {response.status_code} on {call.route}",
            remedy="the server is down or overloaded; try again later",
            status_code=response.status_code,
        )
    if not 200 <= response.status_code < 300:
        raise DolibarrRequestError(
            f"Dolibarr refused {call.route} (HTTP {response.status_code})",
            remedy="check [dolibarr] url: it must end with /api/index.php, with the API REST module enabled",
            status_code=response.status_code,
        )
    answer = _decode(response, call)
    success = answer.get("success") if isinstance(answer, dict) else None
    token = success.get("token") if isinstance(success, dict) else None
    if not isinstance(token, str) or not token:
        raise DolibarrResponseError(
            "Dolibarr's login answer holds no token",
            remedy="check that the user has an API key allowed (Dolibarr 18 to 23, API REST module enabled)",
            status_code=response.status_code,
        )
    return token
