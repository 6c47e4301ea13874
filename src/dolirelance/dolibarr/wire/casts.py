"""The casts every wire model shares: Dolibarr's loose values made strict, in sane ranges.

Ids and amounts come as strings (``"12"``, ``"1092.00000000"``); empty dates as ``""``, ``null`` or
``0``; ``array_options`` is ``[]`` when empty; HTML in signatures and notes. Values are checked here,
at the boundary, so nothing downstream ever sees ``NaN``, ``Infinity``, an amount of 10^999 or the
year 9999.
"""

from __future__ import annotations

import html
import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict

from dolirelance.domain import QuoteStatus

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


def to_flag(value: object) -> object:
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
Flag = Annotated[bool, BeforeValidator(to_flag)]
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


def epoch_to_utc(epoch: int | None) -> datetime | None:
    """An instant Dolibarr gives in epoch seconds (no time zone is involved)."""
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


# ---------------------------------------------------------------------------- base models


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class WireId(WireModel):
    """Any object of which only the id is read."""

    id: WireInt
