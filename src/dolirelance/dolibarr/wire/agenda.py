"""Agenda events (``/agendaevents``) as Dolibarr sends them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field

from dolirelance.dolibarr.wire.casts import (
    Epoch,
    Keyed,
    OptId,
    OptText,
    RequiredEpoch,
    Text,
    WireInt,
    WireModel,
    epoch_to_datetime,
    html_to_text,
)
from dolirelance.domain import AgendaEvent


class WireEvent(WireModel):
    id: WireInt
    code: Text = ""
    type_code: Text = ""
    label: Text = ""
    note_private: Text = Field("", validation_alias=AliasChoices("note_private", "note"))
    datep: RequiredEpoch
    datef: Epoch = None
    percentage: WireInt = Field(-1, validation_alias=AliasChoices("percentage", "percent"))
    userownerid: OptId = None
    socid: OptId = None
    elementtype: OptText = None
    # the output cleanup removes fk_element: elementid is the link (fk_element kept as a fallback)
    elementid: OptId = None
    fk_element: OptId = None
    socpeopleassigned: Keyed = {}
    email_to: OptText = None
    email_subject: OptText = None
    email_msgid: OptText = None

    def to_domain(self, tz: ZoneInfo) -> AgendaEvent:
        start = datetime.fromtimestamp(self.datep, tz)
        return AgendaEvent(
            id=self.id,
            code=self.code,
            type_code=self.type_code,
            label=self.label,
            note=html_to_text(self.note_private),
            start=start,
            end=epoch_to_datetime(self.datef, tz),
            percentage=self.percentage,
            owner_id=self.userownerid,
            customer_id=self.socid,
            element_type=self.elementtype,
            element_id=self.elementid or self.fk_element,
            contact_ids=tuple(sorted(int(key) for key in self.socpeopleassigned if str(key).isdigit())),
            email_to=self.email_to,
            email_subject=self.email_subject,
            email_msgid=self.email_msgid,
        )
