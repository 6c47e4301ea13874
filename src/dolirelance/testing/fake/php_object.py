"""The one table of the fake's wire shapes: every property of each kind of object in PHP's order (the
CommonObject ones it keeps, then its own), and the builder that lays out an object's values in that order
(``properties`` keeps the order, and so must the fake). Properties a renderer gives no value are null."""

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


# Each kind's own properties, after the CommonObject ones, in PHP's order.
_OWN: dict[str, tuple[str, ...]] = {
    "line": (
        "rowid", "fk_propal", "fk_parent_line", "desc", "description", "fk_product", "product_type", "label",
        "qty", "subprice", "remise_percent", "tva_tx", "vat_src_code", "info_bits", "special_code", "rang",
        "fk_unit", "date_start", "date_end", "product_ref", "product_label", "product_desc",
        "product_tobatch", "multicurrency_subprice",
    ),
    "proposal": (
        "code", "socid", "contactid", "author", "ref_client", "ref_customer", "datev", "date_signature",
        "user_signature", "date", "datep", "delivery_date", "fin_validite", "user_author_id",
        "cond_reglement_code", "cond_reglement_doc", "mode_reglement_code", "availability_id",
        "availability_code", "availability", "duree_validite", "demand_reason_code", "fk_incoterms",
        "label_incoterms", "location_incoterms",
    ),
    "event": (
        "type_id", "type", "type_code", "type_label", "type_color", "type_picto", "code", "label", "datec",
        "duree", "datem", "authorid", "usermodid", "datep", "datef", "date_start_in_calendar",
        "date_end_in_calendar", "datep2", "durationp", "fulldayevent", "ponctuel", "percentage", "location",
        "transparency", "priority", "userassigned", "userownerid", "socpeopleassigned", "otherassigned",
        "reminders", "socid", "elementid", "elementtype", "fk_bookcal_calendar", "icalname", "icalcolor",
        "email_msgid", "email_from", "email_sender", "email_to", "email_tocc", "email_tobcc", "email_subject",
        "errors_to", "num_vote", "event_paid", "status_event_paid",
    ),
    "thirdparty": (
        "name_alias", "address", "zip", "town", "state_code", "region_code", "country", "phone",
        "phone_mobile", "fax", "email", "no_email", "url", "socialnetworks", "barcode", "idprof1", "idprof2",
        "idprof3", "idprof4", "idprof5", "idprof6", "tva_assuj", "tva_intra", "capital", "typent_id",
        "typent_code", "effectif_id", "forme_juridique_code", "remise_percent", "client", "prospect",
        "fournisseur", "code_client", "code_fournisseur", "code_compta_client", "default_lang", "logo",
        "parent", "outstanding_limit", "price_level",
    ),
    "contact": (
        "civility_code", "civility", "address", "zip", "town", "poste", "socid", "socname", "email",
        "no_email", "socialnetworks", "phone_pro", "phone_perso", "phone_mobile", "fax", "priv", "birthday",
        "default_lang", "roles",
    ),
    "user": (
        "civility_code", "employee", "gender", "birth", "email", "personal_email", "socialnetworks", "job",
        "signature", "address", "zip", "town", "office_phone", "office_fax", "user_mobile", "personal_mobile",
        "admin", "login", "datec", "datem", "socid", "contact_id", "fk_member", "fk_user",
        "fk_user_expense_validator", "fk_user_holiday_validator", "clicktodial_url", "datelastlogin",
        "datepreviouslogin", "datestartvalidity", "dateendvalidity", "photo", "lang", "user_group_list",
    ),
}

# Every property of each kind of object, in the order PHP lists them.
_PROPERTIES = {kind: head + _OWN[kind] for kind, head in _HEADS.items()}


def php_object(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """An object of ``kind`` with all its properties in PHP's order: ``fields`` gives the values, the others
    are null. A field that is not a property of ``kind`` is a mistake of the fake (KeyError)."""
    properties = _PROPERTIES[kind]
    unknown = set(fields).difference(properties)
    if unknown:
        raise KeyError(f"not properties of a {kind}: {sorted(unknown)}")
    return {key: fields.get(key) for key in properties}
