"""Pydantic models of what Dolibarr sends, absorbing its quirks, and their conversion to domain values.

Quirks absorbed here (see ``shared/dolibarr/API.md``): ids and amounts as strings
(``"12"``, ``"1092.00000000"``); empty dates as ``""``, ``null`` or ``0``; epoch seconds whose
date-only values (proposal ``date``, ``fin_validite``) are midnight in the *server* timezone;
``array_options`` that is ``[]`` when empty; ``contacts_ids`` that is null, a list of ids or a list
of rows; HTML in signatures and notes; ``rights`` nested objects with ``1``/``"1"``/``true``.
Unknown keys are ignored.

Values are checked to sane ranges here, at the boundary, so nothing downstream ever sees
``NaN``, ``Infinity``, an amount of 10^999 or the year 9999: amounts are finite, below
:data:`MAX_AMOUNT` and kept to 8 decimals (Dolibarr's own precision); dates fall within
:data:`MIN_YEAR`..:data:`MAX_YEAR`; texts are at most :data:`MAX_TEXT_LENGTH` characters.
Lists are parsed row by row (:func:`parse_rows`): a row that cannot be understood is set aside as a
:class:`RejectedRow` naming the object, the field, the value and what to fix in Dolibarr, and the
other rows go on.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from dolirelance.domain import (
    AgendaEvent,
    Company,
    Contact,
    Customer,
    Document,
    DolibarrStatus,
    ExtraField,
    Quote,
    QuoteContact,
    QuoteStatus,
    User,
    UserGroup,
)
from dolirelance.errors import DolibarrResponseError

# ---------------------------------------------------------------------------- sane ranges

# Amounts: Dolibarr stores DOUBLE(24,8); no quote reaches a thousand billion, and babel formats
# anything below instantly. Above it is a data error (or "1e999999999", which hangs formatting).
MAX_AMOUNT = Decimal("1e15")
_AMOUNT_PLACES = Decimal("1e-8")
# Dates: before 1900 or after 2199 is a typing error in Dolibarr, and adding a step's offset to
# a date near year 9999 overflows.
MIN_YEAR = 1900
MAX_YEAR = 2199
_MIN_EPOCH = int(datetime(MIN_YEAR, 1, 2, tzinfo=UTC).timestamp())
_MAX_EPOCH = int(datetime(MAX_YEAR, 12, 30, tzinfo=UTC).timestamp())
# Texts: MySQL's TEXT column holds 65,535 bytes; PostgreSQL has no limit, we keep the same.
MAX_TEXT_LENGTH = 65_535
# Ids: Dolibarr's rowid columns are signed 64-bit integers.
_MAX_ID = 2**63 - 1

# ---------------------------------------------------------------------------- value coercions


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _to_int(value: object) -> object:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            if len(stripped) > 20:
                raise ValueError("number out of range")
            value = int(stripped)
    if isinstance(value, int) and abs(value) > _MAX_ID:
        raise ValueError("number out of range")
    return value


def _to_opt_int(value: object) -> object:
    return None if _blank(value) else _to_int(value)


def _to_opt_id(value: object) -> object:
    """Foreign keys: ``""``, ``null``, ``0`` and ``"0"`` all mean "none"."""
    value = _to_opt_int(value)
    return None if value == 0 else value


def _to_decimal(value: object) -> object:
    if _blank(value):
        return Decimal(0)
    if isinstance(value, bool):
        raise ValueError("expected an amount, got true/false")
    if isinstance(value, float):
        value = Decimal(str(value))
    elif isinstance(value, (int, str)):
        try:
            value = Decimal(str(value).strip()[:100])
        except InvalidOperation:
            raise ValueError("not a number") from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("not a finite amount")
        if value.copy_abs() >= MAX_AMOUNT:  # copy_abs: no rounding, so no Overflow on 1e999999999
            raise ValueError(f"amount out of range (at most {MAX_AMOUNT:,.0f})")
        try:
            return value.quantize(_AMOUNT_PLACES)
        except ArithmeticError:
            raise ValueError("amount cannot be kept to 8 decimals") from None
    return value


def _to_epoch(value: object) -> object:
    """Epoch seconds or None; ``""``, ``null``, ``0`` mean "no date"; out of range is an error."""
    value = _to_opt_int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a date")
        value = int(value)
    if isinstance(value, str):
        raise ValueError("not a date (expected seconds since 1970)")
    if isinstance(value, int) and value != 0 and not _MIN_EPOCH <= value <= _MAX_EPOCH:
        raise ValueError(f"date out of range (years {MIN_YEAR} to {MAX_YEAR})")
    return None if value == 0 else value


def _to_text(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"text longer than {MAX_TEXT_LENGTH:,} characters")
    return value


def _to_ref(value: object) -> object:
    if _blank(value):
        raise ValueError("empty reference")
    return _to_text(value)


def _to_opt_text(value: object) -> object:
    return None if _blank(value) else _to_text(value)


def _to_flag(value: object) -> object:
    if _blank(value):
        return False
    if isinstance(value, str):
        return value.strip() not in ("0", "false", "")
    if isinstance(value, (int, float)):
        return value != 0
    return value


def _to_options(value: object) -> object:
    # PHP serializes an empty array as [] and a filled one as an object
    if value is None or (isinstance(value, list) and not value):
        return {}
    return value


def _to_keyed(value: object) -> object:
    """Objects keyed by id (``userassigned``, ``socpeopleassigned``); ``[]`` when empty."""
    if value is None or (isinstance(value, list) and not value):
        return {}
    if isinstance(value, list):  # a list of ids, as some versions accept on input
        return {str(item): {} for item in value}
    return value


WireInt = Annotated[int, BeforeValidator(_to_int)]
OptInt = Annotated[int | None, BeforeValidator(_to_opt_int)]
OptId = Annotated[int | None, BeforeValidator(_to_opt_id)]
Money = Annotated[Decimal, BeforeValidator(_to_decimal)]
Epoch = Annotated[int | None, BeforeValidator(_to_epoch)]
RequiredEpoch = Annotated[int, BeforeValidator(_to_epoch)]
Status = Annotated[QuoteStatus, BeforeValidator(_to_int)]
Text = Annotated[str, BeforeValidator(_to_text)]
Ref = Annotated[str, BeforeValidator(_to_ref)]
OptText = Annotated[str | None, BeforeValidator(_to_opt_text)]
Flag = Annotated[bool, BeforeValidator(_to_flag)]
Options = Annotated[dict[str, Any], BeforeValidator(_to_options)]
Keyed = Annotated[dict[str, Any], BeforeValidator(_to_keyed)]


def epoch_to_date(epoch: int | None, tz: ZoneInfo) -> date | None:
    """A date-only field: Dolibarr stores server-local midnight, so read the day in that timezone."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz).date()


def epoch_to_datetime(epoch: int | None, tz: ZoneInfo) -> datetime | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).astimezone(tz)


# A tag: a name, then attributes or the end. An address in angle brackets ("Jean <jean@client.fr>",
# "550 5.1.1 <jean@client.fr>: User unknown") is text, kept.
_TAG = re.compile(r"<!--.*?-->|<\s*/?\s*[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?\s*>", re.DOTALL)
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)


def html_to_text(value: str) -> str:
    """Dolibarr's restricted HTML (signatures, notes) as plain text: line breaks kept, tags dropped."""
    if not value:
        return ""
    text = _BREAK.sub("\n", value)
    text = _TAG.sub("", text)
    text = html.unescape(text).replace("\xa0", " ").replace("\r\n", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip()


def flatten_rights(rights: Mapping[str, Any], prefix: str = "") -> frozenset[str]:
    """``{"propal": {"lire": 1}, "agenda": {"allactions": {"create": "1"}}}`` → dotted names granted."""
    granted: set[str] = set()
    for key, value in rights.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            granted |= flatten_rights(value, f"{name}.")
        elif value is True or value == 1 or value == "1":
            granted.add(name)
    return frozenset(granted)


# ---------------------------------------------------------------------------- models


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class WireQuoteContact(WireModel):
    """A row of ``contacts_ids`` with ``contact_list=0`` (CommonObject::liste_contact)."""

    id: WireInt
    code: Text = ""
    source: Text = "external"
    firstname: Text = ""
    lastname: Text = ""
    email: OptText = None
    civility: OptText = None
    statuscontact: OptInt = None

    def to_domain(self) -> QuoteContact:
        return QuoteContact(
            contact_id=self.id,
            type_code=self.code,
            source=self.source,
            firstname=self.firstname,
            lastname=self.lastname,
            email=self.email,
            civility=self.civility,
            active=self.statuscontact != 0,
        )


class WireQuote(WireModel):
    id: WireInt
    ref: Ref
    socid: OptId = None
    status: Status = Field(validation_alias=AliasChoices("status", "statut"))
    date: Epoch = None
    datep: Epoch = None
    fin_validite: Epoch = None
    total_ht: Money = Decimal(0)
    total_tva: Money = Decimal(0)
    total_ttc: Money = Decimal(0)
    multicurrency_code: OptText = None
    ref_client: Text = Field("", validation_alias=AliasChoices("ref_client", "ref_customer"))
    array_options: Options = {}
    last_main_doc: OptText = None
    user_author_id: OptId = Field(None, validation_alias=AliasChoices("user_author_id", "user_author"))
    note_public: Text = ""
    date_signature: Epoch = None
    date_modification: Epoch = Field(None, validation_alias=AliasChoices("date_modification", "tms"))
    date_validation: Epoch = None
    # null, bare ids (the default: no type, skipped) or rows (with contact_list=0)
    contacts_ids: list[WireQuoteContact | WireInt] | None = None
    # Dolibarr 22+: the users linked to the quote (SALESREPFOLL...), in the same forms
    contacts_ids_internal: list[WireQuoteContact | WireInt] | None = None

    def contact_rows(self) -> list[WireQuoteContact]:
        external = [item for item in self.contacts_ids or [] if isinstance(item, WireQuoteContact)]
        internal = [
            item.model_copy(update={"source": "internal"})
            for item in self.contacts_ids_internal or []
            if isinstance(item, WireQuoteContact)
        ]
        return external + internal

    def contact_ids(self) -> tuple[int, ...]:
        """Every external contact's id, from bare ids (lists) or rows (``contact_list=0``)."""
        ids = (
            item.id if isinstance(item, WireQuoteContact) else item
            for item in self.contacts_ids or []
            if not isinstance(item, WireQuoteContact) or item.source == "external"
        )
        return tuple(dict.fromkeys(ids))

    def to_domain(self, tz: ZoneInfo, *, opt_out_field: str = "norelance") -> Quote:
        contacts = sorted(
            (row.to_domain() for row in self.contact_rows()),
            # CUSTOMER external contacts first, the rest in Dolibarr's order (sorted is stable)
            key=lambda c: not (c.source == "external" and c.type_code == "CUSTOMER"),
        )
        return Quote(
            id=self.id,
            ref=self.ref,
            customer_id=self.socid or 0,
            status=self.status,
            issue_date=epoch_to_date(self.date or self.datep, tz),
            end_of_validity=epoch_to_date(self.fin_validite, tz),
            total_excl_tax=self.total_ht,
            total_tax=self.total_tva,
            total_incl_tax=self.total_ttc,
            # single-currency installs still fill multicurrency_code with the main currency
            currency=self.multicurrency_code or "EUR",
            customer_ref=self.ref_client,
            opt_out=bool(_to_flag(self.array_options.get(f"options_{opt_out_field}"))),
            main_document=proposal_relative_path(self.last_main_doc),
            author_id=self.user_author_id,
            note_public=html_to_text(self.note_public),
            signed_on=epoch_to_date(self.date_signature, tz),
            changed_at=epoch_to_datetime(self.date_modification or self.date_validation, tz),
            contacts=tuple(contacts),
            contact_ids=self.contact_ids(),
        )


_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str, *, fallback: str = "document") -> str:
    """A file name Dolibarr stores as given and any file system accepts: letters, digits, ``._-``;
    no path, no leading dot, a stem of at most 100 characters (the extension kept)."""
    stem, dot, extension = name.rpartition(".")  # slashes become "_" below: no path survives
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", extension):
        stem, extension = name, ""
    clean_stem = _UNSAFE_IN_FILE_NAME.sub("_", stem).strip("._-")[:100] or fallback
    return f"{clean_stem}.{extension}" if extension else clean_stem


def proposal_relative_path(last_main_doc: str | None) -> str | None:
    """``propale/PR1/PR1.pdf`` (or ``2/propale/...`` for entity 2) → ``PR1/PR1.pdf``."""
    if not last_main_doc:
        return None
    marker = "propale/"
    index = last_main_doc.find(marker)
    return last_main_doc[index + len(marker) :] if index >= 0 else last_main_doc


class WireCustomer(WireModel):
    id: WireInt
    name: Text = Field("", validation_alias=AliasChoices("name", "nom"))
    email: OptText = None
    address: Text = ""
    zip: Text = ""
    town: Text = ""
    country_code: Text = ""
    code_client: Text = ""
    phone: Text = ""
    default_lang: OptText = None
    date_modification: Epoch = None

    def to_domain(self) -> Customer:
        return Customer(
            id=self.id,
            name=self.name,
            email=self.email,
            address=self.address,
            zip=self.zip,
            town=self.town,
            country_code=self.country_code,
            customer_code=self.code_client,
            phone=self.phone,
            default_lang=self.default_lang,
            modified_at=_utc(self.date_modification),
        )


class WireContact(WireModel):
    id: WireInt
    socid: OptId = None
    firstname: Text = ""
    lastname: Text = ""
    email: OptText = None
    civility_code: OptText = None
    phone_pro: Text = ""
    phone_mobile: Text = ""
    poste: Text = ""
    default_lang: OptText = None
    statut: OptInt = Field(None, validation_alias=AliasChoices("statut", "status"))
    date_modification: Epoch = None

    def to_domain(self) -> Contact:
        return Contact(
            id=self.id,
            customer_id=self.socid,
            firstname=self.firstname,
            lastname=self.lastname,
            email=self.email,
            civility=self.civility_code,
            phone=self.phone_pro or self.phone_mobile,
            job=self.poste,
            default_lang=self.default_lang,
            active=self.statut != 0,
            modified_at=_utc(self.date_modification),
        )


class WireGroupName(WireModel):
    """A row of ``/users/info``'s ``user_group_list`` (``name``; ``nom`` before Dolibarr 17)."""

    id: WireInt
    name: Text = Field("", validation_alias=AliasChoices("name", "nom"))


def _utc(epoch: int | None) -> datetime | None:
    """An instant Dolibarr gives in epoch seconds (no time zone is involved)."""
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


class WireUser(WireModel):
    """``/users/{id}``, ``/users/info`` and the rows of ``/thirdparties/{id}/representatives``."""

    id: WireInt
    login: Text = ""
    firstname: Text = ""
    lastname: Text = ""
    email: OptText = None
    office_phone: Text = Field("", validation_alias=AliasChoices("office_phone", "phone"))
    user_mobile: Text = ""
    job: Text = ""
    signature: Text = ""
    admin: Flag = False
    socid: OptId = None
    rights: Options = {}
    user_group_list: list[WireGroupName] | None = None

    def to_domain(self) -> User:
        return User(
            id=self.id,
            login=self.login,
            firstname=self.firstname,
            lastname=self.lastname,
            email=self.email,
            office_phone=self.office_phone,
            mobile_phone=self.user_mobile,
            job=self.job,
            signature=html_to_text(self.signature),
            signature_html=self.signature,
            admin=self.admin,
            external=self.socid is not None,
            rights=flatten_rights(self.rights),
            groups=None
            if self.user_group_list is None
            else frozenset(group.name for group in self.user_group_list),
        )


class WireGroup(WireModel):
    """``/users/groups``, ``/users/{id}/groups`` and ``/users/groups/{id}?load_members=1``."""

    id: WireInt
    name: Text = Field("", validation_alias=AliasChoices("name", "nom"))
    members: Keyed = {}

    def to_domain(self) -> UserGroup:
        members = tuple(
            WireUser.model_validate({"id": key, **(row if isinstance(row, dict) else {})}).to_domain()
            for key, row in self.members.items()
        )
        return UserGroup(id=self.id, name=self.name, members=members)


class WireCompany(WireModel):
    name: Text = ""
    address: Text = ""
    zip: Text = ""
    town: Text = ""
    country_code: Text = ""
    email: Text = ""
    phone: Text = ""
    url: Text = ""
    idprof1: Text = ""
    idprof2: Text = ""
    idprof3: Text = ""
    idprof4: Text = ""
    tva_intra: Text = ""
    capital: Text = ""

    def to_domain(self) -> Company:
        return Company(
            name=self.name,
            address=self.address,
            zip=self.zip,
            town=self.town,
            country_code=self.country_code,
            email=self.email,
            phone=self.phone,
            url=self.url,
            siren=self.idprof1,
            siret=self.idprof2,
            ape=self.idprof3,
            rcs=self.idprof4,
            vat_number=self.tva_intra,
            capital=self.capital,
        )


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


class WireDocument(WireModel):
    # `name` is null on 23 (the file index's object dump overwrites it): `filename`/`relativename` first
    name: Text = ""
    filename: Text = ""
    relativename: Text = ""
    level1name: Text = ""
    filepath: Text = ""
    size: WireInt = 0
    date: Epoch = None
    gen_or_uploaded: Text = ""
    label: OptText = None  # the file index's md5 of the content (files.lib.php: "hash of file content")

    def file_name(self) -> str:
        return self.filename or self.relativename.rsplit("/", 1)[-1] or self.name

    def to_domain(self, tz: ZoneInfo) -> Document:
        name = self.file_name()
        if not name:
            raise DolibarrResponseError(
                "unexpected answer from Dolibarr on GET /documents: an entry has no file name "
                "(name, filename and relativename are all empty)",
                remedy="report it with your Dolibarr version (dolirelance doctor shows it)",
            )
        if self.level1name:
            relative = f"{self.level1name}/{self.relativename or name}"
        else:  # fall back on the file index: filepath "propale/REF"
            directory = proposal_relative_path(self.filepath + "/") or ""
            relative = f"{directory}{name}"
        return Document(
            name=name,
            relative_path=relative,
            size=self.size,
            modified=epoch_to_datetime(self.date, tz),
            origin=self.gen_or_uploaded,
            md5=self.label.lower() if self.label and _MD5.fullmatch(self.label) else None,
        )


class WireId(WireModel):
    """Any object of which only the id is read."""

    id: WireInt


class WireFile(WireModel):
    """``/documents/download`` and ``/documents/builddoc`` answers."""

    filename: Text = ""
    content: str
    encoding: Text = "base64"
    filesize: OptInt = None  # PHP's filesize() of the file on the server


class WireExtraField(WireModel):
    type: Text = ""
    label: Text = ""
    elementtype: Text = ""


class WireStatusBody(WireModel):
    dolibarr_version: Text
    timestamp_php_tz: OptText = None


class WireStatus(WireModel):
    success: WireStatusBody

    def to_domain(self) -> DolibarrStatus:
        text = self.success.dolibarr_version
        return DolibarrStatus(
            version=parse_version(text), version_text=text, timezone=self.success.timestamp_php_tz
        )


def parse_version(text: str) -> tuple[int, ...]:
    """``"20.0.0"`` → ``(20, 0, 0)``; ``"21.0.0-beta"`` → ``(21, 0, 0)``; garbage → ``()``."""
    parts: list[int] = []
    for piece in text.strip().split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:
            break
    return tuple(parts)


def extrafields_to_domain(body: object, element_type: str, route: str) -> list[ExtraField]:
    """``{"propal": {"norelance": {...}}}`` (or ``[]`` when none) → extra fields of that element."""
    if isinstance(body, list) and not body:
        return []
    if not isinstance(body, dict):
        raise _shape_error(route, "body", "expected an object keyed by element type")
    fields = body.get(element_type) or {}
    if not isinstance(fields, dict):
        raise _shape_error(route, element_type, "expected an object keyed by field name")
    result = []
    for name, raw in fields.items():
        wire = parse(WireExtraField, raw, route)
        result.append(ExtraField(name=name, label=wire.label, type=wire.type, element_type=element_type))
    return result


# ---------------------------------------------------------------------------- validation entry point

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], data: object, route: str) -> ModelT:
    """Validate one object; a failure becomes a :class:`DolibarrResponseError` naming route and field.

    When the object is a recognisable row (it has an id or a ref), the error names it and says
    what to correct in Dolibarr instead.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        rejected = _rejection(model, data, route, exc)
        if rejected.row_id is not None or rejected.ref is not None:
            raise DolibarrResponseError(
                f"{rejected.describe()} (answer of {route})", remedy=rejected.remedy
            ) from None
        raise _shape_error(route, rejected.field, rejected.problem) from None


def parse_list(model: type[ModelT], data: object, route: str) -> list[ModelT]:
    if not isinstance(data, list):
        raise _shape_error(route, "body", f"expected a list, got {type(data).__name__}")
    return [parse(model, item, f"{route} item {index}") for index, item in enumerate(data)]


DomainT = TypeVar("DomainT")

# What each wire model is, in words, and the Dolibarr label of the fields a person can correct.
_ROW_KINDS: dict[str, str] = {
    "WireQuote": "quote",
    "WireCustomer": "third party",
    "WireContact": "contact",
    "WireEvent": "agenda event",
    "WireUser": "user",
    "WireDocument": "document",
    "WireQuoteContact": "contact of a quote",
}
_FIELD_LABELS: dict[str, str] = {
    "ref": "reference",
    "status": "status",
    "statut": "status",
    "date": "date",
    "datep": "date",
    "datef": "end date",
    "fin_validite": "end of validity date",
    "total_ht": "amount excl. tax",
    "total_tva": "VAT amount",
    "total_ttc": "amount incl. tax",
    "socid": "third party",
    "name": "name",
    "email": "e-mail",
    "note_public": "public note",
    "note_private": "note",
    "contacts_ids": "contacts",
}


@dataclass(frozen=True)
class RejectedRow:
    """One row Dolibarr sent that cannot be understood: left out, and named in reports."""

    route: str
    kind: str  # "quote", "third party", "agenda event"...
    row_id: str | None
    ref: str | None
    field: str
    value: str  # shortened, printable
    problem: str

    @property
    def name(self) -> str:
        if self.ref and self.row_id:
            return f"{self.kind} {self.ref} (id {self.row_id})"
        if self.ref or self.row_id:
            return f"{self.kind} {self.ref or 'id ' + str(self.row_id)}"
        return f"a {self.kind} without id"

    def describe(self) -> str:
        return f"{self.name}: field {self.field} = {self.value}: {self.problem}"

    @property
    def remedy(self) -> str:
        label = _FIELD_LABELS.get(self.field.split(".")[0], self.field)
        return f"correct the {label} of this {self.kind} in Dolibarr; until then it is left out"


def parse_rows(
    model: type[ModelT],
    data: object,
    route: str,
    convert: Callable[[ModelT], DomainT],
    rejected: list[RejectedRow],
) -> list[DomainT]:
    """Validate and convert a list row by row; rows that fail go to ``rejected``, the others on."""
    if not isinstance(data, list):
        raise _shape_error(route, "body", f"expected a list, got {type(data).__name__}")
    values: list[DomainT] = []
    for item in data:
        try:
            parsed = model.model_validate(item)
        except ValidationError as exc:
            rejected.append(_rejection(model, item, route, exc))
            continue
        try:
            values.append(convert(parsed))
        except (ValueError, OverflowError, ArithmeticError) as exc:  # a value valid alone, not together
            rejected.append(_row(model, item, route, "row", "", str(exc) or type(exc).__name__))
    return values


def _rejection(model: type[BaseModel], data: object, route: str, exc: ValidationError) -> RejectedRow:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc) or "body"
    value: object = data
    for part in loc:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            value = "(missing)" if error["type"] == "missing" else value
            break
    problem = str(error["msg"]).removeprefix("Value error, ")
    return _row(model, data, route, field, value, problem)


def _row(model: type[BaseModel], data: object, route: str, field: str, value: object, problem: str) -> RejectedRow:
    row = data if isinstance(data, Mapping) else {}
    row_id = row.get("id", row.get("rowid"))
    ref = row.get("ref")
    shown = value if isinstance(value, str) and value == "(missing)" else _short(value)
    return RejectedRow(
        route=route,
        kind=_ROW_KINDS.get(model.__name__, "row"),
        row_id=_short(row_id, quote=False) if row_id not in (None, "") else None,
        ref=_short(ref, quote=False) if isinstance(ref, str) and ref.strip() else None,
        field=field,
        value=shown,
        problem=problem,
    )


def _short(value: object, *, quote: bool = True, limit: int = 60) -> str:
    """A value as a short one-line text (for messages): never the whole of a huge field."""
    text = repr(value) if quote else str(value)
    text = "".join(char if char.isprintable() else "?" for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shape_error(route: str, field: str, detail: str) -> DolibarrResponseError:
    return DolibarrResponseError(
        f"unexpected answer from Dolibarr on {route}: field {field!r}: {detail}",
        remedy="check that the Dolibarr version is supported (18 to 23); report it with that version",
    )
