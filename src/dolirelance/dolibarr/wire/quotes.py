"""Proposals (``/proposals``) as Dolibarr sends them, and their contacts.

``contacts_ids`` is null, a list of ids or a list of rows; date-only fields (``date``,
``fin_validite``) are midnight in the *server* timezone.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field

from dolirelance.dolibarr.wire.casts import (
    Epoch,
    Money,
    OptId,
    OptInt,
    Options,
    OptText,
    Ref,
    Status,
    Text,
    WireInt,
    WireModel,
    epoch_to_date,
    epoch_to_datetime,
    html_to_text,
    to_flag,
)
from dolirelance.dolibarr.wire.documents import proposal_relative_path
from dolirelance.domain import Quote, QuoteContact


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
            opt_out=bool(to_flag(self.array_options.get(f"options_{opt_out_field}"))),
            main_document=proposal_relative_path(self.last_main_doc),
            author_id=self.user_author_id,
            note_public=html_to_text(self.note_public),
            signed_on=epoch_to_date(self.date_signature, tz),
            changed_at=epoch_to_datetime(self.date_modification or self.date_validation, tz),
            validated_at=epoch_to_datetime(self.date_validation, tz),
            contacts=tuple(contacts),
            contact_ids=self.contact_ids(),
        )
