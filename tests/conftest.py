"""Shared fixtures: a fake Dolibarr seeded with the French sample data, and an httpx client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest

from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data

SAMPLE_TODAY = date(2026, 11, 28)
SAMPLE_NOW = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)


@pytest.fixture
def fake_dolibarr() -> FakeDolibarr:
    """An empty fake (admin user only), Paris time, clock fixed at 2026-11-28 09:30 local."""
    return FakeDolibarr(timezone="Europe/Paris", now=lambda: SAMPLE_NOW)


@pytest.fixture
def sample_data(fake_dolibarr: FakeDolibarr) -> SampleData:
    return load_sample_data(fake_dolibarr, SAMPLE_TODAY)


@pytest.fixture
async def dolibarr_client(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> AsyncIterator[httpx.AsyncClient]:
    """Client of the seeded fake, authenticated as the sales user ``jdupont``."""
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://dolibarr.test/api/index.php",
        headers={"DOLAPIKEY": sample_data.api_keys["jdupont"]},
    ) as client:
        yield client
