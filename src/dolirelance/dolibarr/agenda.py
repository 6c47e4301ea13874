"""Agenda events: the follow-ups' records in Dolibarr, listed, read, created and updated."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from dolirelance.dolibarr import wire
from dolirelance.dolibarr.http import Call
from dolirelance.dolibarr.paging import ListReads, all_of, ids_by_url_length, with_filter
from dolirelance.dolibarr.setup import ServerSetup
from dolirelance.dolibarr.sqlfilters import Filter, criterion, like_prefix, or_
from dolirelance.domain import AgendaEvent, EventFilter, NewAgendaEvent
from dolirelance.errors import DolibarrResponseError

__all__ = ["EVENT_PROPERTIES", "AgendaRoutes", "event_body"]

# Only what AgendaEvent needs (an event row has ~80 properties); `note`/`percent` are older names.
EVENT_PROPERTIES = (
    "id,code,type_code,label,note_private,note,datep,datef,percentage,percent,userownerid,socid,elementtype,"
    "elementid,fk_element,socpeopleassigned,email_to,email_subject,email_msgid"
)


class AgendaRoutes(ServerSetup, ListReads):
    """The routes of ``/agendaevents``."""

    async def list_events(self, flt: EventFilter) -> list[AgendaEvent]:
        tz = await self.server_timezone()
        common: list[Filter] = []
        if flt.code_prefix:
            common.append(like_prefix("t.code", flt.code_prefix))
        if flt.codes:
            common.append(or_(*(criterion("t.code", "=", code) for code in flt.codes)))
        if flt.element_type:
            common.append(criterion("t.elementtype", "=", flt.element_type))
        if flt.customer_id is not None:
            common.append(criterion("t.fk_soc", "=", flt.customer_id))
        if flt.owner_ids:
            common.append(criterion("t.fk_user_action", "in", sorted(set(flt.owner_ids))))
        if flt.percentage is not None:
            common.append(criterion("t.percent", "=", flt.percentage))
        if flt.start_from is not None:
            common.append(criterion("t.datep", ">=", flt.start_from, tz=tz))
        if flt.start_before is not None:
            common.append(criterion("t.datep", "<", flt.start_before, tz=tz))
        element_chunks: list[Filter | None] = [
            criterion("t.fk_element", "in", chunk)
            # one request for a page of 500 quotes (the quotes overview): chunks sized by their URL
            for chunk in ids_by_url_length(sorted(set(flt.element_ids)))
        ] or [None]
        route = "GET /agendaevents"
        pages = await asyncio.gather(
            *(
                self._paged(
                    "agendaevents",
                    route,
                    with_filter(
                        {"properties": EVENT_PROPERTIES}, all_of(common + ([chunk] if chunk is not None else []))
                    ),
                    sortfield="t.id",
                    empty_on_404=True,
                )
                for chunk in element_chunks
            )
        )
        found = self._rows(
            wire.WireEvent, [item for page in pages for item in page], route, lambda w: w.to_domain(tz)
        )
        events = {event.id: event for event in found}
        return [events[key] for key in sorted(events)]

    async def get_event(self, event_id: int) -> AgendaEvent:
        tz = await self.server_timezone()
        route = "GET /agendaevents/{id}"
        body = await self._call(
            Call("GET", f"agendaevents/{int(event_id)}", route, what=f"agenda event {event_id}")
        )
        return wire.parse(wire.WireEvent, body, route).to_domain(tz)

    async def create_event(self, event: NewAgendaEvent) -> int:
        route = "POST /agendaevents"
        answer = await self._call(Call("POST", "agendaevents", route, body=event_body(event)))
        try:
            return int(answer)
        except (TypeError, ValueError):
            raise DolibarrResponseError(
                f"unexpected answer from Dolibarr on {route}: expected the new event id, got {answer!r:.80}"
            ) from None

    async def update_event(
        self,
        event_id: int,
        *,
        owner_id: int,
        percentage: int | None = None,
        note: str | None = None,
        start: datetime | None = None,
    ) -> None:
        # userownerid always: without agenda.allactions.create Dolibarr compares it with the API user.
        body: dict[str, Any] = {"userownerid": owner_id}
        if percentage is not None:
            body["percentage"] = percentage
        if note is not None:
            body.update(_note_fields(note))
        if start is not None:
            body.update(_moment_fields(start))
        await self._put_event(event_id, body)

    async def reschedule_event(
        self, event_id: int, *, owner_id: int, start: datetime, note: str, contact_id: int | None
    ) -> None:
        """Move an event to ``start`` with a new note and contact (a planned to-do replanned by a later
        follow-up); what is not sent stays as it is (its owner, label, type, link, percentage).

        Setting the same fields twice leaves the same event: a retry after a lost answer is harmless.
        """
        body: dict[str, Any] = {
            "userownerid": owner_id,
            **_note_fields(note),
            **_moment_fields(start),
            # both contact fields, as on creation: fk_contact, and the attendees Dolibarr lists (an empty
            # object removes them; a JSON list would make Dolibarr link contact 0)
            "contact_id": contact_id or 0,
            "socpeopleassigned": {str(contact_id): {"id": contact_id}} if contact_id else {},
        }
        await self._put_event(event_id, body)

    async def _put_event(self, event_id: int, body: dict[str, Any]) -> None:
        await self._call(
            Call(
                "PUT",
                f"agendaevents/{int(event_id)}",
                "PUT /agendaevents/{id}",
                body=body,
                what=f"agenda event {event_id}",
            )
        )


def _note_fields(note: str) -> dict[str, str]:
    # ActionComm::update() writes note_private (a `note` alone is ignored once the event was read)
    return {"note": note, "note_private": note}


def _moment_fields(start: datetime) -> dict[str, int]:
    # moved as a point in time: the end follows so it never precedes the start
    return {"datep": _epoch(start), "datef": _epoch(start)}


def event_body(event: NewAgendaEvent) -> dict[str, Any]:
    """The ``POST /agendaevents`` body: integer dates, objects keyed by id, both link fields."""
    start = _epoch(event.start)
    body: dict[str, Any] = {
        "type_code": event.type_code,
        "code": event.code,
        "label": event.label[:128],
        "note": event.note,
        "note_private": event.note,
        "datep": start,
        "datef": _epoch(event.end) if event.end is not None else start,
        "percentage": event.percentage,
        "userownerid": event.owner_id,
        "userassigned": {str(event.owner_id): {"id": event.owner_id}},
        "fulldayevent": 1 if event.full_day else 0,
    }
    if event.customer_id is not None:
        body["socid"] = event.customer_id
    if event.contact_id is not None:
        body["contact_id"] = event.contact_id
        # an object keyed by contact id: a JSON list makes Dolibarr link contact 0
        body["socpeopleassigned"] = {str(event.contact_id): {"id": event.contact_id}}
    if event.element_type is not None:
        body["elementtype"] = event.element_type
    if event.element_id is not None:
        # 16 stores only fk_element, 20 copies elementid into it, 22 syncs both
        body["fk_element"] = event.element_id
        body["elementid"] = event.element_id
    for key, value in (
        ("email_from", event.email_from),
        ("email_to", event.email_to),
        ("email_subject", event.email_subject),
        ("email_msgid", event.email_msgid),
    ):
        if value:
            body[key] = value
    return body


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("Dolibarr dates must be timezone-aware datetimes")
    return int(moment.timestamp())
