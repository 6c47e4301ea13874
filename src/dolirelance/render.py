"""The one renderer: every model text (e-mail and letter) goes through here.

Jinja2 lives only in this module. Templates run in a sandbox with ``StrictUndefined``; every
model and every language variant is compiled once, up front, and checked against the variable
catalogue so that a typo is reported with the model, the field, the line and a suggestion
before anything is sent. Dates and amounts are formatted with babel in the text's language.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_eval_context
from jinja2.environment import Template
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from dolirelance.config import ModelSettings, ModelVariant, Settings, model_text
from dolirelance.dolibarr.wire import MAX_AMOUNT, MAX_TEXT_LENGTH, MAX_YEAR
from dolirelance.domain import (
    Company,
    Contact,
    Customer,
    Quote,
    QuoteContact,
    QuoteStatus,
    User,
    model_level,
    split_address,
)
from dolirelance.errors import TemplateError
from dolirelance.formatting import format_amount, format_day
from dolirelance.htmlmail import (
    InlineImage,
    SanitizedHtml,
    html_problems,
    html_to_text,
    markdown_to_html,
    sanitize_signature,
)

TEXT_FIELDS = ("email_subject", "email_text", "email_html", "email_markdown", "letter_subject", "letter_text")
# The e-mail bodies of a language variant go together: a variant that gives one never borrows another
# from the base model (no French HTML beside an English text).
_EMAIL_BODIES = ("email_text", "email_html", "email_markdown")
# A Markdown model is compiled twice: once as text (values as they are), once as HTML (values escaped).
_MARKDOWN_AS_HTML = "email_markdown:html"
_HTML_FIELDS = frozenset({"email_html", _MARKDOWN_AS_HTML})


_CIVILITIES = {
    "fr": {"MME": "Madame", "MLE": "Madame", "MR": "Monsieur"},
    "en": {"MME": "Ms", "MLE": "Ms", "MR": "Mr"},
}
_GREETING_UNKNOWN = {"fr": "Madame, Monsieur", "en": "Dear Sir or Madam"}
_SALUTATION_UNKNOWN = {"fr": "Madame, Monsieur", "en": "Sir or Madam"}
_SALUTATION_KNOWN = {"en": {"MME": "Madam", "MLE": "Madam", "MR": "Sir"}}

# Dolibarr substitution keys (getCommonSubstitutionArray, FormMail) → our Jinja expressions.
# Amount keys give the formatted amount: Dolibarr's raw "1448.00000000" is never what a letter wants.
DOLIBARR_ALIASES: dict[str, str] = {
    "__REF__": "quote.ref",
    "__REF_CLIENT__": "quote.customer_ref",
    "__REFCLIENT__": "quote.customer_ref",
    "__NOTE_PUBLIC__": "quote.note_public",
    "__DATE_YMD__": "quote.date",
    "__AMOUNT__": "quote.total_incl_tax",
    "__AMOUNT_FORMATED__": "quote.total_incl_tax",
    "__AMOUNT_EXCL_TAX__": "quote.total_excl_tax",
    "__AMOUNT_EXCL_TAX_FORMATED__": "quote.total_excl_tax",
    "__AMOUNT_VAT__": "quote.total_tax",
    "__AMOUNT_VAT_FORMATED__": "quote.total_tax",
    "__TOTAL_TTC__": "quote.total_incl_tax",
    "__TOTAL_HT__": "quote.total_excl_tax",
    "__TOTAL_VAT__": "quote.total_tax",
    "__THIRDPARTY_NAME__": "customer.name",
    "__THIRDPARTY_EMAIL__": "customer.email",
    "__THIRDPARTY_ADDRESS__": "customer.address",
    "__THIRDPARTY_ZIP__": "customer.zip",
    "__THIRDPARTY_TOWN__": "customer.town",
    "__THIRDPARTY_PHONE__": "customer.phone",
    "__THIRDPARTY_CODE_CLIENT__": "customer.code",
    "__CONTACTCIVNAME__": "contact.civility_name",
    "__CONTACT_NAME__": "contact.name",
    "__CONTACT_FIRSTNAME__": "contact.firstname",
    "__CONTACT_LASTNAME__": "contact.lastname",
    "__CONTACT_EMAIL__": "contact.email",
    "__USER_SIGNATURE__": "user.signature",
    "__SENDEREMAIL_SIGNATURE__": "user.signature",
    "__USER_FULLNAME__": "user.name",
    "__USER_FIRSTNAME__": "user.firstname",
    "__USER_LASTNAME__": "user.lastname",
    "__USER_EMAIL__": "user.email",
    "__USER_PHONE__": "user.phone",
    "__USER_JOB__": "user.job",
    "__MYCOMPANY_NAME__": "company.name",
    "__MYCOMPANY_EMAIL__": "company.email",
    "__MYCOMPANY_PHONE__": "company.phone",
    "__MYCOMPANY_ADDRESS__": "company.address",
    "__MYCOMPANY_ZIP__": "company.zip",
    "__MYCOMPANY_TOWN__": "company.town",
    "__MYCOMPANY_PROFID1__": "company.siren",
    "__MYCOMPANY_PROFID2__": "company.siret",
    "__MYCOMPANY_PROFID3__": "company.ape",
    "__MYCOMPANY_PROFID4__": "company.rcs",
    "__MYCOMPANY_CAPITAL__": "company.capital",
    "__NOW_TMS_YMD__": "today",
}
_ALIAS_RE = re.compile(r"__[A-Z][A-Z0-9_]*__")
# Names Jinja itself provides inside templates.
_JINJA_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super"})


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


@dataclass(frozen=True)
class RenderLimits:
    """The bounds of one rendering (one field of one model); exceeding one is a TemplateError."""

    max_output_chars: int = 100_000  # ~30 letter pages; a real letter is 2-5 k
    max_value_size: int = 100_000  # characters (or items) of any value a template makes
    max_int_digits: int = 100  # no letter needs a number beyond 10**100
    max_loop_iterations: int = 10_000  # all loops of one rendering together
    max_seconds: float = 2.0  # a real model renders in about a millisecond


DEFAULT_LIMITS = RenderLimits()


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


def catalogue(ctx: FollowUpContext | None = None) -> list[str]:
    """Every variable name, dotted (``quote.ref``), in catalogue order."""
    names: list[str] = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            names.append(prefix)

    walk("", variables(ctx or sample_context(date(2026, 11, 28)), "fr"))
    return names


# --------------------------------------------------------------------------------------------
# Compilation


@dataclass(frozen=True)
class _Source:
    model: str
    lang: str | None  # None = the base texts
    field: str
    file: Path | None

    def where(self, line: int | None = None) -> str:
        variant = f", variant {self.lang!r}" if self.lang else ""
        place = f"model {self.model!r}{variant}, {self.field}"
        if self.file is not None:
            place += f" ({self.file}{f':{line}' if line else ''})"
        elif line:
            place += f", line {line}"
        return place

    @property
    def filename(self) -> str:
        # Jinja puts this in its rewritten traceback frames: how we find the failing line.
        return str(self.file) if self.file else f"<{self.model}|{self.lang or ''}|{self.field}>"


@dataclass(frozen=True)
class _Compiled:
    source: _Source
    template: Template | None
    errors: tuple[TemplateError, ...]


class Renderer:
    """Compiles every model once; renders follow-ups; checks every model for ``config check``."""

    def __init__(self, settings: Settings, *, limits: RenderLimits = DEFAULT_LIMITS) -> None:
        self._settings = settings
        self._limits = limits
        self._base_lang = (settings.followup.default_language or "fr").lower()
        self._text_env = _environment(autoescape=False)
        self._html_env = _environment(autoescape=True)
        self._known = _catalogue_tree()
        self._names = catalogue()
        names = [model.name for model in settings.models]
        self._levels = {name: model_level(names, name) or 0 for name in names}
        # (model, lang or None, field) → compiled template
        self._compiled: dict[tuple[str, str | None, str], _Compiled] = {}
        for model in settings.models:
            self._compile_variant(model, model, None)
            for lang, variant in model.variants.items():
                self._compile_variant(model, variant, lang.lower())
        layout_source = _Source("(e-mail layout)", None, "email_html", None)
        layout = self._compile(layout_source, _LAYOUT_TEXT, extra_names=frozenset({"body", "subject"}))
        assert layout.template is not None, layout.errors
        self._layout = layout
        email = settings.email
        self._allowed_image_hosts = frozenset(email.allowed_image_hosts)
        self._colors = {"brand": email.brand_color, "text": email.text_color}
        try:
            self._cid_domain = split_address(settings.smtp.sender)[2]
        except ValueError:
            self._cid_domain = "dolirelance.invalid"
        # Dolibarr signature (as sent) → sanitised: made once per sales person, not per message.
        self._signatures: dict[str, tuple[SanitizedHtml, str]] = {}

    @functools.cached_property
    def logo(self) -> InlineImage | None:
        """The logo of HTML e-mails ([email] logo, else [letter] logo), read once; None without one."""
        path = self._settings.email.logo or self._settings.letter.logo
        return None if path is None else _logo_image(self._settings.resolve_path(path), self._cid_domain)

    def signature_html(self, user: User) -> SanitizedHtml:
        """The sales person's Dolibarr signature, sanitised (remembered for the Renderer's life)."""
        return self._signature_of(user)[0]

    def _signature_of(self, user: User) -> tuple[SanitizedHtml, str]:
        """(sanitised HTML, its text): both made once per distinct Dolibarr signature."""
        raw = user.signature_html
        found = self._signatures.get(raw)
        if found is None:
            sanitized = sanitize_signature(
                raw, allowed_image_hosts=self._allowed_image_hosts, cid_domain=self._cid_domain
            )
            found = (sanitized, html_to_text(sanitized.html).strip("\n") if sanitized.html else "")
            if len(self._signatures) < 1000:
                self._signatures[raw] = found
        return found

    @property
    def model_names(self) -> list[str]:
        return list(self._levels)

    def level_of(self, model_name: str) -> int:
        """1-based position of a model in the configuration (its follow-up level)."""
        return self._levels[model_name]

    def variant_for(self, model_name: str, ctx: FollowUpContext) -> str | None:
        """The variant language used for this addressee, or None for the base texts."""
        model = self._model(model_name)
        wanted = language_of(getattr(ctx.contact, "default_lang", None)) or language_of(
            ctx.customer.default_lang
        )
        if wanted and wanted != self._base_lang and wanted in {k.lower() for k in model.variants}:
            return wanted
        return None

    def render(self, model_name: str, ctx: FollowUpContext) -> RenderedFollowUp:
        """Render every text of a model for one follow-up; raise the first :class:`TemplateError`."""
        variant = self.variant_for(model_name, ctx)
        body_owner = self._email_body_owner(model_name, variant)
        texts: dict[str, str | None] = {}
        langs: dict[str, str] = {}
        namespaces: dict[str, dict[str, Any]] = {}
        images: dict[str, InlineImage] = {}
        for field in (*TEXT_FIELDS, _MARKDOWN_AS_HTML):
            if field in _EMAIL_BODIES or field == _MARKDOWN_AS_HTML:
                compiled = self._compiled.get((model_name, body_owner, field))
            else:
                compiled = self._pick(model_name, variant, field)
            if compiled is None:
                texts[field] = None
                continue
            if compiled.errors:
                raise compiled.errors[0]
            lang = compiled.source.lang or self._base_lang
            if lang not in namespaces:
                namespaces[lang] = self._namespace(ctx, lang, images)
            langs[field] = lang
            texts[field] = self._run(compiled, namespaces[lang])
        email_text, email_html, email_lang = self._email_bodies(texts, langs)
        for problem in self._html_checks(email_html, texts, langs, model_name, unsafe_only=True):
            raise problem
        letter_lang = langs.get("letter_text", email_lang)
        document = None
        if email_html is not None:
            document = self._in_layout(email_html, namespaces[email_lang], _one_line(texts["email_subject"] or ""))
        return RenderedFollowUp(
            model_name=model_name,
            lang=email_lang,
            email_subject=_one_line(texts["email_subject"] or ""),
            email_text=email_text,
            email_html=document,
            letter_subject=_one_line(texts["letter_subject"] or ""),
            letter_text=texts["letter_text"] or "",
            letter_lang=None if letter_lang == email_lang else letter_lang,
            inline_images=tuple(image for image in images.values() if document and image.src in document),
        )

    def check(self, ctx: FollowUpContext) -> list[TemplateError]:
        """Render every model and variant against ``ctx``, then against the largest data Dolibarr
        may send (:func:`hostile_context`), under the same limits; return every error found,
        unsafe or broken HTML included."""
        errors = self._check_with(ctx, html=True)
        logo_path = self._settings.email.logo or self._settings.letter.logo
        if logo_path is not None and self.logo is None:
            errors.append(
                TemplateError(
                    f"the logo {self._settings.resolve_path(logo_path)} is not a PNG, JPEG or GIF image: "
                    "HTML e-mails would show the company's name instead",
                    remedy="give [email] logo a PNG file (mail clients do not show SVG or PDF images)",
                )
            )
        seen = {str(error) for error in errors}
        for error in self._check_with(hostile_context(ctx.today), html=False):
            if str(error) not in seen:
                errors.append(
                    TemplateError(
                        f"{error.message} (with the longest names, notes and amounts Dolibarr may send)",
                        remedy=error.remedy,
                    )
                )
                seen.add(str(error))
        return errors

    def _check_with(self, ctx: FollowUpContext, *, html: bool) -> list[TemplateError]:
        errors: list[TemplateError] = []
        namespaces: dict[str, dict[str, Any]] = {}
        for compiled in self._compiled.values():
            if compiled.errors:
                errors.extend(compiled.errors)
                continue
            if compiled.template is None:
                continue
            lang = compiled.source.lang or self._base_lang
            model_ctx = replace(ctx, model_name=compiled.source.model, level=self._levels[compiled.source.model])
            key = f"{lang}|{compiled.source.model}"
            if key not in namespaces:
                namespaces[key] = self._namespace(model_ctx, lang, {})
            try:
                output = self._run(compiled, namespaces[key])
                if compiled.source.field == _MARKDOWN_AS_HTML:
                    output = markdown_to_html(output)
                if compiled.source.field in _HTML_FIELDS:  # the layout is bounded by the same limits
                    self._in_layout(output, namespaces[key], "")
            except TemplateError as exc:
                errors.append(exc)
                continue
            if html and compiled.source.field in _HTML_FIELDS:
                errors.extend(self._problems_of(output, compiled.source, unsafe_only=False))
        return errors

    # -- e-mail bodies ----------------------------------------------------------------------

    def _email_body_owner(self, model_name: str, variant: str | None) -> str | None:
        """Whose e-mail bodies are used: the variant's when it gives any, else the base model's."""
        if variant is not None and any((model_name, variant, f) in self._compiled for f in _EMAIL_BODIES):
            return variant
        return None

    def _namespace(self, ctx: FollowUpContext, lang: str, images: dict[str, InlineImage]) -> dict[str, Any]:
        """:func:`variables` with the look of HTML e-mails: sanitised signature, logo, colours."""
        namespace = variables(ctx, lang)
        signature, signature_text = self._signature_of(ctx.user)
        if signature.html:
            namespace["user"]["signature_html"] = Markup(signature.html)
            # the text signature from the same sanitised HTML: no script's text in the plain part either
            namespace["user"]["signature"] = signature_text or namespace["user"]["signature"]
            images.update((image.cid, image) for image in signature.images)
        logo = self.logo
        if logo is not None:
            namespace["company"]["logo_url"] = logo.src
            images[logo.cid] = logo
        namespace["colors"] = dict(self._colors)
        return namespace

    def _email_bodies(
        self, texts: Mapping[str, str | None], langs: Mapping[str, str]
    ) -> tuple[str, str | None, str]:
        """(plain text, HTML body or None, language): each body given, or made from the other."""
        markdown = texts.get("email_markdown")
        if markdown is not None:
            return markdown, markdown_to_html(texts[_MARKDOWN_AS_HTML] or ""), langs["email_markdown"]
        html = texts.get("email_html")
        text = texts.get("email_text")
        lang = langs.get("email_text") or langs.get("email_html") or self._base_lang
        if text is None:
            text = html_to_text(html) if html is not None else ""
        return text, html, lang

    def _in_layout(self, body: str, namespace: Mapping[str, Any], subject: str) -> str:
        """The model's HTML inside the company layout; a model that writes a whole document keeps its own."""
        if re.match(r"\s*(<!doctype|<html)", body, re.IGNORECASE):
            return body
        return self._run(self._layout, {**namespace, "body": Markup(body), "subject": subject})

    def _html_checks(
        self,
        html: str | None,
        texts: Mapping[str, str | None],
        langs: Mapping[str, str],
        model_name: str,
        *,
        unsafe_only: bool,
    ) -> Iterator[TemplateError]:
        if html is None:
            return
        field = "email_markdown" if texts.get("email_markdown") is not None else "email_html"
        lang = langs.get(field)
        compiled = self._compiled.get((model_name, None if lang == self._base_lang else lang, field))
        source = compiled.source if compiled else _Source(model_name, None, field, None)
        yield from self._problems_of(html, source, unsafe_only=unsafe_only)

    def _problems_of(self, html: str, source: _Source, *, unsafe_only: bool) -> Iterator[TemplateError]:
        for problem in html_problems(html, allowed_image_hosts=self._allowed_image_hosts):
            if unsafe_only and not problem.unsafe:
                continue
            kind = "unsafe HTML" if problem.unsafe else "broken HTML"
            yield TemplateError(
                f"{source.where()}: {kind} at line {problem.line} of the HTML as rendered: {problem.message}",
                remedy=(
                    "remove it from the model: e-mails carry no scripts, forms or remote content "
                    "(allow image hosts in [email] allowed_image_hosts)"
                    if problem.unsafe
                    else "close every tag you open; some mail clients show the rest of the mail badly"
                ),
            )

    # -- internals --------------------------------------------------------------------------

    def _model(self, name: str) -> ModelSettings:
        try:
            return self._settings.model(name)
        except KeyError:
            known = ", ".join(self._levels)
            raise TemplateError(
                f"there is no model named {name!r}", remedy=f"use one of the models: {known}"
            ) from None

    def _pick(self, model_name: str, variant: str | None, field: str) -> _Compiled | None:
        self._model(model_name)
        if variant is not None:
            found = self._compiled.get((model_name, variant, field))
            if found is not None:
                return found
        return self._compiled.get((model_name, None, field))

    def _compile_variant(self, model: ModelSettings, variant: ModelVariant, lang: str | None) -> None:
        for field in TEXT_FIELDS:
            file_path = getattr(variant, f"{field}_file", None)
            resolved = self._settings.resolve_path(file_path) if file_path is not None else None
            source = _Source(model.name, lang, field, resolved)
            try:
                text = model_text(self._settings, variant, field)
            except (OSError, UnicodeDecodeError) as exc:
                error = TemplateError(
                    f"{source.where()}: cannot read the template file: {exc}",
                    remedy="paths are relative to the configuration file's directory",
                )
                self._compiled[(model.name, lang, field)] = _Compiled(source, None, (error,))
                continue
            if text is None:
                continue
            self._compiled[(model.name, lang, field)] = self._compile(source, text)
            if field == "email_markdown":
                as_html = replace(source, field=_MARKDOWN_AS_HTML)
                self._compiled[(model.name, lang, _MARKDOWN_AS_HTML)] = self._compile(as_html, text)

    def _compile(self, source: _Source, text: str, *, extra_names: frozenset[str] = frozenset()) -> _Compiled:
        env = self._html_env if source.field in _HTML_FIELDS else self._text_env
        errors: list[TemplateError] = []
        rewritten = _ALIAS_RE.sub(lambda m: _alias_expression(m, source, text, errors), text)
        if errors:
            return _Compiled(source, None, tuple(errors))
        try:
            ast = env.parse(rewritten, name=source.filename, filename=source.filename)
        except TemplateSyntaxError as exc:
            error = TemplateError(
                f"{source.where(exc.lineno)}: template syntax error: {exc.message}",
                remedy="check the {{ }} and {% %} pairs on that line; see docs/templates.md",
            )
            return _Compiled(source, None, (error,))
        errors.extend(self._unknown_variables(source, ast, extra_names))
        if errors:
            return _Compiled(source, None, tuple(errors))
        _bound_loops_and_concat(ast)
        code = env.compile(ast, name=source.filename, filename=source.filename)
        template = env.template_class.from_code(env, code, env.make_globals(None))
        return _Compiled(source, template, ())

    def _unknown_variables(
        self, source: _Source, ast: nodes.Template, extra_names: frozenset[str]
    ) -> Iterator[TemplateError]:
        assigned = {node.name for node in ast.find_all(nodes.Name) if node.ctx in ("store", "param")} | extra_names
        assigned |= {node.name for node in ast.find_all(nodes.Macro)}
        seen: set[str] = set()
        for node in ast.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
            dotted = _dotted(node)
            if dotted is None or dotted[0] in assigned or dotted[0] in _JINJA_NAMES:
                continue
            if dotted[0] in self._text_env.globals and dotted[0] not in self._known:
                continue
            unknown = _first_unknown(self._known, dotted)
            if unknown is None or unknown in seen:
                continue
            seen.add(unknown)
            yield self._unknown_error(source, unknown, node.lineno)

    def _unknown_error(self, source: _Source, name: str, line: int | None) -> TemplateError:
        close = difflib.get_close_matches(name, self._names, n=3, cutoff=0.6)
        if not close:
            stem = name.split(".")[0]
            close = [known for known in self._names if known.startswith(stem + ".")][:3]
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        return TemplateError(
            f"{source.where(line)}: unknown variable {name}{hint}",
            remedy="the variables are listed in docs/templates.md",
        )

    def _run(self, compiled: _Compiled, namespace: Mapping[str, Any]) -> str:
        assert compiled.template is not None
        source = compiled.source
        limits = self._limits
        token = _BUDGET.set(_Budget(limits, time.monotonic() + limits.max_seconds))
        chunks: list[str] = []
        length = 0
        try:
            for chunk in compiled.template.generate(namespace):
                length += len(chunk)
                if length > limits.max_output_chars:
                    raise _LimitExceeded(f"the text would be longer than {limits.max_output_chars:,} characters")
                chunks.append(chunk)
        except TemplateError:
            raise
        except (Exception, MemoryError, RecursionError) as exc:  # inside a template: the template's problem
            line = _template_line(exc.__traceback__, source.filename)
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            limited = isinstance(exc, (_LimitExceeded, MemoryError, RecursionError))
            raise TemplateError(
                f"{source.where(line)}: {message}",
                remedy=(
                    "simplify the template there: models are bounded in size, loops and time "
                    "(see docs/templates.md, Limits)"
                    if limited
                    else "the variables are listed in docs/templates.md"
                ),
            ) from None
        finally:
            _BUDGET.reset(token)
        return _strip_blank_lines("".join(chunks))


# --------------------------------------------------------------------------------------------
# Limits: a model is bounded by construction, whatever its text and whatever the data.
#
# Every value a template produces (operators, ``~``, filters, calls, output) is measured before or
# as it is made: its *size* counts characters of strings and items of containers (shared items
# counted each time they appear, as printing would). Operations whose result can be far larger
# than their inputs (``*``, ``**``, ``join``, ``replace``, widths, format specs) are estimated
# *before* they run, so nothing huge is ever allocated. Loops count their iterations and every
# step checks the deadline, so a template cannot spin forever.


class _LimitExceeded(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _Budget:
    limits: RenderLimits
    deadline: float
    iterations: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _LimitExceeded(
                f"the rendering took longer than {self.limits.max_seconds:g} s and was stopped"
            )


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("dolirelance_render_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # Jinja folding constants at compile time: one expression, default limits
        budget = _Budget(DEFAULT_LIMITS, time.monotonic() + DEFAULT_LIMITS.max_seconds)
    return budget


def _size(value: object, cap: int) -> int:
    """Characters/items in ``value`` (shared parts counted each time); stops counting past ``cap``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 1 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 1 + len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 8 + 1
        else:
            total += 1
        if total > cap:
            return total
    return total


def _check_size(value: object, what: str) -> None:
    limits = _budget().limits
    if _size(value, limits.max_value_size) > limits.max_value_size:
        raise _LimitExceeded(f"{what} would be longer than {limits.max_value_size:,} characters or items")


def _check_int(value: int, what: str) -> None:
    limit = _budget().limits.max_int_digits
    if value.bit_length() > limit * 3.33:  # digits ≈ bits × log10(2)
        raise _LimitExceeded(f"{what} would have more than {limit} digits")


def _estimated_int_bits(operator: str, left: int, right: int) -> int:
    if operator == "*":
        return left.bit_length() + right.bit_length()
    if operator == "**":
        return max(left.bit_length() - 1, 1) * max(right, 0) if abs(left) > 1 else 1
    return max(left.bit_length(), right.bit_length()) + 1


_PRINTF_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")


def _check_format(fmt: object) -> None:
    """Refuse widths and precisions beyond the size limit in ``%`` and ``{:}`` format strings."""
    if not isinstance(fmt, str):
        return
    limit = _budget().limits.max_value_size
    numbers: list[str] = []
    for match in _PRINTF_WIDTH.finditer(fmt):
        numbers.extend(group for group in match.groups() if group)
    for match in _FORMAT_SPEC.finditer(fmt):
        numbers.extend(re.findall(r"\d+|\*|\{", match.group(1)))
    if re.search(r"\{[^{}]*:[^{}]*\{", fmt):
        numbers.append("{")  # a width taken from an argument: cannot be checked up front
    for number in numbers:
        if not number.isdigit() or len(number) > 9 or int(number) > limit:
            raise _LimitExceeded(f"a format width or precision ({number}) is beyond {limit:,}")


def _estimate_growth(name: str, target: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Upper bound of the size of ``target.name(*args)`` (or filter ``name``) for the operations that grow."""
    limit = _budget().limits.max_value_size
    text = target if isinstance(target, str) else ""
    params = list(args) + list(kwargs.values())
    if name in ("center", "ljust", "rjust", "zfill"):
        width = next((p for p in params if isinstance(p, int)), 0)
        return max(len(text), int(width))
    if name == "expandtabs":
        size = next((p for p in params if isinstance(p, int)), 8)
        return len(text) + text.count("\t") * max(int(size), 0)
    if name == "indent":
        width = params[0] if params else 4
        pad = len(width) if isinstance(width, str) else max(int(width), 0) if isinstance(width, int) else 4
        return len(text) + (text.count("\n") + 1) * pad
    if name == "wordwrap":
        # a line ends before a word that does not fit, or inside a word longer than the width
        width = args[0] if args and type(args[0]) is int else kwargs.get("width", 79)
        wrap = kwargs.get("wrapstring") or next((p for p in args if isinstance(p, str)), "\n")
        lines = len(text.split()) + len(text) // max(int(width), 1) + 1
        return len(text) + lines * len(wrap)
    if name == "join":
        # str.join(items) on a separator, or the join filter: value = items, first arg = separator
        items, sep = (args[0] if args else (), text) if isinstance(target, str) else (target, _first_str(params))
        count = len(items) if isinstance(items, (list, tuple, set, frozenset, dict, str)) else limit
        return _size(items, limit) + count * len(sep)
    if name == "replace":
        if len(params) >= 2 and isinstance(params[0], str) and isinstance(params[1], str):
            occurrences = (len(text) + 1) if params[0] == "" else text.count(params[0])
            return len(text) + occurrences * len(params[1])
        return len(text)
    if name == "translate":
        table = params[0] if params and isinstance(params[0], Mapping) else {}
        longest = max((_size(value, limit) for value in table.values()), default=1)
        return len(text) * max(longest, 1)
    return 0


def _materialized(value: Any) -> Any:
    """A lazy iterable (``map``, ``select``...) as a list, so its size can be known; bounded as it is read.

    The size is counted item by item as :func:`_size` would count the whole list, so that a
    sequence of large items (``range(n)|map("center", w)``) stops at the limit, not after it is built.
    """
    if isinstance(value, (str, bytes, Mapping, list, tuple, set, frozenset)) or not isinstance(value, Iterable):
        return value
    budget = _budget()
    limit = budget.limits.max_value_size
    items: list[Any] = []
    total = 1  # the list itself, as _size counts it
    for item in value:
        budget.tick()
        total += 1 + _size(item, limit - total + 1)
        if total > limit:
            raise _LimitExceeded(f"a sequence would be longer than {limit:,} characters or items")
        items.append(item)
    return items


def _first_str(params: Iterable[Any]) -> str:
    return next((p for p in params if isinstance(p, str)), "")


# Filters that read a whole (possibly lazy) sequence into a list or a text: the sequence is read
# through _materialized, bounded while it is built, not measured once built.
_CONSUMING_FILTERS = frozenset({"list", "join", "sort", "reverse", "unique", "slice", "batch", "groupby"})


def _bounded_filter(name: str, filter_function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(filter_function)  # keeps Jinja's pass_context/pass_eval_context marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        # the value comes first, after a context / eval context / environment when the filter asks for one
        passed = sum(1 for a in args[:1] if isinstance(a, (Context, EvalContext, ImmutableSandboxedEnvironment)))
        if name in _CONSUMING_FILTERS and len(args) > passed:
            args = (*args[:passed], _materialized(args[passed]), *args[passed + 1 :])
        values = list(args[passed:])
        value, params = (values[0] if values else None), tuple(values[1:])
        _check_size(values + list(kwargs.values()), f"the input of filter {name!r}")
        if name == "format":
            _check_format(value)
        if _estimate_growth(name, value, params, kwargs) > budget.limits.max_value_size:
            raise _LimitExceeded(
                f"filter {name!r} would make a text longer than {budget.limits.max_value_size:,} characters"
            )
        result = filter_function(*args, **kwargs)
        _check_size(result, f"the result of filter {name!r}")
        return result

    return bounded


@pass_eval_context
def _bounded_concat(eval_ctx: EvalContext, *parts: Any) -> str:
    """The ``~`` operator, measured before joining."""
    _budget().tick()
    _check_size(list(parts), "a text joined with ~")
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


def _bounded_iter(iterable: Any) -> Iterator[Any]:
    """What every ``{% for %}`` loops over: each iteration counted and timed."""
    budget = _budget()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > budget.limits.max_loop_iterations:
            raise _LimitExceeded(
                f"the loops ran more than {budget.limits.max_loop_iterations:,} times in all and were stopped"
            )
        budget.tick()
        yield item


_CONCAT_NAME = "__dolirelance_concat"
_ITER_NAME = "__dolirelance_iter"


def _bound_loops_and_concat(ast: nodes.Template) -> None:
    """Route every ``for`` and every ``~`` of a parsed template through the bounded helpers."""
    for loop in ast.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name(_ITER_NAME, "load"), [loop.iter], [], None, None, lineno=loop.lineno)
    # children before parents, so a ``~`` inside a ``~`` is replaced before its parent copies it
    for parent in reversed(list(ast.find_all(nodes.Node))):
        for field_name in parent.fields:
            child = getattr(parent, field_name, None)
            if isinstance(child, nodes.Concat):
                setattr(parent, field_name, _concat_call(child))
            elif isinstance(child, list):
                setattr(
                    parent,
                    field_name,
                    [_concat_call(item) if isinstance(item, nodes.Concat) else item for item in child],
                )


def _concat_call(node: nodes.Concat) -> nodes.Call:
    return nodes.Call(nodes.Name(_CONCAT_NAME, "load"), list(node.nodes), [], None, None, lineno=node.lineno)


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (no private attributes, no mutation of lists and dicts) plus size and time bounds."""

    intercepted_binops = frozenset({"+", "*", "**", "%", "//"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=autoescape,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            finalize=_finalize,
        )
        del self.globals["lipsum"]  # generates text of any length on request
        self.globals[_CONCAT_NAME] = _bounded_concat
        self.globals[_ITER_NAME] = _bounded_iter
        self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().tick()
        limit = _budget().limits.max_value_size
        both_ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
        if both_ints:
            digits = _budget().limits.max_int_digits
            if _estimated_int_bits(operator, left, right) > digits * 3.33 + 8:
                raise _LimitExceeded(f"the result of {operator} would have more than {digits} digits")
        elif operator == "*":
            count = right if isinstance(right, int) else left if isinstance(left, int) else 1
            other = left if isinstance(right, int) else right
            if isinstance(count, int) and _size(other, limit) * max(count, 0) > limit:
                raise _LimitExceeded(f"the result of * would be longer than {limit:,} characters or items")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
            _check_size(right, "the values of %")
        elif operator == "+":
            _check_size([left, right], "the result of +")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, int) and not isinstance(result, bool):
            _check_int(result, f"the result of {operator}")
        else:
            _check_size(result, f"the result of {operator}")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format(value.__self__)  # str.format reached as an attribute: check its widths now

        @functools.wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_size([list(args), list(kwargs.values())], "the values of format()")
            result = wrapped(*args, **kwargs)
            _check_size(result, "the result of format()")
            return result

        return bounded

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is _bounded_concat or __obj is _bounded_iter:  # they measure their own work
            return __context.call(__obj, *args, **kwargs)
        budget = _budget()
        budget.tick()
        _check_size([list(args), list(kwargs.values())], "the arguments of a call")
        name = getattr(__obj, "__name__", "")
        target = getattr(__obj, "__self__", None)
        if name == "join" and isinstance(target, str) and args:
            args = (_materialized(args[0]), *args[1:])
        if name in ("format", "format_map") and isinstance(target, str):
            _check_format(target)
        if isinstance(target, str) and _estimate_growth(name, target, args, kwargs) > budget.limits.max_value_size:
            raise _LimitExceeded(
                f"{name}() would make a text longer than {budget.limits.max_value_size:,} characters"
            )
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, int) and not isinstance(result, bool):
            _check_int(result, f"the result of {name or 'a call'}()")
        else:
            _check_size(result, f"the result of {name or 'a call'}()")
        return result


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` printed: measured before it becomes text."""
    _budget().tick()
    _check_size(value, "a printed value")
    return value


def _environment(*, autoescape: bool) -> _BoundedEnvironment:
    return _BoundedEnvironment(autoescape=autoescape)


def _alias_expression(match: re.Match[str], source: _Source, text: str, errors: list[TemplateError]) -> str:
    key = match.group(0)
    expression = DOLIBARR_ALIASES.get(key)
    if expression is None:
        line = text.count("\n", 0, match.start()) + 1
        close = difflib.get_close_matches(key, list(DOLIBARR_ALIASES), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        errors.append(
            TemplateError(
                f"{source.where(line)}: unknown Dolibarr key {key}{hint}",
                remedy="the Dolibarr keys accepted are listed in docs/templates.md",
            )
        )
        return key
    return "{{ " + expression + " }}"


def _dotted(node: nodes.Node) -> tuple[str, ...] | None:
    """``quote.amounts.excl_tax`` → ("quote", "amounts", "excl_tax"); None when not a plain path."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if not isinstance(node.arg.value, str):
                return None
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            if node.ctx != "load":
                return None
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def _first_unknown(tree: Mapping[str, Any], dotted: tuple[str, ...]) -> str | None:
    level: Any = tree
    for depth, part in enumerate(dotted):
        if not isinstance(level, Mapping):
            return None  # below a leaf: a method or attribute of a value (quote.ref.upper)
        if part not in level:
            return ".".join(dotted[: depth + 1])
        level = level[part]
    return None


@lru_cache(maxsize=1)
def _catalogue_tree() -> Mapping[str, Any]:
    return variables(sample_context(date(2026, 11, 28)), "fr")


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _one_line(text: str) -> str:
    return " ".join(text.split())


_LAYOUT_TEXT = (Path(__file__).parent / "defaults" / "email-layout.html").read_text(encoding="utf-8")
_IMAGE_SUBTYPES = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif"}


def _logo_image(path: Path, cid_domain: str) -> InlineImage | None:
    """The logo file as an inline image; None (the company's name is shown instead) when unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    subtype = next((kind for magic, kind in _IMAGE_SUBTYPES.items() if data.startswith(magic)), None)
    if subtype is None:
        return None  # an SVG or a PDF: mail clients would not show it
    return InlineImage(f"logo@{cid_domain}", data, subtype, f"logo.{subtype}")


def _strip_blank_lines(text: str) -> str:
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def sample_context(today: date) -> FollowUpContext:
    """A realistic French follow-up, for ``config check`` and previews."""
    issued = today - timedelta(days=20)
    company = Company(
        name="Solaire Rhône-Alpes SARL",
        address="12 rue de la République",
        zip="69002",
        town="Lyon",
        country_code="FR",
        email="contact@solaire-ra.fr",
        phone="04 78 00 00 00",
        url="https://www.solaire-ra.fr",
        siren="123 456 789",
        siret="123 456 789 00012",
        ape="4321A",
        rcs="RCS Lyon B 123 456 789",
        vat_number="FR12123456789",
        capital="50 000 €",
    )
    customer = Customer(
        id=42,
        name="Boulangerie Martin",
        email="contact@boulangerie-martin.fr",
        address="3 place Bellecour\nBâtiment B",
        zip="69002",
        town="Lyon",
        country_code="FR",
        customer_code="CU2611-00042",
        phone="04 72 00 00 42",
        default_lang="fr_FR",
    )
    contact = QuoteContact(
        contact_id=12,
        type_code="CUSTOMER",
        source="external",
        firstname="Julie",
        lastname="Dupont",
        email="julie.dupont@boulangerie-martin.fr",
        civility="MME",
    )
    quote = Quote(
        id=7,
        ref="PR2611-0001",
        customer_id=customer.id,
        status=QuoteStatus.OPEN,
        issue_date=issued,
        end_of_validity=issued + timedelta(days=30),
        total_excl_tax=Decimal("1206.67"),
        total_tax=Decimal("241.33"),
        total_incl_tax=Decimal("1448.00"),
        currency="EUR",
        customer_ref="CMD-2026-118",
        main_document="PR2611-0001/PR2611-0001.pdf",
        contacts=(contact,),
    )
    user = User(
        id=3,
        login="tbernard",
        firstname="Thomas",
        lastname="Bernard",
        email="thomas.bernard@solaire-ra.fr",
        office_phone="04 78 00 00 01",
        job="Chargé d'affaires",
    )
    return FollowUpContext(
        quote=quote,
        customer=customer,
        contact=contact,
        user=user,
        company=company,
        model_name="1ère relance",
        level=1,
        previous_date=today - timedelta(days=14),
        next_date=today + timedelta(days=15),
        today=today,
    )


# The addressees every model must read right for (`config check` renders each, both sides of the end of validity).
ADDRESSEE_KINDS = ("a contact with a civility", "a contact without civility", "the company (no contact)")


def sample_contexts(today: date) -> list[tuple[str, FollowUpContext]]:
    """The sample follow-up for each kind of addressee, before and after the end of validity."""
    base = sample_context(today)
    contact = base.contact
    assert isinstance(contact, QuoteContact)
    addressees: dict[str, QuoteContact | None] = {
        ADDRESSEE_KINDS[0]: contact,
        ADDRESSEE_KINDS[1]: replace(contact, civility=None),
        ADDRESSEE_KINDS[2]: None,
    }
    validity = {
        "before the end of validity": today + timedelta(days=5),
        "after the end of validity": today - timedelta(days=10),
    }
    contexts = []
    for who, addressee in addressees.items():
        for when, end in validity.items():
            quote = replace(base.quote, end_of_validity=end, contacts=(addressee,) if addressee else ())
            contexts.append((f"{who}, {when}", replace(base, quote=quote, contact=addressee)))
    return contexts


def hostile_context(today: date) -> FollowUpContext:
    """The sample follow-up with every value at the largest size the wire models accept.

    ``config check`` renders every model with it, so a model that fits real data today cannot
    exceed the limits on tomorrow's longest customer name or note.
    """
    ctx = sample_context(today)
    line = "Ê" * 255
    long_text = ("\n".join([line] * (MAX_TEXT_LENGTH // 256 + 1)))[:MAX_TEXT_LENGTH]
    amount = MAX_AMOUNT - Decimal("0.01")
    assert isinstance(ctx.contact, QuoteContact)
    contact = replace(ctx.contact, firstname=line, lastname=line, email="x" * 64 + "@" + "y" * 185 + ".fr")
    return replace(
        ctx,
        quote=replace(
            ctx.quote,
            ref="PR" + "9" * 126,
            customer_ref=line,
            note_public=long_text,
            total_excl_tax=amount,
            total_tax=amount,
            total_incl_tax=amount,
            end_of_validity=date(MAX_YEAR, 12, 31),
            contacts=(contact,),
        ),
        customer=replace(ctx.customer, name=line, address="\n".join([line] * 4), town=line, zip=line[:32]),
        contact=contact,
        user=replace(ctx.user, signature=long_text, signature_html=long_text, firstname=line, lastname=line, job=line),
        company=replace(ctx.company, name=line, address="\n".join([line] * 4)),
    )
