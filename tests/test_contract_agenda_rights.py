"""Contract tests: a user who sees only their own agenda events, as Dolibarr's ``api_agendaevents.class.php``
answers them, on 20.0.0 and 23.0.0-beta.

Read from the PHP source (``post``, ``put``) and seen on a real 23.0.0-beta with a sales person whose
rights show only their own events (``agenda.myactions.*``, no ``agenda.allactions.*``, issue 25):

- ``POST`` and ``PUT /agendaevents`` compare the body's ``userownerid`` with the API user's id *before*
  the event is read, when the user lacks ``agenda.allactions.create``: "Insufficient rights to create
  an Agenda Event for owner id N Your id is M" (403 since 20.0: "moved from 401 to 403"). Closing a
  colleague's to-do (``{"userownerid": <its owner>, "percentage": 100}``) is refused this way.
- Lists of such a user hold only their own events (or those they are assigned to); with
  ``agenda.allactions.read`` they hold everyone's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from conftest import ON_EACH_RECORDED_VERSION, SAMPLE_TODAY, MutableClock
from dolirelance.testing import FakeDolibarr, SampleData, load_sample_data
from dolirelance.testing.sample_data import SALES_RIGHTS
from test_fake_dolibarr import client_for

pytestmark = ON_EACH_RECORDED_VERSION
OWN_EVENTS_ONLY = SALES_RIGHTS - {"agenda.allactions.read", "agenda.allactions.create", "agenda.allactions.delete"}


@dataclass
class Seeded:
    fake: FakeDolibarr
    sample: SampleData
    admins_todo: int
    marcs_event: int

    def http(self, key: str) -> httpx.AsyncClient:
        return client_for(self.fake, key)

    @property
    def marc(self) -> int:
        return self.sample.users["mleroy"]


@pytest.fixture
async def seeded(clock: MutableClock, dolibarr_version: str) -> AsyncIterator[Seeded]:
    fake = FakeDolibarr(timezone="Europe/Paris", now=clock, version=dolibarr_version)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    marc = fake.add_user("mleroy", api_key="mleroy-key", rights=OWN_EVENTS_ONLY, firstname="Marc", lastname="Leroy")
    sample.users["mleroy"], sample.api_keys["mleroy"] = marc.id, marc.api_key
    quote = sample.quotes["about_to_expire"]
    todo = fake.add_event(type_code="AC_OTH", code="AC_RELANCE_TODO", label="À relancer", userownerid=1,
                          percentage=0, elementtype="propal", fk_element=quote,
                          socid=fake.proposals[quote].socid)  # fmt: skip
    own = fake.add_event(type_code="AC_OTH", code="AC_RELANCE_TODO", label="Le mien", userownerid=marc.id,
                         percentage=0, elementtype="propal", fk_element=quote,
                         socid=fake.proposals[quote].socid)  # fmt: skip
    yield Seeded(fake, sample, todo.id, own.id)


async def test_closing_a_colleagues_to_do_is_refused_naming_the_owner_id(seeded: Seeded) -> None:
    async with seeded.http("mleroy-key") as http:
        refused = await http.put(f"/agendaevents/{seeded.admins_todo}", json={"userownerid": 1, "percentage": 100})
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": 403,
        "message": f"Forbidden: Insufficient rights to create an Agenda Event for owner id 1 Your id is {seeded.marc}",
    }
    assert seeded.fake.events[seeded.admins_todo].percentage == 0


async def test_the_owner_check_comes_before_the_event_is_read(seeded: Seeded) -> None:
    """An id that does not exist gets the same refusal: Dolibarr checks the body first."""
    async with seeded.http("mleroy-key") as http:
        refused = await http.put("/agendaevents/9999", json={"userownerid": 1, "percentage": 100})
        missing_owner = await http.put(f"/agendaevents/{seeded.marcs_event}", json={"percentage": 100})
    assert refused.status_code == 403 and "for owner id 1 Your id is" in refused.json()["error"]["message"]
    assert missing_owner.status_code == 403
    assert missing_owner.json()["error"]["message"].endswith(f"for owner id  Your id is {seeded.marc}")


async def test_creating_an_event_for_a_colleague_is_refused_the_same_way(seeded: Seeded) -> None:
    body = {"type_code": "AC_OTH", "code": "AC_RELANCE_TODO", "label": "À relancer", "userownerid": 1,
            "datep": 1764316800, "percentage": 0}  # fmt: skip
    async with seeded.http("mleroy-key") as http:
        refused = await http.post("/agendaevents", json=body)
        own = await http.post("/agendaevents", json={**body, "userownerid": seeded.marc})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].endswith(f"for owner id 1 Your id is {seeded.marc}")
    assert own.status_code == 200 and seeded.fake.events[int(own.json())].userownerid == seeded.marc


async def test_own_events_are_closed_and_the_service_key_closes_anyones(seeded: Seeded) -> None:
    async with seeded.http("mleroy-key") as http:
        own = await http.put(f"/agendaevents/{seeded.marcs_event}", json={"userownerid": seeded.marc,
                                                                           "percentage": 100})  # fmt: skip
    assert own.status_code == 200 and seeded.fake.events[seeded.marcs_event].percentage == 100
    async with seeded.http(seeded.sample.api_keys["admin"]) as http:
        closed = await http.put(f"/agendaevents/{seeded.admins_todo}", json={"userownerid": 1, "percentage": 100})
    assert closed.status_code == 200 and seeded.fake.events[seeded.admins_todo].percentage == 100


async def test_lists_hold_only_own_events_without_allactions_read(seeded: Seeded) -> None:
    params = {"sqlfilters": "(t.code:like:'AC_RELANCE%')"}
    async with seeded.http("mleroy-key") as http:
        mine = await http.get("/agendaevents", params=params)
    assert mine.status_code == 200
    assert [row["id"] for row in mine.json()] == [str(seeded.marcs_event)]
    seeded.fake.users[seeded.marc].rights.add("agenda.allactions.read")
    async with seeded.http("mleroy-key") as http:
        everyone = await http.get("/agendaevents", params=params)
    assert {row["id"] for row in everyone.json()} == {str(seeded.admins_todo), str(seeded.marcs_event)}
