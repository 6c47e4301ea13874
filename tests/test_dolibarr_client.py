"""DolibarrClient wire details and error mapping, pinned with respx (bodies from transcript-20.0.0.md)."""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import respx

from dolirelance.dolibarr import DolibarrClient
from dolirelance.domain import EventFilter, NewAgendaEvent, Quote, QuoteFilter, QuoteStatus
from dolirelance.errors import (
    DolibarrAuthError,
    DolibarrNotFound,
    DolibarrRequestError,
    DolibarrResponseError,
    DolibarrUnavailable,
)
from test_dolibarr_wire import PROPOSAL_1

BASE = "https://erp.example.test/api/index.php"
KEY = "s3cr3t-api-key-XYZ"


def error_body(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, **extra},
        "debug": {
            "source": "api_proposals.class.php:141 at call stage",
            "stages": {"success": [], "failure": []},
        },
    }


STATUS_20 = {
    "success": {
        "code": 200,
        "dolibarr_version": "20.0.0",
        "access_locked": "0",
        "environment": "non-production",
        "timestamp_now_utc": 1795828837,
        "timestamp_php_tz": "UTC",
        "date_tz": "2026-11-28 01:20:37",
    }
}


def status_of(version: str) -> dict[str, Any]:
    return {"success": {"code": 200, "dolibarr_version": version, "access_locked": "0"}}


@pytest.fixture
def mock() -> respx.MockRouter:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[DolibarrClient]:
    async with DolibarrClient(BASE, KEY, backoff=0, server_timezone="UTC") as dolibarr:
        yield dolibarr


def make_client(**kwargs: Any) -> DolibarrClient:
    options: dict[str, Any] = {"backoff": 0, "server_timezone": "UTC", **kwargs}
    return DolibarrClient(BASE, KEY, **options)


def quote_item(quote_id: int) -> dict[str, Any]:
    return {
        "id": str(quote_id),
        "ref": f"PR2611-{quote_id:04d}",
        "socid": "1",
        "status": 1,
        "date": 1792368000,
        "fin_validite": 1794996000,
        "total_ht": "910.00000000",
        "total_tva": "182.00000000",
        "total_ttc": "1092.00000000",
        "multicurrency_code": "EUR",
        "array_options": {"options_norelance": None},
    }


def sample_quote() -> Quote:
    return Quote(1, "PR2611-0001", 1, QuoteStatus.OPEN, None, None, 0, 0, 0, "EUR")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- auth and secrecy


async def test_key_in_header_only_and_json_accepted(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/status").respond(200, json=STATUS_20)
    status = await client.status()
    request = route.calls.last.request
    assert request.headers["DOLAPIKEY"] == KEY
    assert request.headers["Accept"] == "application/json"
    assert KEY not in str(request.url)
    assert status.version == (20, 0, 0)
    await client.status()  # cached
    assert route.call_count == 1
    assert client.requests_by_route["GET /status"] == 1


async def test_key_never_in_repr_logs_or_errors(
    mock: respx.MockRouter, client: DolibarrClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.get("/proposals/1").respond(401, json=error_body(401, "Unauthorized: Error user not valid"))
    mock.get("/proposals/2").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(DolibarrAuthError) as auth:
        await client.get_quote(1)
    with pytest.raises(DolibarrUnavailable) as down:
        await client.get_quote(2)
    assert KEY not in repr(client)
    assert BASE in repr(client)
    assert KEY not in caplog.text
    assert "GET /proposals/{id} -> 401" in caplog.text
    for exc in (auth.value, down.value):
        assert KEY not in str(exc) and KEY not in repr(exc)


async def test_401_bad_key(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/proposals/1").respond(
        401, json=error_body(401, "Unauthorized: Error user not valid (not found or bad password)")
    )
    with pytest.raises(DolibarrAuthError) as info:
        await client.get_quote(1)
    assert "API key was refused" in info.value.message
    assert "Error user not valid" in info.value.message
    assert "api_key_env" in (info.value.remedy or "")
    assert "regenerate" in (info.value.remedy or "")
    assert info.value.status_code == 401


async def test_401_on_19_mentions_rights(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/status").respond(200, json=status_of("19.0.3"))
    mock.get("/agendaevents/3").respond(401, json=error_body(401, "Unauthorized: Insufficient rights"))
    await client.status()
    with pytest.raises(DolibarrAuthError) as info:
        await client.get_event(3)
    assert "19.0.3" in info.value.message and "missing right" in info.value.message
    assert "agenda.myactions.read" in (info.value.remedy or "")


@pytest.mark.parametrize(
    ("call", "path", "method", "right"),
    [
        (lambda c: c.get_quote(1), "/proposals/1", "GET", "propal.lire"),
        (lambda c: c.set_opt_out(1, "norelance", True), "/proposals/1", "GET", "propal.lire"),
        (lambda c: c.get_customer(4), "/thirdparties/4", "GET", "societe.lire"),
        (lambda c: c.get_contact(3), "/contacts/3", "GET", "societe.contact.lire"),
        (lambda c: c.get_user(2), "/users/2", "GET", "user.user.lire"),
        (
            lambda c: c.update_event(5, owner_id=2, percentage=100),
            "/agendaevents/5",
            "PUT",
            "agenda.allactions.create",
        ),
        (
            lambda c: c.reschedule_event(
                5, owner_id=2, start=datetime(2026, 12, 1, tzinfo=UTC), note="", contact_id=None
            ),
            "/agendaevents/5",
            "PUT",
            "agenda.allactions.create",
        ),
        (lambda c: c.build_document(sample_quote()), "/documents/builddoc", "PUT", "propal.creer"),
        (lambda c: c.list_extrafields(), "/setup/extrafields", "GET", "admin"),
    ],
)
async def test_403_names_route_and_likely_right(
    mock: respx.MockRouter,
    client: DolibarrClient,
    call: Callable[[DolibarrClient], Any],
    path: str,
    method: str,
    right: str,
) -> None:
    mock.route(method=method, path=path).respond(403, json=error_body(403, "Forbidden: Not allowed"))
    with pytest.raises(DolibarrAuthError) as info:
        await call(client)
    assert "Not allowed" in info.value.message
    assert "/" in info.value.message and method in info.value.message
    assert right in (info.value.remedy or "")
    assert info.value.status_code == 403


async def test_403_html_is_the_firewall(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/proposals").respond(403, html="<html><body>Access refused by WAF</body></html>")
    with pytest.raises(DolibarrRequestError, match="web application firewall"):
        await client.list_quotes(QuoteFilter())


async def test_company_forbidden_remedy(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/setup/company").respond(403, json=error_body(403, "Forbidden: Not allowed"))
    with pytest.raises(DolibarrAuthError) as info:
        await client.company()
    assert "API_LOGINS_ALLOWED_FOR_GET_COMPANY" in (info.value.remedy or "")
    assert "[company]" in (info.value.remedy or "")


async def test_404_object_is_not_found_without_prefix(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/proposals/12").respond(404, json=error_body(404, "Not Found: Proposal not found"))
    with pytest.raises(DolibarrNotFound) as info:
        await client.get_quote(12)
    assert info.value.message == "quote 12 not found (Proposal not found)"


async def test_404_html_points_at_the_url(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/proposals/12").respond(404, html="<h1>Not Found</h1>")
    with pytest.raises(DolibarrRequestError) as info:
        await client.get_quote(12)
    assert "/api/index.php" in (info.value.remedy or "")


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (
            400,
            "Bad Request: Error when validating parameter sqlfilters -> Bad syntax of the search string: (x)",
            "Error when validating parameter sqlfilters",
        ),
        (
            500,
            "Internal Server Error: Availables external types: BILLING, SHIPPING OR CUSTOMER",
            "Availables external types",
        ),
    ],
)
async def test_request_errors_keep_dolibarr_message(
    mock: respx.MockRouter, client: DolibarrClient, status: int, message: str, expected: str
) -> None:
    mock.get("/proposals/1").respond(status, json=error_body(status, message))
    with pytest.raises(DolibarrRequestError) as info:
        await client.get_quote(1)
    assert expected in info.value.message
    assert "Bad Request:" not in info.value.message and "Internal Server Error:" not in info.value.message
    assert info.value.status_code == status


async def test_500_numeric_detail_keys(mock: respx.MockRouter, client: DolibarrClient) -> None:
    body = error_body(
        500,
        "Internal Server Error: Error creating event",
        **{"0": None, "1": "ErrorActionCommPropertyUserowneridNotDefined"},
    )
    route = mock.post("/agendaevents").respond(500, json=body)
    event = NewAgendaEvent("AC_OTH", "AC_RELANCE_TODO", "x", "", datetime(2026, 1, 1, tzinfo=UTC), 0, 1)
    with pytest.raises(DolibarrRequestError) as info:
        await client.create_event(event)
    assert "Error creating event (ErrorActionCommPropertyUserowneridNotDefined)" in info.value.message
    assert route.call_count == 1


async def test_503_sql_error_is_a_request_error_not_retried(
    mock: respx.MockRouter, client: DolibarrClient
) -> None:
    route = mock.get("/proposals").respond(
        503,
        json=error_body(
            503, "Service Unavailable: Error when retrieve propal list : Unknown column 't.status' in 'WHERE'"
        ),
    )
    with pytest.raises(DolibarrRequestError, match=r"Unknown column 't\.status'"):
        await client.list_quotes(QuoteFilter())
    assert route.call_count == 1


async def test_200_non_json_means_api_module_disabled(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/status").respond(200, text="Module Api not enabled", headers={"Content-Type": "text/plain"})
    with pytest.raises(DolibarrResponseError) as info:
        await client.status()
    assert "API REST module" in (info.value.remedy or "")


async def test_invalid_body_names_route_and_field(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/proposals/1").respond(200, json={"id": "1", "ref": "PR1", "status": "weird"})
    with pytest.raises(DolibarrResponseError) as info:
        await client.get_quote(1)
    assert "GET /proposals/{id}" in info.value.message and "status" in info.value.message


# ---------------------------------------------------------------------------- retries


async def test_get_retried_on_503_then_succeeds(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/contacts/3").mock(
        side_effect=[
            httpx.Response(503, text="busy"),
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"id": "3", "lastname": "Petit", "email": ""}),
        ]
    )
    contact = await client.get_contact(3)
    assert contact.lastname == "Petit"
    assert route.call_count == 4
    assert client.request_count == 4
    assert client.requests_by_route["GET /contacts/{id}"] == 4


async def test_retry_budget_exhausted(mock: respx.MockRouter) -> None:
    route = mock.get("/contacts/3").respond(502, text="Bad Gateway")
    async with make_client(max_retries=2) as dolibarr:
        with pytest.raises(DolibarrUnavailable) as info:
            await dolibarr.get_contact(3)
    assert route.call_count == 3  # 1 attempt + 2 retries
    assert "502" in info.value.message


async def test_connection_refused_message(mock: respx.MockRouter) -> None:
    mock.get("/users/info").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    async with make_client(max_retries=1) as dolibarr:
        with pytest.raises(DolibarrUnavailable) as info:
            await dolibarr.current_user()
        assert dolibarr.request_count == 2
    assert f"cannot reach Dolibarr at {BASE}" in info.value.message
    assert "check [dolibarr] url and that the server is up" in (info.value.remedy or "")


async def test_post_not_retried_after_503(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.post("/agendaevents").respond(503, text="Service Unavailable")
    event = NewAgendaEvent("AC_OTH", "AC_RELANCE_TODO", "x", "", datetime(2026, 1, 1, tzinfo=UTC), 0, 1)
    with pytest.raises(DolibarrUnavailable) as info:
        await client.create_event(event)
    assert route.call_count == 1
    assert "may have been applied" in (info.value.remedy or "")


async def test_post_not_retried_after_timeout_but_after_connect_error(
    mock: respx.MockRouter, client: DolibarrClient
) -> None:
    timeout = mock.post("/documents/upload").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(DolibarrUnavailable):
        await client.upload_document(sample_quote(), "a.pdf", b"%PDF")
    assert timeout.call_count == 1
    refused = mock.post("/agendaevents").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=29)]
    )
    event = NewAgendaEvent("AC_OTH", "AC_RELANCE_TODO", "x", "", datetime(2026, 1, 1, tzinfo=UTC), 0, 1)
    assert await client.create_event(event) == 29
    assert refused.call_count == 2


async def test_304_is_nothing_to_do(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.put("/agendaevents/5").respond(304)
    await client.update_event(5, owner_id=1, percentage=100)


# ---------------------------------------------------------------------------- 404 as empty lists


async def test_404_on_list_routes_is_empty(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/thirdparties").respond(404, json=error_body(404, "Not Found: Thirdparties not found"))
    mock.get("/documents").respond(404, json=error_body(404, "Not Found: Proposal not found"))
    mock.get("/agendaevents").respond(404, json=error_body(404, "Not Found: No Agenda Event found"))
    mock.get("/proposals").respond(404, json=error_body(404, "Not Found: No proposal found"))
    mock.get("/users").respond(404, json=error_body(404, "Not Found: No user found"))
    mock.get("/thirdparties/1/representatives").respond(
        404, json=error_body(404, "Not Found: Thirdparty not found")
    )
    mock.get("/status").respond(200, json=STATUS_20)
    assert await client.list_customers([1, 2]) == {}
    assert await client.find_customers("Nobody") == []
    assert await client.list_documents(sample_quote()) == []
    assert await client.list_events(EventFilter(code_prefix="AC_RELANCE")) == []
    assert await client.list_quotes(QuoteFilter()) == []
    assert await client.sales_representatives(1) == []
    with pytest.raises(DolibarrNotFound, match="login 'ghost'"):
        await client.find_user_by_login("ghost")


async def test_representatives_not_asked_on_22(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/status").respond(200, json=status_of("22.0.4"))
    route = mock.get("/thirdparties/1/representatives")
    assert await client.sales_representatives(1) == []
    assert route.call_count == 0


async def test_representatives_on_20(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/status").respond(200, json=STATUS_20)
    route = mock.get("/thirdparties/1/representatives").respond(
        200, json=[{"id": 2, "login": "bob", "firstname": "Bob", "lastname": "Leroy", "email": "bob@x.test"}]
    )
    reps = await client.sales_representatives(1)
    assert [r.login for r in reps] == ["bob"]
    assert route.calls.last.request.url.params["mode"] == "0"


# ---------------------------------------------------------------------------- paging


async def list_every_quote(
    mock: respx.MockRouter, total: int, *, with_pagination: bool, concurrency: int
) -> respx.Route:
    """list_quotes over ``total`` quotes in pages of 10, ``concurrency`` pages at once: every quote, in order,
    once. The route, for what it was asked."""
    route = mock.get("/proposals").mock(side_effect=paged_side_effect(total, with_pagination=with_pagination))
    async with make_client(page_size=10, max_concurrency=concurrency) as dolibarr:
        quotes = await dolibarr.list_quotes(QuoteFilter())
    assert [q.id for q in quotes] == list(range(1, total + 1))
    return route


def paged_side_effect(total: int, *, with_pagination: bool) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit, page = int(params["limit"]), int(params["page"])
        items = [quote_item(i) for i in range(1 + page * limit, 1 + min(total, (page + 1) * limit))]
        if with_pagination and params.get("pagination_data") == "true":
            count = math.ceil(total / limit)
            body: Any = {
                "data": items,
                "pagination": {"total": total, "page": page, "page_count": count, "limit": limit},
            }
            return httpx.Response(200, json=body)
        return httpx.Response(200, json=items)

    return answer


@pytest.mark.parametrize("total", [0, 5, 10, 25, 30])
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_paging_with_total_costs_exactly_the_pages(
    mock: respx.MockRouter, total: int, concurrency: int
) -> None:
    route = await list_every_quote(mock, total, with_pagination=True, concurrency=concurrency)
    assert route.call_count == max(1, math.ceil(total / 10))


@pytest.mark.parametrize("total", [0, 5, 10, 25, 30])
async def test_paging_without_total_stops_at_short_page(mock: respx.MockRouter, total: int) -> None:
    route = await list_every_quote(mock, total, with_pagination=False, concurrency=1)
    assert route.call_count <= math.ceil(total / 10) + 1
    pages = [int(call.request.url.params["page"]) for call in route.calls]
    assert pages == list(range(len(pages)))


@pytest.mark.parametrize("total", [5, 10, 25, 30, 95])
async def test_paging_without_total_concurrent_window(mock: respx.MockRouter, total: int) -> None:
    route = await list_every_quote(mock, total, with_pagination=False, concurrency=3)
    # no total on Dolibarr <= 20: at most max_concurrency - 1 pages read past the end
    assert route.call_count <= math.ceil(total / 10) + 1 + (3 - 1)


async def test_list_quotes_query(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/proposals").respond(200, json=[quote_item(1)])
    flt = QuoteFilter(
        statuses=(QuoteStatus.OPEN,),
        customer_ids=(3, 1),
        end_of_validity_from=date(2026, 11, 1),
        end_of_validity_before=date(2026, 12, 1),
        exclude_opt_out=True,
    )
    quotes = await client.list_quotes(flt)
    assert [q.ref for q in quotes] == ["PR2611-0001"]
    params = route.calls.last.request.url.params
    assert params["sqlfilters"] == (
        "(t.fk_statut:=:1) and (t.fin_validite:>=:'2026-11-01') and (t.fin_validite:<:'2026-12-01') "
        "and ((ef.norelance:is:NULL) or (ef.norelance:=:0)) and (t.fk_soc:in:1,3)"
    )
    assert params["properties"] == (
        "id,ref,socid,status,date,datep,fin_validite,total_ht,total_tva,total_ttc,multicurrency_code,"
        "ref_client,array_options,last_main_doc,user_author_id,note_public,contacts_ids,"
        "date_modification,date_validation"  # when the quote last changed: is its PDF older?
    )
    assert (params["sortfield"], params["sortorder"], params["limit"], params["page"]) == (
        "t.rowid",
        "ASC",
        "100",
        "0",
    )


async def test_list_quotes_refs_and_statuses(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/proposals").respond(200, json=[])
    await client.list_quotes(
        QuoteFilter(statuses=(QuoteStatus.SIGNED, QuoteStatus.REFUSED), refs=("PR2", "PR1")), light=False
    )
    params = route.calls.last.request.url.params
    assert params["sqlfilters"] == "(t.fk_statut:in:2,3) and ((t.ref:=:'PR1') or (t.ref:=:'PR2'))"
    assert "properties" not in params


async def test_list_quotes_many_refs_are_chunked(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/proposals").respond(200, json=[])
    await client.list_quotes(QuoteFilter(refs=tuple(f"PR{i:03d}" for i in range(100))))
    assert route.call_count == 3


async def test_list_customers_bulk(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/thirdparties").respond(
        200,
        json=[
            {"id": "1", "name": "Boulangerie Martin", "email": "contact@boulangerie-martin.test"},
            {"id": "2", "name": "Garage Dupont SAS", "email": "accueil@garage-dupont.test"},
        ],
    )
    customers = await client.list_customers([2, 1, 2])
    assert sorted(customers) == [1, 2]
    assert route.calls.last.request.url.params["sqlfilters"] == "(t.rowid:in:1,2)"


async def test_find_customers_filter(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/thirdparties").respond(
        200, json=[{"id": "2", "name": "Garage Dupont SAS", "email": None}]
    )
    found = await client.find_customers("garage")
    assert [c.name for c in found] == ["Garage Dupont SAS"]
    assert (
        route.calls.last.request.url.params["sqlfilters"]
        == "((t.nom:like:'%garage%') or (t.code_client:like:'%garage%'))"
    )
    with pytest.raises(DolibarrRequestError):
        await client.find_customers("a (b)")


async def test_list_events_filters(mock: respx.MockRouter) -> None:
    route = mock.get("/agendaevents").respond(200, json=[])
    async with make_client(server_timezone="Europe/Paris") as dolibarr:
        await dolibarr.list_events(
            EventFilter(
                code_prefix="AC_RELANCE",
                element_type="propal",
                element_ids=(7, 3),
                owner_ids=(2,),
                percentage=0,
                start_from=datetime(2026, 11, 27, 23, 30, tzinfo=UTC),
            )
        )
    params = route.calls.last.request.url.params
    assert params["sqlfilters"] == (
        "(t.code:like:'AC_RELANCE%') and (t.elementtype:=:'propal') and (t.fk_user_action:in:2) "
        "and (t.percent:=:0) and (t.datep:>=:'2026-11-28 00:30:00') and (t.fk_element:in:3,7)"
    )
    assert params["sortfield"] == "t.id"


# ---------------------------------------------------------------------------- quotes, events, documents


PROPOSAL_WITH_CONTACTS = {
    **quote_item(1),
    "statut": 1,
    "last_main_doc": None,
    "contacts_ids": [
        {
            "parentId": "1",
            "source": "external",
            "socid": "1",
            "id": "9",
            "lastname": "Albert",
            "firstname": "Anne",
            "email": "anne@x.test",
            "statuscontact": "1",
            "rowid": "4",
            "code": "BILLING",
            "libelle": "Facturation",
        },
        PROPOSAL_1["contacts_ids"][1],  # Jean Martin, CUSTOMER: the transcript's row
    ],
}


async def test_get_quote_asks_contact_rows(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/proposals/1").respond(200, json=PROPOSAL_WITH_CONTACTS)
    quote = await client.get_quote(1)
    assert route.calls.last.request.url.params["contact_list"] == "0"
    assert [c.type_code for c in quote.contacts] == ["CUSTOMER", "BILLING"]
    assert quote.end_of_validity == date(2026, 11, 18)


async def test_timezone_from_status(mock: respx.MockRouter) -> None:
    mock.get("/status").respond(
        200, json={"success": {**STATUS_20["success"], "timestamp_php_tz": "Europe/Paris"}}
    )
    epoch = int(datetime(2026, 11, 27, 23, 30, tzinfo=UTC).timestamp())
    mock.get("/proposals/1").respond(200, json={**PROPOSAL_WITH_CONTACTS, "fin_validite": epoch})
    async with DolibarrClient(BASE, KEY, backoff=0) as dolibarr:
        assert str(await dolibarr.server_timezone()) == "Europe/Paris"
        assert (await dolibarr.get_quote(1)).end_of_validity == date(2026, 11, 28)


async def test_timezone_defaults_to_paris(mock: respx.MockRouter) -> None:
    mock.get("/status").respond(200, json=status_of("18.0.5"))
    async with DolibarrClient(BASE, KEY, backoff=0) as dolibarr:
        assert str(await dolibarr.server_timezone()) == "Europe/Paris"


async def test_get_quote_by_ref(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/status").respond(200, json=STATUS_20)
    route = mock.get("/proposals/ref/PR2611-0001").respond(200, json=PROPOSAL_WITH_CONTACTS)
    assert (await client.get_quote_by_ref("PR2611-0001")).id == 1
    assert route.calls.last.request.url.params["contact_list"] == "0"
    with pytest.raises(DolibarrRequestError) as info:
        await client.get_quote_by_ref("(PROV6)")
    assert "id" in (info.value.remedy or "")
    assert client.requests_by_route == {"GET /status": 1, "GET /proposals/ref/{ref}": 1}


async def test_set_opt_out_puts_complete_array_options(
    mock: respx.MockRouter, client: DolibarrClient
) -> None:
    mock.get("/proposals/8").respond(
        200, json={**quote_item(8), "array_options": {"options_norelance": None, "options_other": "x"}}
    )
    put = mock.put("/proposals/8").respond(200, json=quote_item(8))
    await client.set_opt_out(8, "norelance", True)
    assert json.loads(put.calls.last.request.content) == {
        "array_options": {"options_norelance": 1, "options_other": "x"},
        "duree_validite": 0,
    }


async def test_create_event_body(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.post("/agendaevents").respond(200, json=28)
    start = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    event = NewAgendaEvent(
        type_code="AC_OTH_AUTO",
        code="AC_RELANCE_EMAIL",
        label="Relance devis PR2611-0001 " + "x" * 200,
        note="Envoyé à jean",
        start=start,
        percentage=100,
        owner_id=7,
        customer_id=1,
        contact_id=88,
        element_type="propal",
        element_id=1,
        email_to="jean.martin@boulangerie-martin.test",
        email_subject="Votre devis",
        email_msgid="<abc@x>",
    )
    assert await client.create_event(event) == 28
    body = json.loads(route.calls.last.request.content)
    epoch = int(start.timestamp())
    assert body == {
        "type_code": "AC_OTH_AUTO",
        "code": "AC_RELANCE_EMAIL",
        "label": ("Relance devis PR2611-0001 " + "x" * 200)[:128],
        "note": "Envoyé à jean",
        "note_private": "Envoyé à jean",
        "datep": epoch,
        "datef": epoch,
        "percentage": 100,
        "userownerid": 7,
        "userassigned": {"7": {"id": 7}},
        "fulldayevent": 0,
        "socid": 1,
        "contact_id": 88,
        "socpeopleassigned": {"88": {"id": 88}},
        "elementtype": "propal",
        "fk_element": 1,
        "elementid": 1,
        "email_to": "jean.martin@boulangerie-martin.test",
        "email_subject": "Votre devis",
        "email_msgid": "<abc@x>",
    }
    assert len(body["label"]) == 128


async def test_update_event_always_sends_owner(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.put("/agendaevents/30").respond(200, json={"id": "30"})
    await client.update_event(30, owner_id=7, percentage=100)
    assert json.loads(route.calls.last.request.content) == {"userownerid": 7, "percentage": 100}
    moment = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    await client.update_event(30, owner_id=7, note="n", start=moment)
    assert json.loads(route.calls.last.request.content) == {
        "userownerid": 7,
        "note": "n",
        "note_private": "n",
        "datep": int(moment.timestamp()),
        "datef": int(moment.timestamp()),
    }


async def test_reschedule_event_sends_the_note_the_moment_and_both_contact_fields(
    mock: respx.MockRouter, client: DolibarrClient
) -> None:
    """Moving a to-do: owner (for the rights check), note_private (what update() writes), start = end, the
    contact as fk_contact and as attendees (an empty object, never a list, when there is none)."""
    route = mock.put("/agendaevents/30").respond(200, json={"id": "30"})
    moment = datetime(2026, 12, 13, 8, 0, tzinfo=UTC)
    await client.reschedule_event(30, owner_id=7, start=moment, note="n", contact_id=12)
    assert json.loads(route.calls.last.request.content) == {
        "userownerid": 7, "note": "n", "note_private": "n", "datep": int(moment.timestamp()),
        "datef": int(moment.timestamp()), "contact_id": 12, "socpeopleassigned": {"12": {"id": 12}},
    }  # fmt: skip
    await client.reschedule_event(30, owner_id=7, start=moment, note="n", contact_id=None)
    sent = json.loads(route.calls.last.request.content)
    assert (sent["contact_id"], sent["socpeopleassigned"]) == (0, {})


async def test_documents(mock: respx.MockRouter, client: DolibarrClient) -> None:
    pdf = b"%PDF-1.7 test"
    encoded = base64.b64encode(pdf).decode()
    mock.get("/documents/download").respond(
        200,
        json={
            "filename": "PR2611-0001.pdf",
            "content-type": "application/pdf",
            "filesize": len(pdf),
            "content": encoded,
            "encoding": "base64",
        },
    )
    build = mock.put("/documents/builddoc").respond(
        200, json={"filename": "PR2611-0001.pdf", "content": encoded}
    )
    upload = mock.post("/documents/upload").respond(200, json="relance-PR2611-0001.pdf")
    assert await client.download_document("PR2611-0001/PR2611-0001.pdf") == pdf
    assert await client.build_document(sample_quote(), template="cyan") == pdf
    assert json.loads(build.calls.last.request.content) == {
        "modulepart": "propal",
        "original_file": "PR2611-0001/PR2611-0001.pdf",
        "doctemplate": "cyan",
        "langcode": "fr_FR",
    }
    name = await client.upload_document(sample_quote(), "relance-PR2611-0001.pdf", pdf)
    assert name == "relance-PR2611-0001.pdf"
    assert json.loads(upload.calls.last.request.content) == {
        "filename": "relance-PR2611-0001.pdf",
        "modulepart": "propal",
        "ref": "PR2611-0001",
        "subdir": "",
        "filecontent": encoded,
        "fileencoding": "base64",
        "overwriteifexists": 0,
    }


async def test_a_download_cut_short_is_an_error_not_a_smaller_pdf(
    mock: respx.MockRouter, client: DolibarrClient
) -> None:
    """Fewer bytes than the ``filesize`` Dolibarr announces: refused, never attached as the quote's PDF."""
    pdf = b"%PDF-1.7 test"
    answer = {"filename": "PR2611-0001.pdf", "filesize": len(pdf) + 100, "content": base64.b64encode(pdf).decode()}
    mock.get("/documents/download").respond(200, json=answer)
    with pytest.raises(DolibarrResponseError, match="came with 13 bytes where Dolibarr says it has 113"):
        await client.download_document("PR2611-0001/PR2611-0001.pdf")


async def test_the_file_list_gives_each_files_md5_when_indexed(
    mock: respx.MockRouter, client: DolibarrClient
) -> None:
    """The file index's ``label`` (an MD5 of the content) is kept; a file outside the index has none."""
    entry = {"name": "PR2611-0001.pdf", "level1name": "PR2611-0001", "relativename": "PR2611-0001.pdf",
             "date": 1795828819, "size": 8900, "label": "14D9ADE8099C8C77ABACEC94F18316CE"}  # fmt: skip
    outside_index = {**entry, "name": "plan.pdf", "relativename": "plan.pdf", "label": None}
    mock.get("/documents").respond(200, json=[entry, outside_index])
    indexed, outside = await client.list_documents(sample_quote())
    assert (indexed.size, indexed.md5) == (8900, "14d9ade8099c8c77abacec94f18316ce")
    assert indexed.modified is not None and int(indexed.modified.timestamp()) == 1795828819
    assert outside.md5 is None


async def test_extrafields(mock: respx.MockRouter, client: DolibarrClient) -> None:
    mock.get("/setup/extrafields").respond(
        200, json={"propal": {"norelance": {"id": "1", "type": "boolean", "label": "Ne pas relancer"}}}
    )
    fields = await client.list_extrafields()
    assert [f.name for f in fields] == ["norelance"]
    create = mock.post("/setup/extrafields/propal/norelance").respond(
        409, json=error_body(409, "Conflict: Extrafield already exists")
    )
    await client.create_extrafield("norelance", "Ne pas relancer")
    body = json.loads(create.calls.last.request.content)
    assert (body["label"], body["type"]) == ("Ne pas relancer", "boolean")


async def test_current_user_rights(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/users/info").respond(
        200,
        json={
            "id": "1",
            "login": "admin",
            "admin": "1",
            "socid": None,
            "signature": "",
            "rights": {"propal": {"lire": 1}, "agenda": {"allactions": {"create": "1"}}},
        },
    )
    user = await client.current_user()
    assert route.calls.last.request.url.params["includepermissions"] == "1"
    assert user.rights == frozenset({"propal.lire", "agenda.allactions.create"})
    assert user.admin


async def test_find_user_by_login(mock: respx.MockRouter, client: DolibarrClient) -> None:
    route = mock.get("/users").respond(200, json=[{"id": "2", "login": "bob"}])
    assert (await client.find_user_by_login("bob")).id == 2
    assert route.calls.last.request.url.params["sqlfilters"] == "(t.login:=:'bob')"
