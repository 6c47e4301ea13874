"""Contract tests: the fake answers like a real 23.0.0-beta where it differs from 20.0.0 (22: as its source says).

Each test sends the same request to a 20.0.0 fake and a 23.0.0-beta fake seeded alike and pins what
``shared/dolibarr/differences-23.0.0-beta.md`` recorded for each version. The 20.0.0 answers are
also checked against the recording by ``test_contract_transcript.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from conftest import SAMPLE_TODAY, MutableClock
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data
from dolirelance.testing.fake_versions import FakeVersion

V20, V22, V23 = "20.0.0", "22.0.4", "23.0.0-beta"


@dataclass
class Server:
    fake: FakeDolibarr
    sample: SampleData
    http: httpx.AsyncClient


@pytest.fixture
async def servers(clock: MutableClock) -> AsyncIterator[dict[str, Server]]:
    """One seeded fake per version, each with an httpx client authenticated as admin."""
    result: dict[str, Server] = {}
    clients = []
    for version in (V20, V22, V23):
        fake = FakeDolibarr(timezone="Europe/Paris", now=clock, version=version)
        sample = load_sample_data(fake, SAMPLE_TODAY)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(fake)),
            base_url="http://dolibarr.test/api/index.php",
            headers={"DOLAPIKEY": sample.api_keys["admin"]},
        )
        clients.append(http)
        result[version] = Server(fake, sample, http)
    yield result
    for http in clients:
        await http.aclose()


def test_the_fake_refuses_a_version_it_cannot_play() -> None:
    """Only the versions whose differences are known can be played."""
    with pytest.raises(ValueError, match=r"23\.0\.0-beta"):
        FakeDolibarr(version="21.0.0")
    assert FakeVersion("23.0.0-beta").major == 23


async def test_status_reports_the_version_played(servers: dict[str, Server]) -> None:
    """``GET /status`` gives the version text, nothing else changes."""
    for version, server in servers.items():
        answer = (await server.http.get("/status")).json()
        assert answer["success"]["dolibarr_version"] == version


async def test_proposal_by_ref_is_broken_on_23(servers: dict[str, Server]) -> None:
    """20 answers the proposal; 23 answers 400 "No proposal with id=0 can exist", even for a known ref."""
    ref = servers[V20].sample.refs["expired"]
    ok = await servers[V20].http.get(f"/proposals/ref/{ref}")
    assert ok.status_code == 200 and ok.json()["ref"] == ref
    assert (await servers[V22].http.get(f"/proposals/ref/{ref}")).status_code == 200
    broken = await servers[V23].http.get(f"/proposals/ref/{ref}")
    assert broken.status_code == 400
    assert broken.json()["error"]["message"] == "Bad Request: No proposal with id=0 can exist"
    # the list filter finds it on both
    for version in (V20, V23):
        found = await servers[version].http.get("/proposals", params={"sqlfilters": f"(t.ref:=:'{ref}')"})
        assert [p["ref"] for p in found.json()] == [ref]


async def test_contact_route_forms(servers: dict[str, Server]) -> None:
    """20 and 22 link with ``/{type}/{source}``; 23 with ``/{type}?source=``; the other form is a route 404."""
    for version, server in servers.items():
        quote = server.sample.quotes["about_to_expire"]
        contact = server.sample.contacts["jean_martin"]
        with_segment = await server.http.post(f"/proposals/{quote}/contact/{contact}/CUSTOMER/external")
        with_query = await server.http.post(
            f"/proposals/{quote}/contact/{contact}/CUSTOMER", params={"source": "external"}
        )
        works, fails = (with_query, with_segment) if version == V23 else (with_segment, with_query)
        assert works.status_code == 200, (version, works.text)
        assert works.json() == {"success": {"code": 200, "message": "Contact linked to the proposal"}}
        assert fails.status_code == 404 and fails.json()["error"]["message"] == "Not Found", version
        assert contact in [link.contact_id for link in server.fake.proposals[quote].contacts]


async def test_documents_name_is_null_on_23_with_many_more_keys(servers: dict[str, Server]) -> None:
    """23 merges the ECM dump into each entry: ``name`` null, ``content-type`` added, the 20 keys otherwise kept."""
    quote = servers[V20].sample.quotes["expired"]
    params = {"modulepart": "propal", "id": quote}
    old = (await servers[V20].http.get("/documents", params=params)).json()
    new = (await servers[V23].http.get("/documents", params=params)).json()
    assert [entry["name"] for entry in old] == [entry["filename"] for entry in new]
    assert all(entry["name"] is None for entry in new)
    for before, after in zip(old, new, strict=True):
        assert set(before) < set(after)
        ignored = ("name", "date", "date_c", "date_m", "share")  # random share hashes, as in the recording
        assert {key: value for key, value in before.items() if key not in ignored} == {
            key: after[key] for key in before if key not in ignored
        }
        assert after["relativename"] == before["relativename"]
        assert after["content-type"] == "application/pdf"
        assert "content-type" not in before


async def test_uploaded_file_origin(servers: dict[str, Server]) -> None:
    """A file sent through ``POST /documents/upload`` is "uploaded" on 20 and "api" on 23."""
    for version, origin in ((V20, "uploaded"), (V23, "api")):
        server = servers[version]
        ref = server.sample.refs["expired"]
        body = {
            "filename": "conditions.txt",
            "modulepart": "propal",
            "ref": ref,
            "subdir": "",
            "filecontent": "Q29uZGl0aW9ucw==",
            "fileencoding": "base64",
            "overwriteifexists": 0,
        }
        assert (await server.http.post("/documents/upload", json=body)).json() == "conditions.txt"
        entries = (await server.http.get("/documents", params={"modulepart": "propal", "ref": ref})).json()
        uploaded = [e for e in entries if e["filename"] == "conditions.txt"]
        assert [e["gen_or_uploaded"] for e in uploaded] == [origin]


async def test_empty_contact_list(servers: dict[str, Server]) -> None:
    """An empty ``/contacts`` answer is 404 on 20 and ``200 []`` on 22 and 23; empty third parties stay 404."""
    flt = {"sqlfilters": "(t.lastname:=:'Nobody')"}
    empty20 = await servers[V20].http.get("/contacts", params=flt)
    assert empty20.status_code == 404 and empty20.json()["error"]["message"] == "Not Found: Contacts not found"
    for version in (V22, V23):
        empty = await servers[version].http.get("/contacts", params=flt)
        assert (empty.status_code, empty.json()) == (200, [])
    nobody = {"sqlfilters": "(t.nom:=:'Nobody')"}
    for version, text in ((V20, "Thirdparties not found"), (V23, "No third parties found")):
        answer = await servers[version].http.get("/thirdparties", params=nobody)
        assert answer.status_code == 404 and answer.json()["error"]["message"] == f"Not Found: {text}"


@pytest.mark.parametrize("route", ["/proposals", "/agendaevents", "/thirdparties"])
async def test_pagination_data_envelope(servers: dict[str, Server], route: str) -> None:
    """``pagination_data=true`` is ignored by 20 and gives ``{"data", "pagination"}`` with the total on 22/23."""
    params = {"pagination_data": "true", "limit": 2, "page": 0}
    plain = (await servers[V20].http.get(route, params=params)).json()
    assert isinstance(plain, list) and len(plain) == 2
    for version in (V22, V23):
        wrapped = (await servers[version].http.get(route, params=params)).json()
        everything = (await servers[version].http.get(route, params={"limit": 0})).json()
        assert [item["id"] for item in wrapped["data"]] == [item["id"] for item in plain]
        total = len(everything)
        assert wrapped["pagination"] == {"total": total, "page": 0, "page_count": -(-total // 2), "limit": 2}


async def test_quoted_in_list_and_contact_types(servers: dict[str, Server]) -> None:
    """23 accepts ``(t.fk_statut:in:'2,3')`` and ``contact_types?type=propal``; 20 answers 503 to both."""
    quoted = {"sqlfilters": "(t.fk_statut:in:'2,3')", "properties": "id,ref,status"}
    assert (await servers[V20].http.get("/proposals", params=quoted)).status_code == 503
    answer = await servers[V23].http.get("/proposals", params=quoted)
    assert answer.status_code == 200 and sorted(p["status"] for p in answer.json()) == [2, 3]
    by_type = {"type": "propal", "sqlfilters": "(t.source:=:'external')"}
    assert (await servers[V20].http.get("/setup/dictionary/contact_types", params=by_type)).status_code == 503
    types = (await servers[V23].http.get("/setup/dictionary/contact_types", params=by_type)).json()
    assert sorted(row["code"] for row in types) == ["BILLING", "CUSTOMER", "SHIPPING"]


async def test_representatives_route_is_broken_on_22_and_23(servers: dict[str, Server]) -> None:
    """``/thirdparties/{id}/representatives`` answers the reps on 20 and 404 on 22.x and 23.x (issue #38985)."""
    for version, server in servers.items():
        customer = server.sample.customers["garage"]
        answer = await server.http.get(f"/thirdparties/{customer}/representatives", params={"mode": 0})
        if version == V20:
            assert answer.status_code == 200 and answer.json(), answer.text
        else:
            assert answer.status_code == 404
            assert answer.json()["error"]["message"] == "Not Found: Thirdparty not found"


async def test_object_keys_added_removed_and_retyped(servers: dict[str, Server]) -> None:
    """Proposal, line, event, third party and contact objects carry the 23 key set and types."""
    sample = servers[V23].sample
    quote = sample.quotes["expired"]
    old = (await servers[V20].http.get(f"/proposals/{quote}", params={"contact_list": 0})).json()
    new = (await servers[V23].http.get(f"/proposals/{quote}", params={"contact_list": 0})).json()
    removed = {"user_author", "user_creation", "user_valid", "user_validation", "user_modification"}
    assert removed <= set(old) and not removed & set(new)
    assert {"civility_code", "contacts_ids_internal", "model_pdf", "totalpaid", "totalpaid_multicurrency"} <= set(new)
    assert new["contacts_ids_internal"] == [] and new["model_pdf"] == ""
    assert (old["demand_reason_id"], new["demand_reason_id"]) == ("0", None)
    assert {"subprice_ttc", "packaging", "product_custom_code"} <= set(new["lines"][0])
    assert not removed & set(new["lines"][0])
    assert (old["contacts_ids"][0]["status"], new["contacts_ids"][0]["status"]) == ("4", 4)
    assert {"address", "zip", "town", "country", "country_id"} <= set(new["contacts_ids"][0])
    listed = (await servers[V23].http.get("/proposals", params={"limit": 1})).json()[0]
    assert listed["contacts_ids_internal"] is None
    skipped = (await servers[V23].http.get(f"/proposals/{quote}", params={"contact_list": -1})).json()
    assert skipped["contacts_ids"] is None

    customer = sample.customers["ferme"]
    tp20 = (await servers[V20].http.get(f"/thirdparties/{customer}")).json()
    tp23 = (await servers[V23].http.get(f"/thirdparties/{customer}")).json()
    assert tp20["ref"] == str(customer) and tp23["ref"] == tp23["name"] == tp20["name"]
    assert isinstance(tp20["date_modification"], int) and tp23["date_modification"] == ""
    assert {"accountancy_code_customer_general", "birth", "currency_code", "ip", "termsofsale"} <= set(tp23)

    contact = sample.contacts["jean_martin"]
    c20 = (await servers[V20].http.get(f"/contacts/{contact}")).json()
    c23 = (await servers[V23].http.get(f"/contacts/{contact}")).json()
    assert "ip" in c23 and "ip" not in c20 and c23["date_modification"] == "" and c23["status"] == "1"

    events = {}
    for version in (V20, V23):
        listed_events = (await servers[version].http.get("/agendaevents", params={"limit": 1})).json()
        events[version] = listed_events[0]
    assert events[V20]["type_label"] is None
    assert events[V23]["type_label"] == "Other (automatically inserted events)"
    assert {"email_reply_to", "fk_task", "recurdateend"} <= set(events[V23]) and not removed & set(events[V23])
    for key in ("elementtype", "socid", "code", "type_code", "elementid"):
        assert events[V20][key] == events[V23][key]


async def test_same_in_both_versions(servers: dict[str, Server]) -> None:
    """Open quotes, totals, ends of validity, the opt-out extrafield and error messages do not change."""
    flt = {"sqlfilters": "(t.fk_statut:=:1)", "properties": "id,ref,total_ttc,fin_validite,array_options"}
    lists = [(await servers[v].http.get("/proposals", params=flt)).json() for v in (V20, V23)]
    assert lists[0] == lists[1] and lists[0]
    missing = [(await servers[v].http.get("/proposals/999")).json() for v in (V20, V23)]
    not_found = {"code": 404, "message": "Not Found: Commercial Proposal not found"}
    assert missing[0]["error"] == missing[1]["error"] == not_found
    assert missing[0]["debug"]["source"] != missing[1]["debug"]["source"]  # only the line number moved
