"""Routes of ``/agendaevents``."""

from __future__ import annotations

from typing import Any

from dolirelance.testing import fake_versions
from dolirelance.testing.fake import rows
from dolirelance.testing.fake.records import (
    EVENT_TYPES,
    AgendaEventRecord,
    ApiError,
    int_or_none,
    only_properties,
    php_int,
    sanitize_alphanohtml,
)
from dolirelance.testing.fake.render import render_event
from dolirelance.testing.fake.routes import listing
from dolirelance.testing.fake.routes.call import (
    Call,
    body_dict,
)
from dolirelance.testing.fake.routes.listing import (
    Listing,
    paginate,
    top_level_ids,
)
from dolirelance.testing.fake.rows import EVENT_COLUMNS
from dolirelance.testing.fake.store import EMAIL_HEADERS
from dolirelance.testing.fake.store.agenda import attendees

# The lists these routes serve, as Dolibarr runs them.
EVENTS = Listing(
    EVENT_COLUMNS,
    rows.event_row,
    "Error when retrieve Agenda Event list",
    "api_agendaevents.class.php:170",
    default_sort="t.id",
)


def _event_visible(call: Call, event: AgendaEventRecord) -> bool:
    user = call.user
    if (
        not user.has_right("agenda.allactions.read")
        and event.userownerid != user.id
        and user.id not in event.userassigned
    ):
        return False
    if not call.fake.user_sees_all(user):
        return event.socid is not None and call.fake.sees_thirdparty(user, event.socid)
    return True


def list_events(call: Call) -> Any:
    call.require("agenda.myactions.read")
    fake = call.fake
    elements = top_level_ids(call.param("sqlfilters"), "t.fk_element")
    records = [
        event
        for event in fake.events.values()
        if (elements is None or event.fk_element in elements) and _event_visible(call, event)
    ]
    user_ids = call.param("user_ids")
    if user_ids:
        owners = {php_int(part) for part in user_ids.split(",") if part.strip()}
        records = [event for event in records if event.userownerid in owners]
    records = listing.filter_and_sort(call, records, EVENTS)
    properties = call.param("properties")
    page = [
        only_properties(render_event(fake, event, in_list=True), properties)
        for event in paginate(records, call)
    ]
    return fake_versions.paginated(fake.version, call.params, page, len(records))


def _get_event(call: Call, raw_id: str) -> AgendaEventRecord:
    event = call.fake.events.get(php_int(raw_id))
    if event is None:
        raise ApiError(404, "Agenda Event not found", source="api_agendaevents.class.php:80")
    if not _event_visible(call, event):
        raise call.refused("api_agendaevents.class.php:84")
    return event


def get_event(call: Call) -> Any:
    call.require("agenda.myactions.read")
    return render_event(call.fake, _get_event(call, call.path_args[0]))


def _assigned(value: Any) -> dict[int, dict[str, str]]:
    if isinstance(value, dict):
        return {php_int(key): {} for key in value}
    if isinstance(value, list):
        return {php_int(item.get("id") if isinstance(item, dict) else item): {} for item in value}
    return {}


def _refuse_other_owner(call: Call, body: dict[str, Any], source: str) -> None:
    """POST and PUT /agendaevents: without agenda.allactions.create the body's ``userownerid`` must be the
    API user's own id, checked before the event is even read (api_agendaevents.class.php)."""
    call.require("agenda.myactions.create")
    if call.user.has_right("agenda.allactions.create"):
        return
    owner = body.get("userownerid")
    if owner is None or php_int(owner) != call.user.id:
        shown = "" if owner is None else str(owner)
        raise ApiError(
            403,
            f"Insufficient rights to create an Agenda Event for owner id {shown} Your id is {call.user.id}",
            source=source,
        )


def create_event(call: Call) -> Any:
    body = body_dict(call)
    _refuse_other_owner(call, body, "api_agendaevents.class.php:210")
    owner = int_or_none(body.get("userownerid"))
    if not body.get("type_code"):
        raise ApiError(400, "type_code field missing", source="api_agendaevents.class.php:420")
    type_code = str(body["type_code"])
    if type_code not in EVENT_TYPES:
        raise ApiError(
            500,
            "Error creating event",
            source="api_agendaevents.class.php:222",
            extra={"0": "ErrorActionCommBadType"},
        )
    if owner is None:
        raise ApiError(
            500,
            "Error creating event",
            source="api_agendaevents.class.php:222",
            extra={"0": None, "1": "ErrorActionCommPropertyUserowneridNotDefined"},
        )
    element_id = int_or_none(body.get("fk_element", body.get("elementid")))
    event = call.fake.add_event(
        type_code=type_code,
        code=str(body.get("code") or type_code),
        label=sanitize_alphanohtml(str(body.get("label") or "")),
        note=str(body.get("note") if body.get("note") is not None else body.get("note_private") or ""),
        datep=php_int(body["datep"]) if body.get("datep") not in (None, "") else None,
        datef=php_int(body["datef"]) if body.get("datef") not in (None, "") else None,
        percentage=php_int(body.get("percentage", 0)),
        userownerid=owner,
        authorid=call.user.id,
        socid=int_or_none(body.get("socid")),
        contact_id=int_or_none(body.get("contact_id")),
        elementtype=body.get("elementtype") or None,
        fk_element=element_id,
        userassigned=_assigned(body.get("userassigned")) or None,
        socpeopleassigned=_assigned(body.get("socpeopleassigned")) or None,
        fulldayevent=php_int(body.get("fulldayevent", 0)),
        location=str(body.get("location") or ""),
        priority=php_int(body.get("priority", 0)),
        **{key: (None if body.get(key) is None else str(body[key])) for key in EMAIL_HEADERS},
    )
    if isinstance(body.get("array_options"), dict):
        event.array_options = dict(body["array_options"])
    return event.id


def update_event(call: Call) -> Any:
    """PUT /agendaevents/{id}: the body's fields set on the event as read, then ``ActionComm::update()``
    writes what it writes (api_agendaevents.class.php ``put``, actioncomm.class.php ``update``):

    - the note from ``note_private`` (set by the read: a ``note`` alone changes nothing), trimmed;
    - label (as every plain field, sanitized: no tags, no double quotes), percentage (at most 100),
      datep, datef (never before datep), owner, customer and contact (0 or less: none), priority,
      full day, location, and the attendees (users, contacts);
    - the link (``fk_element``, ``elementtype``) only when the body gives a non-empty one;
    - ``code``: the body's, else kept, but reset to the body's ``type_code`` when that differs from the
      event's type, whose type itself (``fk_action``) is never changed;
    - never the ``email_*`` headers. It runs without triggers and answers the event as ``GET`` does.
    """
    body = body_dict(call)
    _refuse_other_owner(call, body, "api_agendaevents.class.php:241")
    event = _get_event(call, call.path_args[0])
    if "userownerid" in body:
        event.userownerid = _positive_or_none(body["userownerid"])
    if "label" in body:
        event.label = sanitize_alphanohtml(str(body["label"] or ""))
    for key in ("location", "code"):
        if key in body and body[key] is not None:
            setattr(event, key, str(body[key]))
    if body.get("type_code") and body["type_code"] != event.type_code:
        event.code = str(body["type_code"])
    if "note_private" in body:
        event.note = str(body["note_private"] or "").strip()
    for key in ("datep", "datef"):
        if key in body:
            setattr(event, key, int_or_none(body[key]))
    if event.datep is not None and event.datef is not None and event.datef < event.datep:
        event.datef = event.datep
    if "percentage" in body:
        event.percentage = min(php_int(body["percentage"] or 0), 100)
    for key in ("fulldayevent", "priority"):
        if key in body:
            setattr(event, key, php_int(body[key] or 0))
    for key in ("socid", "contact_id"):
        if key in body:
            setattr(event, key, _positive_or_none(body[key]))
    element_id = _positive_or_none(body.get("fk_element", body.get("elementid")))
    if element_id is not None:
        event.fk_element = element_id
    if body.get("elementtype"):
        event.elementtype = str(body["elementtype"])
    if "userassigned" in body:
        event.userassigned = attendees(_assigned(body["userassigned"]))
    if "socpeopleassigned" in body:
        event.socpeopleassigned = attendees(_assigned(body["socpeopleassigned"]))
    if isinstance(body.get("array_options"), dict):
        event.array_options = dict(body["array_options"])  # 20.0.x replaces the whole array
    event.usermodid = call.user.id
    event.datem = call.fake.now_epoch()
    return render_event(call.fake, event)


def _positive_or_none(value: Any) -> int | None:
    number = int_or_none(value)
    return number if number is not None and number > 0 else None


def delete_event(call: Call) -> Any:
    event = _get_event(call, call.path_args[0])
    if event.userownerid == call.user.id:
        call.require("agenda.myactions.delete")
    else:
        call.require("agenda.allactions.delete")
    del call.fake.events[event.id]
    return {"success": {"code": 200, "message": "Agenda Event deleted"}}
