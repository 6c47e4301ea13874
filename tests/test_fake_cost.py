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
