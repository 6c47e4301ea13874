"""Routes of ``/status`` and ``/setup``: company, extrafields, dictionaries."""

from __future__ import annotations

from typing import Any

from dolirelance.testing.fake import rows
from dolirelance.testing.fake.records import (
    CONTACT_TYPES,
    EVENT_TYPES,
    ApiError,
    php_int,
)
from dolirelance.testing.fake.render import render_extrafield
from dolirelance.testing.fake.routes import listing
from dolirelance.testing.fake.routes.call import (
    Call,
    body_dict,
)
from dolirelance.testing.fake.routes.listing import Listing, paginate
from dolirelance.testing.fake.rows import CONTACT_TYPE_COLUMNS

# The lists these routes serve, as Dolibarr runs them.
CONTACT_TYPES_LIST = Listing(
    CONTACT_TYPE_COLUMNS,
    rows.contact_type_row,
    "Error when retrieving list of contacts types",
    "api_setup.class.php:969",
)


def status(call: Call) -> Any:
    now = call.fake.now()
    return {
        "success": {
            "code": 200,
            "dolibarr_version": call.fake.version.text,
            "access_locked": "0",
            "environment": "non-production",
            "timestamp_now_utc": int(now.timestamp()),
            "timestamp_php_tz": call.fake.timezone_name,
            "date_tz": now.astimezone(call.fake.tz).strftime("%Y-%m-%d %H:%M:%S"),
        }
    }


def setup_company(call: Call) -> Any:
    call.require_admin()
    company = call.fake.company
    keys = (
        "name",
        "name_alias",
        "address",
        "zip",
        "town",
        "state_code",
        "country_code",
        "email",
        "phone",
        "fax",
        "url",
        "idprof1",
        "idprof2",
        "idprof3",
        "idprof4",
        "idprof5",
        "idprof6",
        "tva_intra",
        "capital",
        "forme_juridique_code",
        "logo",
        "logo_small",
        "managers",
        "note_public",
    )
    obj: dict[str, Any] = {"module": "societe", "id": "0", "entity": "1"}
    for key in keys:
        obj[key] = company.get(key, "")
    obj["country_id"] = "1" if company.get("country_code") == "FR" else None
    obj["country"] = "France" if company.get("country_code") == "FR" else company.get("country_code")
    obj["tva_assuj"] = "1"
    obj["currency_code"] = "EUR"
    return obj


def list_extrafields(call: Call) -> Any:
    call.require_admin()
    elementtype = call.param("elementtype")
    result: dict[str, dict[str, Any]] = {}
    for element, fields in call.fake.extrafields.items():
        if elementtype and element != elementtype:
            continue
        for name, record in fields.items():
            result.setdefault(element, {})[name] = render_extrafield(record)
    return result or []


def get_extrafield(call: Call) -> Any:
    call.require_admin()
    element, name = call.path_args
    record = call.fake.extrafields.get(element, {}).get(name)
    if record is None:
        raise ApiError(
            404, "Extrafield not found from attrname and elementtype", source="api_setup.class.php:1237"
        )
    return {element: {name: render_extrafield(record)}}


def create_extrafield(call: Call) -> Any:
    call.require_admin()
    element, name = call.path_args
    body = body_dict(call)
    if not body.get("label"):
        raise ApiError(400, "label field missing", source="api_setup.class.php:1300")
    if name in call.fake.extrafields.get(element, {}):
        raise ApiError(
            409,
            f"Extrafield with name {name} and elementtype {element} already exists",
            source="api_setup.class.php:1290",
        )
    options = {
        key: (str(value) if key in ("size", "list", "param", "help") else php_int(value))
        for key, value in body.items()
        if key
        in (
            "pos",
            "size",
            "required",
            "unique",
            "list",
            "alwayseditable",
            "printable",
            "totalizable",
            "param",
            "help",
        )
    }
    options["user_id"] = call.user.id
    return call.fake.add_extrafield(
        element, name, label=str(body["label"]), type=str(body.get("type") or "varchar"), **options
    ).id


def dictionary_contact_types(call: Call) -> Any:
    if call.param("type") and not call.fake.version.develop_shapes:
        # this 20.0.0 build filters on a column that does not exist
        raise ApiError(
            503,
            "Error when retrieving list of contacts types : Unknown column 'type' in 'WHERE'",
            source="api_setup.class.php:969",
        )
    types = [dict(row) for row in CONTACT_TYPES if call.param("type") in (None, "", row["type"])]
    return paginate(listing.filter_and_sort(call, types, CONTACT_TYPES_LIST), call)


def dictionary_event_types(call: Call) -> Any:
    active = call.param("active", "1")
    rows = [
        {
            "id": str(type_id),
            "code": code,
            "type": kind,
            "libelle": label,
            "module": None,
            "active": "1" if on else "0",
            "color": None,
            "picto": None,
            "position": str(type_id),
        }
        for code, (type_id, kind, label, on) in sorted(EVENT_TYPES.items(), key=lambda item: item[1][0])
        if active != "1" or on
    ]
    if call.param("type"):
        rows = [row for row in rows if row["type"] == call.param("type")]
    return paginate(rows, call)
