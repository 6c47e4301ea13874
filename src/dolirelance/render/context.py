"""What a model may talk about: the follow-up context, its variables in a language, and the rendered texts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from dolirelance.domain import Company, Contact, Customer, Quote, QuoteContact, User
from dolirelance.formatting import format_amount, format_day
from dolirelance.htmlmail import InlineImage

_CIVILITIES = {
    "fr": {"MME": "Madame", "MLE": "Madame", "MR": "Monsieur"},
    "en": {"MME": "Ms", "MLE": "Ms", "MR": "Mr"},
}
_GREETING_UNKNOWN = {"fr": "Madame, Monsieur", "en": "Dear Sir or Madam"}
_SALUTATION_UNKNOWN = {"fr": "Madame, Monsieur", "en": "Sir or Madam"}
_SALUTATION_KNOWN = {"en": {"MME": "Madam", "MLE": "Madam", "MR": "Sir"}}


@dataclass(frozen=True)
class FollowUpContext:
    """Everything a model may talk about, for one follow-up of one quote."""

    quote: Quote
    customer: Customer
    contact: QuoteContact | Contact | None  # the addressee; None = the company itself
    user: User  # the sending sales person
    company: Company
    model_name: str
    level: int  # 1-based position of the model in the configuration
    previous_date: date | None
    next_date: date | None
    today: date


@dataclass(frozen=True)
class RenderedFollowUp:
    model_name: str
    lang: str  # language of the e-mail texts ("fr", "en"...)
    email_subject: str
    email_text: str
    email_html: str | None  # the whole HTML document (the model's body in the layout), None = text only
    letter_subject: str
    letter_text: str
    # Language of the letter texts when they fell back to the base model (None = ``lang``).
    letter_lang: str | None = None
    # The images the HTML shows by ``cid:`` (the logo, the signature's pictures), to send with it.
    inline_images: tuple[InlineImage, ...] = ()

    @property
    def letter_language(self) -> str:
        return self.letter_lang or self.lang



def language_of(code: str | None) -> str | None:
    """``"en_US"`` → ``"en"``; ``None``/``""`` → ``None``."""
    if not code:
        return None
    return code.replace("-", "_").split("_")[0].lower() or None


def variables(ctx: FollowUpContext, lang: str) -> dict[str, Any]:
    """The template namespace for a context, formatted in ``lang``: the variable catalogue."""
    quote, customer, user, company = ctx.quote, ctx.customer, ctx.user, ctx.company
    end = quote.end_of_validity
    currency = quote.currency or "EUR"

    def day(value: date | None) -> str:
        return format_day(value, lang) if value else ""

    def money(value: Decimal) -> str:
        return format_amount(value, currency, lang)

    return {
        "quote": {
            "ref": quote.ref,
            "customer_ref": quote.customer_ref,
            "date": day(quote.issue_date),
            "end_of_validity": day(end),
            "days_until_end": max(0, (end - ctx.today).days) if end else 0,
            "days_since_end": max(0, (ctx.today - end).days) if end else 0,
            "expired": bool(end and ctx.today > end),
            "total_excl_tax": money(quote.total_excl_tax),
            "total_tax": money(quote.total_tax),
            "total_incl_tax": money(quote.total_incl_tax),
            "currency": currency,
            "note_public": quote.note_public,
            "date_iso": quote.issue_date.isoformat() if quote.issue_date else "",
            "end_of_validity_iso": end.isoformat() if end else "",
            "amounts": {
                "excl_tax": quote.total_excl_tax,
                "tax": quote.total_tax,
                "incl_tax": quote.total_incl_tax,
            },
        },
        "customer": {
            "name": customer.name,
            "address": "\n".join(customer.address_lines),
            "address_lines": list(customer.address_lines),
            "zip": customer.zip,
            "town": customer.town,
            "email": customer.email or "",
            "phone": customer.phone,
            "code": customer.customer_code,
        },
        "contact": _contact_variables(ctx, lang),
        "user": {
            "name": user.full_name,
            "firstname": user.firstname,
            "lastname": user.lastname,
            "email": user.email or "",
            "phone": user.office_phone or user.mobile_phone,
            "job": user.job,
            "signature": _signature(user, company),
            # the plain signature as HTML; the Renderer puts the sanitised Dolibarr one here
            "signature_html": _plain_as_html(_signature(user, company)),
        },
        "company": {
            "name": company.name,
            "address": "\n".join(company.address_lines),
            "address_lines": list(company.address_lines),
            "zip": company.zip,
            "town": company.town,
            "phone": company.phone,
            "email": company.email,
            "url": company.url,
            "siren": company.siren,
            "siret": company.siret,
            "ape": company.ape,
            "rcs": company.rcs,
            "vat_number": company.vat_number,
            "capital": company.capital,
            "logo_url": "",  # "cid:..." in an HTML e-mail when a logo is configured
        },
        "colors": {"brand": "#1f5f8b", "text": "#222222"},
        "followup": {
            "model": ctx.model_name,
            "level": ctx.level,
            # a follow-up done earlier today (an e-mail, then a letter) is not "already written to"
            "previous_date": day(ctx.previous_date) if ctx.previous_date and ctx.previous_date < ctx.today else None,
            "next_date": day(ctx.next_date) if ctx.next_date else None,
        },
        "today": day(ctx.today),
        "lang": lang,
    }


def civility_label(civility: str | None, lang: str) -> str:
    """``MME`` → ``Madame`` (fr) / ``Ms`` (en); unknown → ``""``."""
    table = _CIVILITIES.get(lang, _CIVILITIES["en"])
    return table.get((civility or "").strip().upper(), "")


def _contact_variables(ctx: FollowUpContext, lang: str) -> dict[str, Any]:
    contact = ctx.contact
    table_lang = lang if lang in _CIVILITIES else "en"
    if contact is None:
        return {
            "kind": "company",
            "civility": "",
            "firstname": "",
            "lastname": "",
            "name": ctx.customer.name,
            "civility_name": "",
            "email": ctx.customer.email or "",
            "greeting": _GREETING_UNKNOWN[table_lang],
            "salutation": _SALUTATION_UNKNOWN[table_lang],
        }
    code = (contact.civility or "").strip().upper()
    civility = civility_label(code, table_lang)
    if table_lang == "fr":
        greeting = civility or _GREETING_UNKNOWN["fr"]
        salutation = civility or _SALUTATION_UNKNOWN["fr"]
    else:
        greeting = f"Dear {civility} {contact.lastname}".strip() if civility else _GREETING_UNKNOWN["en"]
        salutation = _SALUTATION_KNOWN["en"].get(code, _SALUTATION_UNKNOWN["en"])
    return {
        "kind": "person" if civility else "person-without-civility",
        "civility": civility,
        "firstname": contact.firstname,
        "lastname": contact.lastname,
        "name": contact.full_name,
        "civility_name": " ".join(part for part in (civility, contact.full_name) if part),
        "email": contact.email or "",
        "greeting": greeting,
        "salutation": salutation,
    }


def _plain_as_html(text: str) -> Markup:
    return Markup("<br>\n").join(escape(line) for line in text.splitlines())


def _signature(user: User, company: Company) -> str:
    if user.signature.strip():
        return user.signature.strip("\n")
    lines = (user.full_name, user.job, company.name, user.office_phone or user.mobile_phone)
    return "\n".join(line for line in lines if line)
