"""Dates and money for people, with babel: the one formatter of the renderer, the CLI and the web pages.

Leaf module (babel only). Languages are the short codes of the models and the web pages (``fr``,
``en``...); each maps to the babel locale whose forms read naturally in a French business's letters.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency

# English uses the British forms ("28 November 2026"), which read naturally in letters.
_LOCALES = {"fr": "fr_FR", "en": "en_GB", "de": "de_DE", "es": "es_ES", "it": "it_IT", "nl": "nl_NL"}


def babel_locale(lang: str) -> str:
    """``"fr"`` → ``"fr_FR"``, ``"en"`` → ``"en_GB"``; other codes are passed to babel as they are."""
    return _LOCALES.get(lang, lang)


def format_day(day: date, lang: str) -> str:
    """``8 décembre 2026`` / ``8 December 2026`` (letters, e-mails)."""
    return str(format_date(day, format="long", locale=babel_locale(lang)))


def format_short_day(day: date | datetime | None, lang: str) -> str:
    """``08/12/2026`` (tables and lists); empty for no day."""
    if day is None:
        return ""
    return str(format_date(day, format="short", locale=babel_locale(lang)))


def format_amount(value: Decimal, currency: str, lang: str) -> str:
    """``1 448,00 €`` / ``€1,448.00`` (with babel's no-break spaces)."""
    return str(format_currency(value, currency or "EUR", locale=babel_locale(lang)))
