"""Agenda events: seeding them with their attendees and, for an e-mail event, its headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from dolirelance.testing.fake.records import AgendaEventRecord
from dolirelance.testing.fake.store.tables import Tables

# The headers an e-mail event keeps (AgendaEventRecord's fields of the same names).
EMAIL_HEADERS = (
    "email_msgid", "email_from", "email_sender", "email_to", "email_tocc", "email_tobcc", "email_subject", "errors_to",
)


def attendees(ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """An event's userassigned or socpeopleassigned: each attendee as Dolibarr stores them (no answer yet)."""
    return {int(i): {"id": str(i), "mandatory": "0", "answer_status": "0", "transparency": "0"} for i in ids}


class AgendaStore(Tables):
    """The agenda's events."""

    def add_event(
        self,
        *,
        type_code: str,
        label: str,
        userownerid: int | None,
        code: str | None = None,
        datep: int | datetime | date | None = None,
        datef: int | datetime | date | None = None,
        note: str = "",
        percentage: int = 0,
        socid: int | None = None,
        contact_id: int | None = None,
        elementtype: str | None = None,
        fk_element: int | None = None,
        authorid: int | None = None,
        userassigned: Mapping[int, Mapping[str, str]] | None = None,
        socpeopleassigned: Mapping[int, Mapping[str, str]] | None = None,
        fulldayevent: int = 0,
        location: str = "",
        priority: int = 0,
        **email: str | None,
    ) -> AgendaEventRecord:
        """An event; ``email`` holds the headers of an e-mail event (``EMAIL_HEADERS``: email_to, email_msgid...)."""
        unknown = set(email).difference(EMAIL_HEADERS)
        if unknown:
            raise TypeError(f"add_event() got unexpected keyword arguments {sorted(unknown)}")
        now = self.now_epoch()
        assigned = attendees(userassigned or ({userownerid: {}} if userownerid else {}))
        people = attendees(socpeopleassigned or {})
        event = AgendaEventRecord(
            id=self.numbers.next_id("event"),
            type_code=type_code,
            code=code or type_code,
            label=label[:128],
            datep=self._epoch_in(datep) or now,
            datef=self._epoch_in(datef),
            userownerid=userownerid,
            authorid=authorid or userownerid or self.admin_user.id,
            datec=now,
            datem=now,
            note=note,
            percentage=percentage,
            fulldayevent=fulldayevent,
            location=location,
            priority=priority,
            socid=socid,
            contact_id=contact_id,
            elementtype=elementtype,
            fk_element=fk_element,
            userassigned=assigned,
            socpeopleassigned=people,
        )
        for header, value in email.items():  # checked against EMAIL_HEADERS above
            setattr(event, header, value)
        self.events[event.id] = event
        return event
