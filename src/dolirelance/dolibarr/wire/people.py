"""Third parties, contacts, users and groups as Dolibarr sends them.

``rights`` are nested objects with ``1``/``"1"``/``true``; group members are keyed by id (``[]``
when empty); ``nom`` was ``name`` before Dolibarr 17.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, Field

from dolirelance.dolibarr.wire.casts import (
    Epoch,
    Flag,
    Keyed,
    OptId,
    OptInt,
    Options,
    OptText,
    Text,
    WireInt,
    WireModel,
    epoch_to_utc,
    html_to_text,
)
from dolirelance.domain import Contact, Customer, User, UserGroup


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
            modified_at=epoch_to_utc(self.date_modification),
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
            modified_at=epoch_to_utc(self.date_modification),
        )


class WireGroupName(WireModel):
    """A row of ``/users/info``'s ``user_group_list`` (``name``; ``nom`` before Dolibarr 17)."""

    id: WireInt
    name: Text = Field("", validation_alias=AliasChoices("name", "nom"))


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
