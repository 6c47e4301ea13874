"""Domain values. No I/O, no clock: dates and instants are always passed in.

Money is ``Decimal``; calendar days are ``date``; instants are timezone-aware ``datetime``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.headerregistry import Address
from email.utils import getaddresses
from enum import IntEnum, StrEnum


def person_name(firstname: str, lastname: str) -> str:
    """ "Julie Dupont"; either part may be empty."""
    return " ".join(part for part in (firstname, lastname) if part)


class QuoteStatus(IntEnum):
    """Dolibarr proposal status (column ``t.fk_statut``)."""

    CANCELLED = -1
    DRAFT = 0
    OPEN = 1  # validated, waiting for the customer
    SIGNED = 2
    REFUSED = 3
    BILLED = 4

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    QuoteStatus.CANCELLED: "cancelled",
    QuoteStatus.DRAFT: "draft",
    QuoteStatus.OPEN: "open",
    QuoteStatus.SIGNED: "signed",
    QuoteStatus.REFUSED: "refused",
    QuoteStatus.BILLED: "billed",
}


class Channel(StrEnum):
    EMAIL = "email"
    LETTER = "letter"


@dataclass(frozen=True, slots=True)
class QuoteContact:
    """A contact linked to a quote with a role (``GET /proposals/{id}?contact_list=0``)."""

    contact_id: int
    type_code: str  # CUSTOMER, BILLING, SHIPPING (external); SALESREPFOLL (internal)
    source: str  # "external" (a contact of the third party) or "internal" (a Dolibarr user)
    firstname: str
    lastname: str
    email: str | None
    civility: str | None = None
    active: bool = True

    @property
    def full_name(self) -> str:
        return person_name(self.firstname, self.lastname)


@dataclass(frozen=True, slots=True)
class Quote:
    id: int
    ref: str
    customer_id: int
    status: QuoteStatus
    issue_date: date | None
    end_of_validity: date | None
    total_excl_tax: Decimal
    total_tax: Decimal
    total_incl_tax: Decimal
    currency: str
    customer_ref: str = ""
    opt_out: bool = False
    # Path of the generated PDF relative to the proposal directory ("PR2611-0001/PR2611-0001.pdf").
    main_document: str | None = None
    author_id: int | None = None
    note_public: str = ""
    signed_on: date | None = None  # Dolibarr's date_signature (read only where asked for)
    # The quote's last change in Dolibarr (``date_modification``, else its validation): a main PDF
    # older than that may not show the quote as it is now.
    changed_at: datetime | None = None
    # When it was validated (``date_validation``): with no change since, its main PDF is the one made then.
    validated_at: datetime | None = None
    # Filled only when the quote was read one by one with its contacts.
    contacts: tuple[QuoteContact, ...] = ()
    # Ids of every external contact linked to the quote, any role: what a list says (``contacts_ids``).
    contact_ids: tuple[int, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status is QuoteStatus.OPEN

    def followers(self) -> tuple[int, ...]:
        """Users following the quote as internal ``SALESREPFOLL`` contacts (known from Dolibarr 22 on)."""
        return tuple(c.contact_id for c in self.contacts if c.source == "internal" and c.type_code == "SALESREPFOLL")

    def customer_contacts(self) -> tuple[QuoteContact, ...]:
        """External CUSTOMER ("Contact client suivi propale") contacts, in link order."""
        return tuple(c for c in self.contacts if c.source == "external" and c.type_code == "CUSTOMER")


@dataclass(frozen=True, slots=True)
class Customer:
    """A Dolibarr third party."""

    id: int
    name: str
    email: str | None = None
    address: str = ""
    zip: str = ""
    town: str = ""
    country_code: str = ""
    customer_code: str = ""
    phone: str = ""
    default_lang: str | None = None
    modified_at: datetime | None = None  # last change in Dolibarr (unblocks an address that bounced)

    @property
    def address_lines(self) -> tuple[str, ...]:
        lines = [line.strip() for line in self.address.splitlines() if line.strip()]
        town_line = " ".join(part for part in (self.zip, self.town) if part)
        if town_line:
            lines.append(town_line)
        if self.country_code and self.country_code.upper() != "FR":
            lines.append(self.country_code.upper())
        return tuple(lines)


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    customer_id: int | None
    firstname: str
    lastname: str
    email: str | None = None
    civility: str | None = None  # MR, MME, MLE...
    phone: str = ""
    job: str = ""
    default_lang: str | None = None
    active: bool = True
    modified_at: datetime | None = None  # last change in Dolibarr (unblocks an address that bounced)

    @property
    def full_name(self) -> str:
        return person_name(self.firstname, self.lastname)


@dataclass(frozen=True, slots=True)
class User:
    """A Dolibarr user (the API key's user, a sales representative...)."""

    id: int
    login: str
    firstname: str = ""
    lastname: str = ""
    email: str | None = None
    office_phone: str = ""
    mobile_phone: str = ""
    job: str = ""
    signature: str = ""  # plain text (HTML stripped)
    signature_html: str = ""  # as Dolibarr keeps it: untrusted HTML, sanitised before any use
    admin: bool = False
    external: bool = False  # has a socid: sees only its own third party
    # Rights as dotted names: "propal.lire", "agenda.allactions.create", "societe.client.voir".
    rights: frozenset[str] = frozenset()
    # Names of the user's Dolibarr groups; None when the answer did not say (only /users/info does).
    groups: frozenset[str] | None = None

    @property
    def full_name(self) -> str:
        return person_name(self.firstname, self.lastname) or self.login

    def has_right(self, right: str) -> bool:
        return self.admin or right in self.rights


@dataclass(frozen=True, slots=True)
class UserGroup:
    """A Dolibarr user group (Users & Groups > Groups) and, when read, the logins of its members."""

    id: int
    name: str
    members: tuple[User, ...] = ()


@dataclass(frozen=True, slots=True)
class Company:
    """Our own company (``GET /setup/company``, or the ``[company]`` table of the config)."""

    name: str
    address: str = ""
    zip: str = ""
    town: str = ""
    country_code: str = ""
    email: str = ""
    phone: str = ""
    url: str = ""
    siren: str = ""  # idprof1
    siret: str = ""  # idprof2
    ape: str = ""  # idprof3
    rcs: str = ""  # idprof4
    vat_number: str = ""  # tva_intra
    capital: str = ""

    @property
    def address_lines(self) -> tuple[str, ...]:
        lines = [line.strip() for line in self.address.splitlines() if line.strip()]
        town_line = " ".join(part for part in (self.zip, self.town) if part)
        if town_line:
            lines.append(town_line)
        return tuple(lines)


@dataclass(frozen=True, slots=True)
class AgendaEvent:
    """A Dolibarr agenda event (ActionComm)."""

    id: int
    code: str  # free code: AC_RELANCE_EMAIL, AC_PROPAL_VALIDATE...
    type_code: str  # AC_OTH, AC_OTH_AUTO...
    label: str
    note: str
    start: datetime
    end: datetime | None
    percentage: int  # -1 n/a, 0 to do, 100 done
    owner_id: int | None
    customer_id: int | None
    element_type: str | None
    element_id: int | None
    contact_ids: tuple[int, ...] = ()
    email_to: str | None = None
    email_subject: str | None = None
    email_msgid: str | None = None


@dataclass(frozen=True, slots=True)
class NewAgendaEvent:
    """What we ask Dolibarr to create."""

    type_code: str
    code: str
    label: str
    note: str
    start: datetime
    percentage: int
    owner_id: int
    end: datetime | None = None
    customer_id: int | None = None
    contact_id: int | None = None
    element_type: str | None = None
    element_id: int | None = None
    full_day: bool = False
    email_from: str | None = None
    email_to: str | None = None
    email_subject: str | None = None
    email_msgid: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A file attached to a quote."""

    name: str
    relative_path: str  # relative to the proposal directory: "PR2611-0001/PR2611-0001.pdf"
    size: int
    modified: datetime | None
    origin: str = ""  # "generated", "uploaded", "api", ""
    md5: str | None = None  # of the content, from Dolibarr's file index (its ``label``) when it has one

    @property
    def is_pdf(self) -> bool:
        return self.name.lower().endswith(".pdf")


@dataclass(frozen=True, slots=True)
class ExtraField:
    name: str
    label: str
    type: str
    element_type: str


@dataclass(frozen=True, slots=True)
class DolibarrStatus:
    version: tuple[int, ...]
    version_text: str
    timezone: str | None = None  # PHP's date.timezone, when the server tells it


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who an e-mail goes to, and why that address was chosen."""

    email: str
    name: str
    source: str  # "quote contact CUSTOMER" or "customer"
    contact_id: int | None = None


@dataclass(frozen=True, slots=True)
class QuoteFilter:
    """Server-side filter for listing quotes; every field narrows the list."""

    statuses: tuple[QuoteStatus, ...] = (QuoteStatus.OPEN,)
    customer_ids: tuple[int, ...] = ()
    refs: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()
    end_of_validity_from: date | None = None  # inclusive
    end_of_validity_before: date | None = None  # exclusive
    exclude_opt_out: bool = False
    opt_out_field: str | None = None  # None: the client's configured field


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Server-side filter for listing agenda events."""

    code_prefix: str | None = None  # "AC_RELANCE" -> (t.code:like:'AC_RELANCE%')
    codes: tuple[str, ...] = ()
    element_type: str | None = None
    element_ids: tuple[int, ...] = ()
    customer_id: int | None = None
    owner_ids: tuple[int, ...] = ()
    percentage: int | None = None
    start_from: datetime | None = None  # inclusive, on t.datep
    start_before: datetime | None = None  # exclusive


def choose_recipients(quote: Quote, customer: Customer) -> tuple[Recipient, ...]:
    """Who a follow-up e-mail goes to.

    The quote's active CUSTOMER contacts that have an e-mail; otherwise the customer's own
    address; otherwise nobody (the caller reports it: see :func:`no_email_message`).
    """
    chosen: list[Recipient] = []
    seen: set[str] = set()
    for contact in quote.customer_contacts():
        email = (contact.email or "").strip()
        if contact.active and email and email.lower() not in seen:
            seen.add(email.lower())
            chosen.append(Recipient(email, contact.full_name, "quote contact CUSTOMER", contact_id=contact.contact_id))
    if chosen:
        return tuple(chosen)
    email = (customer.email or "").strip()
    if email:
        return (Recipient(email, customer.name, "customer"),)
    return ()


def email_known(quote: Quote, customer: Customer, contacts: Mapping[int, Contact]) -> bool | None:
    """Whether a follow-up e-mail has an address, from bulk reads; None when only the contacts' roles tell.

    A list gives the ids of the quote's external contacts without their role (CUSTOMER or not). It
    does not matter when the customer has an address (someone gets the mail either way) or when no
    linked contact has one (the customer's address, or nobody). Otherwise the quote must be read.
    """
    if quote.contacts:  # read one by one: the roles are known
        return bool(choose_recipients(quote, customer))
    if (customer.email or "").strip():
        return True
    linked = (contacts.get(contact_id) for contact_id in quote.contact_ids)
    if not any(c is not None and c.active and (c.email or "").strip() for c in linked):
        return False
    return None


def no_email_message(quote: Quote, customer: Customer) -> str:
    return (
        f"{quote.ref} ({customer.name}) has no e-mail address: add one to the customer or to a "
        "CUSTOMER contact of the quote, or follow up by letter"
    )


def format_day_offset(days: int) -> str:
    """``-5`` → ``"-5 days"``: the sign convention shown everywhere (minus = before the end of validity)."""
    unit = "day" if abs(days) == 1 else "days"
    return f"{days:+d} {unit}"


def model_level(model_names: Sequence[str], model: str | None) -> int | None:
    """A model's level: its place in the configured list, from 1 (None for a model not configured)."""
    if model is None or model not in model_names:
        return None
    return list(model_names).index(model) + 1


def split_address(value: str) -> tuple[str, str, str]:
    """``"Name <local@domain.tld>"`` or a bare address → (name, local, domain); ValueError if it is not
    exactly one plausible address. The one rule for addresses in the configuration and in e-mails."""
    flat = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    pairs = getaddresses([flat])
    if len(pairs) != 1 or not pairs[0][1]:
        raise ValueError(f"{flat!r} is not a single valid e-mail address")
    name, addr = pairs[0]
    if addr.count("@") != 1 or any(ch in addr for ch in " <>,;\"'()[]\\"):
        raise ValueError(f"{flat!r} is not a valid e-mail address")
    local, domain = addr.split("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise ValueError(f"{flat!r} is not a valid e-mail address")
    try:
        Address(username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{flat!r} is not a valid e-mail address: {exc}") from None
    return name, local, domain


def bare_address(value: str) -> str:
    """An address field of Dolibarr (a customer's, contact's or user's e-mail) → the address it holds.

    Such a field holds one plain address: a list (``a@x, b@y``), a display name
    (``"claire@x" <evil@y>``), angle brackets or a comment would send the e-mail elsewhere than
    the address people read, so each is refused with ValueError, as a list is by :func:`split_address`.
    """
    flat = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    name, local, domain = split_address(flat)
    if name or flat != f"{local}@{domain}":
        raise ValueError(f"{flat!r} is not a single valid e-mail address")
    return flat
