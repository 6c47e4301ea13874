"""What the fake Dolibarr answers differently depending on the version it plays.

``FakeDolibarr(version=...)`` takes one of :data:`FAKE_VERSIONS`:

* ``"20.0.0"`` (default): the recorded real server of ``transcript-20.0.0.md``.
* ``"23.0.0-beta"``: the recorded real develop snapshot of ``differences-23.0.0-beta.md``; every
  difference listed there is played (the ECM dump of ``/documents`` entries only by a sample of its
  ~180 extra keys, all null; keys added to objects are appended, their real position is not recorded).
* ``"22.0.4"``: 20.0.0 plus what the PHP source of 22.0.4 says differs (``API.md``): ``pagination_data``
  (21+), an empty ``/contacts`` list as ``[]``, ``/thirdparties/{id}/representatives`` always 404
  (issue #38985), ``contacts_ids_internal`` on proposals. Not recorded from a running server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["FAKE_VERSIONS", "FakeVersion"]

FAKE_VERSIONS = ("20.0.0", "22.0.4", "23.0.0-beta")


@dataclass(frozen=True, slots=True)
class FakeVersion:
    """The version the fake plays, and each behaviour that depends on it."""

    text: str

    def __post_init__(self) -> None:
        if self.text not in FAKE_VERSIONS:
            raise ValueError(f"the fake Dolibarr plays {', '.join(FAKE_VERSIONS)}, not {self.text!r}")

    @property
    def major(self) -> int:
        return int(self.text.split(".", 1)[0])

    @property
    def pagination_data(self) -> bool:
        """``pagination_data=true`` wraps lists in ``{"data", "pagination"}`` (ChangeLog 21.0)."""
        return self.major >= 21

    @property
    def contact_source_in_query(self) -> bool:
        """23: ``POST /proposals/{id}/contact/{cid}/{type}?source=``; before: ``.../{type}/{source}`` (PR #36269)."""
        return self.major >= 23

    @property
    def ref_route_broken(self) -> bool:
        """23: ``GET /proposals/ref/{ref}`` answers 400 "No proposal with id=0 can exist" (issue #37805)."""
        return self.major >= 23

    @property
    def empty_contacts_as_list(self) -> bool:
        """22+: an empty ``/contacts`` list is ``200 []`` (404 before)."""
        return self.major >= 22

    @property
    def representatives_broken(self) -> bool:
        """22.x and 23.x: ``/thirdparties/{id}/representatives`` always 404 (issue #38985)."""
        return self.major in (22, 23)

    @property
    def internal_contacts(self) -> bool:
        """22+: proposals carry ``contacts_ids_internal`` (PR #34009)."""
        return self.major >= 22

    @property
    def develop_shapes(self) -> bool:
        """23: the key, type and text differences of objects recorded on the 23.0.0-beta snapshot."""
        return self.major >= 23


# ---------------------------------------------------------------------------------------- 23 shapes

_REMOVED_USER_KEYS = ("user_author", "user_creation", "user_valid", "user_validation", "user_modification")
_ADDED_OBJECT_KEYS: dict[str, Any] = {
    "civility_code": None,
    "contacts_ids_internal": None,
    "model_pdf": "",
    "totalpaid": None,
    "totalpaid_multicurrency": None,
}
_ADDED_LINE_KEYS: dict[str, Any] = {
    "civility_code": None,
    "contacts_ids_internal": None,
    "multicurrency_subprice_ttc": None,
    "subprice_ttc": None,
    "packaging": None,
    "product_custom_code": "",
    "product_custom_country_code": None,
    "product_custom_country_id": None,
    "totalpaid": None,
    "totalpaid_multicurrency": None,
}
# A sample of the CommonObject dump merged into each /documents entry on 23 (208 keys in all there).
_ECM_DUMP_KEYS = (
    "module",
    "element",
    "table_element",
    "fields",
    "import_key",
    "array_options",
    "array_languages",
    "contacts_ids",
    "linkedObjectsIds",
    "ref_ext",
    "status",
    "statut",
    "country_id",
    "country_code",
    "lines",
    "total_ht",
    "total_tva",
    "total_ttc",
    "qty",
    "note_public",
    "note_private",
    "last_main_doc",
    "user_author_id",
    "date_creation",
    "date_modification",
    "civility_code",
    "model_pdf",
    "totalpaid",
    " * childtables",
)
_EVENT_TYPE_LABELS = {
    "AC_OTH": "Other (manually inserted events)",
    "AC_OTH_AUTO": "Other (automatically inserted events)",
}
# debug.source lines that moved on 23 (the messages are the same)
_MOVED_SOURCES = {
    "api_proposals.class.php:131": "api_proposals.class.php:144",
    "api_proposals.class.php:235": "api_proposals.class.php:276",
    "api_proposals.class.php:200": "api_proposals.class.php:232",
}


def _without_user_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in _REMOVED_USER_KEYS}


def reshape_proposal(
    version: FakeVersion, obj: dict[str, Any], *, single: bool, internal_contacts: list[Any] | None = None
) -> dict[str, Any]:
    """A rendered 20.0.0 proposal as ``version`` renders it.

    ``internal_contacts``: the internal links (users, ``SALESREPFOLL``) in the form of ``contacts_ids``,
    which 22+ gives as ``contacts_ids_internal`` when one proposal is read (null in lists).
    """
    if version.develop_shapes:
        obj = _without_user_keys(obj)
        for key, value in _ADDED_OBJECT_KEYS.items():
            obj.setdefault(key, value)
        obj["demand_reason_id"] = None
        if isinstance(obj.get("contacts_ids"), list):
            obj["contacts_ids"] = [_reshape_contact_row(row) for row in obj["contacts_ids"]]
    if version.internal_contacts:
        rows = internal_contacts if single and internal_contacts is not None else None
        if version.develop_shapes and rows:
            rows = [_reshape_contact_row(row) for row in rows]
        obj["contacts_ids_internal"] = rows if single else None
    return obj


def reshape_line(version: FakeVersion, line: dict[str, Any]) -> dict[str, Any]:
    if not version.develop_shapes:
        return line
    line = _without_user_keys(line)
    for key, value in _ADDED_LINE_KEYS.items():
        line.setdefault(key, value)
    return line


def _reshape_contact_row(row: Any) -> Any:
    if not isinstance(row, dict):
        return row  # a bare id
    row = dict(row)
    row.update({"address": "", "zip": "", "town": "", "country": None, "country_id": None})
    row["status"] = int(row["status"]) if str(row.get("status", "")).isdigit() else row.get("status")
    return row


def reshape_event(version: FakeVersion, obj: dict[str, Any]) -> dict[str, Any]:
    if not version.develop_shapes:
        return obj
    obj = _without_user_keys(obj)
    obj.update(
        {
            "email_reply_to": None,
            "fk_task": None,
            "civility_code": None,
            "contacts_ids_internal": None,
            "model_pdf": "",
            "totalpaid": None,
            "totalpaid_multicurrency": None,
            "recurdateend": "",
        }
    )
    obj["type_label"] = _EVENT_TYPE_LABELS.get(str(obj.get("type_code")), obj.get("type_label"))
    return obj


def reshape_thirdparty(version: FakeVersion, obj: dict[str, Any]) -> dict[str, Any]:
    if not version.develop_shapes:
        return obj
    obj = dict(obj)
    obj["ref"] = obj.get("name")
    obj["date_modification"] = ""
    obj.update(
        {
            "localtax1_assuj": "0",
            "localtax2_assuj": "0",
            "accountancy_code_customer_general": None,
            "accountancy_code_supplier_general": None,
            "birth": "",
            "currency_code": None,
            "ip": None,
            "termsofsale": None,
        }
    )
    return obj


def reshape_contact(version: FakeVersion, obj: dict[str, Any]) -> dict[str, Any]:
    if not version.develop_shapes:
        return obj
    obj = dict(obj)
    obj["date_modification"] = ""
    obj["status"] = "1"
    obj["ip"] = None
    return obj


def reshape_document(version: FakeVersion, entry: dict[str, Any], content_type: str) -> dict[str, Any]:
    """23 merges the ECM line's whole object dump into the entry: its null ``name`` overwrites the file name."""
    if not version.develop_shapes:
        return entry
    dump: dict[str, Any] = {key: None for key in _ECM_DUMP_KEYS}
    merged = {**entry, **{key: value for key, value in dump.items() if key not in entry}}
    merged["name"] = None
    merged["content-type"] = content_type
    if merged.get("gen_or_uploaded") == "uploaded":
        merged["gen_or_uploaded"] = "api"  # 23 tells files sent through the API apart
    return merged


def moved_source(version: FakeVersion, source: str) -> str:
    return _MOVED_SOURCES.get(source, source) if version.develop_shapes else source


_QUOTED_IN_LIST = re.compile(r":(in|notin):'([^'()]*)'\)", re.IGNORECASE)


def accepted_sqlfilters(version: FakeVersion, text: str) -> str:
    """23 accepts a quoted ``in`` list (``(t.fk_statut:in:'2,3')``); 20 fails on it with an SQL error."""
    if not version.develop_shapes:
        return text
    return _QUOTED_IN_LIST.sub(lambda m: f":{m.group(1)}:{m.group(2)})", text)


def thirdparties_not_found(version: FakeVersion) -> str:
    return "No third parties found" if version.develop_shapes else "Thirdparties not found"


def paginated(version: FakeVersion, params: dict[str, str], page: list[Any], total: int) -> Any:
    """The list answer: ``{"data", "pagination"}`` when asked for and known to the version, else the page."""
    if not version.pagination_data or params.get("pagination_data", "").lower() not in ("true", "1"):
        return page
    limit = _int(params.get("limit"), 100)
    if limit <= 0:
        return page  # Dolibarr divides by the limit: it gives no envelope without one
    return {
        "data": page,
        "pagination": {
            "total": total,
            "page": _int(params.get("page"), 0),
            "page_count": -(-total // limit),
            "limit": limit,
        },
    }


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
