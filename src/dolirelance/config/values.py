"""The value types and checks the sections share: day offsets, times of day, zones, languages, addresses."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, SecretStr

from dolirelance.domain import format_day_offset, split_address

# Ten years: longer than any quote's life, short enough that no date arithmetic can overflow.
MAX_OFFSET_DAYS = 3650

_OFFSET_RE = re.compile(r"^\s*([+-])?\s*(\d+)\s*(day|days|jour|jours|week|weeks|semaine|semaines)?\s*$", re.I)


def parse_day_offset(value: object) -> int:
    """``"+15 days"`` → 15, ``"-5 days"`` → -5, ``"2 weeks"`` → 14, ``7`` → 7."""
    if isinstance(value, bool):
        raise ValueError("expected a number of days like '+15 days' or '-5 days'")
    if isinstance(value, int):
        return _in_range(value)
    if not isinstance(value, str):
        raise ValueError("expected a number of days like '+15 days' or '-5 days'")
    match = _OFFSET_RE.match(value)
    if not match:
        raise ValueError(f"{value[:40]!r} is not a day offset; write it like '+15 days', '-5 days' or '2 weeks'")
    sign, number, unit = match.groups()
    if len(number) > 6:
        return _in_range(MAX_OFFSET_DAYS + 1)
    days = int(number) * (7 if unit and unit.lower().startswith(("week", "semaine")) else 1)
    return _in_range(-days if sign == "-" else days)


def _in_range(days: int) -> int:
    if abs(days) > MAX_OFFSET_DAYS:
        raise ValueError(f"at most {MAX_OFFSET_DAYS} days (10 years) either way")
    return days


DayOffset = Annotated[int, BeforeValidator(parse_day_offset), PlainSerializer(format_day_offset)]


def _parse_time_of_day(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{1,2})[:h](\d{2})\s*", value)
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f'{value!r} is not a time of day; write it like "08:30"')


TimeOfDay = Annotated[time, BeforeValidator(_parse_time_of_day)]


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f'{value!r} is not a known timezone; use a name like "Europe/Paris"') from exc
    return value


def check_language(value: str) -> str:
    """A language code babel can format dates and amounts in (``fr``, ``en``, ``de_CH``...)."""
    code = value.strip().replace("-", "_")
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f'{value[:20]!r} is not a known language; use a code like "fr", "en" or "de"') from None
    return value


def check_ascii_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not value.get_secret_value().isascii():
        raise ValueError("contains characters that are not ASCII (accents, typographic quotes...): copy it again")
    return value


def check_address(value: str) -> str:
    try:
        split_address(value)
    except ValueError as exc:
        raise ValueError(f'{exc}; write it like "Name <devis@example.fr>" or devis@example.fr') from None
    return value


# Values checked as they are read: a field of one of these types gets the check, and the same error, as every other.
Timezone = Annotated[str, AfterValidator(check_timezone)]
Language = Annotated[str, AfterValidator(check_language)]
Address = Annotated[str, AfterValidator(check_address)]
AsciiSecret = Annotated[SecretStr, AfterValidator(check_ascii_secret)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
