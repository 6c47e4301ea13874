"""Contract tests: ``PUT /agendaevents/{id}`` writes what Dolibarr's ``ActionComm::update()`` writes, on
20.0.0 and 23.0.0-beta (the same ``update()`` in both).

Read from the PHP source (``api_agendaevents.class.php`` ``put``: the body's fields are set on the
event as ``fetch()`` read it, then ``update()`` runs without triggers and the answer is ``get()``'s):

- the note is ``note_private`` (``fetch()`` set it, so a ``note`` alone is ignored), trimmed;
- ``datep2`` (``datef``) is raised to ``datep`` when it would precede it; ``percent`` is at most 100;
- ``fk_element`` / ``elementtype`` are written only when the body's are not empty; ``fk_contact`` is
  null for a contact id of 0; the contacts attending are the body's ``socpeopleassigned`` when given;
- a ``type_code`` other than the event's type resets ``code`` to it, while the type (``fk_action``,
  ``type_id``) is never changed;
- the ``email_*`` fields are not in the UPDATE: they stay as created;
- every plain field of a POST or PUT body, the label too, goes through ``sanitizeVal(..., 'alphanohtml')``
  (``DolibarrApi::_checkValForAPI``): trimmed, HTML tags and double quotes removed.

dolirelance moves a follow-up's to-do with such a PUT (``userownerid``, ``note``/``note_private``,
``datep``/``datef``, ``contact_id``, ``socpeopleassigned``).
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import ON_EACH_RECORDED_VERSION
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.fake.records import AgendaEventRecord
from test_fake_dolibarr import client_for

pytestmark = ON_EACH_RECORDED_VERSION


@pytest.fixture
def todo(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> AgendaEventRecord:
    quote = fake_dolibarr.proposals[sample_data.quotes["about_to_expire"]]
    contact = sample_data.contacts["jean_martin"]
    return fake_dolibarr.add_event(
        type_code="AC_OTH", code="AC_RELANCE_TODO", label="À relancer : devis", note="écrit par nous",
        datep=1795939200, datef=1795939200, percentage=0, userownerid=sample_data.users["jdupont"],
        socid=quote.socid, contact_id=contact, socpeopleassigned={contact: {}}, elementtype="propal",
        fk_element=quote.id, email_to="client@example.test", email_subject="Relance",
    )


async def put(fake: FakeDolibarr, sample: SampleData, event_id: int, body: dict[str, Any]) -> Any:
    async with client_for(fake, sample.api_keys["admin"]) as http:
        answer = await http.put(f"/agendaevents/{event_id}", json={"userownerid": sample.users["jdupont"], **body})
        assert answer.status_code == 200, answer.text
        read = await http.get(f"/agendaevents/{event_id}")
    assert answer.json() == read.json()  # put() answers get($id)
    return answer.json()


async def test_the_note_written_is_note_private_trimmed_and_a_note_alone_is_ignored(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, todo: AgendaEventRecord
) -> None:
    ignored = await put(fake_dolibarr, sample_data, todo.id, {"note": "seulement note"})
    assert ignored["note_private"] == "écrit par nous"
    written = await put(fake_dolibarr, sample_data, todo.id, {"note": "x", "note_private": "  déplacé\nclé  "})
    assert written["note_private"] == "déplacé\nclé"


async def test_the_email_fields_are_not_written(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, todo: AgendaEventRecord
) -> None:
    answer = await put(fake_dolibarr, sample_data, todo.id, {"email_to": "autre@example.test", "email_subject": "?"})
    assert (answer["email_to"], answer["email_subject"]) == ("client@example.test", "Relance")


async def test_the_end_never_precedes_the_start_and_percentage_stops_at_100(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, todo: AgendaEventRecord
) -> None:
    moved = await put(fake_dolibarr, sample_data, todo.id, {"datep": 1797148800})
    assert (moved["datep"], moved["datef"]) == (1797148800, 1797148800)
    assert (await put(fake_dolibarr, sample_data, todo.id, {"percentage": 150}))["percentage"] == "100"


async def test_an_empty_link_is_kept_and_a_contact_of_0_is_none(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, todo: AgendaEventRecord
) -> None:
    answer = await put(fake_dolibarr, sample_data, todo.id, {"fk_element": 0, "elementtype": "", "contact_id": 0,
                                                             "socpeopleassigned": {}})  # fmt: skip
    assert (answer["elementid"], answer["elementtype"]) == (str(todo.fk_element), "propal")
    assert answer["socpeopleassigned"] == [] and fake_dolibarr.events[todo.id].contact_id is None
    other = sample_data.contacts["sophie_dupont"]
    attending = {str(other): {"id": other}}
    again = await put(fake_dolibarr, sample_data, todo.id, {"contact_id": other, "socpeopleassigned": attending})
    assert list(again["socpeopleassigned"]) == [str(other)] and fake_dolibarr.events[todo.id].contact_id == other


async def test_another_type_code_resets_the_code_but_not_the_type(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, todo: AgendaEventRecord
) -> None:
    kept = await put(fake_dolibarr, sample_data, todo.id, {"type_code": "AC_OTH", "code": "AC_RELANCE_TODO"})
    assert (kept["type_code"], kept["code"]) == ("AC_OTH", "AC_RELANCE_TODO")
    changed = await put(fake_dolibarr, sample_data, todo.id, {"type_code": "AC_TEL", "code": "AC_RELANCE_TODO"})
    assert (changed["type_code"], changed["type_id"], changed["code"]) == ("AC_OTH", kept["type_id"], "AC_TEL")


async def test_a_label_loses_its_tags_and_double_quotes_on_post_and_put(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData, todo: AgendaEventRecord
) -> None:
    body = {"type_code": "AC_OTH", "label": '  À relancer : devis (Garage "Dupont" <b>Frères</b>) ',
            "userownerid": sample_data.users["jdupont"], "datep": 1795939200}  # fmt: skip
    async with client_for(fake_dolibarr, sample_data.api_keys["admin"]) as http:
        created = await http.post("/agendaevents", json=body)
        read = await http.get(f"/agendaevents/{created.json()}")
    assert read.json()["label"] == "À relancer : devis (Garage Dupont Frères)"
    renamed = await put(fake_dolibarr, sample_data, todo.id, {"label": 'Appeler "M. Martin" <i>vite</i>'})
    assert renamed["label"] == "Appeler M. Martin vite"
