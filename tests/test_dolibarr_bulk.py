"""The client's bulk reads against the fake Dolibarr: by ids, contacts in batches, quotes streamed by page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest

from dolirelance.dolibarr import DolibarrClient
from dolirelance.dolibarr.client import STREAM_PAGE_SIZE
from dolirelance.domain import QuoteFilter, QuoteStatus
from dolirelance.testing import FakeDolibarr, SampleData, create_app

BASE = "http://dolibarr.test/api/index.php"


@pytest.fixture
async def client(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> AsyncIterator[DolibarrClient]:
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with DolibarrClient(BASE, sample_data.api_keys["jdupont"], page_size=5, transport=transport) as dolibarr:
        yield dolibarr


async def test_quotes_by_ids_in_one_request_with_their_contact_ids(
    client: DolibarrClient, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """Quotes by id come in one request (pages sized to the ids) and say which contacts they have."""
    wanted = [sample_data.quotes[r] for r in ("two_contacts", "expired", "signed", "no_email")]
    fake_dolibarr.reset_requests()
    quotes = await client.list_quotes(QuoteFilter(statuses=(), ids=tuple(wanted)))
    assert sorted(q.id for q in quotes) == sorted(wanted)
    assert fake_dolibarr.count_requests("/proposals", "GET") == 1
    by_id = {q.id: q for q in quotes}
    assert by_id[sample_data.quotes["signed"]].status is QuoteStatus.SIGNED
    for quote_id in wanted:
        linked = [link.contact_id for link in fake_dolibarr.proposals[quote_id].contacts if link.source == "external"]
        assert list(by_id[quote_id].contact_ids) == linked
    assert len(by_id[sample_data.quotes["two_contacts"]].contact_ids) == 2
    assert by_id[sample_data.quotes["two_contacts"]].contacts == ()  # roles come only with one quote read alone


async def test_contacts_in_batches_unknown_ids_left_out(
    client: DolibarrClient, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """Contacts by id in one request; an id Dolibarr does not know is simply absent."""
    ids = [sample_data.contacts["paul_girard"], sample_data.contacts["marc_petit"], 99_999]
    fake_dolibarr.reset_requests()
    contacts = await client.list_contacts(ids)
    assert set(contacts) == set(ids[:2])
    assert contacts[ids[0]].email == "paul.girard@hoteldulac.test" and contacts[ids[1]].email in (None, "")
    assert fake_dolibarr.count_requests("/contacts", "GET") == 1
    assert await client.list_contacts([99_999]) == {}


async def test_quotes_streamed_page_by_page_in_order(
    client: DolibarrClient, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """iter_quotes gives the same quotes as list_quotes, a page of STREAM_PAGE_SIZE at a time."""
    owner, hotel = sample_data.users["jdupont"], sample_data.customers["hotel"]
    for _ in range(STREAM_PAGE_SIZE + 7):
        proposal = fake_dolibarr.add_proposal(hotel, date=date(2026, 11, 20), duree_validite=30, user_id=owner)
        fake_dolibarr.validate_proposal(proposal.id, user_id=owner)
    whole = await client.list_quotes(QuoteFilter())
    fake_dolibarr.reset_requests()
    pages = [page async for page in client.iter_quotes(QuoteFilter())]
    assert [q.id for page in pages for q in page] == [q.id for q in whole]
    assert [len(page) for page in pages] == [STREAM_PAGE_SIZE, len(whole) - STREAM_PAGE_SIZE]
    assert fake_dolibarr.count_requests("/proposals", "GET") <= len(pages) + 2  # read ahead, past the end


async def test_every_id_list_is_cut_by_the_url_it_makes(
    client: DolibarrClient, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """250 quotes by id are one request (not two of 200), their customers' quotes one more: every id
    list goes in as few requests as an 8 KB request line holds, with one page sized to the ids."""
    customer = sample_data.customers["boulangerie"]
    added = [fake_dolibarr.add_proposal(customer, date=sample_data.today, duree_validite=30).id for _ in range(250)]
    fake_dolibarr.reset_requests()
    quotes = await client.list_quotes(QuoteFilter(statuses=(), ids=tuple(added)))
    assert [q.id for q in quotes] == sorted(added)
    assert fake_dolibarr.count_requests("/proposals", "GET") == 1
    fake_dolibarr.reset_requests()
    by_customer = await client.list_quotes(QuoteFilter(statuses=(), customer_ids=tuple(range(1, 700))))
    assert set(added) <= {q.id for q in by_customer}
    filters = {entry.params["sqlfilters"] for entry in fake_dolibarr.requests if entry.path == "/proposals"}
    assert len(filters) == 1  # one list of 699 customer ids, paged (by 5 here)
