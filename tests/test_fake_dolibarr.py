"""The fake Dolibarr over real ASGI: shapes, errors, quirks, fault injection, sample data."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from datetime import UTC, date, datetime

import httpx
import pytest
from pypdf import PdfReader

from dolirelance.testing import FakeDolibarr, SampleData, create_app, serve_in_thread

BASE = "http://dolibarr.test/api/index.php"


def client_for(fake: FakeDolibarr, key: str | None) -> httpx.AsyncClient:
    headers = {"DOLAPIKEY": key} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(fake)), base_url=BASE, headers=headers
    )


def paris_midnight(day: date) -> int:
    from zoneinfo import ZoneInfo

    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/Paris")).timestamp())


# ---- auth and errors ------------------------------------------------------------------------------


async def test_missing_key_is_401_with_restler_body(fake_dolibarr: FakeDolibarr) -> None:
    async with client_for(fake_dolibarr, None) as client:
        response = await client.get("/proposals")
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == 401
    assert body["error"]["message"].startswith(
        "Unauthorized: Failed to login to API. No parameter 'HTTP_DOLAPIKEY'"
    )
    assert body["debug"]["stages"]["failure"] == ["authenticate", "message"]


async def test_bad_key_is_401_user_not_valid(fake_dolibarr: FakeDolibarr) -> None:
    async with client_for(fake_dolibarr, "nope") as client:
        response = await client.get("/status")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("Unauthorized: Error user not valid")


async def test_key_as_url_parameter(sample_data: SampleData, fake_dolibarr: FakeDolibarr) -> None:
    async with client_for(fake_dolibarr, None) as client:
        response = await client.get("/proposals", params={"DOLAPIKEY": "demo-sales-key", "limit": 1})
    assert response.status_code == 200
    assert len(response.json()) == 1


async def test_missing_right_is_403(sample_data: SampleData, fake_dolibarr: FakeDolibarr) -> None:
    async with client_for(fake_dolibarr, "demo-readonly-key") as client:
        assert (await client.get("/thirdparties")).status_code == 403
        assert (await client.get("/users/info")).status_code == 403
        assert (await client.get("/setup/company")).status_code == 403
        # no societe.client.voir and sales rep of nobody: sees no proposal
        assert (await client.get("/proposals")).json() == []


async def test_login_returns_the_key(sample_data: SampleData, fake_dolibarr: FakeDolibarr) -> None:
    async with client_for(fake_dolibarr, None) as client:
        ok = await client.get("/login", params={"login": "jdupont", "password": "relance"})
        bad = await client.get("/login", params={"login": "jdupont", "password": "x"})
    assert ok.json()["success"]["token"] == "demo-sales-key"
    assert ok.json()["success"]["entity"] == "1"
    assert bad.status_code == 403


async def test_invalid_json_body(dolibarr_client: httpx.AsyncClient) -> None:
    response = await dolibarr_client.post(
        "/proposals", content=b"{bad json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Bad Request: Error encoding/decoding JSON: Syntax error"


async def test_routing_errors(dolibarr_client: httpx.AsyncClient) -> None:
    assert (await dolibarr_client.put("/documents/upload", json={})).status_code == 405
    not_found = await dolibarr_client.post("/proposals/1/contact/1/CUSTOMER")
    assert not_found.status_code == 404
    assert not_found.json()["error"]["message"] == "Not Found"
    unknown = await dolibarr_client.get("/nosuchapi")
    assert unknown.status_code == 501


async def test_waf_blocks_quotes_and_parentheses(dolibarr_client: httpx.AsyncClient) -> None:
    in_path = await dolibarr_client.get("/proposals/ref/(PROV9)")
    assert in_path.status_code == 403
    assert in_path.headers["content-type"].startswith("text/html")
    in_query = await dolibarr_client.get("/proposals", params={"sqlfilters": '(t.ref:=:"x")'})
    assert in_query.status_code == 403


# ---- proposals ------------------------------------------------------------------------------------


async def test_proposal_types_and_contacts(
    dolibarr_client: httpx.AsyncClient, sample_data: SampleData
) -> None:
    quote_id = sample_data.quotes["two_contacts"]
    body = (await dolibarr_client.get(f"/proposals/{quote_id}")).json()
    assert body["id"] == str(quote_id)
    assert body["socid"] == str(sample_data.customers["garage"])
    assert body["status"] == 1 and body["statut"] == 1
    assert body["total_ht"] == "8290.00000000"
    assert body["total_ttc"] == "9948.00000000"
    assert body["contacts_ids"] == [
        str(sample_data.contacts["sophie_dupont"]),
        str(sample_data.contacts["nicolas_dupont"]),
    ]
    assert body["array_options"] == {"options_norelance": None}
    assert body["date_signature"] == ""
    assert body["duree_validite"] == 15
    full = (await dolibarr_client.get(f"/proposals/{quote_id}", params={"contact_list": 0})).json()
    codes = [(row["code"], row["libelle"], row["email"]) for row in full["contacts_ids"]]
    assert codes == [
        ("CUSTOMER", "Contact client suivi propale", "sophie.dupont@garage-dupont.test"),
        ("CUSTOMER", "Contact client suivi propale", "nicolas.dupont@garage-dupont.test"),
    ]


async def test_list_filters_pages_and_properties(
    dolibarr_client: httpx.AsyncClient, sample_data: SampleData
) -> None:
    expired = await dolibarr_client.get(
        "/proposals",
        params={
            "sqlfilters": "(t.fk_statut:=:1) and (t.fin_validite:<:'2026-11-28')",
            "properties": "id,ref",
        },
    )
    refs = {item["ref"] for item in expired.json()}
    assert sample_data.refs["expired"] in refs and sample_data.refs["not_yet_due"] not in refs
    assert all(set(item) == {"id", "ref"} for item in expired.json())
    page = await dolibarr_client.get("/proposals", params={"limit": 3, "page": 1, "properties": "id"})
    assert [item["id"] for item in page.json()] == ["4", "5", "6"]
    assert (await dolibarr_client.get("/proposals", params={"limit": 3, "page": 99})).json() == []
    opt_out = await dolibarr_client.get(
        "/proposals", params={"sqlfilters": "(ef.norelance:=:1)", "properties": "id"}
    )
    assert opt_out.json() == [{"id": str(sample_data.quotes["opt_out"])}]
    ordered = await dolibarr_client.get(
        "/proposals",
        params={"sortfield": "t.fin_validite", "sortorder": "DESC", "properties": "fin_validite"},
    )
    dates = [item["fin_validite"] for item in ordered.json()]
    assert dates == sorted(dates, reverse=True)


async def test_list_sqlfilter_errors(dolibarr_client: httpx.AsyncClient) -> None:
    bad = await dolibarr_client.get("/proposals", params={"sqlfilters": "t.fk_statut=1"})
    assert bad.status_code == 400
    unknown = await dolibarr_client.get("/proposals", params={"sqlfilters": "(t.status:=:1)"})
    assert unknown.status_code == 503
    assert unknown.json()["error"]["message"] == (
        "Service Unavailable: Error when retrieve propal list : Unknown column 't.status' in 'WHERE'"
    )


async def test_proposal_lifecycle_and_auto_events(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    async with client_for(fake_dolibarr, "demo-admin-key") as client:
        socid = sample_data.customers["hotel"]
        missing = await client.post("/proposals", json={"date": 1790000000})
        assert missing.json()["error"]["message"] == "Bad Request: socid field missing"
        created = await client.post(
            "/proposals", json={"socid": socid, "date": 1790000000, "duree_validite": 10}
        )
        proposal_id = created.json()
        assert isinstance(proposal_id, int)
        single = await client.post(f"/proposals/{proposal_id}/lines", json={"desc": "x", "product_type": 1})
        assert single.json()["error"]["message"] == "Bad Request: , Array"
        no_type = await client.post(
            f"/proposals/{proposal_id}/line", json={"desc": "x", "qty": 1, "subprice": 10}
        )
        assert no_type.status_code == 400
        line = await client.post(
            f"/proposals/{proposal_id}/line",
            json={"desc": "x", "qty": 1, "subprice": 10, "tva_tx": 20, "product_type": 1},
        )
        assert line.status_code == 200
        draft = (await client.get(f"/proposals/{proposal_id}")).json()
        assert draft["ref"] == f"(PROV{proposal_id})"
        assert draft["fin_validite"] == 1790000000 + 10 * 86400
        validated = await client.post(f"/proposals/{proposal_id}/validate", json={"notrigger": 0})
        assert validated.json()["ref"] == "PR2611-0011"
        assert validated.json()["contacts_ids"] is None
        again = await client.post(f"/proposals/{proposal_id}/validate")
        assert again.status_code == 304 and again.content == b""
        put = await client.put(f"/proposals/{proposal_id}", json={"array_options": {"options_norelance": 1}})
        assert put.json()["array_options"] == {"options_norelance": "1"}
        assert put.json()["fin_validite"] == put.json()["datep"] + 15 * 86400  # the reset
        kept = await client.put(
            f"/proposals/{proposal_id}", json={"fin_validite": 1800000000, "duree_validite": 0}
        )
        assert kept.json()["fin_validite"] == 1800000000
        corrupted = await client.put(
            f"/proposals/{proposal_id}", json={"fin_validite": "2026-11-01", "duree_validite": 0}
        )
        assert corrupted.json()["fin_validite"] < 86400 * 365  # 1970
        bad_close = await client.post(f"/proposals/{proposal_id}/close", json={"status": 4})
        assert bad_close.json()["error"]["message"] == (
            "Bad Request: Invalid value specified for `status`. Maximum allowed value is 3."
        )
        closed = await client.post(f"/proposals/{proposal_id}/close", json={"status": 2})
        assert closed.json()["status"] == 2
        assert closed.json()["last_main_doc"] == "propale/PR2611-0011/PR2611-0011.pdf"
        events = await client.get(
            "/agendaevents",
            params={
                "sqlfilters": f"(t.fk_element:=:{proposal_id}) and (t.elementtype:=:'propal')",
                "properties": "code,type_code,percentage",
            },
        )
        codes = [event["code"] for event in events.json()]
        assert codes == ["AC_PROPAL_VALIDATE"] + ["AC_PROPAL_MODIFY"] * 6 + ["AC_PROPAL_CLOSE_SIGNED"]
        assert {event["type_code"] for event in events.json()} == {"AC_OTH_AUTO"}
        bad_type = await client.post(f"/proposals/{proposal_id}/contact/1/FOO/external")
        assert bad_type.status_code == 500
        deleted = await client.delete(f"/proposals/{proposal_id}")
        assert deleted.json() == {"success": {"code": 200, "message": "Commercial Proposal deleted"}}
        gone = await client.get(f"/proposals/{proposal_id}")
        assert gone.json()["error"]["message"] == "Not Found: Commercial Proposal not found"


async def test_visibility_without_client_voir(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> None:
    fake_dolibarr.users[sample_data.users["jdupont"]].rights.discard("societe.client.voir")
    async with client_for(fake_dolibarr, "demo-sales-key") as client:
        listed = (await client.get("/proposals", params={"properties": "socid"})).json()
    assert str(sample_data.customers["ferme"]) not in {item["socid"] for item in listed}
    assert listed


# ---- third parties, contacts, users, setup --------------------------------------------------------


async def test_thirdparties_and_contacts(dolibarr_client: httpx.AsyncClient, sample_data: SampleData) -> None:
    ferme = (await dolibarr_client.get(f"/thirdparties/{sample_data.customers['ferme']}")).json()
    assert ferme["email"] is None and ferme["name"] == "Ferme des Trois Chênes"
    assert ferme["code_client"] is None  # a prospect gets no customer code
    boulangerie = (await dolibarr_client.get(f"/thirdparties/{sample_data.customers['boulangerie']}")).json()
    assert boulangerie["code_client"] == "CU2611-00001"
    empty = await dolibarr_client.get("/thirdparties", params={"sqlfilters": "(t.nom:=:'Nobody')"})
    assert empty.status_code == 404
    assert empty.json()["error"]["message"] == "Not Found: Thirdparties not found"
    contacts = await dolibarr_client.get(
        "/contacts", params={"thirdparty_ids": sample_data.customers["garage"], "properties": "id,email"}
    )
    assert {"id": str(sample_data.contacts["marc_petit"]), "email": ""} in contacts.json()
    no_contacts = await dolibarr_client.get("/contacts", params={"sqlfilters": "(t.lastname:=:'Nobody')"})
    assert no_contacts.json()["error"]["message"] == "Not Found: Contacts not found"
    reps = await dolibarr_client.get(
        f"/thirdparties/{sample_data.customers['garage']}/representatives", params={"mode": 0}
    )
    assert [rep["login"] for rep in reps.json()] == ["jdupont"]
    assert isinstance(reps.json()[0]["id"], int)


async def test_users_and_setup(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> None:
    async with client_for(fake_dolibarr, "demo-sales-key") as client:
        me = (await client.get("/users/info", params={"includepermissions": 1})).json()
        assert me["login"] == "jdupont" and me["admin"] == "0"
        assert me["rights"]["agenda"]["allactions"]["create"] == 1
        assert "<strong>" in me["signature"]
        assert (await client.get("/users/1")).status_code == 403
    async with client_for(fake_dolibarr, "demo-admin-key") as client:
        users = await client.get("/users", params={"sqlfilters": "(t.login:=:'jdupont')"})
        assert [user["id"] for user in users.json()] == [str(sample_data.users["jdupont"])]
        company = (await client.get("/setup/company")).json()
        assert company["name"] == "Solaire Rhône-Alpes SARL" and company["idprof1"] == "812345678"
        extrafields = (await client.get("/setup/extrafields", params={"elementtype": "propal"})).json()
        assert extrafields["propal"]["norelance"]["type"] == "boolean"
        conflict = await client.post(
            "/setup/extrafields/propal/norelance", json={"label": "x", "type": "boolean"}
        )
        assert conflict.status_code == 409
        types = await client.get("/setup/dictionary/contact_types", params={"type": "propal"})
        assert types.status_code == 503
        types = await client.get(
            "/setup/dictionary/contact_types",
            params={"sqlfilters": "(t.element:=:'propal') and (t.source:=:'external')"},
        )
        assert [row["code"] for row in types.json()] == ["BILLING", "CUSTOMER", "SHIPPING"]
        status = (await client.get("/status")).json()["success"]
        assert status["dolibarr_version"] == "20.0.0"
        assert status["timestamp_php_tz"] == "Europe/Paris" and status["date_tz"] == "2026-11-28 09:30:00"


# ---- agenda events --------------------------------------------------------------------------------


async def test_agenda_event_create_read_update(
    dolibarr_client: httpx.AsyncClient, sample_data: SampleData
) -> None:
    quote_id = sample_data.quotes["expired"]
    no_owner = await dolibarr_client.post("/agendaevents", json={"type_code": "AC_OTH", "label": "x"})
    assert no_owner.status_code == 500
    assert no_owner.json()["error"]["1"] == "ErrorActionCommPropertyUserowneridNotDefined"
    assert no_owner.json()["error"]["0"] is None
    bad_type = await dolibarr_client.post("/agendaevents", json={"type_code": "AC_NOPE", "userownerid": 2})
    assert bad_type.json()["error"]["0"] == "ErrorActionCommBadType"
    created = await dolibarr_client.post(
        "/agendaevents",
        json={
            "type_code": "AC_OTH_AUTO",
            "code": "AC_RELANCE_EMAIL",
            "label": "Relance devis",
            "note": "Relance envoyée",
            "datep": 1795856400,
            "percentage": 100,
            "userownerid": sample_data.users["jdupont"],
            "socid": sample_data.customers["boulangerie"],
            "contact_id": sample_data.contacts["jean_martin"],
            "socpeopleassigned": {
                str(sample_data.contacts["jean_martin"]): {"id": sample_data.contacts["jean_martin"]}
            },
            "elementtype": "propal",
            "fk_element": quote_id,
            "elementid": quote_id,
            "email_to": "jean.martin@boulangerie-martin.test",
            "email_subject": "Votre devis",
        },
    )
    event_id = created.json()
    event = (await dolibarr_client.get(f"/agendaevents/{event_id}")).json()
    assert (
        event["code"] == "AC_RELANCE_EMAIL"
        and event["type_code"] == "AC_OTH_AUTO"
        and event["type_id"] == "40"
    )
    assert event["percentage"] == "100" and event["elementid"] == str(quote_id) and event["datef"] == ""
    assert (
        event["note_private"] == "Relance envoyée"
        and event["email_to"] == "jean.martin@boulangerie-martin.test"
    )
    assert "fk_element" not in event and "contact_id" not in event
    assert list(event["socpeopleassigned"]) == [str(sample_data.contacts["jean_martin"])]
    history = await dolibarr_client.get("/agendaevents", params={"sqlfilters": "(t.code:like:'AC_RELANCE%')"})
    assert [item["id"] for item in history.json()] == [str(event_id)]
    updated = await dolibarr_client.put(
        f"/agendaevents/{event_id}", json={"userownerid": sample_data.users["jdupont"], "percentage": 0}
    )
    assert updated.json()["percentage"] == "0"
    assert (
        await dolibarr_client.get("/agendaevents", params={"sqlfilters": "(t.code:=:'NONE')"})
    ).json() == []


async def test_agenda_event_for_other_owner_needs_allactions(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    fake_dolibarr.users[sample_data.users["jdupont"]].rights.discard("agenda.allactions.create")
    async with client_for(fake_dolibarr, "demo-sales-key") as client:
        response = await client.post(
            "/agendaevents", json={"type_code": "AC_OTH", "userownerid": 1, "label": "x"}
        )
    assert response.status_code == 403


# ---- documents ------------------------------------------------------------------------------------


async def test_documents(dolibarr_client: httpx.AsyncClient, sample_data: SampleData) -> None:
    ref = sample_data.refs["expired"]
    listed = (
        await dolibarr_client.get(
            "/documents", params={"modulepart": "propal", "id": sample_data.quotes["expired"]}
        )
    ).json()
    assert [item["name"] for item in listed] == [f"{ref}.pdf"]
    assert listed[0]["gen_or_uploaded"] == "generated" and listed[0]["src_object_id"] == str(
        sample_data.quotes["expired"]
    )
    none = await dolibarr_client.get(
        "/documents", params={"modulepart": "propal", "id": sample_data.quotes["no_pdf"]}
    )
    assert none.status_code == 404 and none.json()["error"]["message"].endswith(
        "does not return any document."
    )
    unknown = await dolibarr_client.get("/documents", params={"modulepart": "propal", "id": 999})
    assert unknown.json()["error"]["message"] == "Not Found: Proposal not found"
    download = (
        await dolibarr_client.get(
            "/documents/download", params={"modulepart": "propal", "original_file": f"{ref}/{ref}.pdf"}
        )
    ).json()
    pdf = PdfReader(io.BytesIO(base64.b64decode(download["content"])))
    text = pdf.pages[0].extract_text()
    assert "Proposition commerciale" in text and ref in text and "Boulangerie Martin" in text
    upload = {
        "filename": "relance.pdf",
        "modulepart": "propal",
        "ref": ref,
        "filecontent": download["content"],
        "fileencoding": "base64",
    }
    assert (await dolibarr_client.post("/documents/upload", json=upload)).json() == "relance.pdf"
    again = await dolibarr_client.post("/documents/upload", json=upload)
    assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]
    assert (
        await dolibarr_client.post("/documents/upload", json={**upload, "overwriteifexists": 1})
    ).status_code == 200
    built = await dolibarr_client.put(
        "/documents/builddoc", json={"modulepart": "propal", "original_file": "PR0000-0000/PR0000-0000.pdf"}
    )
    assert built.status_code == 404
    deleted = await dolibarr_client.delete(
        "/documents", params={"modulepart": "propal", "original_file": f"{ref}/relance.pdf"}
    )
    assert deleted.status_code == 200


async def test_pdf_has_two_pages_with_many_lines(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    quote_id = sample_data.quotes["no_pdf"]
    for index in range(40):
        fake_dolibarr.add_proposal_line(quote_id, description=f"Panneau {index}", qty=1, subprice=100)
    stored = fake_dolibarr.build_proposal_pdf(quote_id)
    assert len(PdfReader(io.BytesIO(stored.content)).pages) == 2


# ---- fault injection, request log, speed, server --------------------------------------------------


async def test_a_targeted_fault_hits_that_path_and_the_paths_below_it_only(
    dolibarr_client: httpx.AsyncClient, fake_dolibarr: FakeDolibarr
) -> None:
    fake_dolibarr.fail_next(1, status=503, path_prefix="/status/1")
    assert (await dolibarr_client.get("/status")).status_code == 200
    assert (await dolibarr_client.get("/status/12")).status_code != 503  # another object
    assert (await dolibarr_client.get("/status/1/lines")).status_code == 503  # below /status/1
    fake_dolibarr.fail_next(1, status=503, path_prefix="/status/1")
    assert (await dolibarr_client.get("/status/1")).status_code == 503  # the path itself


async def test_fault_injection_and_request_log(
    dolibarr_client: httpx.AsyncClient, fake_dolibarr: FakeDolibarr
) -> None:
    fake_dolibarr.fail_next(2, status=503)
    first = await dolibarr_client.get("/status")
    assert first.status_code == 503 and first.json()["error"]["code"] == 503
    assert (await dolibarr_client.get("/status")).status_code == 503
    assert (await dolibarr_client.get("/status")).status_code == 200
    fake_dolibarr.hang_next(1, seconds=5)
    with pytest.raises(TimeoutError):  # ASGITransport ignores httpx timeouts; over TCP it is a ReadTimeout
        await asyncio.wait_for(dolibarr_client.get("/status"), timeout=0.05)
    assert fake_dolibarr.count_requests("/status") == 4
    assert fake_dolibarr.count_requests("/status", method="GET") == 4
    assert fake_dolibarr.requests_by_path()["GET /status"] == 4


async def test_ten_thousand_proposals_list_quickly() -> None:
    fake = FakeDolibarr(now=lambda: datetime(2026, 11, 28, tzinfo=UTC))
    customer = fake.add_thirdparty("Client", email="c@example.test")
    started = time.perf_counter()
    for index in range(10_000):
        proposal = fake.add_proposal(customer.id, date=date(2026, 11, 1), duree_validite=30)
        fake.add_proposal_line(proposal.id, description="Ligne", qty=1, subprice=100 + index % 7)
        fake.add_proposal_line(proposal.id, description="Ligne 2", qty=2, subprice=50)
        proposal.status = 1
    async with client_for(fake, "admin-key") as client:
        for page in range(3):
            response = await client.get(
                "/proposals", params={"limit": 100, "page": page, "sqlfilters": "(t.fk_statut:=:1)"}
            )
            assert len(response.json()) == 100
    assert time.perf_counter() - started < 8


def test_serve_in_thread_answers_on_loopback(fake_dolibarr: FakeDolibarr) -> None:
    with serve_in_thread(create_app(fake_dolibarr)) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/index.php")
        response = httpx.get(f"{base_url}/status", headers={"DOLAPIKEY": "admin-key"}, timeout=5)
        assert response.json()["success"]["code"] == 200


@pytest.fixture
def dolibarr_version() -> str:
    """These tests pin what the recorded 20.0.0 does (``test_contract_versions.py`` pins 22 and 23)."""
    return "20.0.0"
