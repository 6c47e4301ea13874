"""One client for every Dolibarr version: quirks picked from ``/status``, fallbacks learned for the process.

respx pins the wire details of the fallbacks; the fakes of 20.0.0 and 23.0.0-beta show the same calls
giving the same results on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from conftest import ON_EACH_RECORDED_VERSION
from dolirelance.dolibarr import DolibarrClient
from dolirelance.dolibarr.versions import KNOWN_QUIRKS, in_tested_range, quirks_for
from dolirelance.domain import Quote, QuoteFilter, QuoteStatus
from dolirelance.errors import DolibarrNotFound
from dolirelance.service import Runtime
from dolirelance.service.prepare import sales_rep_of
from dolirelance.testing import FakeDolibarr, SampleData, create_app

BASE = "https://erp.example.test/api/index.php"
KEY = "k" * 32


def status_of(version: str) -> dict[str, Any]:
    return {"success": {"code": 200, "dolibarr_version": version, "access_locked": "0"}}


def restler_error(code: int, message: str, stage: str = "call") -> dict[str, Any]:
    failure = ["route", "negotiate", "message"] if stage == "route" else ["call", "message"]
    return {"error": {"code": code, "message": message}, "debug": {"source": "x.php:1", "stages": {"failure": failure}}}


PROPOSAL = {"id": "7", "ref": "PR2611-0007", "socid": "1", "status": 1, "contacts_ids": []}


@pytest.fixture
def mock() -> respx.MockRouter:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def new_client() -> DolibarrClient:
    return DolibarrClient(BASE, KEY, backoff=0, server_timezone="UTC")


# ---------------------------------------------------------------------------- quirks by version


def test_quirks_by_version() -> None:
    """Each known quirk applies to the versions the facts name, and nothing applies to an unreadable version."""
    keys = {
        version: {q.key for q in quirks_for(version)} for version in ((18, 0, 5), (20, 0, 0), (22, 0, 4), (23, 0, 0))
    }
    assert keys[(20, 0, 0)] == {"no_pagination_total"}
    assert {"rights_as_401", "empty_lists_404", "no_pagination_total"} <= keys[(18, 0, 5)]
    assert keys[(22, 0, 4)] == {"representatives_broken", "pagination_total", "empty_contacts_as_list"}
    assert {"ref_route_broken", "contact_source_in_query", "document_name_null", "representatives_broken"} <= keys[
        (23, 0, 0)
    ]
    assert quirks_for(()) == ()
    assert all(quirk.what for quirk in KNOWN_QUIRKS)
    assert [in_tested_range(v) for v in ((17, 0), (18, 0), (23, 0), (24, 0), ())] == [False, True, True, False, False]


# ---------------------------------------------------------------------------- fallbacks (wire details)


async def test_ref_lookup_falls_back_on_the_list_filter_and_remembers_it(mock: respx.MockRouter) -> None:
    """On a 20 whose ref route answers 400, the list filter is used, and every later client goes straight to it."""
    mock.get("/status").respond(200, json=status_of("20.0.0"))
    by_ref = mock.get("/proposals/ref/PR2611-0007").respond(
        400, json=restler_error(400, "Bad Request: No proposal with id=0 can exist")
    )
    listed = mock.get("/proposals").respond(200, json=[{"id": "7", "ref": "PR2611-0007"}])
    one = mock.get("/proposals/7").respond(200, json=PROPOSAL)
    async with new_client() as first:
        assert (await first.get_quote_by_ref("PR2611-0007")).id == 7
    assert listed.calls.last.request.url.params["sqlfilters"] == "(t.ref:=:'PR2611-0007')"
    assert one.calls.last.request.url.params["contact_list"] == "0"
    async with new_client() as second:
        assert (await second.get_quote_by_ref("PR2611-0007")).id == 7
        assert "GET /proposals/ref/{ref}" not in second.requests_by_route
    assert by_ref.call_count == 1


async def test_ref_lookup_on_23_never_tries_the_broken_route(mock: respx.MockRouter) -> None:
    """23's version picks the list filter from the start; an unknown ref is a clear not-found."""
    mock.get("/status").respond(200, json=status_of("23.0.0-beta"))
    by_ref = mock.get("/proposals/ref/PR2611-0007")
    mock.get("/proposals").respond(200, json={"data": [], "pagination": {"total": 0}})
    async with new_client() as client:
        with pytest.raises(DolibarrNotFound, match="quote PR2611-0007 not found"):
            await client.get_quote_by_ref("PR2611-0007")
    assert by_ref.call_count == 0


async def test_a_real_not_found_on_the_ref_route_is_not_a_fallback(mock: respx.MockRouter) -> None:
    """404 "Commercial Proposal not found" is an answer, not a broken route: no second request."""
    mock.get("/status").respond(200, json=status_of("20.0.0"))
    mock.get("/proposals/ref/PR9").respond(404, json=restler_error(404, "Not Found: Commercial Proposal not found"))
    listed = mock.get("/proposals")
    async with new_client() as client:
        with pytest.raises(DolibarrNotFound, match="quote PR9 not found"):
            await client.get_quote_by_ref("PR9")
    assert listed.call_count == 0


async def test_contact_link_tries_the_other_form_on_a_route_404(mock: respx.MockRouter) -> None:
    """A 22-looking server without the /{source} route: the ?source= form links it, and is remembered."""
    mock.get("/status").respond(200, json=status_of("22.0.4"))
    segment = mock.post("/proposals/7/contact/3/CUSTOMER/external").respond(
        404, json=restler_error(404, "Not Found", stage="route")
    )
    query = mock.post("/proposals/7/contact/3/CUSTOMER").respond(
        200, json={"success": {"code": 200, "message": "Contact linked to the proposal"}}
    )
    async with new_client() as client:
        await client.link_quote_contact(7, 3)
        await client.link_quote_contact(7, 3)
    assert query.calls.last.request.url.params["source"] == "external"
    assert (segment.call_count, query.call_count) == (1, 2)


async def test_representatives_route_missing_is_remembered(mock: respx.MockRouter) -> None:
    """A route 404 on the representatives route means "unknown" ([]), and is not asked again."""
    mock.get("/status").respond(200, json=status_of("21.0.1"))
    reps = mock.get("/thirdparties/1/representatives").respond(501, text="API not found")
    async with new_client() as client:
        assert await client.sales_representatives(1) == []
        assert await client.sales_representatives(1) == []
    assert reps.call_count == 1


async def test_documents_without_name_use_filename(mock: respx.MockRouter) -> None:
    """23's entries have ``name`` null: the file name comes from ``filename``/``relativename``."""
    mock.get("/documents").respond(
        200,
        json=[
            {
                "name": None,
                "relativename": "PR1.pdf",
                "level1name": "PR1",
                "filename": "PR1.pdf",
                "size": 3,
                "element": None,
                " * childtables": None,
                "content-type": "application/pdf",
            },
        ],
    )
    async with new_client() as client:
        quote = Quote(1, "PR1", 1, QuoteStatus.OPEN, None, None, 0, 0, 0, "EUR")  # type: ignore[arg-type]
        (document,) = await client.list_documents(quote)
    assert (document.name, document.relative_path, document.is_pdf) == ("PR1.pdf", "PR1/PR1.pdf", True)


# ---------------------------------------------------------------------------- same calls, both fakes


@pytest.fixture
async def seeded(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> AsyncIterator[DolibarrClient]:
    async with DolibarrClient(
        "http://dolibarr.test/api/index.php",
        sample_data.api_keys["jdupont"],
        backoff=0,
        transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
    ) as client:
        yield client


@ON_EACH_RECORDED_VERSION
async def test_every_client_call_gives_the_same_result_on_each_version(
    seeded: DolibarrClient, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """Ref look-up, contact link, documents, lists and representatives agree on 20.0.0 and 23.0.0-beta."""
    ref = sample_data.refs["expired"]
    quote = await seeded.get_quote_by_ref(ref)
    assert quote.id == sample_data.quotes["expired"]
    assert [c.type_code for c in quote.contacts] == ["CUSTOMER"]
    documents = await seeded.list_documents(quote)
    assert [d.name for d in documents] == [f"{ref}.pdf"] and documents[0].relative_path == f"{ref}/{ref}.pdf"
    other = sample_data.contacts["sophie_dupont"]
    await seeded.link_quote_contact(quote.id, other)
    again = await seeded.get_quote(quote.id)
    assert sorted(c.contact_id for c in again.contacts) == sorted([other, *(c.contact_id for c in quote.contacts)])
    reps = await seeded.sales_representatives(quote.customer_id)
    # 23's route is broken: no reps known (the author signs instead); 20 answers them
    assert bool(reps) is (fake_dolibarr.version.text == "20.0.0")
    open_refs = sorted(q.ref for q in await seeded.list_quotes(QuoteFilter(statuses=(QuoteStatus.OPEN,))))
    assert open_refs == sorted(sample_data.refs[role] for role in sample_data.open_quotes)
    broken_routes = {"GET /proposals/ref/{ref}", "POST /proposals/{id}/contact/{contactid}/{type}/{source}"}
    if fake_dolibarr.version.text == "23.0.0-beta":  # the version's quirks avoid the broken routes entirely
        assert not broken_routes & set(seeded.requests_by_route)
        assert "GET /thirdparties/{id}/representatives" not in seeded.requests_by_route


@ON_EACH_RECORDED_VERSION
async def test_list_pages_planned_from_the_total_where_the_version_gives_it(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """23 gives the total: exactly ceil(N/page) requests; 20 gives none: at most two more."""
    async with DolibarrClient(
        "http://dolibarr.test/api/index.php",
        sample_data.api_keys["jdupont"],
        backoff=0,
        page_size=2,
        transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
    ) as client:
        quotes = await client.list_quotes(QuoteFilter(statuses=(QuoteStatus.OPEN,)))
        pages = client.requests_by_route["GET /proposals"]
    assert len(quotes) == len(sample_data.open_quotes)
    exact = -(-len(quotes) // 2)
    if fake_dolibarr.version.pagination_data:
        assert pages == exact
    else:
        assert exact <= pages <= exact + 2


@ON_EACH_RECORDED_VERSION
async def test_the_quote_follower_signs_where_representatives_cannot_be_read(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """A SALESREPFOLL user linked to the quote signs on 23 (no representatives there); 20 keeps the customer's rep."""
    quote_id = sample_data.quotes["expired"]
    follower = fake_dolibarr.add_user("mleroy", api_key="mleroy-key", lastname="Leroy", firstname="Marc")
    fake_dolibarr.users[sample_data.users["jdupont"]].rights.add("user.user.lire")  # to read the signer's card
    await runtime.dolibarr.link_quote_contact(quote_id, follower.id, "SALESREPFOLL", source="internal")
    quote = await runtime.dolibarr.get_quote(quote_id)
    signer = await sales_rep_of(runtime, quote, await runtime.me())
    if fake_dolibarr.version.internal_contacts:
        assert quote.followers() == (follower.id,) and signer.login == "mleroy"
    else:  # 20 does not show internal contacts; its representatives route works
        assert quote.followers() == () and signer.id == sample_data.users["jdupont"]
    assert [c.type_code for c in quote.customer_contacts()] == ["CUSTOMER"]  # never a recipient


async def test_route_missing_without_debug_part_in_production_mode(mock: respx.MockRouter) -> None:
    """With API_PRODUCTION_MODE there is no ``debug``: a bare "Not Found" is a missing route, a text is an answer."""
    mock.get("/status").respond(200, json=status_of("20.0.0"))
    missing = {"error": {"code": 404, "message": "Not Found"}}
    mock.post("/proposals/7/contact/3/BILLING/external").respond(404, json=missing)
    query = mock.post("/proposals/7/contact/3/BILLING").respond(200, json={"success": {"code": 200}})
    async with new_client() as client:
        await client.link_quote_contact(7, 3, "BILLING")
    assert query.call_count == 1
    mock.post("/proposals/8/contact/3/BILLING").respond(
        404, json={"error": {"code": 404, "message": "Not Found: Proposal not found"}}
    )
    async with new_client() as client:  # the ?source= form was learned; a real not-found is not retried
        with pytest.raises(DolibarrNotFound, match="quote 8 not found"):
            await client.link_quote_contact(8, 3, "BILLING")


@ON_EACH_RECORDED_VERSION
async def test_the_todo_owner_is_found_without_the_right_to_read_users(
    runtime: Runtime, sample_data: SampleData
) -> None:
    """Without user.user.lire the ferme's sales person (admin) is still found: listed by 20, the author on 23."""
    quote = await runtime.dolibarr.get_quote(sample_data.quotes["no_email"])
    me = await runtime.me()
    assert not me.has_right("user.user.lire")
    rep = await sales_rep_of(runtime, quote, me)
    assert rep.id == sample_data.users["admin"] != me.id
