"""The fake's cost model: at most N requests served at once, rows charged as a real server does."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from dolirelance.testing import CostModel, FakeDolibarr, SampleData, create_app

BASE = "http://dolibarr.test/api/index.php"


def client_for(fake: FakeDolibarr) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(fake)), base_url=BASE, headers={"DOLAPIKEY": "demo-sales-key"}
    )


async def test_cost_model_is_off_by_default(sample_data: SampleData, fake_dolibarr: FakeDolibarr) -> None:
    """A fake made for tests charges nothing: the suite stays fast."""
    assert fake_dolibarr.cost is None
    async with client_for(fake_dolibarr) as client:
        assert (await client.get("/status")).status_code == 200
    assert fake_dolibarr._costs is None


async def test_at_most_workers_requests_are_served_at_once(
    sample_data: SampleData, fake_dolibarr: FakeDolibarr
) -> None:
    """Eight requests sent together are served two at a time with two PHP workers."""
    fake_dolibarr.cost = CostModel(per_request=0.01, per_row=0.0, workers=2)
    async with client_for(fake_dolibarr) as client:
        answers = await asyncio.gather(*(client.get("/proposals", params={"limit": 1}) for _ in range(8)))
    assert [answer.status_code for answer in answers] == [200] * 8, answers[0].text
    assert fake_dolibarr._costs is not None
    assert fake_dolibarr._costs.most_busy_workers == 2


async def test_rows_are_charged_whatever_properties_says(sample_data: SampleData, fake_dolibarr: FakeDolibarr) -> None:
    """A list page is charged per object returned, even when `properties` keeps only the id."""
    fake_dolibarr.cost = CostModel(per_request=0.0, per_row=0.0)
    async with client_for(fake_dolibarr) as client:
        full = await client.get("/proposals", params={"limit": 5})
        assert fake_dolibarr._costs is not None
        after_full = fake_dolibarr._costs.rows_served
        ids_only = await client.get("/proposals", params={"limit": 5, "properties": "id"})
        single = await client.get(f"/proposals/{full.json()[0]['id']}")
    assert len(full.json()) == len(ids_only.json()) == 5
    assert after_full == 5
    assert single.status_code == 200
    assert fake_dolibarr._costs.rows_served == 5 + 5 + 1


def test_cost_model_refuses_impossible_figures() -> None:
    """Negative costs or no worker at all are refused at once."""
    with pytest.raises(ValueError):
        CostModel(workers=0)
    with pytest.raises(ValueError):
        CostModel(per_row=-1)


async def test_requests_on_one_object_are_charged_by_kind(sample_data: SampleData, fake_dolibarr: FakeDolibarr) -> None:
    """builddoc costs what its kind costs, a proposal read its own; server time is counted by kind."""
    kinds = {"PUT /documents/builddoc": 0.004, "GET /proposals/{id}": 0.002}
    fake_dolibarr.cost = CostModel(per_request=0.001, per_row=0.0, per_property=0.0, kinds=kinds)
    quote_id = sample_data.quotes["about_to_expire"]
    ref = fake_dolibarr.proposals[quote_id].ref
    async with client_for(fake_dolibarr) as client:
        body = {"modulepart": "propal", "original_file": f"{ref}/{ref}.pdf"}
        built = await client.put("/documents/builddoc", json=body)
        read = await client.get(f"/proposals/{quote_id}")
    assert (built.status_code, read.status_code) == (200, 200)
    assert fake_dolibarr._costs is not None
    summary = fake_dolibarr._costs.summary()
    assert summary["requests_by_kind"] == {"PUT /documents/builddoc": 1, "GET /proposals/{id}": 1}
    assert summary["seconds_by_kind"]["PUT /documents/builddoc"] == pytest.approx(0.005)
    assert summary["seconds_by_kind"]["GET /proposals/{id}"] == pytest.approx(0.003)
    assert summary["server_seconds"] == pytest.approx(0.008)


async def test_a_list_row_costs_more_with_more_properties(sample_data: SampleData, fake_dolibarr: FakeDolibarr) -> None:
    """Five whole proposals cost more than the same five ids: per row, plus per property kept."""
    fake_dolibarr.cost = CostModel(per_request=0.0, per_row=0.0001, per_property=0.00001, kinds={})
    async with client_for(fake_dolibarr) as client:
        await client.get("/proposals", params={"limit": 5, "properties": "id"})
        assert fake_dolibarr._costs is not None
        ids_only = fake_dolibarr._costs.server_seconds
        full = (await client.get("/proposals", params={"limit": 5})).json()
    whole = fake_dolibarr._costs.server_seconds - ids_only
    assert ids_only == pytest.approx(5 * (0.0001 + 0.00001))
    assert whole == pytest.approx(5 * 0.0001 + sum(len(item) for item in full) * 0.00001)
    assert whole > 5 * ids_only


async def test_a_server_with_a_capacity_counts_its_queueing_as_server_time(
    sample_data: SampleData, fake_dolibarr: FakeDolibarr
) -> None:
    """Serving one request at a time, four sent together wait their turn, and that wait is server time
    (as Apache's %D counts it): at least 10 + 20 + 30 + 40 ms, where the charge alone is 4 × 10 ms."""
    fake_dolibarr.cost = CostModel(per_request=0.01, per_row=0.0, kinds={}, capacity=1)
    async with client_for(fake_dolibarr) as client:
        answers = await asyncio.gather(*(client.get("/status") for _ in range(4)))
    assert [answer.status_code for answer in answers] == [200] * 4
    assert fake_dolibarr._costs is not None
    summary = fake_dolibarr._costs.summary()
    assert summary["requests"] == 4
    assert summary["server_seconds"] >= 0.095  # sleeps never end early (0.1 less the clock's resolution)
    assert fake_dolibarr._costs.most_busy_workers == 4  # accepted by 4 PHP workers, run one at a time


def test_the_small_server_charges_each_request_as_measured_alone() -> None:
    """The small server's requests cost what they cost alone on the real one, two served at once."""
    model = CostModel.small_server()
    assert model.capacity == 2
    assert model.per_request + model.kinds["POST /agendaevents"] == pytest.approx(0.0088)
    assert model.per_request + model.kinds["GET /proposals/{id}"] == pytest.approx(0.0104)
    assert "2 requests at once, all CPU" in str(model)
    with pytest.raises(ValueError):
        CostModel(capacity=0)
