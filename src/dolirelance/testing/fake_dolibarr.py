"""A stateful fake of Dolibarr's REST API (20.0.0 by default, or 22/23), as a Starlette ASGI app.

``FakeDolibarr`` holds the state and has plain methods to seed it (users, third parties, contacts,
proposals, events, documents...). ``create_app(fake)`` serves it under ``/api/index.php/`` with the
shapes, types, errors and quirks recorded in ``transcript-20.0.0.md`` (string ids, 8-decimal amount
strings, 404-as-empty on some lists, 304 with no body, the PUT ``fin_validite`` reset...).

``FakeDolibarr(version="23.0.0-beta")`` plays another version: what differs is in
:mod:`dolirelance.testing.fake_versions`.

Cost: ``fake.cost = CostModel()`` makes every request cost what it costs a real Dolibarr 20 (per
request, per kind of request, per row and property listed, at most 8 served at once; see
:mod:`dolirelance.testing.cost`). Off by
default. Fault injection for tests: ``fake.latency``, ``fake.fail_next()``, ``fake.hang_next()``,
``fake.hang_after_applying()``, and the request
log ``fake.requests`` / ``fake.count_requests()``.

Not from the transcript, so guessed from Dolibarr's PHP source: the texts of the 409 "extrafield
exists", of upload's "already exists", of failed ``/login`` and of plain 403 "Forbidden", and the WAF
page. User groups (``add_group``, ``add_to_group``, ``remove_from_group``) are also from
the PHP source (``api_users.class.php``, alike on 20 and 23): ``/users/info``'s ``user_group_list``,
``/users/{id}/groups``, ``/users/groups[/{id}]`` and ``setGroup``, with the rights each checks; no
route creates a group. Not implemented: ``/setinvoiced``, PUT/DELETE of one proposal line,
``/proposals/ref_ext``, ``/contacts/email``. JSON is compact UTF-8 where PHP escapes non-ASCII.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dolirelance.testing import fake_versions
from dolirelance.testing.cost import Charge, CostModel, RequestCosts, charge_of
from dolirelance.testing.fake_versions import FakeVersion
from dolirelance.testing.pdf import ProposalPdfLine, ProposalPdfParty, render_proposal_pdf
from dolirelance.testing.sqlfilters import (
    Bare,
    BoolOp,
    ColumnKind,
    Row,
    RowValue,
    SqlFilterError,
    SqlFilterSqlError,
    SqlFilterSyntaxError,
    compile_filter,
    parse_filter,
    split_sort_fields,
    sql_sort_key,
)

__all__ = [
    "ALL_RIGHTS",
    "REMOVED",
    "AgendaEventRecord",
    "ContactRecord",
    "FakeDolibarr",
    "GroupRecord",
    "ProposalRecord",
    "RequestLogEntry",
    "StoredFile",
    "ThirdPartyRecord",
    "UserRecord",
    "create_app",
]

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
_CONTACT_TYPE = {(str(row["source"]), str(row["code"])): row for row in CONTACT_TYPES}

_PAYMENT_TERMS = {1: "RECEP", 2: "30D", 3: "30DENDMONTH", 4: "60D"}
_PAYMENT_MODES = {2: "VIR", 3: "PRE", 4: "LIQ", 6: "CB", 7: "CHQ"}

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
# Helpers


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.8f}"


def _php_int(value: Any) -> int:
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


def _decimal(value: Any, default: str = "0") -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(default)
    except InvalidOperation:
        return Decimal(default)


def _str_id(value: int | None) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return _php_int(value)


def sanitize_filename(name: str) -> str:
    """dol_sanitizeFileName: characters forbidden in file names become ``_``."""
    return re.sub(r"[/\\:*?\"<>|\[\],;=]", "_", name).strip()


def _only_properties(obj: dict[str, Any], properties: str | None) -> dict[str, Any]:
    if not properties:
        return obj
    wanted = {name.strip() for name in properties.split(",") if name.strip()}
    return {key: value for key, value in obj.items() if key in wanted}


# --------------------------------------------------------------------------------------------------
# The fake



def _below(path: str, prefix: str | None) -> bool:
    """``path`` is ``prefix`` or below it, segment by segment (a targeted fault hits one object)."""
    if prefix is None:
        return True
    if prefix.endswith("/"):  # "/proposals/": any single proposal, not the list
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")

class FakeDolibarr:
    """State of the fake server plus seeding methods. Ids are ints here and strings on the wire."""

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        now: Callable[[], datetime] | None = None,
        bad_key_delay: float = 0.0,
        data_root: str = "/var/lib/dolibarr/documents",
        create_admin: bool = True,
        version: str = DOLIBARR_VERSION,
    ) -> None:
        self.version = FakeVersion(version)
        self.tz = ZoneInfo(timezone)
        self.timezone_name = timezone
        self._now = now or (lambda: datetime.now(UTC))
        self.bad_key_delay = bad_key_delay
        self.data_root = data_root
        self.latency = 0.0
        # What a real server charges per request and per row, with its workers (off: tests stay fast).
        self.cost: CostModel | None = None
        self._costs: RequestCosts | None = None
        # With the cost model on, a list's matching rows are kept until the next write through HTTP,
        # so that the fake's own Python time (one core) stays under what the model charges.
        self._list_memo: dict[tuple[Any, ...], list[Any]] = {}
        self.requests: list[RequestLogEntry] = []
        # (status, path prefix or None, method or None): the first entry matching a request is used
        self._fail_queue: list[list[Any]] = []  # [status, path prefix, method, matching requests to let through]
        self._hang_queue: list[float] = []
        # Hangs aimed at some requests: [seconds, path prefix or None, method or None, matches to let through]
        self._targeted_hangs: list[list[Any]] = []
        # Hangs after the request was applied (stored, written): [seconds, path prefix or None, method or None]
        self._hangs_after_applying: list[list[Any]] = []
        self._hang_generation = 0
        self.hanging = 0  # requests sleeping in a hang right now

        self.users: dict[int, UserRecord] = {}
        self.groups: dict[int, GroupRecord] = {}
        self.thirdparties: dict[int, ThirdPartyRecord] = {}
        self.contacts: dict[int, ContactRecord] = {}
        self.products: dict[int, ProductRecord] = {}
        self.proposals: dict[int, ProposalRecord] = {}
        self.events: dict[int, AgendaEventRecord] = {}
        self.extrafields: dict[str, dict[str, ExtraFieldRecord]] = {}
        self.files: dict[str, dict[str, StoredFile]] = {}  # proposal directory -> name -> file
        self.company: dict[str, str] = {
            "name": "Ma Société",
            "address": "",
            "zip": "",
            "town": "",
            "country_code": "FR",
        }
        self._counters: Counter[str] = Counter()
        self._highest_ref_number: int | None = None
        if create_admin:
            self.add_user("admin", api_key="admin-key", password="admin", admin=True, lastname="SuperAdmin")

    # ---- clock and dates ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._now()

    def now_epoch(self) -> int:
        return int(self._now().timestamp())

    def epoch_of_day(self, day: date) -> int:
        """Server-local midnight of ``day``."""
        return int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp())

    def day_of_epoch(self, epoch: int) -> date:
        return datetime.fromtimestamp(epoch, self.tz).date()

    def local_naive(self, epoch: int | None) -> datetime | None:
        if epoch is None:
            return None
        return datetime.fromtimestamp(epoch, self.tz).replace(tzinfo=None)

    def midnight(self, epoch: int) -> int:
        return self.epoch_of_day(self.day_of_epoch(epoch))

    def _epoch_in(self, value: int | date | datetime | None) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return int(value.timestamp())
        if isinstance(value, date):
            return self.epoch_of_day(value)
        return int(value)

    def _next_id(self, table: str) -> int:
        self._counters[table] += 1
        return self._counters[table]

    # ---- fault injection and request log --------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        path_prefix: str | None = None,
        method: str | None = None,
        after: int = 0,
    ) -> None:
        """The next ``count`` requests answer ``status`` with Dolibarr's error body.

        With ``path_prefix`` (below /api/index.php, e.g. ``"/agendaevents"``: that path and the paths
        below it, ``"/proposals/1"`` is not ``"/proposals/12"``) and/or ``method``, only the next
        ``count`` requests that match fail, once ``after`` matching ones have gone through; the others
        are answered normally.
        """
        wanted = method.upper() if method else None
        self._fail_queue.extend([[status, path_prefix, wanted, after] for _ in range(count)])

    def _take_failure(self, method: str, path: str) -> int | None:
        for index, entry in enumerate(self._fail_queue):
            status, prefix, wanted_method, after = entry
            if _below(path, prefix) and (wanted_method is None or wanted_method == method):
                if after:
                    entry[3] = after - 1
                    return None
                del self._fail_queue[index]
                return int(status)
        return None

    def hang_next(
        self,
        count: int = 1,
        seconds: float = 30.0,
        *,
        path_prefix: str | None = None,
        method: str | None = None,
        after: int = 0,
    ) -> None:
        """The next ``count`` requests sleep ``seconds`` before being answered (client timeouts).

        With ``path_prefix`` and/or ``method``, only matching requests hang, once ``after`` matching
        ones have gone through. :meth:`release_hangs` wakes every hang in progress early; the
        request is then answered (or fails, when a failure is queued for it).
        """
        if path_prefix is None and method is None and not after:
            self._hang_queue.extend([seconds] * count)
            return
        wanted = method.upper() if method else None
        self._targeted_hangs.extend([[seconds, path_prefix, wanted, after] for _ in range(count)])

    def hang_after_applying(
        self, count: int = 1, seconds: float = 30.0, *, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """The next ``count`` matching requests are applied (the upload stored, the event written), then
        their answer is held ``seconds``: the client times out not knowing that it worked.
        :meth:`release_hangs` sends the held answers at once."""
        wanted = method.upper() if method else None
        self._hangs_after_applying.extend([[seconds, path_prefix, wanted] for _ in range(count)])

    def _take_hang_after_applying(self, method: str, path: str) -> float | None:
        for index, (seconds, prefix, wanted_method) in enumerate(self._hangs_after_applying):
            if _below(path, prefix) and (wanted_method is None or wanted_method == method):
                del self._hangs_after_applying[index]
                return float(seconds)
        return None

    def release_hangs(self) -> None:
        """End every hang in progress now (the requests go on and are answered)."""
        self._hang_generation += 1

    def clear_faults(self) -> None:
        """Forget every queued failure and hang, and end the hangs in progress (Dolibarr is back)."""
        self._fail_queue.clear()
        self._hang_queue.clear()
        self._targeted_hangs.clear()
        self._hangs_after_applying.clear()
        self.release_hangs()

    def _take_hang(self, method: str, path: str) -> float | None:
        for index, entry in enumerate(self._targeted_hangs):
            seconds, prefix, wanted_method, after = entry
            if _below(path, prefix) and (wanted_method is None or wanted_method == method):
                if after:
                    entry[3] = after - 1
                    return None
                del self._targeted_hangs[index]
                return float(seconds)
        return None

    async def _hang(self, seconds: float) -> None:
        generation = self._hang_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self.hanging += 1
        try:
            while loop.time() < deadline and generation == self._hang_generation:
                await asyncio.sleep(min(0.02, max(0.0, deadline - loop.time())))
        finally:
            self.hanging -= 1

    def count_requests(
        self, path: str | None = None, method: str | None = None, *, prefix: bool = False
    ) -> int:
        """How many requests matched ``path`` (exact, or as a prefix) and ``method``."""
        return sum(
            1
            for entry in self.requests
            if (method is None or entry.method == method.upper())
            and (path is None or (entry.path.startswith(path) if prefix else entry.path == path))
        )

    def requests_by_path(self) -> Counter[str]:
        return Counter(f"{entry.method} {entry.path}" for entry in self.requests)

    def reset_requests(self) -> None:
        self.requests.clear()

    # ---- users ----------------------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        api_key: str,
        password: str = "",
        admin: bool = False,
        rights: Iterable[str] = (),
        firstname: str = "",
        lastname: str = "",
        email: str = "",
        office_phone: str = "",
        user_mobile: str = "",
        job: str = "",
        signature: str = "",
        socid: int | None = None,
    ) -> UserRecord:
        user = UserRecord(
            id=self._next_id("user"),
            login=login,
            api_key=api_key,
            password=password,
            firstname=firstname,
            lastname=lastname,
            email=email,
            office_phone=office_phone,
            user_mobile=user_mobile,
            job=job,
            signature=signature,
            admin=admin,
            rights=set(ALL_RIGHTS if admin else rights),
            socid=socid,
        )
        self.users[user.id] = user
        return user

    def user_by_key(self, key: str) -> UserRecord | None:
        for user in self.users.values():
            if user.api_key == key and user.status == 1:
                return user
        return None

    def user_by_login(self, login: str) -> UserRecord | None:
        return next((user for user in self.users.values() if user.login == login), None)

    @property
    def admin_user(self) -> UserRecord:
        return next(user for user in self.users.values() if user.admin)

    # ---- user groups (Users & Groups > Groups; the REST API cannot create them) -----------------------

    def add_group(self, name: str, *, note: str = "", members: Iterable[int] = ()) -> GroupRecord:
        group = GroupRecord(
            id=self._next_id("usergroup"), name=name, note=note, member_ids=set(members), datec=self.now_epoch()
        )
        self.groups[group.id] = group
        return group

    def group_by_name(self, name: str) -> GroupRecord | None:
        return next((group for group in self.groups.values() if group.name == name), None)

    def add_to_group(self, user_id: int, group_id: int) -> None:
        self.groups[group_id].member_ids.add(user_id)

    def remove_from_group(self, user_id: int, group_id: int) -> None:
        self.groups[group_id].member_ids.discard(user_id)

    def groups_of(self, user_id: int) -> list[GroupRecord]:
        """Dolibarr's UserGroup::listGroupsForUser: ordered by name."""
        return sorted((g for g in self.groups.values() if user_id in g.member_ids), key=lambda g: g.name)

    def group_row(self, group: GroupRecord) -> dict[str, RowValue]:
        return {"t.rowid": group.id, "t.entity": 1, "t.nom": group.name, "t.note": group.note}

    # ---- company, extrafields -------------------------------------------------------------------------

    def set_company(self, **fields: str) -> None:
        self.company.update(fields)

    def add_extrafield(
        self, elementtype: str, name: str, *, label: str, type: str = "boolean", **options: Any
    ) -> ExtraFieldRecord:
        if name in self.extrafields.get(elementtype, {}):
            raise ApiError(409, f"Extrafield {name} already exists on {elementtype}")
        record = ExtraFieldRecord(
            id=self._next_id("extrafield"),
            elementtype=elementtype,
            name=name,
            label=label,
            type=type,
            datec=self.local_naive(self.now_epoch()).strftime("%Y-%m-%d %H:%M:%S"),  # type: ignore[union-attr]
            **{key: value for key, value in options.items() if key in ExtraFieldRecord.__dataclass_fields__},
        )
        self.extrafields.setdefault(elementtype, {})[name] = record
        for proposal in self.proposals.values():
            proposal.row_cache = None
        return record

    # ---- third parties and contacts -------------------------------------------------------------------

    def add_thirdparty(
        self,
        name: str,
        *,
        client: int = 1,
        code_client: str = "auto",
        email: str | None = None,
        sales_rep_ids: Iterable[int] = (),
        **fields: Any,
    ) -> ThirdPartyRecord:
        record_id = self._next_id("thirdparty")
        if code_client == "auto" and client in (1, 3):
            code_client = self._next_customer_code()
        elif code_client == "auto":
            code_client = ""
        record = ThirdPartyRecord(
            id=record_id,
            name=name,
            client=client,
            code_client=code_client,
            email=email or None,
            datec=self.now_epoch(),
            sales_rep_ids=list(sales_rep_ids),
            **{key: value for key, value in fields.items() if key in ThirdPartyRecord.__dataclass_fields__},
        )
        self.thirdparties[record.id] = record
        return record

    def _next_customer_code(self) -> str:
        # mod_codeclient_monkey: CU{yy}{mm}-{nnnnn}
        prefix = self.local_naive(self.now_epoch()).strftime("CU%y%m-")  # type: ignore[union-attr]
        count = sum(1 for tp in self.thirdparties.values() if tp.code_client.startswith(prefix))
        return f"{prefix}{count + 1:05d}"

    def add_sales_rep(self, socid: int, user_id: int) -> None:
        reps = self.thirdparties[socid].sales_rep_ids
        if user_id not in reps:
            reps.append(user_id)

    def add_contact(self, socid: int | None, lastname: str, **fields: Any) -> ContactRecord:
        known: dict[str, Any] = {
            key: ("" if key == "email" and value is None else value)  # a contact's missing email reads ""
            for key, value in fields.items()
            if key in ContactRecord.__dataclass_fields__
        }
        record = ContactRecord(
            id=self._next_id("contact"), socid=socid, lastname=lastname, datec=self.now_epoch(), **known
        )
        self.contacts[record.id] = record
        return record

    def add_product(self, ref: str, label: str, **fields: Any) -> ProductRecord:
        record = ProductRecord(
            id=self._next_id("product"),
            ref=ref,
            label=label,
            type=int(fields.get("type", 0)),
            price=_decimal(fields.get("price")),
            tva_tx=_decimal(fields.get("tva_tx"), "20"),
            description=str(fields.get("description") or ""),
        )
        self.products[record.id] = record
        return record

    # ---- proposals ------------------------------------------------------------------------------------

    def add_proposal(
        self,
        socid: int,
        *,
        date: int | date | datetime | None = None,
        duree_validite: int = DEFAULT_VALIDITY_DAYS,
        user_id: int | None = None,
        ref_client: str = "",
        note_public: str = "",
        note_private: str = "",
        cond_reglement_id: int | None = None,
        mode_reglement_id: int | None = None,
    ) -> ProposalRecord:
        """A draft ``(PROVn)``. ``fin_validite`` = the date as given (with its time) + ``duree_validite``."""
        now = self.now_epoch()
        date_epoch = self._epoch_in(date) if date is not None else now
        assert date_epoch is not None
        record_id = self._next_id("proposal")
        record = ProposalRecord(
            id=record_id,
            ref=f"(PROV{record_id})",
            socid=socid,
            datep=self.midnight(date_epoch) if date_epoch > DAY else 0,
            fin_validite=date_epoch + duree_validite * DAY if duree_validite else None,
            date_creation=now,
            user_author_id=user_id or self.admin_user.id,
            ref_client=ref_client,
            note_public=note_public,
            note_private=note_private,
            cond_reglement_id=cond_reglement_id,
            mode_reglement_id=mode_reglement_id,
            tms=now,
        )
        self.proposals[record.id] = record
        return record

    def add_proposal_line(
        self,
        proposal_id: int,
        *,
        description: str = "",
        qty: Decimal | int | str = 1,
        subprice: Decimal | int | str | float = 0,
        tva_tx: Decimal | int | str = 20,
        product_type: int = 1,
        fk_product: int | None = None,
        remise_percent: Decimal | int | str = 0,
    ) -> ProposalLineRecord:
        proposal = self.proposals[proposal_id]
        line = ProposalLineRecord(
            id=self._next_id("proposal_line"),
            description=description,
            qty=_decimal(qty, "1"),
            subprice=_decimal(subprice),
            tva_tx=_decimal(tva_tx, "20"),
            product_type=product_type,
            fk_product=fk_product,
            remise_percent=_decimal(remise_percent),
            rang=len(proposal.lines) + 1,
        )
        proposal.lines.append(line)
        proposal.touch(self.now_epoch())
        return line

    def link_contact(
        self, proposal_id: int, contact_id: int, type_code: str = "CUSTOMER", source: str = "external"
    ) -> None:
        proposal = self.proposals[proposal_id]
        if any(
            link.contact_id == contact_id and link.type_code == type_code and link.source == source
            for link in proposal.contacts
        ):
            return
        proposal.contacts.append(ContactLink(self._next_id("contact_link"), contact_id, type_code, source))

    def unlink_contact(self, proposal_id: int, contact_id: int, type_code: str) -> None:
        proposal = self.proposals[proposal_id]
        proposal.contacts = [
            link
            for link in proposal.contacts
            if not (link.contact_id == contact_id and link.type_code == type_code)
        ]

    def validate_proposal(self, proposal_id: int, *, user_id: int | None = None) -> bool:
        """Draft -> open with a ``PR{yymm}-{nnnn}`` ref; False when it was already validated."""
        proposal = self.proposals[proposal_id]
        if proposal.status == 1:
            return False
        if proposal.status != 0:
            return True  # Dolibarr answers 200 and changes nothing (observed on a signed draft)
        user_id = user_id or self.admin_user.id
        now = self.now_epoch()
        if proposal.ref.startswith("(PROV"):
            proposal.ref = self._next_proposal_ref()
        proposal.status = 1
        proposal.date_valid = now
        proposal.user_valid_id = user_id
        proposal.touch(now)
        self._auto_event(proposal, "AC_PROPAL_VALIDATE", f"Proposition {proposal.ref} validée", user_id)
        return True

    def _next_proposal_ref(self) -> str:
        # mod_propale_marbre: PR{yymm of now}-{global sequence}. The highest number is kept rather
        # than searched, so that seeding thousands of proposals stays linear.
        if self._highest_ref_number is None:
            self._highest_ref_number = 0
            for other in self.proposals.values():
                match = re.fullmatch(r"PR\d{4}-(\d+)", other.ref)
                if match:
                    self._highest_ref_number = max(self._highest_ref_number, int(match.group(1)))
        self._highest_ref_number += 1
        yymm = self.local_naive(self.now_epoch()).strftime("%y%m")  # type: ignore[union-attr]
        return f"PR{yymm}-{self._highest_ref_number:04d}"

    def close_proposal(
        self, proposal_id: int, status: int, *, note_private: str = "", user_id: int | None = None
    ) -> None:
        """Sign (2) or refuse (3); no state check, like the real server; builds the PDF."""
        proposal = self.proposals[proposal_id]
        user_id = user_id or self.admin_user.id
        now = self.now_epoch()
        proposal.status = status
        if note_private:
            proposal.note_private = note_private
        proposal.date_cloture = now
        proposal.user_close_id = user_id
        if status == 2:
            proposal.date_signature = now
        proposal.touch(now)
        if status == 2:
            self._auto_event(
                proposal, "AC_PROPAL_CLOSE_SIGNED", f"Proposition {proposal.ref} signée", user_id
            )
        else:
            self._auto_event(
                proposal, "AC_PROPAL_CLOSE_REFUSED", f"Proposition {proposal.ref} refusée", user_id
            )
        self.build_proposal_pdf(proposal_id, user_id=user_id)

    def set_proposal_draft(self, proposal_id: int, *, user_id: int | None = None) -> None:
        proposal = self.proposals[proposal_id]
        user_id = user_id or self.admin_user.id
        proposal.status = 0
        proposal.touch(self.now_epoch())
        self._auto_event(
            proposal,
            "AC_PROPAL_MODIFY",
            f"Proposition {proposal.ref} de retour au statut de brouillon",
            user_id,
        )

    def corrupt_proposal(self, proposal_id: int, **values: Any) -> None:
        """Send these raw JSON values for the proposal from now on (``REMOVED`` drops the key), as a
        damaged database row or a buggy module would; filters still see the real columns."""
        self.proposals[proposal_id].corrupted.update(values)

    def set_proposal_options(self, proposal_id: int, **options: str | None) -> None:
        """Seed extrafield values (``norelance="1"``) without the PUT side effects."""
        proposal = self.proposals[proposal_id]
        for name, value in options.items():
            proposal.array_options[f"options_{name}"] = value
        proposal.row_cache = None

    def update_proposal(self, proposal_id: int, body: Mapping[str, Any], *, user_id: int) -> None:
        """PUT /proposals/{id}: Dolibarr 20's side effects included (fin_validite reset, two events)."""
        proposal = self.proposals[proposal_id]
        for key in ("note_public", "note_private", "ref_client"):
            if key in body and body[key] is not None:
                setattr(proposal, key, str(body[key]))
        for key in ("cond_reglement_id", "mode_reglement_id"):
            if key in body:
                setattr(proposal, key, _int_or_none(body[key]))
        for key in ("date", "datep"):
            if key in body and body[key] not in (None, ""):
                stamp = _php_int(body[key])
                proposal.datep = self.midnight(stamp) if stamp > DAY else 0
        if "status" in body or "statut" in body:
            # written straight to fk_statut by the real update()
            proposal.status = _php_int(body.get("status", body.get("statut")))
        if isinstance(body.get("array_options"), Mapping):
            for key, value in body["array_options"].items():
                proposal.array_options[str(key)] = None if value is None else str(value)
        # update() recomputes fin_validite from the fetched duree_validite (the global default) unless
        # the body sets duree_validite to 0, in which case the fin_validite of the body is kept.
        duree = _php_int(body["duree_validite"]) if "duree_validite" in body else DEFAULT_VALIDITY_DAYS
        if duree:
            proposal.fin_validite = proposal.datep + duree * DAY
        elif "fin_validite" in body and body["fin_validite"] not in (None, ""):
            proposal.fin_validite = _php_int(body["fin_validite"])
        proposal.touch(self.now_epoch())
        for _ in range(2):  # PROPAL_MODIFY fires twice on a PUT
            self._auto_event(
                proposal,
                "AC_PROPAL_MODIFY",
                f"Proposition {proposal.ref} de retour au statut de brouillon",
                user_id,
            )

    def delete_proposal(self, proposal_id: int) -> None:
        proposal = self.proposals.pop(proposal_id)
        self.files.pop(sanitize_filename(proposal.ref), None)

    def proposal_by_ref(self, ref: str) -> ProposalRecord | None:
        return next((p for p in self.proposals.values() if p.ref == ref), None)

    def _auto_event(self, proposal: ProposalRecord, code: str, label: str, user_id: int) -> AgendaEventRecord:
        return self.add_event(
            type_code="AC_OTH_AUTO",
            code=code,
            label=label,
            note=label,
            datep=self.now_epoch(),
            percentage=-1,
            userownerid=user_id,
            socid=proposal.socid,
            elementtype="propal",
            fk_element=proposal.id,
        )

    # ---- agenda events --------------------------------------------------------------------------------

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
        email_to: str | None = None,
        email_from: str | None = None,
        email_sender: str | None = None,
        email_tocc: str | None = None,
        email_tobcc: str | None = None,
        email_subject: str | None = None,
        email_msgid: str | None = None,
        errors_to: str | None = None,
    ) -> AgendaEventRecord:
        now = self.now_epoch()
        assigned: dict[int, dict[str, str]] = {
            int(uid): {"id": str(uid), "mandatory": "0", "answer_status": "0", "transparency": "0"}
            for uid in (userassigned or ({userownerid: {}} if userownerid else {}))
        }
        people = {
            int(cid): {"id": str(cid), "mandatory": "0", "answer_status": "0", "transparency": "0"}
            for cid in (socpeopleassigned or {})
        }
        event = AgendaEventRecord(
            id=self._next_id("event"),
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
            email_to=email_to,
            email_from=email_from,
            email_sender=email_sender,
            email_tocc=email_tocc,
            email_tobcc=email_tobcc,
            email_subject=email_subject,
            email_msgid=email_msgid,
            errors_to=errors_to,
        )
        self.events[event.id] = event
        return event

    # ---- documents ------------------------------------------------------------------------------------

    def _store_file(
        self, proposal: ProposalRecord, name: str, content: bytes, origin: str, user_id: int
    ) -> StoredFile:
        directory = self.files.setdefault(sanitize_filename(proposal.ref), {})
        existing = directory.get(name)
        now = self.now_epoch()
        stored = StoredFile(
            name=name,
            content=content,
            origin=origin,
            date=now,
            ecm_id=existing.ecm_id if existing else self._next_id("ecm"),
            position=existing.position if existing else len(directory) + 1,
            src_object_id=proposal.id,
            share=(existing.share if existing else secrets.token_urlsafe(24)[:32])
            if origin == "generated"
            else None,
            user_id=user_id,
        )
        directory[name] = stored
        return stored

    def build_proposal_pdf(self, proposal_id: int, *, user_id: int | None = None) -> StoredFile:
        proposal = self.proposals[proposal_id]
        customer = self.thirdparties.get(proposal.socid)
        content = render_proposal_pdf(
            ref=proposal.ref,
            issue_date=self.day_of_epoch(proposal.datep),
            end_of_validity=self.day_of_epoch(proposal.fin_validite) if proposal.fin_validite else None,
            company=ProposalPdfParty(
                self.company.get("name", ""),
                tuple(
                    part
                    for part in (
                        self.company.get("address", ""),
                        f"{self.company.get('zip', '')} {self.company.get('town', '')}".strip(),
                    )
                    if part
                ),
            ),
            customer=ProposalPdfParty(
                customer.name if customer else "",
                tuple(part for part in (customer.address, f"{customer.zip} {customer.town}".strip()) if part)
                if customer
                else (),
            ),
            lines=[
                ProposalPdfLine(self._line_label(line), line.qty, line.subprice, line.tva_tx, line.total_ht)
                for line in proposal.lines
            ],
            total_excl_tax=proposal.total_ht,
            total_tax=proposal.total_tva,
            total_incl_tax=proposal.total_ttc,
            note_public=proposal.note_public,
        )
        directory = sanitize_filename(proposal.ref)
        stored = self._store_file(
            proposal, f"{directory}.pdf", content, "generated", user_id or self.admin_user.id
        )
        main_doc = f"propale/{directory}/{directory}.pdf"
        if proposal.last_main_doc != main_doc:
            # CommonObject::indexFile() records the path with an UPDATE, which stamps the row's tms
            # (MariaDB's ON UPDATE CURRENT_TIMESTAMP: only when a value changes, not on a rebuild)
            proposal.last_main_doc = main_doc
            proposal.touch(self.now_epoch())
        proposal.row_cache = None
        return stored

    def upload_file(
        self,
        proposal_id: int,
        name: str,
        content: bytes,
        *,
        overwrite: bool = False,
        user_id: int | None = None,
    ) -> StoredFile:
        proposal = self.proposals[proposal_id]
        name = sanitize_filename(name)
        if not overwrite and name in self.files.get(sanitize_filename(proposal.ref), {}):
            raise ApiError(
                400,
                f"File with name '{name}' already exists, and overwriteifexists is not set",
                source="api_documents.class.php:1009",
            )
        return self._store_file(proposal, name, content, "uploaded", user_id or self.admin_user.id)

    def proposal_files(self, proposal: ProposalRecord) -> list[StoredFile]:
        return list(self.files.get(sanitize_filename(proposal.ref), {}).values())

    def _line_label(self, line: ProposalLineRecord) -> str:
        product = self.products.get(line.fk_product) if line.fk_product else None
        if product:
            return f"{product.ref} - {product.label}" if not line.description else line.description
        return line.description

    # ---- sqlfilters rows ------------------------------------------------------------------------------

    def proposal_columns(self) -> dict[str, ColumnKind]:
        columns = dict(_PROPOSAL_COLUMNS)
        for extrafield in self.extrafields.get("propal", {}).values():
            columns[f"ef.{extrafield.name}"] = _extrafield_kind(extrafield.type)
        return columns

    def proposal_row(self, proposal: ProposalRecord) -> dict[str, RowValue]:
        if proposal.row_cache is not None:
            return proposal.row_cache
        local = self.local_naive
        row: dict[str, RowValue] = {
            "t.rowid": proposal.id,
            "t.entity": 1,
            "t.ref": proposal.ref,
            "t.ref_client": proposal.ref_client,
            "t.ref_ext": None,
            "t.fk_soc": proposal.socid,
            "t.fk_projet": None,
            "t.fk_statut": proposal.status,
            "t.datec": local(proposal.date_creation),
            "t.tms": local(proposal.tms),
            "t.datep": self.day_of_epoch(proposal.datep) if proposal.datep else None,
            "t.fin_validite": local(proposal.fin_validite),
            "t.date_valid": local(proposal.date_valid),
            "t.date_cloture": local(proposal.date_cloture),
            "t.date_signature": local(proposal.date_signature),
            "t.fk_user_author": proposal.user_author_id,
            "t.fk_user_valid": proposal.user_valid_id,
            "t.fk_user_cloture": proposal.user_close_id,
            "t.total_ht": float(proposal.total_ht),
            "t.total_tva": float(proposal.total_tva),
            "t.total_ttc": float(proposal.total_ttc),
            "t.multicurrency_code": "EUR",
            "t.fk_cond_reglement": proposal.cond_reglement_id,
            "t.fk_mode_reglement": proposal.mode_reglement_id,
            "t.note_public": proposal.note_public,
            "t.note_private": proposal.note_private,
            "t.last_main_doc": proposal.last_main_doc,
            "t.model_pdf": "azur",
        }
        for extrafield in self.extrafields.get("propal", {}).values():
            raw = proposal.array_options.get(f"options_{extrafield.name}")
            row[f"ef.{extrafield.name}"] = _extrafield_value(extrafield.type, raw)
        proposal.row_cache = row
        return row

    def event_row(self, event: AgendaEventRecord) -> Mapping[str, RowValue]:
        # Lazy: a filter reads two or three columns of each of thousands of events per request.
        return _LazyEventRow(self, event)

    def thirdparty_row(self, tp: ThirdPartyRecord) -> dict[str, RowValue]:
        return {
            "t.rowid": tp.id,
            "t.entity": 1,
            "t.nom": tp.name,
            "t.name_alias": tp.name_alias,
            "t.email": tp.email,
            "t.phone": tp.phone,
            "t.address": tp.address,
            "t.zip": tp.zip,
            "t.town": tp.town,
            "t.fk_pays": tp.country_id,
            "t.client": tp.client,
            "t.fournisseur": 0,
            "t.code_client": tp.code_client or None,
            "t.status": tp.status,
            "t.default_lang": tp.default_lang,
            "t.datec": self.local_naive(tp.datec),
        }

    def contact_row(self, contact: ContactRecord) -> dict[str, RowValue]:
        return {
            "t.rowid": contact.id,
            "t.entity": 1,
            "t.fk_soc": contact.socid,
            "t.lastname": contact.lastname,
            "t.firstname": contact.firstname,
            "t.civility": contact.civility_code,
            "t.email": contact.email,
            "t.poste": contact.poste,
            "t.phone": contact.phone_pro,
            "t.phone_mobile": contact.phone_mobile,
            "t.statut": contact.statut,
            "t.default_lang": contact.default_lang,
            "t.datec": self.local_naive(contact.datec),
        }

    def user_row(self, user: UserRecord) -> dict[str, RowValue]:
        return {
            "t.rowid": user.id,
            "t.entity": 1,
            "t.login": user.login,
            "t.lastname": user.lastname,
            "t.firstname": user.firstname,
            "t.email": user.email,
            "t.job": user.job,
            "t.statut": user.status,
            "t.admin": int(user.admin),
            "t.fk_soc": user.socid,
            "t.employee": 1,
        }

    # ---- visibility -----------------------------------------------------------------------------------

    def user_sees_all(self, user: UserRecord) -> bool:
        return user.socid is None and user.has_right("societe.client.voir")

    def sees_thirdparty(self, user: UserRecord, socid: int | None) -> bool:
        """Without societe.client.voir a user only sees third parties where they are sales rep."""
        if user.socid is not None:
            return socid == user.socid
        if user.has_right("societe.client.voir"):
            return True
        if socid is None:
            return False
        thirdparty = self.thirdparties.get(socid)
        return thirdparty is not None and user.id in thirdparty.sales_rep_ids


def _extrafield_kind(type_name: str) -> ColumnKind:
    if type_name in ("boolean", "int"):
        return ColumnKind.INT
    if type_name in ("double", "price"):
        return ColumnKind.FLOAT
    if type_name == "date":
        return ColumnKind.DATE
    if type_name == "datetime":
        return ColumnKind.DATETIME
    return ColumnKind.TEXT


def _extrafield_value(type_name: str, raw: str | None) -> RowValue:
    if raw in (None, ""):
        return None
    if type_name in ("boolean", "int"):
        return _php_int(raw)
    return raw


_I, _F, _T, _D, _DT = ColumnKind.INT, ColumnKind.FLOAT, ColumnKind.TEXT, ColumnKind.DATE, ColumnKind.DATETIME
_PROPOSAL_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.ref": _T,
    "t.ref_client": _T,
    "t.ref_ext": _T,
    "t.fk_soc": _I,
    "t.fk_projet": _I,
    "t.fk_statut": _I,
    "t.datec": _DT,
    "t.tms": _DT,
    "t.datep": _D,
    "t.fin_validite": _DT,
    "t.date_valid": _DT,
    "t.date_cloture": _DT,
    "t.date_signature": _DT,
    "t.fk_user_author": _I,
    "t.fk_user_valid": _I,
    "t.fk_user_cloture": _I,
    "t.total_ht": _F,
    "t.total_tva": _F,
    "t.total_ttc": _F,
    "t.multicurrency_code": _T,
    "t.fk_cond_reglement": _I,
    "t.fk_mode_reglement": _I,
    "t.note_public": _T,
    "t.note_private": _T,
    "t.last_main_doc": _T,
    "t.model_pdf": _T,
}
_EVENT_COLUMNS: dict[str, ColumnKind] = {
    "t.id": _I,
    "t.ref": _T,
    "t.entity": _I,
    "t.code": _T,
    "t.fk_action": _I,
    "t.label": _T,
    "t.note": _T,
    "t.datep": _DT,
    "t.datep2": _DT,
    "t.datec": _DT,
    "t.tms": _DT,
    "t.percent": _I,
    "t.fk_element": _I,
    "t.elementtype": _T,
    "t.fk_soc": _I,
    "t.fk_contact": _I,
    "t.fk_project": _I,
    "t.fk_user_action": _I,
    "t.fk_user_author": _I,
    "t.fk_user_mod": _I,
    "t.fulldayevent": _I,
    "t.location": _T,
    "t.priority": _I,
    "t.email_msgid": _T,
    "t.email_from": _T,
    "t.email_to": _T,
    "t.email_subject": _T,
}
_THIRDPARTY_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.nom": _T,
    "t.name_alias": _T,
    "t.email": _T,
    "t.phone": _T,
    "t.address": _T,
    "t.zip": _T,
    "t.town": _T,
    "t.fk_pays": _I,
    "t.client": _I,
    "t.fournisseur": _I,
    "t.code_client": _T,
    "t.status": _I,
    "t.default_lang": _T,
    "t.datec": _DT,
}
_CONTACT_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.fk_soc": _I,
    "t.lastname": _T,
    "t.firstname": _T,
    "t.civility": _T,
    "t.email": _T,
    "t.poste": _T,
    "t.phone": _T,
    "t.phone_mobile": _T,
    "t.statut": _I,
    "t.default_lang": _T,
    "t.datec": _DT,
}
_USER_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.login": _T,
    "t.lastname": _T,
    "t.firstname": _T,
    "t.email": _T,
    "t.job": _T,
    "t.statut": _I,
    "t.admin": _I,
    "t.fk_soc": _I,
    "t.employee": _I,
}
_GROUP_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.nom": _T,
    "t.note": _T,
}
_CONTACT_TYPE_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.element": _T,
    "t.source": _T,
    "t.code": _T,
    "t.libelle": _T,
    "t.active": _I,
    "t.module": _T,
    "t.position": _I,
}


# --------------------------------------------------------------------------------------------------
# Rendering (key order = PHP object property order, which ``properties`` keeps)

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


def _common(values: Mapping[str, Any], keys: Sequence[str] = _COMMON_HEAD) -> dict[str, Any]:
    return {key: values.get(key) for key in keys}


ContactsMode = Literal["null", "ids", "full"]


def _array_options(
    fake: FakeDolibarr, elementtype: str, stored: Mapping[str, Any]
) -> dict[str, Any] | list[Any]:
    defined = fake.extrafields.get(elementtype, {})
    if not defined:
        return []  # PHP's empty array
    return {f"options_{name}": stored.get(f"options_{name}") for name in defined}


def render_line(fake: FakeDolibarr, proposal: ProposalRecord, line: ProposalLineRecord) -> dict[str, Any]:
    product = fake.products.get(line.fk_product) if line.fk_product else None
    head = _common(
        {
            "id": str(line.id),
            "array_options": [],
            "ref": product.ref if product else None,
        }
    )
    head.pop("lines")
    head.update(
        {
            "rowid": str(line.id),
            "fk_propal": str(proposal.id),
            "fk_parent_line": None,
            "desc": line.description or (product.description if product else ""),
            "description": line.description or (product.description if product else ""),
            "fk_product": _str_id(line.fk_product),
            "product_type": str(line.product_type),
            "label": None,
            "qty": f"{line.qty.normalize():f}",
            "subprice": _amount(line.subprice),
            "remise_percent": f"{line.remise_percent.normalize():f}",
            "tva_tx": f"{line.tva_tx:.3f}",
            "vat_src_code": "",
            "info_bits": "0",
            "special_code": "0",
            "rang": str(line.rang),
            "fk_unit": None,
            "date_start": "",
            "date_end": "",
            "product_ref": product.ref if product else None,
            "product_label": product.label if product else None,
            "product_desc": product.description if product else None,
            "product_tobatch": None,
            "total_ht": _amount(line.total_ht),
            "total_tva": _amount(line.total_tva),
            "total_localtax1": "0.00000000",
            "total_localtax2": "0.00000000",
            "total_ttc": _amount(line.total_ttc),
            "multicurrency_subprice": _amount(line.subprice),
            "multicurrency_total_ht": _amount(line.total_ht),
            "multicurrency_total_tva": _amount(line.total_tva),
            "multicurrency_total_ttc": _amount(line.total_ttc),
        }
    )
    head["total_ht"] = _amount(line.total_ht)
    head["total_tva"] = _amount(line.total_tva)
    head["total_ttc"] = _amount(line.total_ttc)
    return fake_versions.reshape_line(fake.version, head)


def render_contact_row(fake: FakeDolibarr, proposal: ProposalRecord, link: ContactLink) -> dict[str, Any]:
    type_row = _CONTACT_TYPE.get((link.source, link.type_code), {})
    if link.source == "internal":
        user = fake.users.get(link.contact_id)
        socid, lastname, firstname, email, login, civility, active = (
            None,
            user.lastname if user else "",
            user.firstname if user else "",
            user.email if user else "",
            user.login if user else "",
            None,
            user.status if user else 0,
        )
    else:
        contact = fake.contacts.get(link.contact_id)
        socid = contact.socid if contact else None
        lastname = contact.lastname if contact else ""
        firstname = contact.firstname if contact else ""
        email = contact.email if contact else ""
        login = None
        civility = contact.civility_code if contact else None
        active = contact.statut if contact else 0
    return {
        "parentId": str(proposal.id),
        "source": link.source,
        "socid": _str_id(socid),
        "id": str(link.contact_id),
        "nom": lastname,
        "civility": civility,
        "lastname": lastname,
        "firstname": firstname,
        "email": email,
        "login": login,
        "photo": None,
        "gender": None,
        "statuscontact": str(active),
        "rowid": str(link.link_id),
        "code": link.type_code,
        "libelle": type_row.get("label", link.type_code),
        "status": "4",
        "fk_c_type_contact": type_row.get("rowid"),
    }


def _date_or_empty(value: int | None) -> int | str:
    return "" if value is None else value  # PHP's jdate(NULL) is ""


def render_proposal(
    fake: FakeDolibarr, proposal: ProposalRecord, contacts: ContactsMode = "ids", *, single: bool = False
) -> dict[str, Any]:
    if contacts == "null":
        contacts_value: Any = None
    elif contacts == "full":
        contacts_value = [
            render_contact_row(fake, proposal, link)
            for link in proposal.contacts
            if link.source == "external"
        ]
    else:
        contacts_value = [str(link.contact_id) for link in proposal.contacts if link.source == "external"]
    total_ht, total_tva, total_ttc = proposal.total_ht, proposal.total_tva, proposal.total_ttc
    values: dict[str, Any] = {
        "id": str(proposal.id),
        "entity": "1",
        "array_options": _array_options(fake, "propal", proposal.array_options),
        "contacts_ids": contacts_value,
        "linkedObjectsIds": [],
        "ref": proposal.ref,
        "ref_ext": "",
        "statut": proposal.status,
        "status": proposal.status,
        "mode_reglement_id": _str_id(proposal.mode_reglement_id),
        "cond_reglement_id": _str_id(proposal.cond_reglement_id),
        "demand_reason_id": "0",
        "fk_multicurrency": "0",
        "multicurrency_code": "EUR",
        "multicurrency_tx": "1.00000000",
        "multicurrency_total_ht": _amount(total_ht),
        "multicurrency_total_tva": _amount(total_tva),
        "multicurrency_total_ttc": _amount(total_ttc),
        "last_main_doc": proposal.last_main_doc,
        "note_public": proposal.note_public,
        "note_private": proposal.note_private,
        "total_ht": _amount(total_ht),
        "total_tva": _amount(total_tva),
        "total_localtax1": "0.00000000",
        "total_localtax2": "0.00000000",
        "total_ttc": _amount(total_ttc),
        "lines": [render_line(fake, proposal, line) for line in proposal.lines],
        "date_creation": proposal.date_creation,
        "date_validation": _date_or_empty(proposal.date_valid),
        "date_modification": proposal.tms,
        "tms": proposal.tms,
        "user_validation_id": _str_id(proposal.user_valid_id),
        "specimen": 0,
        "extraparams": [],
    }
    obj = _common(values)
    obj.update(
        {
            "code": "",
            "socid": str(proposal.socid),
            "contactid": None,
            "author": None,
            "ref_client": proposal.ref_client,
            "ref_customer": proposal.ref_client,
            "datev": _date_or_empty(proposal.date_valid),
            "date_signature": _date_or_empty(proposal.date_signature),
            "user_signature": None,
            "date": proposal.datep,
            "datep": proposal.datep,
            "delivery_date": "",
            "fin_validite": _date_or_empty(proposal.fin_validite),
            "user_author_id": str(proposal.user_author_id),
            "cond_reglement_code": _PAYMENT_TERMS.get(proposal.cond_reglement_id or 0),
            "cond_reglement_doc": None,
            "mode_reglement_code": _PAYMENT_MODES.get(proposal.mode_reglement_id or 0),
            "availability_id": "0",
            "availability_code": None,
            "availability": None,
            "duree_validite": DEFAULT_VALIDITY_DAYS,  # always the global default on read
            "demand_reason_code": None,
            "fk_incoterms": "0",
            "label_incoterms": None,
            "location_incoterms": "",
        }
    )
    internal: list[Any] | None = None
    if contacts != "null":
        internal = [
            render_contact_row(fake, proposal, link) if contacts == "full" else str(link.contact_id)
            for link in proposal.contacts
            if link.source == "internal"
        ]
    shaped = fake_versions.reshape_proposal(fake.version, obj, single=single, internal_contacts=internal)
    for key, value in proposal.corrupted.items():
        if value is REMOVED:
            shaped.pop(key, None)
        else:
            shaped[key] = value
    return shaped


def render_event(fake: FakeDolibarr, event: AgendaEventRecord, *, in_list: bool = False) -> dict[str, Any]:
    type_id, type_kind, _label, _active = EVENT_TYPES.get(event.type_code, (0, "system", "", True))
    obj: dict[str, Any] = {
        "module": None,
        "id": str(event.id),
        "entity": "1",
        "import_key": None,
        "array_options": _array_options(fake, "actioncomm", event.array_options),
        "array_languages": None,
        "contacts_ids": None,
        "linkedObjectsIds": None if in_list else [],  # only fetch() loads linked objects
        "fk_project": _str_id(event.fk_project),
        "origin_type": None,
        "ref": str(event.id),
        "status": "0",
        "shipping_method": None,
        "fk_multicurrency": None,
        "multicurrency_code": None,
        "multicurrency_tx": None,
        "multicurrency_total_ht": None,
        "multicurrency_total_tva": None,
        "multicurrency_total_ttc": None,
        "multicurrency_total_localtax1": None,
        "multicurrency_total_localtax2": None,
        "last_main_doc": None,
        "note_public": None,
        "note_private": event.note,
        "actiontypecode": None,
        "date_creation": None,
        "date_validation": None,
        "date_modification": None,
        "tms": None,
        "date_cloture": None,
        "user_author": None,
        "user_creation": None,
        "user_creation_id": None,
        "user_valid": None,
        "user_validation": None,
        "user_validation_id": None,
        "user_closing_id": None,
        "user_modification": None,
        "user_modification_id": None,
        "fk_user_creat": None,
        "fk_user_modif": None,
        "specimen": 0,
        "extraparams": None,
        "product": None,
        "cond_reglement_supplier_id": None,
        "deposit_percent": None,
        "retained_warranty_fk_cond_reglement": None,
        "warehouse_id": None,
        "type_id": str(type_id),
        "type": type_kind,
        "type_code": event.type_code,
        "type_label": None,
        "type_color": None,
        "type_picto": None,
        "code": event.code,
        "label": event.label,
        "datec": event.datec,
        "duree": None,
        "datem": event.datem,
        "authorid": _str_id(event.authorid),
        "usermodid": _str_id(event.usermodid),
        "datep": event.datep,
        "datef": "" if event.datef is None else event.datef,
        "date_start_in_calendar": None,
        "date_end_in_calendar": None,
        "datep2": None,
        "durationp": -1,
        "fulldayevent": str(event.fulldayevent),
        "ponctuel": None,
        "percentage": str(event.percentage),
        "location": event.location,
        "transparency": "0",
        "priority": str(event.priority),
        "userassigned": {str(uid): dict(row) for uid, row in event.userassigned.items()},
        "userownerid": _str_id(event.userownerid),
        "socpeopleassigned": {str(cid): dict(row) for cid, row in event.socpeopleassigned.items()} or [],
        "otherassigned": [],
        "reminders": [],
        "socid": _str_id(event.socid),
        "elementid": _str_id(event.fk_element),
        "elementtype": event.elementtype,
        "fk_bookcal_calendar": None,
        "icalname": None,
        "icalcolor": None,
        "email_msgid": event.email_msgid,
        "email_from": event.email_from,
        "email_sender": event.email_sender,
        "email_to": event.email_to,
        "email_tocc": event.email_tocc,
        "email_tobcc": event.email_tobcc,
        "email_subject": event.email_subject,
        "errors_to": event.errors_to,
        "num_vote": None,
        "event_paid": None,
        "status_event_paid": None,
    }
    return fake_versions.reshape_event(fake.version, obj)


def render_thirdparty(fake: FakeDolibarr, tp: ThirdPartyRecord) -> dict[str, Any]:
    obj = _common(
        {
            "module": "societe",
            "id": str(tp.id),
            "entity": "1",
            "array_options": _array_options(fake, "societe", {}),
            "ref": str(tp.id),
            "status": str(tp.status),
            "country_id": _str_id(tp.country_id),
            "country_code": tp.country_code,
            "note_public": tp.note_public,
            "note_private": tp.note_private,
            "name": tp.name,
            "date_creation": tp.datec,
            "date_modification": tp.tms or tp.datec,
            "specimen": 0,
        }
    )
    for removed in ("lines", "total_ht", "total_tva", "total_localtax1", "total_localtax2", "total_ttc"):
        obj.pop(removed)
    obj.update(
        {
            "name_alias": tp.name_alias,
            "address": tp.address,
            "zip": tp.zip,
            "town": tp.town,
            "state_code": None,
            "region_code": None,
            "country": "France" if tp.country_code == "FR" else tp.country_code,
            "phone": tp.phone,
            "phone_mobile": None,
            "fax": None,
            "email": tp.email,
            "no_email": tp.no_email,
            "url": None,
            "socialnetworks": [],
            "barcode": None,
            "idprof1": "",
            "idprof2": "",
            "idprof3": "",
            "idprof4": "",
            "idprof5": "",
            "idprof6": "",
            "tva_assuj": "1",
            "tva_intra": "",
            "capital": None,
            "typent_id": "0",
            "typent_code": None,
            "effectif_id": None,
            "forme_juridique_code": "0",
            "remise_percent": 0,
            "client": str(tp.client),
            "prospect": 1 if tp.client in (2, 3) else 0,
            "fournisseur": "0",
            "code_client": tp.code_client or None,
            "code_fournisseur": None,
            "code_compta_client": None,
            "default_lang": tp.default_lang,
            "logo": None,
            "parent": None,
            "outstanding_limit": None,
            "price_level": None,
        }
    )
    return fake_versions.reshape_thirdparty(fake.version, obj)


def render_contact(fake: FakeDolibarr, contact: ContactRecord) -> dict[str, Any]:
    obj = _common(
        {
            "id": str(contact.id),
            "entity": "1",
            "array_options": _array_options(fake, "socpeople", {}),
            "ref": str(contact.id),
            "statut": str(contact.statut),
            "country_id": None,
            "lastname": contact.lastname,
            "firstname": contact.firstname,
            "date_creation": contact.datec,
            "date_modification": contact.tms or contact.datec,
            "specimen": 0,
        }
    )
    for removed in ("lines", "total_ht", "total_tva", "total_localtax1", "total_localtax2", "total_ttc"):
        obj.pop(removed)
    obj.update(
        {
            "civility_code": contact.civility_code,
            "civility": {"MR": "Monsieur", "MME": "Madame", "MLE": "Mademoiselle"}.get(
                contact.civility_code or ""
            ),
            "address": "",
            "zip": "",
            "town": "",
            "poste": contact.poste,
            "socid": _str_id(contact.socid),
            "socname": fake.thirdparties[contact.socid].name if contact.socid in fake.thirdparties else None,
            "email": contact.email,
            "no_email": contact.no_email,
            "socialnetworks": [],
            "phone_pro": contact.phone_pro,
            "phone_perso": "",
            "phone_mobile": contact.phone_mobile,
            "fax": "",
            "priv": "0",
            "birthday": "",
            "default_lang": contact.default_lang,
            "roles": [],
        }
    )
    return fake_versions.reshape_contact(fake.version, obj)


def _nested_rights(rights: Iterable[str]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for right in sorted(rights):
        parts = right.split(".")
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = 1
    return nested


def render_user(
    fake: FakeDolibarr, user: UserRecord, *, with_rights: bool = False, in_info: bool = False
) -> dict[str, Any]:
    """A user; only ``/users/info`` fills ``user_group_list`` (Users::getInfo), elsewhere it is null."""
    obj: dict[str, Any] = {
        "module": None,
        "id": str(user.id),
        "entity": "1",
        "import_key": None,
        "array_options": _array_options(fake, "user", {}),
        "array_languages": None,
        "contacts_ids": None,
        "linkedObjectsIds": None,
        "ref": str(user.id),
        "ref_ext": None,
        "statut": str(user.status),
        "status": str(user.status),
        "country_id": None,
        "country_code": None,
        "note_public": None,
        "note_private": "",
        "lastname": user.lastname,
        "firstname": user.firstname,
        "civility_id": None,
        "date_creation": None,
        "date_modification": None,
        "specimen": 0,
        "civility_code": None,
        "employee": "1",
        "gender": None,
        "birth": "",
        "email": user.email,
        "personal_email": "",
        "socialnetworks": [],
        "job": user.job,
        "signature": user.signature,
        "address": "",
        "zip": "",
        "town": "",
        "office_phone": user.office_phone,
        "office_fax": "",
        "user_mobile": user.user_mobile,
        "personal_mobile": "",
        "admin": "1" if user.admin else "0",
        "login": user.login,
        "datec": None,
        "datem": None,
        "socid": _str_id(user.socid),
        "contact_id": None,
        "fk_member": None,
        "fk_user": None,
        "fk_user_expense_validator": None,
        "fk_user_holiday_validator": None,
        "clicktodial_url": None,
        "datelastlogin": "",
        "datepreviouslogin": "",
        "datestartvalidity": "",
        "dateendvalidity": "",
        "photo": None,
        "lang": None,
        "user_group_list": [_render_group(fake, group, in_user_list=True) for group in fake.groups_of(user.id)]
        if in_info
        else None,
    }
    if with_rights:
        obj["rights"] = _nested_rights(ALL_RIGHTS if user.admin else user.rights)
    return obj


def render_representative(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id,
        "login": user.login,
        "lastname": user.lastname,
        "firstname": user.firstname,
        "email": user.email,
        "phone": user.office_phone,
        "office_phone": user.office_phone,
        "job": user.job,
        "statut": str(user.status),
        "status": str(user.status),
        "entity": "1",
        "photo": None,
        "gender": None,
        "user_mobile": user.user_mobile,
    }


def render_file(fake: FakeDolibarr, directory: str, stored: StoredFile) -> dict[str, Any]:
    path = f"{fake.data_root}/propale/{directory}"
    return {
        "name": stored.name,
        "path": path,
        "level1name": directory,
        "relativename": stored.name,
        "fullname": f"{path}/{stored.name}",
        "date": stored.date,
        "size": len(stored.content),
        "type": "file",
        "label": hashlib.md5(stored.content).hexdigest(),
        "entity": "1",
        "filename": stored.name,
        "filepath": f"propale/{directory}",
        "fullpath_orig": stored.name if stored.origin == "uploaded" else "",
        "description": "",
        "keywords": "",
        "cover": None,
        "position": str(stored.position),
        "gen_or_uploaded": stored.origin,
        "extraparams": None,
        "date_c": stored.date,
        "date_m": stored.date,
        "fk_user_c": str(stored.user_id),
        "fk_user_m": None,
        "acl": None,
        "src_object_type": "propal",
        "src_object_id": str(stored.src_object_id),
        "id": str(stored.ecm_id),
        "ref": str(stored.ecm_id),
        "share": stored.share,
    }


def _content_type(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".pdf"):
        return "application/pdf"
    if lowered.endswith(".txt"):
        return "text/plain"
    if lowered.endswith(".png"):
        return "image/png"
    return "application/octet-stream"


# --------------------------------------------------------------------------------------------------
# HTTP layer


@dataclass
class Call:
    fake: FakeDolibarr
    user: UserRecord
    params: dict[str, str]
    body: Any
    path_args: tuple[str, ...]
    method: str

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def int_param(self, name: str, default: int) -> int:
        raw = self.params.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(str(raw))
        except ValueError as exc:
            raise ApiError(
                400,
                f"Invalid value specified for `{name}`. Expecting integer value",
                stage="validate",
                source="Validator.php:718",
            ) from exc

    def require(self, *rights: str, any_of: bool = False) -> None:
        granted = [self.user.has_right(right) for right in rights]
        if (any(granted) if any_of else all(granted)) or self.user.admin:
            return
        raise ApiError(403, source="api_access.class.php:0")

    def require_admin(self) -> None:
        if not self.user.admin:
            raise ApiError(
                403, "Access not allowed for login " + self.user.login, source="api_setup.class.php:0"
            )


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class _RouteSpec:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    literal: bool  # Restler answers 405 (not 404) only for literal paths served under another method
    kind: str  # "METHOD /template": what the cost model charges by


class _Router:
    def __init__(self) -> None:
        self.routes: list[_RouteSpec] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        regex = "^" + re.sub(r"\{[a-z_]+\}", r"([^/]+)", template) + "$"
        self.routes.append(_RouteSpec(method, re.compile(regex), handler, "{" not in template, f"{method} {template}"))

    def match(self, method: str, path: str) -> tuple[_RouteSpec | None, tuple[str, ...], bool]:
        """(route, args, path_exists_with_other_method)"""
        other_method = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                if route.method == method:
                    return route, found.groups(), False
                other_method = other_method or route.literal
        return None, (), other_method


_KNOWN_RESOURCES = {
    "proposals",
    "thirdparties",
    "contacts",
    "products",
    "agendaevents",
    "documents",
    "setup",
    "users",
    "status",
    "login",
    "explorer",
    "invoices",
    "orders",
    "projects",
    "tickets",
}
_WAF_PATH_CHARS = set("();\"'<>?{}$%")
_WAF_QUERY_RE = re.compile(r"\"|<script|javascript:|union\s.*select|select\s.*from|update\s.*set\s.*=", re.I)


def _waf_page(kind: int, key: str, value: str, uri: str) -> Response:
    text = (
        "Access refused to 127.0.0.1 by SQL or Script injection protection in "
        f"main.inc.php:analyseVarsForSqlAndScriptsInjection type={kind} paramkey={html.escape(key)} "
        f"paramvalue={html.escape(value)} page={html.escape(uri)}"
    )
    page = f"<html><head><title>Access forbidden</title></head><body>{text}</body></html>\n"
    return Response(page, status_code=403, media_type="text/html")


def _json(value: Any, status: int = 200) -> Response:
    payload = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Response(payload, status_code=status, media_type="application/json")


def _error_response(error: ApiError, version: FakeVersion) -> Response:
    source = fake_versions.moved_source(version, error.source)
    return _json(error_body(error.status, error.text, source, error.stage, error.extra), error.status)


def _paginate(items: list[Any], call: Call) -> list[Any]:
    limit = call.int_param("limit", 100)
    page = call.int_param("page", 0)
    if limit <= 0:
        return items
    start = limit * max(page, 0)
    return items[start : start + limit]


def _filter_and_sort(
    call: Call,
    records: list[Any],
    columns: Mapping[str, ColumnKind],
    row_of: Callable[[Any], Row],
    *,
    default_sort: str,
    error_prefix: str,
    source: str,
) -> list[Any]:
    memo = call.fake._list_memo if call.fake.cost is not None else None
    memo_key = (
        call.user.id,
        error_prefix,
        tuple(sorted((k, v) for k, v in call.params.items() if k not in _PAGING_PARAMS)),
    )
    if memo is not None and memo_key in memo:
        return memo[memo_key]
    records = _filter_and_sort_now(
        call, records, columns, row_of, default_sort=default_sort, error_prefix=error_prefix, source=source
    )
    if memo is not None:
        memo[memo_key] = records
    return records


# Parameters that pick a page of a list, not which rows it holds.
_PAGING_PARAMS = frozenset({"limit", "page", "properties", "pagination_data"})


def _filter_and_sort_now(
    call: Call,
    records: list[Any],
    columns: Mapping[str, ColumnKind],
    row_of: Callable[[Any], Row],
    *,
    default_sort: str,
    error_prefix: str,
    source: str,
) -> list[Any]:
    sqlfilters = call.param("sqlfilters")
    if sqlfilters:
        sqlfilters = fake_versions.accepted_sqlfilters(call.fake.version, sqlfilters)
    sortfield = call.param("sortfield") or default_sort
    sortorder = (call.param("sortorder") or "ASC").upper()
    sort_fields = split_sort_fields(sortfield)
    limit = call.int_param("limit", 100)
    tail = f" ORDER BY {sortfield} {sortorder}" + (f" LIMIT {limit + 1}" if limit > 0 else "")
    try:
        if sqlfilters:
            predicate = compile_filter(sqlfilters, columns)
            records = [record for record in records if predicate(row_of(record))]
        for name in sort_fields:
            if name not in columns:
                raise SqlFilterSqlError(f"Unknown column '{name}' in 'order clause'")
    except SqlFilterSyntaxError as exc:
        raise ApiError(400, exc.message, source=source) from exc
    except SqlFilterSqlError as exc:
        raise ApiError(503, f"{error_prefix} : {exc.render(tail)}", source=source) from exc
    if sort_fields != [default_sort]:
        records = sorted(
            records, key=lambda record: [sql_sort_key(row_of(record).get(f)) for f in sort_fields]
        )
    if sortorder == "DESC":
        records = list(reversed(records))
    return records


def _body_dict(call: Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    if not isinstance(call.body, dict):
        raise ApiError(400, "Bad Request: body must be an object", stage="validate", source="Validator.php:0")
    return call.body


# ---- proposals ------------------------------------------------------------------------------------


def _get_proposal(
    call: Call, proposal_id: str | int, source: str = "api_proposals.class.php:131"
) -> ProposalRecord:
    proposal = call.fake.proposals.get(_php_int(proposal_id))
    if proposal is None:
        raise ApiError(404, "Commercial Proposal not found", source=source)
    if not call.fake.sees_thirdparty(call.user, proposal.socid):
        raise ApiError(403, f"Access not allowed for login {call.user.login}", source=source)
    return proposal


def _top_level_ids(sqlfilters: str | None, column: str) -> set[int] | None:
    """The ids a top-level ``and`` criterion ``column = n`` / ``column in (...)`` allows, None if none.

    Lets a list read only those rows before the whole filter runs (same answer: the database's index).
    """
    if not sqlfilters:
        return None
    try:
        node = parse_filter(sqlfilters)
    except SqlFilterError:
        return None  # the normal path raises the error Dolibarr gives
    allowed: set[int] | None = None
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, BoolOp):
            if current.op == "and":
                stack += [current.left, current.right]
            continue
        if current.field == column and current.operator in ("=", "in"):
            if not all(isinstance(value, Bare) for value in current.values):
                continue
            ids = {int(value.number) for value in current.values if isinstance(value, Bare)}
            allowed = ids if allowed is None else allowed & ids
    return allowed


def list_proposals(call: Call) -> Any:
    call.require("propal.lire")
    fake = call.fake
    wanted_ids = _top_level_ids(call.param("sqlfilters"), "t.rowid")
    if wanted_ids is None:
        records = list(fake.proposals.values())
    else:
        records = [fake.proposals[i] for i in sorted(wanted_ids) if i in fake.proposals]
    thirdparty_ids = call.param("thirdparty_ids")
    if thirdparty_ids:
        wanted = {_php_int(part) for part in thirdparty_ids.split(",") if part.strip()}
        records = [p for p in records if p.socid in wanted]
    if not fake.user_sees_all(call.user):
        records = [p for p in records if fake.sees_thirdparty(call.user, p.socid)]
    records = _filter_and_sort(
        call,
        records,
        fake.proposal_columns(),
        fake.proposal_row,
        default_sort="t.rowid",
        error_prefix="Error when retrieve propal list",
        source="api_proposals.class.php:235",
    )
    properties = call.param("properties")
    page = [_only_properties(_listed_proposal(fake, p), properties) for p in _paginate(records, call)]
    return fake_versions.paginated(fake.version, call.params, page, len(records))


def _listed_proposal(fake: FakeDolibarr, proposal: ProposalRecord) -> dict[str, Any]:
    """A proposal as a list shows it; kept like ``_list_memo`` when the cost model is on."""
    if fake.cost is None:
        return render_proposal(fake, proposal, "ids")
    key = ("proposal", proposal.id)
    rendered = fake._list_memo.get(key)
    if rendered is None:
        rendered = fake._list_memo[key] = [render_proposal(fake, proposal, "ids")]
    return rendered[0]  # type: ignore[no-any-return]


def get_proposal(call: Call) -> Any:
    call.require("propal.lire")
    proposal = _get_proposal(call, call.path_args[0])
    return _render_single(call, proposal)


def get_proposal_by_ref(call: Call) -> Any:
    call.require("propal.lire")
    if call.fake.version.ref_route_broken:
        # getByRef() calls _fetch(0, $ref), which refuses id 0 before looking (issue #37805)
        raise ApiError(400, "No proposal with id=0 can exist", source="api_proposals.class.php:98")
    proposal = call.fake.proposal_by_ref(unquote(call.path_args[0]))
    if proposal is None:
        raise ApiError(404, "Commercial Proposal not found", source="api_proposals.class.php:131")
    return _render_single(call, _get_proposal(call, proposal.id))


def _render_single(call: Call, proposal: ProposalRecord) -> Any:
    contact_list = call.param("contact_list", "1")
    mode: ContactsMode = "full" if contact_list == "0" else "ids"
    if contact_list == "-1" and call.fake.version.internal_contacts:
        mode = "null"  # 22+: -1 skips the contacts
    return render_proposal(call.fake, proposal, mode, single=True)  # single GET ignores `properties`


def create_proposal(call: Call) -> Any:
    call.require("propal.creer")
    body = _body_dict(call)
    if not body.get("socid"):
        raise ApiError(400, "socid field missing", source="api_proposals.class.php:970")
    fake = call.fake
    raw_date = body.get("date", body.get("datep"))
    date_epoch = fake.now_epoch() if raw_date in (None, "") else _php_int(raw_date)
    duree = (
        _php_int(body["duree_validite"])
        if body.get("duree_validite") not in (None, "")
        else DEFAULT_VALIDITY_DAYS
    )
    proposal = fake.add_proposal(
        _php_int(body["socid"]),
        date=date_epoch,
        duree_validite=duree,
        user_id=call.user.id,
        ref_client=str(body.get("ref_client") or ""),
        note_public=str(body.get("note_public") or ""),
        note_private=str(body.get("note_private") or ""),
        cond_reglement_id=_int_or_none(body.get("cond_reglement_id")),
        mode_reglement_id=_int_or_none(body.get("mode_reglement_id")),
    )
    if isinstance(body.get("array_options"), dict):
        fake.set_proposal_options(
            proposal.id,
            **{
                k.removeprefix("options_"): (None if v is None else str(v))
                for k, v in body["array_options"].items()
            },
        )
    return proposal.id


def update_proposal(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:667")
    call.fake.update_proposal(proposal.id, _body_dict(call), user_id=call.user.id)
    return render_proposal(call.fake, proposal, "ids")


def delete_proposal(call: Call) -> Any:
    call.require("propal.supprimer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:705")
    call.fake.delete_proposal(proposal.id)
    return {"success": {"code": 200, "message": "Commercial Proposal deleted"}}


def _line_from_body(call: Call, proposal: ProposalRecord, data: Mapping[str, Any]) -> int:
    if data.get("product_type") in (None, ""):
        raise ApiError(
            400,
            "Incorrect integer value: '' for column `dolibarr`.`llx_propaldet`.`product_type` at row 1 "
            "sql=INSERT INTO llx_propaldet (fk_propal, fk_parent_line, label, description, fk_product, "
            "product_type, ...)",
            source="api_proposals.class.php:410",
        )
    fk_product = _int_or_none(data.get("fk_product"))
    product = call.fake.products.get(fk_product) if fk_product else None
    line = call.fake.add_proposal_line(
        proposal.id,
        description=str(data.get("desc") or data.get("description") or ""),
        qty=data.get("qty", 1),
        subprice=data.get("subprice", product.price if product else 0),
        tva_tx=data.get("tva_tx", product.tva_tx if product else 20),
        product_type=_php_int(data["product_type"]),
        fk_product=fk_product,
        remise_percent=data.get("remise_percent", 0),
    )
    return line.id


def add_proposal_line(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:410")
    return _line_from_body(call, proposal, _body_dict(call))


def add_proposal_lines(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:463")
    if not isinstance(call.body, list) or not all(isinstance(item, dict) for item in call.body):
        raise ApiError(400, ", Array", source="api_proposals.class.php:463")
    last = 0
    for item in call.body:
        last = _line_from_body(call, proposal, item)
    return last


def get_proposal_lines(call: Call) -> Any:
    call.require("propal.lire")
    proposal = _get_proposal(call, call.path_args[0])
    return [render_line(call.fake, proposal, line) for line in proposal.lines]


def add_proposal_contact(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:600")
    contact_id, type_code = _php_int(call.path_args[1]), call.path_args[2]
    source = call.path_args[3] if len(call.path_args) > 3 else call.param("source", "external") or "external"
    if source == "external" and type_code not in ("BILLING", "SHIPPING", "CUSTOMER"):
        raise ApiError(
            500,
            "Availables external types: BILLING, SHIPPING OR CUSTOMER",
            source="api_proposals.class.php:609",
        )
    if source == "internal" and type_code != "SALESREPFOLL":
        raise ApiError(500, "Availables internal types: SALESREPFOLL", source="api_proposals.class.php:613")
    if source not in ("external", "internal"):
        raise ApiError(500, "Source must be internal or external", source="api_proposals.class.php:605")
    call.fake.link_contact(proposal.id, contact_id, type_code, source)
    return {"success": {"code": 200, "message": "Contact linked to the proposal"}}


def delete_proposal_contact(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:640")
    call.fake.unlink_contact(proposal.id, _php_int(call.path_args[1]), call.path_args[2])
    return {"success": {"code": 200, "message": "Contact unlinked from proposal"}}


def validate_proposal(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:856")
    if not call.fake.validate_proposal(proposal.id, user_id=call.user.id):
        raise NotModified
    return render_proposal(call.fake, proposal, "null")


def close_proposal(call: Call) -> Any:
    call.require("propal.creer")
    body = _body_dict(call)
    status = _php_int(body.get("status"))
    if status > 3:
        raise ApiError(
            400,
            "Invalid value specified for `status`. Maximum allowed value is 3.",
            source="Validator.php:718",
            stage="validate",
        )
    if status < 2:
        raise ApiError(
            400,
            "Invalid value specified for `status`. Minimum allowed value is 2.",
            source="Validator.php:718",
            stage="validate",
        )
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:910")
    call.fake.close_proposal(
        proposal.id, status, note_private=str(body.get("note_private") or ""), user_id=call.user.id
    )
    return render_proposal(call.fake, proposal, "null")


def settodraft_proposal(call: Call) -> Any:
    call.require("propal.creer")
    proposal = _get_proposal(call, call.path_args[0], "api_proposals.class.php:760")
    if proposal.status == 0:
        raise NotModified
    call.fake.set_proposal_draft(proposal.id, user_id=call.user.id)
    return render_proposal(call.fake, proposal, "null")


# ---- third parties, contacts, products ------------------------------------------------------------


def list_thirdparties(call: Call) -> Any:
    call.require("societe.lire")
    fake = call.fake
    records = [tp for tp in fake.thirdparties.values() if fake.sees_thirdparty(call.user, tp.id)]
    records = _filter_and_sort(
        call,
        records,
        _THIRDPARTY_COLUMNS,
        fake.thirdparty_row,
        default_sort="t.rowid",
        error_prefix="Error when retrieve thirdparties",
        source="api_thirdparties.class.php:231",
    )
    page = _paginate(records, call)
    if not page:
        raise ApiError(
            404, fake_versions.thirdparties_not_found(fake.version), source="api_thirdparties.class.php:237"
        )
    rendered = [_only_properties(render_thirdparty(fake, tp), call.param("properties")) for tp in page]
    return fake_versions.paginated(fake.version, call.params, rendered, len(records))


def _get_thirdparty(call: Call, raw_id: str) -> ThirdPartyRecord:
    thirdparty = call.fake.thirdparties.get(_php_int(raw_id))
    if thirdparty is None:
        raise ApiError(404, "Thirdparty not found", source="api_thirdparties.class.php:2021")
    if not call.fake.sees_thirdparty(call.user, thirdparty.id):
        raise ApiError(
            403, f"Access not allowed for login {call.user.login}", source="api_thirdparties.class.php:2025"
        )
    return thirdparty


def get_thirdparty(call: Call) -> Any:
    call.require("societe.lire")
    return render_thirdparty(call.fake, _get_thirdparty(call, call.path_args[0]))


def create_thirdparty(call: Call) -> Any:
    call.require("societe.creer")
    body = _body_dict(call)
    if not body.get("name"):
        raise ApiError(400, "name field missing", source="api_thirdparties.class.php:2000")
    fields = {
        k: v
        for k, v in body.items()
        if k in ThirdPartyRecord.__dataclass_fields__ and k not in ("id", "sales_rep_ids")
    }
    fields["client"] = _php_int(body.get("client", 1))
    fields["code_client"] = str(body.get("code_client") or "")
    if "country_id" in fields:
        fields["country_id"] = _int_or_none(fields["country_id"])
    return call.fake.add_thirdparty(**fields).id


def list_representatives(call: Call) -> Any:
    call.require("societe.lire")
    if call.fake.version.representatives_broken:
        raise ApiError(404, "Thirdparty not found", source="api_thirdparties.class.php:1000")
    thirdparty = _get_thirdparty(call, call.path_args[0])
    users = [call.fake.users[uid] for uid in thirdparty.sales_rep_ids if uid in call.fake.users]
    if call.param("mode") == "1":
        return [user.id for user in users]
    return [render_representative(user) for user in users]


def add_representative(call: Call) -> Any:
    call.require("societe.creer")
    thirdparty = _get_thirdparty(call, call.path_args[0])
    user_id = _php_int(call.path_args[1])
    if user_id not in call.fake.users:
        raise ApiError(404, "User not found", source="api_thirdparties.class.php:1030")
    call.fake.add_sales_rep(thirdparty.id, user_id)
    return 1


def delete_representative(call: Call) -> Any:
    call.require("societe.creer")
    thirdparty = _get_thirdparty(call, call.path_args[0])
    user_id = _php_int(call.path_args[1])
    if user_id in thirdparty.sales_rep_ids:
        thirdparty.sales_rep_ids.remove(user_id)
    return 1


def list_contacts(call: Call) -> Any:
    call.require("societe.contact.lire")
    fake = call.fake
    records = [c for c in fake.contacts.values() if fake.sees_thirdparty(call.user, c.socid)]
    thirdparty_ids = call.param("thirdparty_ids")
    if thirdparty_ids:
        wanted = {_php_int(part) for part in thirdparty_ids.split(",") if part.strip()}
        records = [c for c in records if c.socid in wanted]
    records = _filter_and_sort(
        call,
        records,
        _CONTACT_COLUMNS,
        fake.contact_row,
        default_sort="t.rowid",
        error_prefix="Error when retrieve contacts",
        source="api_contacts.class.php:261",
    )
    page = _paginate(records, call)
    if not page and not fake.version.empty_contacts_as_list:
        raise ApiError(404, "Contacts not found", source="api_contacts.class.php:267")
    return [_only_properties(render_contact(fake, c), call.param("properties")) for c in page]


def get_contact(call: Call) -> Any:
    call.require("societe.contact.lire")
    contact = call.fake.contacts.get(_php_int(call.path_args[0]))
    if contact is None:
        raise ApiError(404, "Contact not found", source="api_contacts.class.php:100")
    if not call.fake.sees_thirdparty(call.user, contact.socid):
        raise ApiError(
            403, f"Access not allowed for login {call.user.login}", source="api_contacts.class.php:104"
        )
    return render_contact(call.fake, contact)


def create_contact(call: Call) -> Any:
    call.require("societe.contact.creer")
    body = _body_dict(call)
    if not body.get("lastname"):
        raise ApiError(400, "lastname field missing", source="api_contacts.class.php:400")
    fields = {
        k: v
        for k, v in body.items()
        if k in ContactRecord.__dataclass_fields__ and k not in ("id", "socid", "lastname")
    }
    return call.fake.add_contact(_int_or_none(body.get("socid")), str(body["lastname"]), **fields).id


def create_product(call: Call) -> Any:
    call.require("produit.creer")
    body = _body_dict(call)
    for required in ("ref", "label"):
        if not body.get(required):
            raise ApiError(400, f"{required} field missing", source="api_products.class.php:300")
    fields = {key: value for key, value in body.items() if key not in ("ref", "label")}
    return call.fake.add_product(str(body["ref"]), str(body["label"]), **fields).id


def list_products(call: Call) -> Any:
    call.require("produit.lire")
    items = [
        {
            "id": str(p.id),
            "ref": p.ref,
            "label": p.label,
            "type": str(p.type),
            "price": _amount(p.price),
            "tva_tx": f"{p.tva_tx:.3f}",
            "description": p.description,
        }
        for p in call.fake.products.values()
    ]
    return [_only_properties(item, call.param("properties")) for item in _paginate(items, call)]


# ---- users, login, status, setup ------------------------------------------------------------------


def login(call: Call) -> Any:
    data = {**call.params, **(call.body if isinstance(call.body, dict) else {})}
    user = call.fake.user_by_login(str(data.get("login") or ""))
    if user is None or user.password != str(data.get("password") or "") or not user.password:
        raise ApiError(403, "Access denied", source="api_login.class.php:150")
    if str(data.get("reset") or "0") == "1":
        user.api_key = secrets.token_hex(16)
    return {
        "success": {
            "code": 200,
            "token": user.api_key,
            "entity": "1",
            "message": f"Welcome {user.login} - This is your token (recorded for your user). You can use "
            "it to make any REST API call, or enter it into the DOLAPIKEY field to use the Dolibarr API "
            "explorer.",
        }
    }


def users_info(call: Call) -> Any:
    call.require("user.self.creer", "user.user.lire", any_of=True)
    return render_user(call.fake, call.user, with_rights=call.param("includepermissions") == "1", in_info=True)


def get_user(call: Call) -> Any:
    user_id = _php_int(call.path_args[0])
    if user_id != call.user.id:
        call.require("user.user.lire")
    user = call.fake.users.get(user_id)
    if user is None:
        raise ApiError(404, "User not found", source="api_users.class.php:150")
    return render_user(call.fake, user, with_rights=call.param("includepermissions") == "1")


def list_users(call: Call) -> Any:
    call.require("user.user.lire")
    fake = call.fake
    records = _filter_and_sort(
        call,
        list(fake.users.values()),
        _USER_COLUMNS,
        fake.user_row,
        default_sort="t.rowid",
        error_prefix="Error when retrieve User list",
        source="api_users.class.php:120",
    )
    return [
        _only_properties(render_user(fake, u), call.param("properties")) for u in _paginate(records, call)
    ]


def _render_group(fake: FakeDolibarr, group: GroupRecord, *, in_user_list: bool = False,
                  with_members: bool = False) -> dict[str, Any]:
    """A UserGroup as the API cleans it. In ``/users/info``'s ``user_group_list``
    (_cleanUserGroupListDatas) ``datec``, ``tms``, ``members`` and ``note`` are removed; elsewhere
    ``members`` is ``[]`` unless loaded, then an object keyed by user id (PHP array keyed by rowid)."""
    obj: dict[str, Any] = {
        "module": None,
        "id": str(group.id),
        "entity": "1",
        "import_key": None,
        "array_options": [],
        "ref": str(group.id),
        "name": group.name,
        "nom": group.name,
        "globalgroup": None,
        "usergroup_entity": [1] if in_user_list else None,
        "note": group.note,
        "datec": datetime.fromtimestamp(group.datec, fake.tz).strftime("%Y-%m-%d %H:%M:%S") if group.datec else None,
        "tms": None,
        "members": [],
    }
    if with_members:
        members = [fake.users[uid] for uid in sorted(group.member_ids) if uid in fake.users]
        obj["members"] = {
            str(user.id): {
                "id": str(user.id),
                "login": user.login,
                "lastname": user.lastname,
                "firstname": user.firstname,
                "email": user.email,
                "statut": str(user.status),
                "status": str(user.status),
                "admin": "1" if user.admin else "0",
                "socid": _str_id(user.socid),
                "entity": "1",
            }
            for user in members
        } or []
    if in_user_list:
        for key in ("datec", "tms", "members", "note"):
            del obj[key]
    return obj


def _require_group_reading(call: Call) -> None:
    # Users::listGroups/infoGroups, without MAIN_USE_ADVANCED_PERMS: user.user.lire or admin
    if not call.user.admin and "user.user.lire" not in call.user.rights:
        raise ApiError(403, "You are not allowed to read groups", source="api_users.class.php:560")


def user_groups(call: Call) -> Any:
    """GET /users/{id}/groups: user.user.lire or admin, even for one's own id (Users::getGroups)."""
    if not call.user.admin and "user.user.lire" not in call.user.rights:
        raise ApiError(403, source="api_users.class.php:470")
    user_id = _php_int(call.path_args[0])
    if user_id not in call.fake.users:
        raise ApiError(404, "user not found", source="api_users.class.php:476")
    return [_render_group(call.fake, group) for group in call.fake.groups_of(user_id)]


def list_groups(call: Call) -> Any:
    _require_group_reading(call)
    fake = call.fake
    records = _filter_and_sort(
        call,
        list(fake.groups.values()),
        _GROUP_COLUMNS,
        fake.group_row,
        default_sort="t.rowid",
        error_prefix="Error when retrieve Group list",
        source="api_users.class.php:600",
    )
    wanted = call.param("group_ids") or "0"
    if wanted != "0":
        ids = {_php_int(part) for part in wanted.split(",") if part}
        records = [group for group in records if group.id in ids]
    return [_only_properties(_render_group(fake, g), call.param("properties")) for g in _paginate(records, call)]


def get_group(call: Call) -> Any:
    _require_group_reading(call)
    group = call.fake.groups.get(_php_int(call.path_args[0]))
    if group is None:
        raise ApiError(404, "Group not found", source="api_users.class.php:650")
    return _render_group(call.fake, group, with_members=call.param("load_members") == "1")


def set_group(call: Call) -> Any:
    """GET /users/{id}/setGroup/{group}: user.user.creer or admin (Users::setGroup)."""
    if not call.user.admin and "user.user.creer" not in call.user.rights:
        raise ApiError(403, "setGroup on users not allowed for login " + call.user.login,
                       source="api_users.class.php:500")
    user_id, group_id = _php_int(call.path_args[0]), _php_int(call.path_args[1])
    if user_id not in call.fake.users:
        raise ApiError(404, "User not found", source="api_users.class.php:505")
    if group_id not in call.fake.groups:  # SetInGroup inserts a dangling link; the fake refuses it
        raise ApiError(500, "", source="api_users.class.php:520")
    call.fake.add_to_group(user_id, group_id)
    return 1


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


def _render_extrafield(record: ExtraFieldRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "type": record.type,
        "label": record.label,
        "size": record.size,
        "elementtype": record.elementtype,
        "default": record.default,
        "computed": None,
        "unique": str(record.unique),
        "required": str(record.required),
        "param": record.param,
        "pos": str(record.pos),
        "alwayseditable": str(record.alwayseditable),
        "perms": None,
        "list": record.list,
        "printable": str(record.printable),
        "totalizable": str(record.totalizable),
        "langs": None,
        "help": record.help,
        "css": None,
        "cssview": None,
        "csslist": None,
        "fk_user_author": str(record.user_id),
        "fk_user_modif": str(record.user_id),
        "datec": record.datec,
        "tms": record.datec,
    }


def list_extrafields(call: Call) -> Any:
    call.require_admin()
    elementtype = call.param("elementtype")
    result: dict[str, dict[str, Any]] = {}
    for element, fields in call.fake.extrafields.items():
        if elementtype and element != elementtype:
            continue
        for name, record in fields.items():
            result.setdefault(element, {})[name] = _render_extrafield(record)
    return result or []


def get_extrafield(call: Call) -> Any:
    call.require_admin()
    element, name = call.path_args
    record = call.fake.extrafields.get(element, {}).get(name)
    if record is None:
        raise ApiError(
            404, "Extrafield not found from attrname and elementtype", source="api_setup.class.php:1237"
        )
    return {element: {name: _render_extrafield(record)}}


def create_extrafield(call: Call) -> Any:
    call.require_admin()
    element, name = call.path_args
    body = _body_dict(call)
    if not body.get("label"):
        raise ApiError(400, "label field missing", source="api_setup.class.php:1300")
    if name in call.fake.extrafields.get(element, {}):
        raise ApiError(
            409,
            f"Extrafield with name {name} and elementtype {element} already exists",
            source="api_setup.class.php:1290",
        )
    options = {
        key: (str(value) if key in ("size", "list", "param", "help") else _php_int(value))
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
    rows = [dict(row) for row in CONTACT_TYPES if call.param("type") in (None, "", row["type"])]
    row_of: Callable[[dict[str, Any]], Row] = lambda row: {  # noqa: E731
        "t.rowid": int(row["rowid"]),
        "t.element": row["type"],
        "t.source": row["source"],
        "t.code": row["code"],
        "t.libelle": row["label"],
        "t.active": 1,
        "t.module": row["module"],
        "t.position": 0,
    }
    rows = _filter_and_sort(
        call,
        rows,
        _CONTACT_TYPE_COLUMNS,
        row_of,
        default_sort="t.rowid",
        error_prefix="Error when retrieving list of contacts types",
        source="api_setup.class.php:969",
    )
    return _paginate(rows, call)


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
    return _paginate(rows, call)


# ---- agenda events --------------------------------------------------------------------------------


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
    elements = _top_level_ids(call.param("sqlfilters"), "t.fk_element")
    records = [
        event
        for event in fake.events.values()
        if (elements is None or event.fk_element in elements) and _event_visible(call, event)
    ]
    user_ids = call.param("user_ids")
    if user_ids:
        owners = {_php_int(part) for part in user_ids.split(",") if part.strip()}
        records = [event for event in records if event.userownerid in owners]
    records = _filter_and_sort(
        call,
        records,
        _EVENT_COLUMNS,
        fake.event_row,
        default_sort="t.id",
        error_prefix="Error when retrieve Agenda Event list",
        source="api_agendaevents.class.php:170",
    )
    properties = call.param("properties")
    page = [
        _only_properties(render_event(fake, event, in_list=True), properties)
        for event in _paginate(records, call)
    ]
    return fake_versions.paginated(fake.version, call.params, page, len(records))


def _get_event(call: Call, raw_id: str) -> AgendaEventRecord:
    event = call.fake.events.get(_php_int(raw_id))
    if event is None:
        raise ApiError(404, "Agenda Event not found", source="api_agendaevents.class.php:80")
    if not _event_visible(call, event):
        raise ApiError(
            403, f"Access not allowed for login {call.user.login}", source="api_agendaevents.class.php:84"
        )
    return event


def get_event(call: Call) -> Any:
    call.require("agenda.myactions.read")
    return render_event(call.fake, _get_event(call, call.path_args[0]))


def _assigned(value: Any) -> dict[int, dict[str, str]]:
    if isinstance(value, dict):
        return {_php_int(key): {} for key in value}
    if isinstance(value, list):
        return {_php_int(item.get("id") if isinstance(item, dict) else item): {} for item in value}
    return {}


_EMAIL_FIELDS = (
    "email_msgid",
    "email_from",
    "email_sender",
    "email_to",
    "email_tocc",
    "email_tobcc",
    "email_subject",
    "errors_to",
)


def _refuse_other_owner(call: Call, body: dict[str, Any], source: str) -> None:
    """POST and PUT /agendaevents: without agenda.allactions.create the body's ``userownerid`` must be the
    API user's own id, checked before the event is even read (api_agendaevents.class.php)."""
    call.require("agenda.myactions.create")
    if call.user.has_right("agenda.allactions.create"):
        return
    owner = body.get("userownerid")
    if owner is None or _php_int(owner) != call.user.id:
        shown = "" if owner is None else str(owner)
        raise ApiError(
            403,
            f"Insufficient rights to create an Agenda Event for owner id {shown} Your id is {call.user.id}",
            source=source,
        )


def create_event(call: Call) -> Any:
    body = _body_dict(call)
    _refuse_other_owner(call, body, "api_agendaevents.class.php:210")
    owner = _int_or_none(body.get("userownerid"))
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
    element_id = _int_or_none(body.get("fk_element", body.get("elementid")))
    event = call.fake.add_event(
        type_code=type_code,
        code=str(body.get("code") or type_code),
        label=str(body.get("label") or ""),
        note=str(body.get("note") if body.get("note") is not None else body.get("note_private") or ""),
        datep=_php_int(body["datep"]) if body.get("datep") not in (None, "") else None,
        datef=_php_int(body["datef"]) if body.get("datef") not in (None, "") else None,
        percentage=_php_int(body.get("percentage", 0)),
        userownerid=owner,
        authorid=call.user.id,
        socid=_int_or_none(body.get("socid")),
        contact_id=_int_or_none(body.get("contact_id")),
        elementtype=body.get("elementtype") or None,
        fk_element=element_id,
        userassigned=_assigned(body.get("userassigned")) or None,
        socpeopleassigned=_assigned(body.get("socpeopleassigned")) or None,
        fulldayevent=_php_int(body.get("fulldayevent", 0)),
        location=str(body.get("location") or ""),
        priority=_php_int(body.get("priority", 0)),
        **{key: (None if body.get(key) is None else str(body[key])) for key in _EMAIL_FIELDS},
    )
    if isinstance(body.get("array_options"), dict):
        event.array_options = dict(body["array_options"])
    return event.id


def update_event(call: Call) -> Any:
    body = _body_dict(call)
    _refuse_other_owner(call, body, "api_agendaevents.class.php:280")
    event = _get_event(call, call.path_args[0])
    if "userownerid" in body:
        event.userownerid = _int_or_none(body["userownerid"])
    for key in ("label", "location", "code"):
        if key in body and body[key] is not None:
            setattr(event, key, str(body[key]))
    if "note" in body or "note_private" in body:
        event.note = str(body.get("note", body.get("note_private")) or "")
    for key in ("datep", "datef"):
        if key in body:
            setattr(event, key, _int_or_none(body[key]))
    for key in ("percentage", "fulldayevent", "priority"):
        if key in body:
            setattr(event, key, _php_int(body[key]))
    if "type_code" in body and body["type_code"] in EVENT_TYPES:
        event.type_code = str(body["type_code"])
    for key in ("socid", "contact_id"):
        if key in body:
            setattr(event, key, _int_or_none(body[key]))
    if "fk_element" in body or "elementid" in body:
        event.fk_element = _int_or_none(body.get("fk_element", body.get("elementid")))
    if "elementtype" in body:
        event.elementtype = body["elementtype"] or None
    for key in _EMAIL_FIELDS:
        if key in body:
            setattr(event, key, None if body[key] is None else str(body[key]))
    if isinstance(body.get("array_options"), dict):
        event.array_options = dict(body["array_options"])  # 20.0.x replaces the whole array
    event.usermodid = call.user.id
    event.datem = call.fake.now_epoch()
    return render_event(call.fake, event)


def delete_event(call: Call) -> Any:
    event = _get_event(call, call.path_args[0])
    if event.userownerid == call.user.id:
        call.require("agenda.myactions.delete")
    else:
        call.require("agenda.allactions.delete")
    del call.fake.events[event.id]
    return {"success": {"code": 200, "message": "Agenda Event deleted"}}


# ---- documents ------------------------------------------------------------------------------------

_PROPOSAL_MODULEPARTS = ("propal", "proposal", "propale")


def _check_modulepart(modulepart: str | None, allowed: Sequence[str] = _PROPOSAL_MODULEPARTS) -> None:
    if modulepart not in allowed:
        raise ApiError(
            400, f"Modulepart {modulepart} not implemented yet.", source="api_documents.class.php:500"
        )


def list_documents(call: Call) -> Any:
    _check_modulepart(call.param("modulepart"))
    call.require("propal.lire")
    fake = call.fake
    proposal: ProposalRecord | None = None
    if call.param("id"):
        proposal = fake.proposals.get(_php_int(call.param("id")))
    elif call.param("ref"):
        proposal = fake.proposal_by_ref(str(call.param("ref")))
    else:
        raise ApiError(400, "bad value for parameter id or ref", source="api_documents.class.php:330")
    if proposal is None:
        raise ApiError(404, "Proposal not found", source="api_documents.class.php:384")
    files = fake.proposal_files(proposal)
    if not files:
        raise ApiError(
            404,
            f"Search for modulepart {call.param('modulepart')} with Id {proposal.id} or Ref {proposal.ref} "
            "does not return any document.",
            source="api_documents.class.php:660",
        )
    if call.param("sortfield"):
        # The API passes sortorder as a string where dol_dir_list expects SORT_ASC: it always sorts DESC.
        key = call.param("sortfield")
        files.sort(
            key=lambda f: f.date if key == "date" else len(f.content) if key == "size" else f.name.lower(),
            reverse=True,
        )
    else:
        files.sort(key=lambda f: f.name.lower())
    directory = sanitize_filename(proposal.ref)
    entries = [
        fake_versions.reshape_document(fake.version, render_file(fake, directory, stored), _content_type(stored.name))
        for stored in files
    ]
    return fake_versions.paginated(fake.version, call.params, entries, len(entries))


def _find_file(call: Call, original_file: str | None) -> tuple[ProposalRecord, str, StoredFile]:
    if not original_file or "/" not in original_file:
        raise ApiError(400, "bad value for parameter original_file", source="api_documents.class.php:120")
    directory, name = original_file.rsplit("/", 1)
    proposal = call.fake.proposal_by_ref(directory)
    stored = call.fake.files.get(directory, {}).get(name)
    if proposal is None or stored is None:
        raise ApiError(
            404,
            f"File not found (file {call.fake.data_root}/propale/{original_file})",
            source="api_documents.class.php:140",
        )
    return proposal, directory, stored


def download_document(call: Call) -> Any:
    _check_modulepart(call.param("modulepart"), ("propal", "propale"))
    call.require("propal.lire")
    _proposal, _directory, stored = _find_file(call, call.param("original_file"))
    return {
        "filename": stored.name,
        "content-type": _content_type(stored.name),
        "filesize": len(stored.content),
        "content": base64.b64encode(stored.content).decode("ascii"),
        "encoding": "base64",
    }


def delete_document(call: Call) -> Any:
    _check_modulepart(call.param("modulepart"), ("propal", "propale"))
    call.require("propal.creer")
    proposal, directory, stored = _find_file(call, call.param("original_file"))
    del call.fake.files[directory][stored.name]
    if proposal.last_main_doc and proposal.last_main_doc.endswith(f"{directory}/{stored.name}"):
        proposal.last_main_doc = None
        proposal.row_cache = None
    return {"success": {"code": 200, "message": "Document deleted"}}


def builddoc(call: Call) -> Any:
    body = _body_dict(call)
    _check_modulepart(body.get("modulepart"), ("propal", "propale"))
    call.require("propal.creer")
    original_file = str(body.get("original_file") or "")
    ref = original_file.rsplit("/", 1)[-1].removesuffix(".pdf")
    proposal = call.fake.proposal_by_ref(ref)
    if proposal is None:
        raise ApiError(404, "Proposal not found", source="api_documents.class.php:225")
    stored = call.fake.build_proposal_pdf(proposal.id, user_id=call.user.id)
    return {
        "filename": stored.name,
        "content-type": "application/pdf",
        "filesize": len(stored.content),
        "content": base64.b64encode(stored.content).decode("ascii"),
        "langcode": body.get("langcode") or "fr_FR",
        "template": body.get("doctemplate") or "azur",
        "encoding": "base64",
    }


def upload_document(call: Call) -> Any:
    body = _body_dict(call)
    _check_modulepart(body.get("modulepart"))
    call.require("propal.creer")
    proposal = call.fake.proposal_by_ref(str(body.get("ref") or ""))
    if proposal is None:
        raise ApiError(404, "Proposal not found", source="api_documents.class.php:900")
    if not body.get("filename"):
        raise ApiError(400, "Bad value for parameter filename", source="api_documents.class.php:850")
    raw = str(body.get("filecontent") or "")
    try:
        content = (
            base64.b64decode(raw, validate=True) if body.get("fileencoding") == "base64" else raw.encode()
        )
    except ValueError as exc:
        raise ApiError(500, "Failed to decode file content", source="api_documents.class.php:980") from exc
    stored = call.fake.upload_file(
        proposal.id,
        str(body["filename"]),
        content,
        overwrite=bool(_php_int(body.get("overwriteifexists", 0))),
        user_id=call.user.id,
    )
    return stored.name


# ---- the app --------------------------------------------------------------------------------------


def _build_router(version: FakeVersion) -> _Router:
    router = _Router()
    add = router.add
    add("GET", "/login", login)
    add("POST", "/login", login)
    add("GET", "/status", status)
    add("GET", "/proposals", list_proposals)
    add("POST", "/proposals", create_proposal)
    add("GET", "/proposals/ref/{ref}", get_proposal_by_ref)
    add("GET", "/proposals/{id}", get_proposal)
    add("PUT", "/proposals/{id}", update_proposal)
    add("DELETE", "/proposals/{id}", delete_proposal)
    add("POST", "/proposals/{id}/line", add_proposal_line)
    add("POST", "/proposals/{id}/lines", add_proposal_lines)
    add("GET", "/proposals/{id}/lines", get_proposal_lines)
    if version.contact_source_in_query:
        add("POST", "/proposals/{id}/contact/{contactid}/{type}", add_proposal_contact)
    else:
        add("POST", "/proposals/{id}/contact/{contactid}/{type}/{source}", add_proposal_contact)
    add("DELETE", "/proposals/{id}/contact/{contactid}/{type}", delete_proposal_contact)
    add("POST", "/proposals/{id}/validate", validate_proposal)
    add("POST", "/proposals/{id}/close", close_proposal)
    add("POST", "/proposals/{id}/settodraft", settodraft_proposal)
    add("GET", "/thirdparties", list_thirdparties)
    add("POST", "/thirdparties", create_thirdparty)
    add("GET", "/thirdparties/{id}", get_thirdparty)
    add("GET", "/thirdparties/{id}/representatives", list_representatives)
    add("POST", "/thirdparties/{id}/representative/{userid}", add_representative)
    add("DELETE", "/thirdparties/{id}/representative/{userid}", delete_representative)
    add("GET", "/contacts", list_contacts)
    add("POST", "/contacts", create_contact)
    add("GET", "/contacts/{id}", get_contact)
    add("GET", "/products", list_products)
    add("POST", "/products", create_product)
    add("GET", "/users/info", users_info)
    add("GET", "/users/groups", list_groups)
    add("GET", "/users/groups/{group}", get_group)
    add("GET", "/users/{id}/groups", user_groups)
    add("GET", "/users/{id}/setGroup/{group}", set_group)
    add("GET", "/users", list_users)
    add("GET", "/users/{id}", get_user)
    add("GET", "/setup/company", setup_company)
    add("GET", "/setup/extrafields", list_extrafields)
    add("GET", "/setup/extrafields/{elementtype}/{attrname}", get_extrafield)
    add("POST", "/setup/extrafields/{elementtype}/{attrname}", create_extrafield)
    add("GET", "/setup/dictionary/contact_types", dictionary_contact_types)
    add("GET", "/setup/dictionary/event_types", dictionary_event_types)
    add("GET", "/agendaevents", list_events)
    add("POST", "/agendaevents", create_event)
    add("GET", "/agendaevents/{id}", get_event)
    add("PUT", "/agendaevents/{id}", update_event)
    add("DELETE", "/agendaevents/{id}", delete_event)
    add("GET", "/documents", list_documents)
    add("DELETE", "/documents", delete_document)
    add("GET", "/documents/download", download_document)
    add("PUT", "/documents/builddoc", builddoc)
    add("POST", "/documents/upload", upload_document)
    return router


_NO_AUTH = {"/login"}
# An error or a 304: the request is paid for, no object is.
_UNCHARGED = Charge("error or nothing to do")


def create_app(fake: FakeDolibarr) -> Starlette:
    """The ASGI app; routes live under ``/api/index.php/``."""
    router = _build_router(fake.version)

    async def dispatch(request: Request) -> Response:
        if fake.cost is None:
            return await serve(request)
        if fake._costs is None or fake._costs.model != fake.cost:
            fake._costs = RequestCosts(fake.cost)
        if request.method.upper() != "GET":
            fake._list_memo.clear()
        return await fake._costs.serve(lambda: serve(request), lambda _: getattr(request.state, "charge", _UNCHARGED))

    async def serve(request: Request) -> Response:
        method = request.method.upper()
        path = "/" + request.path_params.get("path", "")
        path = path.rstrip("/") or "/"
        params = dict(request.query_params)
        fake.requests.append(RequestLogEntry(method, path, params))

        if fake.latency:
            await asyncio.sleep(fake.latency)
        if fake._hang_queue:
            await fake._hang(fake._hang_queue.pop(0))
        hang = fake._take_hang(method, path) if fake._targeted_hangs else None
        if hang is not None:
            await fake._hang(hang)
        injected = fake._take_failure(method, path) if fake._fail_queue else None
        if injected is not None:
            return _json(error_body(injected, "Injected failure", "fake_dolibarr.py:0"), injected)

        # WAF (main.inc.php runs before the API): checks the decoded path and query string.
        if any(char in _WAF_PATH_CHARS for char in path):
            return _waf_page(2, "PHP_SELF", path, str(request.url.path))
        for name, value in request.query_params.multi_items():
            if _WAF_QUERY_RE.search(value) or '"' in name:
                return _waf_page(1, name, value, f"{request.url.path}?{request.url.query}")

        raw_body = await request.body()
        body: Any = None
        if raw_body.strip():
            try:
                body = json.loads(raw_body)
            except ValueError:
                return _json(
                    error_body(
                        400, "Error encoding/decoding JSON: Syntax error", "JsonFormat.php:154", "setup"
                    ),
                    400,
                )

        resource = path.strip("/").split("/", 1)[0]
        route, args, other_method = router.match(method, path)
        if route is None:
            if resource not in _KNOWN_RESOURCES:
                return Response(
                    "API not found (failed to include API file)", status_code=501, media_type="text/plain"
                )
            status_code = 405 if other_method else 404
            return _json(error_body(status_code, "", "Routes.php:457", "route"), status_code)

        user: UserRecord | None = None
        if path not in _NO_AUTH:
            key: str | None = (
                request.headers.get("DOLAPIKEY") or params.get("DOLAPIKEY") or params.get("api_key")
            )
            if not key:
                return _json(
                    error_body(
                        401,
                        "Failed to login to API. No parameter 'HTTP_DOLAPIKEY' on HTTP header "
                        "(and no parameter DOLAPIKEY in URL).",
                        "api_access.class.php:206",
                        "authenticate",
                    ),
                    401,
                )
            user = fake.user_by_key(key)
            if user is None:
                if fake.bad_key_delay:
                    await asyncio.sleep(fake.bad_key_delay)
                return _json(
                    error_body(
                        401,
                        "Error user not valid (not found with api key or bad status or bad validity dates) "
                        "(conf->entity=1)",
                        "api_access.class.php:170",
                        "authenticate",
                    ),
                    401,
                )
        call = Call(fake, user or fake.admin_user, params, body, tuple(unquote(arg) for arg in args), method)
        try:
            result = route.handler(call)
            request.state.charge = charge_of(route.kind, result)
        except NotModified:
            return Response(b"", status_code=304)
        except ApiError as error:
            return _error_response(error, fake.version)
        finally:
            if method != "GET":
                fake._list_memo.clear()
        hang_after = fake._take_hang_after_applying(method, path) if fake._hangs_after_applying else None
        if hang_after is not None:  # applied: the answer is what never comes
            await fake._hang(hang_after)
        return _json(result)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[Route(API_BASE + "/{path:path}", dispatch, methods=methods)])


_EVENT_COLUMN_VALUES: dict[str, Callable[[FakeDolibarr, AgendaEventRecord], RowValue]] = {
    "t.id": lambda fake, e: e.id,
    "t.ref": lambda fake, e: str(e.id),
    "t.entity": lambda fake, e: 1,
    "t.code": lambda fake, e: e.code,
    "t.fk_action": lambda fake, e: EVENT_TYPES.get(e.type_code, (0,))[0],
    "t.label": lambda fake, e: e.label,
    "t.note": lambda fake, e: e.note,
    "t.datep": lambda fake, e: fake.local_naive(e.datep),
    "t.datep2": lambda fake, e: fake.local_naive(e.datef),
    "t.datec": lambda fake, e: fake.local_naive(e.datec),
    "t.tms": lambda fake, e: fake.local_naive(e.datem),
    "t.percent": lambda fake, e: e.percentage,
    "t.fk_element": lambda fake, e: e.fk_element,
    "t.elementtype": lambda fake, e: e.elementtype,
    "t.fk_soc": lambda fake, e: e.socid,
    "t.fk_contact": lambda fake, e: e.contact_id,
    "t.fk_project": lambda fake, e: e.fk_project,
    "t.fk_user_action": lambda fake, e: e.userownerid,
    "t.fk_user_author": lambda fake, e: e.authorid,
    "t.fk_user_mod": lambda fake, e: e.usermodid,
    "t.fulldayevent": lambda fake, e: e.fulldayevent,
    "t.location": lambda fake, e: e.location,
    "t.priority": lambda fake, e: e.priority,
    "t.email_msgid": lambda fake, e: e.email_msgid,
    "t.email_from": lambda fake, e: e.email_from,
    "t.email_to": lambda fake, e: e.email_to,
    "t.email_subject": lambda fake, e: e.email_subject,
}


class _LazyEventRow(Mapping[str, RowValue]):
    """An event as a table row whose columns are computed when a filter or a sort reads them."""

    __slots__ = ("_event", "_fake")

    def __init__(self, fake: FakeDolibarr, event: AgendaEventRecord) -> None:
        self._fake = fake
        self._event = event

    def __getitem__(self, column: str) -> RowValue:
        return _EVENT_COLUMN_VALUES[column](self._fake, self._event)

    def __iter__(self) -> Iterator[str]:
        return iter(_EVENT_COLUMN_VALUES)

    def __len__(self) -> int:
        return len(_EVENT_COLUMN_VALUES)
