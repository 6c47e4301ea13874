"""The fake's records (one dataclass per Dolibarr table it keeps), its constants and its errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

from dolirelance.testing.sqlfilters import RowValue

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")

API_BASE = "/api/index.php"
DOLIBARR_VERSION = "20.0.0"  # the default version played
DEFAULT_VALIDITY_DAYS = 15  # PROPALE_VALIDITY_DURATION of a default install
DAY = 86400
REMOVED: Any = object()  # FakeDolibarr.corrupt_proposal: leave this key out of the JSON

ALL_RIGHTS: frozenset[str] = frozenset(
    {
        "propal.lire",
        "propal.creer",
        "propal.supprimer",
        "propal.cloturer",
        "societe.lire",
        "societe.creer",
        "societe.client.voir",
        "societe.contact.lire",
        "societe.contact.creer",
        "produit.lire",
        "produit.creer",
        "agenda.myactions.read",
        "agenda.myactions.create",
        "agenda.myactions.delete",
        "agenda.allactions.read",
        "agenda.allactions.create",
        "agenda.allactions.delete",
        "user.user.lire",
        "user.self.creer",
    }
)

# c_actioncomm: code -> (id, type, label, active)
EVENT_TYPES: dict[str, tuple[int, str, str, bool]] = {
    "AC_TEL": (1, "system", "Phone call", True),
    "AC_FAX": (2, "system", "Send Fax", False),
    "AC_EMAIL": (4, "system", "Send Email", False),
    "AC_EMAIL_IN": (10, "system", "Reception Email", False),
    "AC_RDV": (5, "system", "Rendez-vous", True),
    "AC_INT": (11, "system", "Intervention on site", True),
    "AC_OTH_AUTO": (40, "systemauto", "Other (automatically inserted events)", True),
    "AC_OTH": (50, "system", "Other (manually inserted events)", True),
}
_EVENT_TYPE_BY_ID = {type_id: code for code, (type_id, *_rest) in EVENT_TYPES.items()}

# c_type_contact rows of element "propal" (rowids as in the recorded instance)
CONTACT_TYPES: list[dict[str, str | None]] = [
    {
        "rowid": "6",
        "code": "SALESREPFOLL",
        "type": "propal",
        "label": "Commercial suivi propale",
        "source": "internal",
        "module": None,
        "position": "0",
    },
    {
        "rowid": "7",
        "code": "BILLING",
        "type": "propal",
        "label": "Contact client facturation propale",
        "source": "external",
        "module": None,
        "position": "0",
    },
    {
        "rowid": "8",
        "code": "CUSTOMER",
        "type": "propal",
        "label": "Contact client suivi propale",
        "source": "external",
        "module": None,
        "position": "0",
    },
    {
        "rowid": "9",
        "code": "SHIPPING",
        "type": "propal",
        "label": "Contact client livraison propale",
        "source": "external",
        "module": None,
        "position": "0",
    },
]
CONTACT_TYPE_BY_KEY = {(str(row["source"]), str(row["code"])): row for row in CONTACT_TYPES}

PAYMENT_TERMS = {1: "RECEP", 2: "30D", 3: "30DENDMONTH", 4: "60D"}
PAYMENT_MODES = {2: "VIR", 3: "PRE", 4: "LIQ", 6: "CB", 7: "CHQ"}

_REASONS = {
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_STAGES: dict[str, dict[str, list[str]]] = {
    "call": {
        "success": ["get", "route", "negotiate", "authenticate", "validate"],
        "failure": ["call", "message"],
    },
    "validate": {
        "success": ["get", "route", "negotiate", "authenticate"],
        "failure": ["validate", "message"],
    },
    "authenticate": {"success": ["get", "route", "negotiate"], "failure": ["authenticate", "message"]},
    "route": {"success": ["get"], "failure": ["route", "negotiate", "message"]},
    "setup": {"success": [], "failure": ["get", "route", "negotiate", "message"]},
}


# --------------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An error answered with Restler's JSON body."""

    def __init__(
        self,
        status: int,
        text: str = "",
        *,
        source: str = "api.class.php:0",
        stage: str = "call",
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.source = source
        self.stage = stage
        self.extra = dict(extra or {})


class NotModified(Exception):
    """Answer 304 with an empty body."""


def error_body(
    status: int, text: str, source: str, stage: str = "call", extra: Mapping[str, object] | None = None
) -> dict[str, Any]:
    reason = _REASONS.get(status, "Error")
    error: dict[str, Any] = {"code": status, "message": f"{reason}: {text}" if text else reason}
    error.update(extra or {})
    return {"error": error, "debug": {"source": f"{source} at {stage} stage", "stages": _STAGES[stage]}}


# --------------------------------------------------------------------------------------------------
# Records


@dataclass(slots=True)
class UserRecord:
    id: int
    login: str
    api_key: str
    password: str = ""
    firstname: str = ""
    lastname: str = ""
    email: str = ""
    office_phone: str = ""
    user_mobile: str = ""
    job: str = ""
    signature: str = ""  # HTML
    admin: bool = False
    rights: set[str] = field(default_factory=set)
    status: int = 1
    socid: int | None = None  # external user

    def has_right(self, right: str) -> bool:
        return self.admin or right in self.rights


@dataclass(slots=True)
class GroupRecord:
    """A user group (Users & Groups > Groups): llx_usergroup and its llx_usergroup_user links."""

    id: int
    name: str
    note: str = ""
    member_ids: set[int] = field(default_factory=set)
    datec: int = 0


@dataclass(slots=True)
class ThirdPartyRecord:
    id: int
    name: str
    client: int = 1
    code_client: str = ""
    email: str | None = None
    phone: str | None = None
    address: str = ""
    zip: str = ""
    town: str = ""
    country_id: int | None = 1
    country_code: str = "FR"
    name_alias: str = ""
    default_lang: str | None = None
    note_public: str = ""
    note_private: str = ""
    status: int = 1
    no_email: int = 0
    datec: int = 0
    tms: int | None = None  # last change (epoch); None: never changed since its creation
    sales_rep_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class ContactRecord:
    id: int
    socid: int | None
    lastname: str
    firstname: str = ""
    civility_code: str | None = None
    email: str = ""
    phone_pro: str = ""
    phone_mobile: str = ""
    poste: str = ""
    statut: int = 1
    default_lang: str | None = None
    no_email: int = 0
    datec: int = 0
    tms: int | None = None  # last change (epoch); None: never changed since its creation


@dataclass(slots=True)
class ProductRecord:
    id: int
    ref: str
    label: str
    type: int = 0
    price: Decimal = Decimal(0)
    tva_tx: Decimal = Decimal(20)
    description: str = ""


@dataclass(slots=True)
class ProposalLineRecord:
    id: int
    description: str
    qty: Decimal
    subprice: Decimal
    tva_tx: Decimal
    product_type: int
    fk_product: int | None = None
    remise_percent: Decimal = Decimal(0)
    rang: int = 1

    @property
    def total_ht(self) -> Decimal:
        gross = self.qty * self.subprice * (Decimal(100) - self.remise_percent) / Decimal(100)
        return gross.quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def total_tva(self) -> Decimal:
        return (self.total_ht * self.tva_tx / Decimal(100)).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def total_ttc(self) -> Decimal:
        return self.total_ht + self.total_tva


@dataclass(slots=True)
class ContactLink:
    link_id: int
    contact_id: int
    type_code: str
    source: str  # "external" (contact) or "internal" (user)


@dataclass(slots=True)
class ProposalRecord:
    id: int
    ref: str
    socid: int
    datep: int  # server-local midnight of the proposal date
    fin_validite: int | None
    date_creation: int
    user_author_id: int
    status: int = 0
    date_valid: int | None = None
    user_valid_id: int | None = None
    date_signature: int | None = None
    date_cloture: int | None = None
    user_close_id: int | None = None
    ref_client: str = ""
    note_public: str = ""
    note_private: str = ""
    cond_reglement_id: int | None = None
    mode_reglement_id: int | None = None
    last_main_doc: str | None = None
    tms: int = 0
    lines: list[ProposalLineRecord] = field(default_factory=list)
    contacts: list[ContactLink] = field(default_factory=list)
    array_options: dict[str, str | None] = field(default_factory=dict)
    row_cache: dict[str, RowValue] | None = None
    # Raw JSON values sent instead of the real ones (a damaged row, see FakeDolibarr.corrupt_proposal).
    corrupted: dict[str, Any] = field(default_factory=dict)

    def touch(self, now: int) -> None:
        self.tms = now
        self.row_cache = None

    @property
    def total_ht(self) -> Decimal:
        return sum((line.total_ht for line in self.lines), Decimal(0))

    @property
    def total_tva(self) -> Decimal:
        return sum((line.total_tva for line in self.lines), Decimal(0))

    @property
    def total_ttc(self) -> Decimal:
        return self.total_ht + self.total_tva


@dataclass(slots=True)
class AgendaEventRecord:
    id: int
    type_code: str
    code: str
    label: str
    datep: int
    userownerid: int | None
    authorid: int
    datec: int
    datef: int | None = None
    note: str = ""
    percentage: int = 0
    fulldayevent: int = 0
    location: str = ""
    priority: int = 0
    socid: int | None = None
    contact_id: int | None = None
    fk_element: int | None = None
    elementtype: str | None = None
    fk_project: int | None = None
    usermodid: int | None = None
    datem: int = 0
    userassigned: dict[int, dict[str, str]] = field(default_factory=dict)
    socpeopleassigned: dict[int, dict[str, str]] = field(default_factory=dict)
    email_msgid: str | None = None
    email_from: str | None = None
    email_sender: str | None = None
    email_to: str | None = None
    email_tocc: str | None = None
    email_tobcc: str | None = None
    email_subject: str | None = None
    errors_to: str | None = None
    array_options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StoredFile:
    name: str
    content: bytes
    origin: str  # "generated" | "uploaded"
    date: int
    ecm_id: int
    position: int
    src_object_id: int
    share: str | None
    user_id: int


@dataclass(slots=True)
class ExtraFieldRecord:
    id: int
    elementtype: str
    name: str
    label: str
    type: str
    pos: int = 100
    size: str = ""
    required: int = 0
    unique: int = 0
    list: str = "1"
    alwayseditable: int = 1
    printable: int = 0
    totalizable: int = 0
    param: str = ""
    help: str = ""
    default: str | None = None
    datec: str = ""
    user_id: int = 1


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    method: str
    path: str  # below /api/index.php, e.g. "/proposals/12"
    params: dict[str, str]


# --------------------------------------------------------------------------------------------------
# Values as PHP casts and prints them


def amount(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.8f}"


def php_int(value: Any) -> int:
    """PHP's arithmetic on a value: numbers stay, numeric strings parse, other strings keep the leading
    digits ("2026-11-01" -> 2026), which is how a string date corrupts to 1970."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        match = re.match(r"\s*[+-]?\d+(\.\d*)?", value)
        return int(float(match.group(0))) if match else 0
    return 0


def to_decimal(value: Any, default: str = "0") -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(default)
    except InvalidOperation:
        return Decimal(default)


def str_id(value: int | None) -> str | None:
    return None if value is None else str(value)


def int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return php_int(value)


def sanitize_filename(name: str) -> str:
    """dol_sanitizeFileName: characters forbidden in file names become ``_``."""
    return re.sub(r"[/\\:*?\"<>|\[\],;=]", "_", name).strip()


_HTML_TAG = re.compile(r"<[^<>]+>")
# what sanitizeVal(..., 'alphanohtml') removes besides tags: path climbs, double quotes, encoded & / \\
_ALPHANOHTML_REMOVED = re.compile(
    r"\.\./|\.\.\\|&#0*38|&#x26|&quot|\"|&#0*34|&#x22|&#0*47|&#x2F|&#0*92|&#x5C", re.IGNORECASE
)


def sanitize_alphanohtml(value: str) -> str:
    """``sanitizeVal($value, 'alphanohtml')``, as the API applies it to a body's plain fields (a label):
    trimmed, without HTML tags, double quotes and the other sequences it refuses, until nothing changes.
    (Dolibarr also decodes entities and squeezes spaces: not modelled.)"""
    out = value.strip()
    while True:
        cleaned = _ALPHANOHTML_REMOVED.sub("", _HTML_TAG.sub("", out).replace("<>", ""))
        if cleaned == out:
            return out
        out = cleaned


def known_fields(record_type: type[DataclassInstance], values: Mapping[str, T]) -> dict[str, T]:
    """The ``values`` named like a field of ``record_type``: a seeding method takes any column, keeps those."""
    names = {known.name for known in fields(record_type)}
    return {key: value for key, value in values.items() if key in names}


def only_properties(obj: dict[str, Any], properties: str | None) -> dict[str, Any]:
    if not properties:
        return obj
    wanted = {name.strip() for name in properties.split(",") if name.strip()}
    return {key: value for key, value in obj.items() if key in wanted}
