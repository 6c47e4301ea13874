"""Contract tests: the fake's user groups answer as Dolibarr's ``api_users.class.php`` does, on 20.0.0 and 23.0.0-beta.

No real exchange with groups was recorded; what is pinned here is read from the PHP source of both
versions (``Users::getInfo``, ``getGroups``, ``listGroups``, ``infoGroups``, ``setGroup``), where the
groups routes did not change between 20 and 23:

- ``GET /users/info`` fills ``user_group_list`` with the key's own groups, with ``user.self.creer``
  alone (no ``user.user.lire``); ``note``, ``datec``, ``tms`` and ``members`` are removed there.
- ``GET /users/{id}/groups`` needs ``user.user.lire`` or admin, *even for one's own id*: a sales
  person cannot read their own groups there.
- ``GET /users/groups`` and ``GET /users/groups/{id}`` need ``user.user.lire`` or admin ("You are not
  allowed to read groups"); ``load_members=1`` gives ``members`` keyed by user id.
- No route creates a group (there is no ``POST /users/groups``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from conftest import ON_EACH_RECORDED_VERSION, SAMPLE_TODAY, MutableClock
from dolirelance.testing import FakeDolibarr, SampleData, load_sample_data
from test_fake_dolibarr import client_for

pytestmark = ON_EACH_RECORDED_VERSION
GROUP = "Relances devis"


@dataclass
class Seeded:
    fake: FakeDolibarr
    sample: SampleData
    group_id: int
    empty_group_id: int

    def http(self, login: str) -> httpx.AsyncClient:
        return client_for(self.fake, self.sample.api_keys[login])


@pytest.fixture
async def seeded(clock: MutableClock, dolibarr_version: str) -> AsyncIterator[Seeded]:
    fake = FakeDolibarr(timezone="Europe/Paris", now=clock, version=dolibarr_version)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    group = fake.add_group(GROUP, note="Qui peut relancer", members=[sample.users["jdupont"]])
    empty = fake.add_group("Lecture seule")
    yield Seeded(fake, sample, group.id, empty.id)


async def test_users_info_lists_the_keys_own_groups_with_user_self_creer_alone(seeded: Seeded) -> None:
    """A sales person (user.self.creer, no user.user.lire) reads their own groups in /users/info."""
    async with seeded.http("jdupont") as http:
        answer = await http.get("/users/info", params={"includepermissions": 1})
    assert answer.status_code == 200
    [group] = answer.json()["user_group_list"]
    assert group["id"] == str(seeded.group_id) and group["name"] == GROUP and group["entity"] == "1"
    assert not {"note", "datec", "tms", "members"} & group.keys()
    async with seeded.http("admin") as http:
        assert (await http.get("/users/info")).json()["user_group_list"] == []


async def test_users_info_needs_user_self_creer_or_user_user_lire(seeded: Seeded) -> None:
    """Without either right (the read-only trainee), /users/info is refused: 403 on 20 and 23."""
    async with seeded.http("stagiaire") as http:
        answer = await http.get("/users/info")
    assert answer.status_code == 403


async def test_a_user_cannot_read_their_own_groups_by_id_without_user_user_lire(seeded: Seeded) -> None:
    """/users/{id}/groups checks user.user.lire even for the caller's own id; admin reads anyone's."""
    own_id = seeded.sample.users["jdupont"]
    async with seeded.http("jdupont") as http:
        answer = await http.get(f"/users/{own_id}/groups")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == 403
    async with seeded.http("admin") as http:
        groups = (await http.get(f"/users/{own_id}/groups")).json()
        missing = await http.get("/users/9999/groups")
    assert [(g["id"], g["name"], g["note"]) for g in groups] == [(str(seeded.group_id), GROUP, "Qui peut relancer")]
    assert missing.status_code == 404


async def test_listing_groups_needs_user_user_lire_or_admin(seeded: Seeded) -> None:
    """/users/groups: 403 "You are not allowed to read groups" for a sales person; admin filters on t.nom."""
    async with seeded.http("jdupont") as http:
        refused = await http.get("/users/groups")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Forbidden: You are not allowed to read groups"
    async with seeded.http("admin") as http:
        every = (await http.get("/users/groups")).json()
        named = (await http.get("/users/groups", params={"sqlfilters": f"(t.nom:=:'{GROUP}')"})).json()
        nothing = await http.get("/users/groups", params={"sqlfilters": "(t.nom:=:'Inconnu')"})
    assert [g["name"] for g in every] == [GROUP, "Lecture seule"]
    assert [g["id"] for g in named] == [str(seeded.group_id)]
    assert nothing.status_code == 200 and nothing.json() == []  # listGroups never answers 404


async def test_a_group_with_its_members_keyed_by_user_id(seeded: Seeded) -> None:
    """load_members=1: members as an object keyed by user id (a PHP array keyed by rowid); [] when none."""
    jdupont = seeded.sample.users["jdupont"]
    async with seeded.http("admin") as http:
        group = (await http.get(f"/users/groups/{seeded.group_id}", params={"load_members": 1})).json()
        without = (await http.get(f"/users/groups/{seeded.group_id}")).json()
        empty = (await http.get(f"/users/groups/{seeded.empty_group_id}", params={"load_members": 1})).json()
        unknown = await http.get("/users/groups/9999")
    assert list(group["members"]) == [str(jdupont)]
    assert group["members"][str(jdupont)]["login"] == "jdupont"
    assert "pass" not in group["members"][str(jdupont)] and "api_key" not in group["members"][str(jdupont)]
    assert without["members"] == [] and empty["members"] == []
    assert unknown.status_code == 404


async def test_set_group_adds_a_member_with_user_user_creer_or_admin(seeded: Seeded) -> None:
    """GET /users/{id}/setGroup/{group}: a sales person is refused, an admin adds the member."""
    stagiaire = seeded.sample.users["stagiaire"]
    async with seeded.http("jdupont") as http:
        refused = await http.get(f"/users/{stagiaire}/setGroup/{seeded.group_id}")
    assert refused.status_code == 403
    async with seeded.http("admin") as http:
        added = await http.get(f"/users/{stagiaire}/setGroup/{seeded.group_id}")
    assert added.status_code == 200 and added.json() == 1
    assert stagiaire in seeded.fake.groups[seeded.group_id].member_ids


async def test_no_route_creates_a_group(seeded: Seeded) -> None:
    """Dolibarr 20 to 23 have no POST /users/groups: groups are created in Dolibarr's menus only."""
    async with seeded.http("admin") as http:
        answer = await http.post("/users/groups", json={"name": "Nouveau"})
    assert answer.status_code in (404, 405)
    assert [g.name for g in seeded.fake.groups.values()] == [GROUP, "Lecture seule"]
