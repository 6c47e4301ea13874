"""The installation: company, status (version and time zone) and extra fields."""

from __future__ import annotations

import re

from dolirelance.dolibarr.wire.casts import OptText, Text, WireModel
from dolirelance.dolibarr.wire.parsing import parse, shape_error
from dolirelance.domain import Company, DolibarrStatus, ExtraField


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
        raise shape_error(route, "body", "expected an object keyed by element type")
    fields = body.get(element_type) or {}
    if not isinstance(fields, dict):
        raise shape_error(route, element_type, "expected an object keyed by field name")
    result = []
    for name, raw in fields.items():
        wire = parse(WireExtraField, raw, route)
        result.append(ExtraField(name=name, label=wire.label, type=wire.type, element_type=element_type))
    return result
