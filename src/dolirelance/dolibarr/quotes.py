"""Quotes (Dolibarr proposals): lists, streamed pages, one by id or by ref, contact links, the opt-out field."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote as url_quote

import httpx

from dolirelance.dolibarr import versions, wire
from dolirelance.dolibarr.http import Call, route_missing
from dolirelance.dolibarr.paging import (
    REFS_PER_REQUEST,
    ListReads,
    all_of,
    ids_by_url_length,
    in_chunks,
    needs_several_requests,
    unwrap_page,
    with_filter,
)
from dolirelance.dolibarr.setup import ServerSetup
from dolirelance.dolibarr.sqlfilters import Filter, criterion, or_
from dolirelance.domain import Quote, QuoteFilter, QuoteStatus
from dolirelance.errors import DolibarrNotFound, DolibarrRequestError, DolibarrResponseError

__all__ = [
    "OVERVIEW_QUOTE_PROPERTIES",
    "QUOTE_PROPERTIES",
    "REPORT_QUOTE_PROPERTIES",
    "STREAM_PAGE_SIZE",
    "QuoteRoutes",
]

# Only what Quote needs: without `properties` every proposal comes with all its lines (~12 KB each).
QUOTE_PROPERTIES = (
    "id,ref,socid,status,date,datep,fin_validite,total_ht,total_tva,total_ttc,multicurrency_code,"
    "ref_client,array_options,last_main_doc,user_author_id,note_public,contacts_ids,date_modification,date_validation"
)
# A real server charges a list row a little per property it keeps (testing/cost.py): lists that only
# show a few read only those. Servers before 20 ignore `properties` and send whole objects (same answers).
# The report: status, amount, issue, end and signature days.
REPORT_QUOTE_PROPERTIES = "id,ref,socid,status,date,datep,fin_validite,total_ht,multicurrency_code,date_signature"
# What the quotes overview (`quotes`) shows: ref, customer, amounts, end of validity, opt-out. Its status
# is asked only when the filter allows several; the author (`user_author_id`) only when it picks a sales
# rep's quotes where Dolibarr cannot list representatives (``iter_quotes(author=True)``).
OVERVIEW_QUOTE_PROPERTIES = "id,ref,socid,status,fin_validite,total_ht,total_ttc,multicurrency_code,array_options"
# Quotes per page when a list is streamed (``iter_quotes``).
STREAM_PAGE_SIZE = 500
# Characters Dolibarr's firewall refuses in a URL path (a draft ref "(PROV12)" hits it).
_WAF_PATH_CHARS = set(":;\"'<>?(){}$%/\\")


class QuoteRoutes(ServerSetup, ListReads):
    """The routes of ``/proposals``."""

    _opt_out_field: str  # set by DolibarrClient: the extrafield meaning "do not follow up"

    async def list_quotes(self, flt: QuoteFilter, *, light: bool = True) -> list[Quote]:
        """The quotes of ``flt`` (``light=False``: whole objects), sorted by id."""
        tz = await self.server_timezone()
        common = self._common_quote_criteria(flt)
        # Long id/ref lists are split over several requests (URL length); refs are strings, so no `in`.
        customer_chunks: list[Filter | None] = [
            criterion("t.fk_soc", "in", chunk) for chunk in ids_by_url_length(sorted(set(flt.customer_ids)))
        ] or [None]
        ref_chunks: list[Filter | None] = [
            or_(*(criterion("t.ref", "=", ref) for ref in chunk))
            for chunk in in_chunks(sorted(set(flt.refs)), REFS_PER_REQUEST)
        ] or [None]
        id_lists = ids_by_url_length(sorted(set(flt.ids)))
        id_chunks: list[Filter | None] = [criterion("t.rowid", "in", chunk) for chunk in id_lists] or [None]
        filters = [
            all_of(common + [part for part in (customers, refs, ids) if part is not None])
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
                    with_filter(params, f),
                    sortfield="t.rowid",
                    empty_on_404=True,
                    at_most=max(map(len, id_lists)) if id_lists else None,
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
        return await self._report_quotes([all_of(common)])

    async def list_quotes_by_ids(self, ids: Iterable[int]) -> list[Quote]:
        """The quotes with these ids (any status), with their signature day; ids per request bounded."""
        chunks = ids_by_url_length(sorted(set(ids)))
        return await self._report_quotes([criterion("t.rowid", "in", chunk) for chunk in chunks])

    async def _report_quotes(self, filters: Sequence[Filter | None]) -> list[Quote]:
        tz = await self.server_timezone()
        route = "GET /proposals"
        params: dict[str, str | int] = {"properties": REPORT_QUOTE_PROPERTIES}
        pages = await asyncio.gather(
            *(
                self._paged("proposals", route, with_filter(params, f), sortfield="t.rowid", empty_on_404=True)
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

    async def iter_quotes(
        self, flt: QuoteFilter, *, overview: bool = False, author: bool = False
    ) -> AsyncIterator[list[Quote]]:
        """The quotes of :meth:`list_quotes`, a page at a time, so that callers keep one page in memory.

        ``overview``: only what a list of quotes shows (``OVERVIEW_QUOTE_PROPERTIES``): no note, no
        contacts, no PDF path, the author only with ``author``, the status only when ``flt`` allows
        several (else it is the one asked for); such quotes are for showing, not for following up.

        Pages of at least ``STREAM_PAGE_SIZE`` quotes (a real server's cost is per quote, the
        request's own cost is paid once per page), read ahead with ``max_concurrency - 1`` requests
        so that the caller has one left. Filters on many customers, refs or ids (several requests)
        are read whole, then given in pages.
        """
        if _needs_several_requests(flt):
            quotes = await self.list_quotes(flt)
            for start in range(0, len(quotes), self._page_size):
                yield quotes[start : start + self._page_size]
            return
        # the server's time zone (``/status`` when not configured) is asked while the first pages are read
        timezone = asyncio.ensure_future(self.server_timezone())
        opt_out_field = flt.opt_out_field or self._opt_out_field
        route = "GET /proposals"
        properties, status = QUOTE_PROPERTIES, None
        if overview:
            # a real server charges each property of each row: one the filter already decides is not asked
            status = int(flt.statuses[0]) if len(flt.statuses) == 1 else None
            shown = [p for p in OVERVIEW_QUOTE_PROPERTIES.split(",") if not (p == "status" and status is not None)]
            properties = ",".join(shown + (["user_author_id"] if author else []))
        params = with_filter({"properties": properties}, all_of(self._quote_criteria(flt)))
        seen: set[int] = set()
        size = max(self._page_size, STREAM_PAGE_SIZE)
        pages = self._stream("proposals", route, params, sortfield="t.rowid", empty_on_404=True, size=size)
        try:
            async for page in pages:
                if status is not None:
                    page = [{"status": status, **item} if isinstance(item, dict) else item for item in page]
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
        if _needs_several_requests(flt):
            return None
        tz = await self.server_timezone()
        opt_out_field = flt.opt_out_field or self._opt_out_field
        route = "GET /proposals"
        params = with_filter(
            {
                "properties": QUOTE_PROPERTIES,
                "limit": size,
                "page": page,
                "sortfield": "t.fin_validite,t.rowid",
                "sortorder": "ASC,ASC",
            },
            all_of(self._quote_criteria(flt)),
        )
        answer = await self._call(Call("GET", "proposals", route, params, empty_on_404=True))
        items, _ = unwrap_page(answer, route)
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
            Call("GET", f"proposals/{int(quote_id)}", route, {"contact_list": 0}, what=f"quote {quote_id}")
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
        by_route = Call(
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
        body = await self._call(Call("GET", "proposals", route, params, empty_on_404=True))
        items, _ = unwrap_page(body, route)
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
            "source_segment": Call(
                "POST",
                f"{base}/{url_quote(source, safe='')}",
                "POST /proposals/{id}/contact/{contactid}/{type}/{source}",
                what=what,
            ),
            "source_query": Call(
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
            linked, _ = await self._call_unless_broken(forms[form], route_missing)
            if linked:
                if form != preferred:
                    await self._learn(feature, form, forms[preferred].route)
                return
        raise DolibarrRequestError(
            "this Dolibarr has neither form of the route that links a contact to a quote",
            remedy="check the Dolibarr version (18 to 23) and report it with that version",
            status_code=404,
        )

    async def _quote_from(self, body: Any, route: str) -> Quote:
        tz = await self.server_timezone()
        return wire.parse(wire.WireQuote, body, route).to_domain(tz, opt_out_field=self._opt_out_field)

    async def set_opt_out(self, quote_id: int, field: str, value: bool) -> None:
        """Tick or untick the "do not follow up" extrafield of a quote.

        GET then PUT the *complete* ``array_options``: Dolibarr 16/17 replace the whole array.
        """
        path = f"proposals/{int(quote_id)}"
        raw = await self._call(Call("GET", path, "GET /proposals/{id}", what=f"quote {quote_id}"))
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
            Call(
                "PUT",
                f"proposals/{int(quote_id)}",
                "PUT /proposals/{id}",
                body=body,
                what=f"quote {quote_id}",
            )
        )


def _ref_route_broken(response: httpx.Response) -> bool:
    """The ref route answering 400 (23's "No proposal with id=0") or missing: the list filter works instead."""
    return response.status_code == 400 or route_missing(response)


def _needs_several_requests(flt: QuoteFilter) -> bool:
    """Whether ``flt`` is cut over several list requests (many customers, refs or ids): Dolibarr cannot
    page across them, so such a list is read whole."""
    return (
        needs_several_requests(sorted(set(flt.customer_ids)))
        or len(flt.refs) > REFS_PER_REQUEST
        or needs_several_requests(sorted(set(flt.ids)))
    )
