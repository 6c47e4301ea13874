"""CommonObject's properties in PHP's order, which of them each kind of object shows, and the builder
that lays out an object's fields in that order (``properties`` keeps it, and so must the fake)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_COMMON_HEAD = (
    "module",
    "id",
    "entity",
    "import_key",
    "array_options",
    "array_languages",
    "contacts_ids",
    "linkedObjectsIds",
    "canvas",
    "fk_project",
    "contact_id",
    "user",
    "origin_type",
    "origin_id",
    "ref",
    "ref_ext",
    "statut",
    "status",
    "country_id",
    "country_code",
    "state_id",
    "region_id",
    "barcode_type",
    "barcode_type_coder",
    "mode_reglement_id",
    "cond_reglement_id",
    "demand_reason_id",
    "transport_mode_id",
    "shipping_method_id",
    "shipping_method",
    "fk_multicurrency",
    "multicurrency_code",
    "multicurrency_tx",
    "multicurrency_total_ht",
    "multicurrency_total_tva",
    "multicurrency_total_ttc",
    "multicurrency_total_localtax1",
    "multicurrency_total_localtax2",
    "last_main_doc",
    "fk_account",
    "note_public",
    "note_private",
    "total_ht",
    "total_tva",
    "total_localtax1",
    "total_localtax2",
    "total_ttc",
    "lines",
    "actiontypecode",
    "name",
    "lastname",
    "firstname",
    "civility_id",
    "date_creation",
    "date_validation",
    "date_modification",
    "tms",
    "date_cloture",
    "user_author",
    "user_creation",
    "user_creation_id",
    "user_valid",
    "user_validation",
    "user_validation_id",
    "user_closing_id",
    "user_modification",
    "user_modification_id",
    "fk_user_creat",
    "fk_user_modif",
    "specimen",
    "extraparams",
    "product",
    "cond_reglement_supplier_id",
    "deposit_percent",
    "retained_warranty_fk_cond_reglement",
    "warehouse_id",
)


def _without(*left_out: str) -> tuple[str, ...]:
    return tuple(key for key in _COMMON_HEAD if key not in left_out)


_TOTALS = ("total_ht", "total_tva", "total_localtax1", "total_localtax2", "total_ttc")

# The CommonObject properties each kind of object shows, in PHP's order (the API unsets the others).
_HEADS: dict[str, tuple[str, ...]] = {
    "proposal": _COMMON_HEAD,
    "line": _without("lines"),
    "thirdparty": _without("lines", *_TOTALS),
    "contact": _without("lines", *_TOTALS),
    "event": _without(
        "canvas", "contact_id", "user", "origin_id", "ref_ext", "statut", "country_id", "country_code",
        "state_id", "region_id", "barcode_type", "barcode_type_coder", "mode_reglement_id", "cond_reglement_id",
        "demand_reason_id", "transport_mode_id", "shipping_method_id", "fk_account", "lines", "name",
        "lastname", "firstname", "civility_id", *_TOTALS,
    ),
    "user": (
        "module", "id", "entity", "import_key", "array_options", "array_languages", "contacts_ids",
        "linkedObjectsIds", "ref", "ref_ext", "statut", "status", "country_id", "country_code", "note_public",
        "note_private", "lastname", "firstname", "civility_id", "date_creation", "date_modification", "specimen",
    ),
}


def php_object(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """An object of ``kind`` as PHP lists its properties: the CommonObject ones first, in ``_HEADS``'
    order (null unless ``fields`` gives them), then the class's own ones, in the order of ``fields``."""
    head = _HEADS[kind]
    obj = {key: fields.get(key) for key in head}
    obj.update((key, value) for key, value in fields.items() if key not in obj)
    return obj
