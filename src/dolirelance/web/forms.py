"""Reading what the forms post: the body (bounded in size), its fields, and the forms' own shapes
(the mass filters and request, the « Nouvelle relance » form). Wrong input is a :class:`FormError`.

The one-time tokens of the sending forms live in :mod:`dolirelance.web.once`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request

from dolirelance.domain import Channel

# The one-time tokens were kept here before web.once: their names are still importable from here.
from dolirelance.web.once import OneTimeForms as OneTimeForms
from dolirelance.web.once import Replay as Replay
from dolirelance.web.once import Replayed as Replayed

MAX_FORM_BYTES = 1_000_000

# The « Nouvelle relance » form's one-time token, also its follow-up's ledger key.
ATTEMPT_TOKEN = re.compile(r"[0-9a-f]{32}")


class FormError(Exception):
    """Bad input on a form: the page shows ``message`` above the form (``detail`` collapsed below it)."""

    def __init__(self, message: str, remedy: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.detail = detail


async def read_form(request: Request) -> dict[str, list[str]]:
    """The urlencoded form body (the pages post nothing else), bounded in size *while* reading:
    a declared length over the limit is refused before a byte is read, a stream is cut at it."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise HTTPException(413, "form too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
        chunks.append(chunk)
    return parse_qs(b"".join(chunks).decode("utf-8", errors="replace"), keep_blank_values=True)


def first_value(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0].strip() if values else default


def safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no host, no ``//``) may follow the login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/mass"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/mass"


def parse_next_date(text: str, today: date, labels: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        chosen = date.fromisoformat(text)
    except ValueError:
        raise FormError(labels["bad_date"]) from None
    if chosen < today:
        raise FormError(labels["date_in_past"])
    return chosen


# The mass form's « the whole selection » choices (a ChannelChoice each).
SELECT_ALL_CHOICES = ("letter", "email", "prefer-email")


@dataclass(frozen=True)
class MassFilters:
    sales_rep: str = ""
    customer: str = ""
    expired: bool = False
    all_open: bool = False  # False: only the quotes whose end of validity is near
    due: bool = False  # only the quotes whose next follow-up date is reached
    hide_opt_out: bool = False
    page: int = 0

    @classmethod
    def from_values(cls, get: Callable[[str], str]) -> MassFilters:
        page = get("page")
        return cls(
            sales_rep=get("sales_rep"),
            customer=get("customer"),
            expired=get("expired") in ("1", "on"),
            all_open=get("all") in ("1", "on"),
            due=get("due") in ("1", "on"),
            hide_opt_out=get("hide_opt_out") in ("1", "on"),
            page=int(page) - 1 if page.isdigit() and 0 < int(page) < 100_000 else 0,
        )

    @property
    def selection_key(self) -> tuple[str, str, bool, bool, bool, bool]:
        """What selects the quotes (not the page shown)."""
        return (self.sales_rep, self.customer, self.expired, self.all_open, self.due, self.hide_opt_out)

    def query(self, page: int | None = None) -> str:
        """The filters as a query string (links, the summary's URL), with ``page`` (1-based) if given."""
        values = {
            "sales_rep": self.sales_rep, "customer": self.customer, "expired": "1" if self.expired else "",
            "all": "1" if self.all_open else "", "due": "1" if self.due else "",
            "hide_opt_out": "1" if self.hide_opt_out else "",
        }
        if page is not None:
            values["page"] = str(page)
        return urlencode({key: value for key, value in values.items() if value})


@dataclass(frozen=True)
class MassRequest:
    """What the mass form asks: the ticked quotes or the whole selection, the models, note and date."""

    filters: MassFilters
    letters: tuple[str, ...]
    emails: tuple[str, ...]
    select_all: str  # "", or one of SELECT_ALL_CHOICES
    models: dict[str, str]
    note: str
    next_text: str
    force: bool

    @classmethod
    def from_form(cls, form: dict[str, list[str]]) -> MassRequest:
        select_all = first_value(form, "select_all")
        return cls(
            filters=MassFilters.from_values(lambda name: first_value(form, name)),
            letters=tuple(dict.fromkeys(v for v in form.get("letter", []) if v)),
            emails=tuple(dict.fromkeys(v for v in form.get("email", []) if v)),
            select_all=select_all if select_all in SELECT_ALL_CHOICES else "",
            models={key[len("model:"):]: values[0] for key, values in form.items()
                    if key.startswith("model:") and values},
            note=first_value(form, "note"),
            next_text=first_value(form, "next_date"),
            force=first_value(form, "force") in ("1", "on"),
        )


@dataclass(frozen=True)
class FollowUpForm:
    """What the "Nouvelle relance" form asks (the preview and the sending read the same fields)."""

    quote_id: str
    customer_id: str
    model: str
    note: str
    next_text: str
    channel_text: str  # "email", "letter", or "" when none was chosen
    force: bool
    attempt: str

    @classmethod
    def from_values(cls, get: Callable[[str], str]) -> FollowUpForm:
        attempt = get("attempt")
        channel = get("channel")
        if not channel and get("send_email"):  # the form before the channel became an explicit choice
            channel = "email" if get("send_email") in ("1", "on") else "letter"
        return cls(
            quote_id=get("quote"), customer_id=get("customer"), model=get("model"), note=get("note"),
            next_text=get("next_date"), channel_text=channel if channel in ("email", "letter") else "",
            force=get("force") in ("1", "on"),
            attempt=attempt if ATTEMPT_TOKEN.fullmatch(attempt) else secrets.token_hex(16),
        )

    def checked(self, labels: dict[str, str]) -> Channel:
        if not self.quote_id.isdigit():
            raise FormError(labels["no_quote_chosen"])
        if not self.channel_text:
            raise FormError(labels["choose_channel"])
        return Channel(self.channel_text)

    def query(self) -> str:
        """The fields the letter's PDF preview needs, as a query string."""
        return urlencode({"quote": self.quote_id, "model": self.model, "note": self.note,
                          "next_date": self.next_text})

