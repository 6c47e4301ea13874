"""The web pages: Starlette routes over :mod:`dolirelance.service`, rendered with Jinja2 (autoescape on).

Every page runs as the logged-in Dolibarr user: the request opens a runtime with that user's own
API key (kept in the server-side session), so Dolibarr applies the user's rights and the events
it records name that user.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.parse import quote as url_quote

import uvicorn
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from dolirelance.config import Settings
from dolirelance.dolibarr import Transport
from dolirelance.domain import Channel, QuoteFilter, Recipient, choose_recipients
from dolirelance.effectiveness import Report, as_dict
from dolirelance.errors import (
    AccessDenied,
    DolibarrAuthError,
    DolibarrNotFound,
    DolibarrUnavailable,
    DolirelanceError,
    ErrorCode,
    FollowUpError,
    RecentFollowUp,
)
from dolirelance.formatting import format_amount, format_short_day
from dolirelance.ledger import Entry
from dolirelance.mail import viewable_html
from dolirelance.service import (
    ChannelChoice,
    FollowUpOutcome,
    HistoryLine,
    MassItem,
    MassSelection,
    PreparedFollowUp,
    QuoteRow,
    QuotesSelection,
    Runtime,
    SmtpFactory,
    email_reachable,
    follow_up,
    history_view,
    letters_to_print,
    log_in,
    mass_follow_up,
    open_runtime,
    plan_mass,
    prepare_followup,
    print_letters,
    quotes_overview,
    quotes_screen,
    quotes_selection,
    read_customer,
    read_quote,
    resolve_customer_ids,
    upcoming,
    working_calendar,
)
from dolirelance.service.access import (
    MODULE_RIGHT_LABELS,
    MODULE_WRITE_RIGHT,
    Access,
    access_configured,
    access_of,
    refusal,
    require_access,
)
from dolirelance.service.agenda import is_recent, last_followup, owner_name
from dolirelance.service.report import effectiveness_report
from dolirelance.web.charts import CHARTS, chart_png, chart_svg
from dolirelance.web.email_frames import EmailFrames, frame_policy
from dolirelance.web.forms import OneTimeForms, Replayed
from dolirelance.web.jobs import JobBoard, MassJob
from dolirelance.web.labels import LABELS, LANGUAGES
from dolirelance.web.report import (
    FIRST_ANSWER_SECONDS,
    REPORT_LABELS,
    ReportCache,
    ReportQuery,
    number_text,
    percent_text,
)
from dolirelance.web.security import SESSION_COOKIE, LoginLimiter, Session, SessionStore, csrf_ok
from dolirelance.web.selections import SelectionCache
from dolirelance.web.sso import FIELDS as SSO_FIELDS
from dolirelance.web.sso import SsoRefused, SsoVerifier, login_page_for, requested_path, sso_verifier
from dolirelance.web.user_errors import PageError, outcome_note, page_error, plan_note

__all__ = ["create_web_app", "serve_web"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_FORM_BYTES = 1_000_000
# Only files the pages themselves wrote may be downloaded: batch PDFs and single letters.
ATTEMPT_TOKEN = re.compile(r"[0-9a-f]{32}")
DOWNLOADABLE = re.compile(r"^(relances|relance-unitaire)-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}\.pdf$")
API_SUFFIX = "/api/index.php"

Handler = Callable[[Request], Awaitable[Response]]


class FormError(Exception):
    """Bad input on a form: the page shows ``message`` above the form (``detail`` collapsed below it)."""

    def __init__(self, message: str, remedy: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.detail = detail


@dataclass
class WebState:
    settings: Settings
    sessions: SessionStore
    limiter: LoginLimiter
    templates: Environment
    dolibarr_transport: Transport | None = None
    now: Callable[[], datetime] | None = None
    smtp_factory: SmtpFactory | None = None
    jobs: JobBoard = field(default_factory=JobBoard)
    # session id -> (when read, what the user may do): pages reuse it for [access] cache_seconds
    access_cache: dict[str, tuple[float, Access]] = field(default_factory=dict)
    email_frames: EmailFrames = field(default_factory=EmailFrames)
    # the one-time tokens of the sending forms (see web.forms)
    forms: OneTimeForms = field(default_factory=lambda: OneTimeForms(lifetime_seconds=8 * 3600))
    # the Dolibarr module's signed links ([web] dolibarr_sso_secret_env); None: the password only
    sso: SsoVerifier | None = None

    async def access(self, session: Session) -> Access:
        """What the session's user may do under ``[access]``, as Dolibarr said it at most ``cache_seconds`` ago."""
        if not access_configured(self.settings.access):
            return Access.SEND
        now = (self.now or (lambda: datetime.now(UTC)))().timestamp()
        cached = self.access_cache.get(session.session_id)
        if cached is not None and now - cached[0] < self.settings.access.cache_seconds:
            return cached[1]
        async with self.runtime(session) as rt:
            level = await access_of(rt, await rt.me())
            if level is Access.NONE:
                self.access_cache.pop(session.session_id, None)
                raise refusal(self.settings.access, await rt.me(), Access.READ)
        ttl = self.settings.access.cache_seconds
        self.access_cache = {sid: seen for sid, seen in self.access_cache.items() if now - seen[0] < ttl}
        self.access_cache[session.session_id] = (now, level)
        return level

    def runtime(self, session: Session) -> AbstractAsyncContextManager[Runtime]:
        assert session.api_key is not None
        return open_runtime(
            self.settings,
            api_key=session.api_key,
            transport=self.dolibarr_transport,
            now=self.now,
            smtp_factory=self.smtp_factory,
        )

    @property
    def output_dir(self) -> Path:
        return self.settings.resolve_path(self.settings.letter.output_dir)

    def generated_files(self, session: Session) -> list[Path]:
        """The letters this user may download: their own, or all with Dolibarr's societe.client.voir."""
        if not self.output_dir.is_dir():
            return []
        files = [
            p
            for p in self.output_dir.iterdir()
            if DOWNLOADABLE.match(p.name) and p.is_file() and self.may_download(p, session)
        ]
        return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)

    def may_download(self, path: Path, session: Session) -> bool:
        if session.sees_all_customers:
            return True
        try:
            owner = _owner_file(path).read_text(encoding="utf-8").strip()
        except OSError:
            return False  # no owner recorded: only users who see every customer
        return session.login is not None and owner == session.login

    def record_owner(self, path: Path, login: str | None) -> None:
        """Remember who made a generated file (next to it, so it survives restarts)."""
        if login:
            _owner_file(path).write_text(login, encoding="utf-8")

    def client_address(self, request: Request) -> str:
        """The browser's address: taken from X-Forwarded-For only behind [web] trusted_proxies
        (ProxyHeadersMiddleware, see create_web_app); otherwise whoever connected."""
        return request.client.host if request.client else "unknown"

    def dolibarr_document_url(self, quote_ref: str, file_name: str) -> str:
        """Dolibarr's own download page for a file attached to a quote (the user's Dolibarr session)."""
        root = self.settings.dolibarr.url.removesuffix(API_SUFFIX)
        return f"{root}/document.php?modulepart=propal&file={url_quote(f'{quote_ref}/{file_name}', safe='')}"


def _owner_file(path: Path) -> Path:
    return path.with_name(path.name + ".owner")  # never matches DOWNLOADABLE


# --------------------------------------------------------------------------- formatting


_format_date = format_short_day
_format_amount = format_amount


def _make_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


# --------------------------------------------------------------------------- request helpers


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _session(request: Request) -> Session | None:
    return _state(request).sessions.from_cookie(request.cookies.get(SESSION_COOKIE))


def _language(request: Request, session: Session | None) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        if session is not None:
            session.language = asked
        return asked
    if session is not None and session.language:
        return session.language
    return _state(request).settings.web.language


def _set_cookie(request: Request, response: Response, session: Session) -> None:
    state = _state(request)
    response.set_cookie(
        SESSION_COOKIE,
        state.sessions.cookie_value(session),
        max_age=state.sessions.seconds_left(session),
        httponly=True,
        samesite="lax",
        # https as the browser sees it: X-Forwarded-Proto is believed from [web] trusted_proxies only
        secure=state.settings.web.secure_cookie or request.url.scheme == "https",
        path="/",
    )


def _render(
    request: Request,
    session: Session | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    state = _state(request)
    lang = _language(request, session)
    labels = LABELS[lang]
    send_right = state.settings.access.senders_group or ""
    if state.settings.access.module_rights:  # "ask for the right « Créer des relances de devis »", not a group
        labels = {**labels, "cannot_send": labels["cannot_send_module"]}
        send_right = MODULE_RIGHT_LABELS[MODULE_WRITE_RIGHT]
    html = state.templates.get_template(template).render(
        t=labels,
        lang=lang,
        session=session,
        csrf_token=session.csrf_token if session else "",
        user_name=session.display_name if session else "",
        fmt_date=lambda value: _format_date(value, lang),
        fmt_amount=lambda value, currency="EUR": _format_amount(value, currency, lang),
        error=context.pop("error", None),
        can_send=getattr(request.state, "can_send", True),
        senders_group=send_right,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


async def _read_form(request: Request) -> dict[str, list[str]]:
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


def _first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0].strip() if values else default


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no host, no ``//``) may follow the login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/mass"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/mass"


PageErrorBox = tuple[str, str | None] | tuple[str, str | None, str | None]


def _error_text(exc: DolirelanceError | FormError, lang: str) -> PageErrorBox:
    """The error box of a page: a form's own words, or a service error in the page's language."""
    if isinstance(exc, FormError):
        return exc.message, exc.remedy, exc.detail
    shown = page_error(exc, lang)
    return shown.message, shown.remedy, shown.detail


def _parse_next_date(text: str, today: date, labels: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        chosen = date.fromisoformat(text)
    except ValueError:
        raise FormError(labels["bad_date"]) from None
    if chosen < today:
        raise FormError(labels["date_in_past"])
    return chosen


def logged_in(handler: Callable[[Request, Session], Awaitable[Response]]) -> Handler:
    """Pages for logged-in users: others go to the login page, then come back.

    Dolibarr refusing the session's key (revoked, user disabled) ends the session. Any other
    error a user can meet is shown as a message with its remedy, never as a stack trace.
    """

    async def wrapper(request: Request) -> Response:
        session = _session(request)
        if session is None or not session.logged_in:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={url_quote(target, safe='')}", status_code=303)
        try:
            # [access]: who may read at all, and whether the pages offer to send (the sends check again)
            request.state.can_send = await _state(request).access(session) >= Access.SEND
            return await handler(request, session)
        except AccessDenied as exc:
            request.state.can_send = False
            return _render(request, session, "error.html", status_code=403,
                           error=_error_text(exc, _language(request, session)))
        except DolibarrAuthError as exc:
            if exc.status_code == 401:
                _state(request).sessions.drop(session)
                return RedirectResponse("/login", status_code=303)
            return _render(request, session, "error.html", status_code=403,
                           error=_error_text(exc, _language(request, session)))
        except DolibarrNotFound as exc:  # a quote or customer that does not exist: a user error, not a 5xx
            return _render(request, session, "error.html", status_code=404,
                           error=_error_text(exc, _language(request, session)))
        except DolibarrUnavailable as exc:
            return _render(request, session, "error.html", status_code=503,
                           error=_error_text(exc, _language(request, session)))
        except FollowUpError as exc:  # asked for something that cannot be done: the user's side
            return _render(request, session, "error.html", status_code=400,
                           error=_error_text(exc, _language(request, session)))
        except DolirelanceError as exc:  # Dolibarr refused or answered oddly, a setting is wrong: not the user's
            return _render(request, session, "error.html", status_code=502,
                           error=_error_text(exc, _language(request, session)))

    return wrapper


def _check_csrf(session: Session, form: dict[str, list[str]]) -> None:
    if not csrf_ok(session, _first(form, "csrf") or None):
        raise HTTPException(403, "CSRF token missing or wrong")


async def _sending_form(request: Request, session: Session) -> dict[str, list[str]]:
    """The posted form of a page that previews, sends or files follow-ups, its CSRF token checked.

    Every handler that may send (Nouvelle relance, Relance massive) reads its form here: the one
    place where a check of who may send belongs.
    """
    form = await _read_form(request)
    _check_csrf(session, form)
    return form


# --------------------------------------------------------------------------- login / logout


async def login_page(request: Request) -> Response:
    session = _session(request)
    if session is not None and session.logged_in:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    new = session is None
    session = session or _state(request).sessions.create()
    response = _render(request, session, "login.html", next=_safe_next(request.query_params.get("next")), login="")
    if new:
        _set_cookie(request, response, session)
    return response


async def login_submit(request: Request) -> Response:
    state = _state(request)
    session = _session(request)
    form = await _read_form(request)
    login = _first(form, "login")
    next_page = _safe_next(_first(form, "next"))
    if session is None or not csrf_ok(session, _first(form, "csrf") or None):
        fresh = session or state.sessions.create()
        labels = LABELS[_language(request, fresh)]
        response = _render(request, fresh, "login.html", status_code=403, next=next_page, login=login,
                           error=(labels["csrf_failed"], None))
        _set_cookie(request, response, fresh)
        return response
    labels = LABELS[_language(request, session)]
    client = state.client_address(request)
    wait = state.limiter.begin(client, login)  # counted now, before Dolibarr is asked
    if wait is not None:
        log.warning("login rate limit reached for client=%s login=%s", client, login)
        return _rate_limited(request, session, labels, wait, next_page=next_page, login=login)
    password = form.get("password", [""])[0]
    try:
        if not login or not password:
            raise DolibarrAuthError("wrong login or password")
        key = await log_in(state.settings, login, password, transport=state.dolibarr_transport)
        probe = Session(session_id="", csrf_token="", expires_at=0, api_key=key)
        async with state.runtime(probe) as rt:
            me = await rt.me()
    except DolibarrAuthError:
        log.info("failed login for %s from %s", login, client)
        return _render(request, session, "login.html", status_code=401, next=next_page, login=login,
                       error=(labels["login_failed"], None))
    except DolirelanceError as exc:  # Dolibarr down or answering oddly: not a failed login
        state.limiter.succeeded(client, login)
        return _render(request, session, "login.html", status_code=502, next=next_page, login=login,
                       error=_error_text(exc, _language(request, session)))
    state.limiter.succeeded(client, login)
    fresh = state.sessions.renew(session)
    fresh.api_key, fresh.login, fresh.user_id, fresh.display_name = key, me.login, me.id, me.full_name
    fresh.sees_all_customers = me.admin or "societe.client.voir" in me.rights
    log.info("login of %s", me.login)
    redirect = RedirectResponse(next_page, status_code=303)
    _set_cookie(request, redirect, fresh)
    return redirect


def _rate_limited(
    request: Request, session: Session, labels: dict[str, str], wait: float, *, next_page: str, login: str
) -> Response:
    """The login page refusing to try: too many attempts, and in how many minutes to try again."""
    minutes = max(1, math.ceil(wait / 60))
    response = _render(request, session, "login.html", status_code=429, next=next_page, login=login,
                       error=(labels["login_rate_limited"].format(minutes=minutes), None))
    response.headers["retry-after"] = str(math.ceil(wait))
    return response


async def login_dolibarr(request: Request) -> Response:
    """The Dolibarr module's signed token in place of the password (web/sso.py), then the page it asked for.

    Refused (another login's key, expired, replayed, badly signed) exactly like a wrong password. Without a
    shared secret here, or for a user without an API key in Dolibarr yet, the login page as before.
    """
    state = _state(request)
    form = await _read_form(request)
    fields = {name: _first(form, name) for name in SSO_FIELDS}
    if state.sso is None:
        return RedirectResponse(login_page_for(fields), status_code=303)
    new = (session := _session(request)) is None
    session = session or state.sessions.create()
    labels = LABELS[_language(request, session)]
    client = state.client_address(request)
    login = "".join(char for char in fields["login"][:255] if char.isprintable())  # it goes into the log

    def login_form(status_code: int, error: PageErrorBox) -> Response:
        response = _render(request, session, "login.html", status_code=status_code,
                           next=requested_path(fields), login=login, error=error)  # fmt: skip
        if new:
            _set_cookie(request, response, session)
        return response

    wait = state.limiter.begin(client, login)  # counted now, before Dolibarr is asked
    if wait is not None:
        log.warning("login rate limit reached for client=%s login=%s", client, login)
        response = _rate_limited(request, session, labels, wait, next_page=requested_path(fields), login=login)
        if new:
            _set_cookie(request, response, session)
        return response
    moment = (state.now or (lambda: datetime.now(UTC)))()
    try:
        claim = state.sso.verify(fields, moment.timestamp())
        if claim.api_key is None:  # no API key in Dolibarr yet: the password once (Dolibarr makes the key)
            return RedirectResponse(login_page_for(fields), status_code=303)
        probe = Session(session_id="", csrf_token="", expires_at=0, api_key=claim.api_key)
        async with state.runtime(probe) as rt:
            me = await rt.me()
        if me.login != claim.login:
            raise SsoRefused(f"the API key is {me.login}'s")
    except (SsoRefused, DolibarrAuthError) as exc:
        log.info("refused sign-in from Dolibarr for %s from %s: %s", login, client, exc)
        return login_form(401, (labels["login_failed"], None))
    except DolirelanceError as exc:  # Dolibarr down or answering oddly: not the user's fault, not a failed login
        state.limiter.succeeded(client, login)
        return login_form(502, _error_text(exc, _language(request, session)))
    state.limiter.succeeded(client, login)
    fresh = state.sessions.renew(session)
    fresh.api_key, fresh.login, fresh.user_id, fresh.display_name = claim.api_key, me.login, me.id, me.full_name
    fresh.sees_all_customers = me.admin or "societe.client.voir" in me.rights
    log.info("login of %s from Dolibarr", me.login)
    redirect = RedirectResponse(claim.path, status_code=303)
    _set_cookie(request, redirect, fresh)
    return redirect


async def logout_page(request: Request) -> Response:
    session = _session(request)
    if session is None or not session.logged_in:
        return RedirectResponse("/login", status_code=303)
    return _render(request, session, "logout.html")


async def logout_submit(request: Request) -> Response:
    session = _session(request)
    form = await _read_form(request)
    if session is not None:
        _check_csrf(session, form)
        _state(request).sessions.drop(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def home(request: Request) -> Response:
    return RedirectResponse("/todo", status_code=303)


# --------------------------------------------------------------------------- Relance massive


# The first screen shows the quotes whose end of validity is near (filtered by Dolibarr); "all open
# quotes" is one click away. Dolibarr sorts and pages the rows shown; the count and total of the whole
# selection come from one listing of it, fetched by the page right after it is shown (/mass/summary).
SOON_PAST_DAYS = 30
SOON_AHEAD_DAYS = 15
MASS_PAGE_SIZE = 100
# "The whole selection" is planned quote by quote on a preview a person reads: beyond this, narrow it.
MAX_MASS_SELECTION = 500
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


async def _mass_filter(rt: Runtime, filters: MassFilters) -> QuoteFilter:
    customer_ids = await resolve_customer_ids(rt, filters.customer) if filters.customer else ()
    today = rt.today()
    window_from = None if filters.all_open else today - timedelta(days=SOON_PAST_DAYS)
    window_before = today if filters.expired else None
    if not filters.all_open and not filters.expired:
        window_before = today + timedelta(days=SOON_AHEAD_DAYS + 1)
    return QuoteFilter(customer_ids=customer_ids, end_of_validity_from=window_from,
                       end_of_validity_before=window_before, exclude_opt_out=filters.hide_opt_out)


async def _mass_selection(
    request: Request, session: Session, rt: Runtime, filters: MassFilters, *, compute: bool = True
) -> QuotesSelection | None:
    """Every quote of the selection (kept a short while per session); None if not known and not ``compute``."""
    cache: SelectionCache = request.app.state.selections
    found = cache.get(session.session_id, filters.selection_key)
    if found is None and compute:
        flt = await _mass_filter(rt, filters)
        found = await quotes_selection(rt, flt, sales_rep=filters.sales_rep or None, due_only=filters.due)
        cache.put(session.session_id, filters.selection_key, found)
    return found


def _day_off_label(rt: Runtime) -> str | None:
    """The label warning that today is a day off (manual sends are allowed: the person is told), or None."""
    calendar, today = working_calendar(rt), rt.today()
    if calendar.is_working_day(today):
        return None
    is_weekday = today.weekday() in calendar.working_weekdays
    return "day_off_holiday" if is_weekday and calendar.holiday_name(today) else "day_off_weekday"


async def _render_mass(
    request: Request,
    session: Session,
    rt: Runtime,
    filters: MassFilters,
    *,
    error: PageErrorBox | None = None,
    ticked_letters: frozenset[str] = frozenset(),
    ticked_emails: frozenset[str] = frozenset(),
    chosen_models: dict[str, str] | None = None,
    note: str = "",
    next_date: str = "",
    select_all: str = "",
    status_code: int = 200,
) -> Response:
    lang = _language(request, session)
    emails: dict[int, bool] = {}
    left_out: list[str] = []
    rows: list[QuoteRow] = []
    selection: QuotesSelection | None = None
    try:
        # a sales person's customers are known only by listing the whole selection: then it is read first
        selection = await _mass_selection(request, session, rt, filters, compute=bool(filters.sales_rep))
        flt = await _mass_filter(rt, filters)
        with rt.dolibarr.collecting_rejected_rows() as rejected:
            rows = await quotes_screen(rt, flt, page=filters.page, per_page=MASS_PAGE_SIZE,
                                       sales_rep=filters.sales_rep or None, due_only=filters.due,
                                       selection=selection)
        # the rows Dolibarr sent that could not be read, named with what to fix
        left_out = [f"{row.describe()} — {row.remedy}" for row in rejected]
        # whether an e-mail can go, as the sending chooses its recipients: for the page shown only
        emails = await email_reachable(rt, rows)
    except DolirelanceError as exc:
        rows, emails, error = [], {}, error or _error_text(exc, lang)
    lines = [
        {
            "row": row,
            "level": row.last_level(rt),
            "has_email": bool(emails.get(row.quote.id)),
            "model": (chosen_models or {}).get(row.quote.ref, row.next_model),
        }
        for row in rows
    ]
    default_next = rt.today() + timedelta(days=rt.settings.followup.next_delay)
    return _render(
        request, session, "mass.html", status_code=status_code, error=error, lines=lines,
        summary=_summary_of(selection, lang), page=filters.page + 1,
        has_next=len(rows) == MASS_PAGE_SIZE if selection is None else filters.page + 1 < selection.pages(
            MASS_PAGE_SIZE),
        soon=(SOON_PAST_DAYS, SOON_AHEAD_DAYS), max_selection=MAX_MASS_SELECTION, select_all=select_all,
        filters=filters, models=rt.model_names(), files=_state(request).generated_files(session),
        to_print=await _letters_to_print(rt, session),
        ticked_letters=ticked_letters, ticked_emails=ticked_emails, note=note,
        next_date=next_date or default_next.isoformat(), today=rt.today().isoformat(), left_out=left_out,
        day_off=_day_off_label(rt), today_day=rt.today(), local=lambda moment: moment.astimezone(rt.tz),
    )


def _summary_of(selection: QuotesSelection | None, lang: str) -> dict[str, Any] | None:
    if selection is None:
        return None
    return {
        "count": selection.count,
        "total": f"{selection.total_excl_tax:.2f}",
        "total_text": _format_amount(selection.total_excl_tax, "EUR", lang),
        "pages": selection.pages(MASS_PAGE_SIZE),
    }


@logged_in
async def mass_page(request: Request, session: Session) -> Response:
    filters = MassFilters.from_values(lambda name: request.query_params.get(name, "").strip())
    async with _state(request).runtime(session) as rt:
        return await _render_mass(request, session, rt, filters)


@logged_in
async def mass_summary(request: Request, session: Session) -> Response:
    """The count and total of the whole selection (every page), which the mass page shows once known."""
    filters = MassFilters.from_values(lambda name: request.query_params.get(name, "").strip())
    async with _state(request).runtime(session) as rt:
        selection = await _mass_selection(request, session, rt, filters)
    assert selection is not None
    return JSONResponse(_summary_of(selection, _language(request, session)))


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
        select_all = _first(form, "select_all")
        return cls(
            filters=MassFilters.from_values(lambda name: _first(form, name)),
            letters=tuple(dict.fromkeys(v for v in form.get("letter", []) if v)),
            emails=tuple(dict.fromkeys(v for v in form.get("email", []) if v)),
            select_all=select_all if select_all in SELECT_ALL_CHOICES else "",
            models={key[len("model:"):]: values[0] for key, values in form.items()
                    if key.startswith("model:") and values},
            note=_first(form, "note"),
            next_text=_first(form, "next_date"),
            force=_first(form, "force") in ("1", "on"),
        )


async def _mass_plan(
    request: Request, session: Session, rt: Runtime, asked: MassRequest, labels: dict[str, str], *, run: bool
) -> list[tuple[list[MassItem], ChannelChoice]]:
    """The plan of each channel asked, as the sending will do it (``plan_mass``); a preview (not ``run``)
    only reads the ledger."""
    names = rt.model_names()
    if asked.select_all:
        selection = await _mass_selection(request, session, rt, asked.filters)
        assert selection is not None
        if selection.count > MAX_MASS_SELECTION:
            raise FormError(labels["selection_too_large"].format(count=selection.count, limit=MAX_MASS_SELECTION),
                            labels["selection_too_large_remedy"])
        if not selection.count:
            raise FormError(labels["nothing_selected"])
        per_quote = {ref: m for ref, m in asked.models.items() if m in names}
        choice: ChannelChoice = asked.select_all  # type: ignore[assignment]
        return [(await _plan(rt, selection.refs, choice, per_quote, asked.force, run), choice)]
    if not asked.letters and not asked.emails:
        raise FormError(labels["nothing_selected"])
    chosen = asked.letters + asked.emails
    per_quote = {ref: m for ref, m in asked.models.items() if ref in chosen and m in names}
    return [
        (await _plan(rt, asked.letters, "letter", per_quote, asked.force, run), "letter"),
        (await _plan(rt, asked.emails, "email", per_quote, asked.force, run), "email"),
    ]


@logged_in
async def mass_run(request: Request, session: Session) -> Response:
    """The mass form: ``step=preview`` (the default) shows what would leave; ``step=run`` runs it.

    The preview hands out a one-time token with its confirmation form: a run needs one, and the
    same token posted again (twice « Confirmer », two tabs) shows the first run, never starts another.
    """
    form = await _sending_form(request, session)
    if _first(form, "step") != "run":
        return await _mass_step(request, session, form)
    return await _once(request, session, _first(form, "once"), lambda: _mass_step(request, session, form),
                       issued_only=True, result_of=lambda response: response.headers.get("location"))


async def _mass_step(request: Request, session: Session, form: dict[str, list[str]]) -> Response:
    state = _state(request)
    lang = _language(request, session)
    labels = LABELS[lang]
    asked = MassRequest.from_form(form)
    run = _first(form, "step") == "run"
    async with state.runtime(session) as rt:
        try:
            next_date = _parse_next_date(asked.next_text, rt.today(), labels)
            plans = await _mass_plan(request, session, rt, asked, labels, run=run)
            acting_user = await rt.me()
            await require_access(rt, Access.SEND, acting_user)
        except (DolirelanceError, FormError) as exc:
            refused = isinstance(exc, AccessDenied)
            if refused:  # the pages stop offering to send at once
                request.state.can_send = False
                state.access_cache.pop(session.session_id, None)
            return await _render_mass(
                request, session, rt, asked.filters, error=_error_text(exc, lang),
                status_code=403 if refused else 400,
                ticked_letters=frozenset(asked.letters), ticked_emails=frozenset(asked.emails),
                chosen_models=asked.models, note=asked.note, next_date=asked.next_text, select_all=asked.select_all,
            )
        if not run:
            items = [item for items, _ in plans for item in items]
            return _render(request, session, "mass_preview.html", asked=asked,
                           lines=_preview_lines(rt, items, lang, asked), once=state.forms.issue(session.session_id),
                           next_date=next_date or rt.today() + timedelta(days=rt.settings.followup.next_delay),
                           day_off=_day_off_label(rt), today_day=rt.today())

    async def work(job: MassJob) -> None:
        # Letters first, then e-mails: each run reads the history afresh, so a quote ticked for
        # both gets two follow-ups and one open to-do, not two.
        async with state.runtime(session) as job_rt:
            for items, channel in plans:
                if not items:
                    continue
                report = await mass_follow_up(job_rt, items, channel=channel, note=asked.note, next_date=next_date,
                                              acting_user=acting_user, progress=job.progress, force=asked.force)
                if report.letters_pdf is not None:
                    job.letters_pdf = report.letters_pdf
                    state.record_owner(report.letters_pdf, session.login)

    assert session.login is not None
    job = state.jobs.start(session.login, sum(len(items) for items, _ in plans), work)
    return RedirectResponse(f"/mass/jobs/{job.job_id}", status_code=303)


def _preview_lines(rt: Runtime, items: Sequence[MassItem], lang: str, asked: MassRequest) -> list[dict[str, Any]]:
    """Each planned quote as the preview shows it: who gets what, or why it is left out (in ``lang``)."""
    labels = LABELS[lang]
    gap = rt.settings.auto.min_gap
    lines = []
    for item in items:
        quote, customer, last = item.row.quote, item.row.customer, item.last  # everyone's last follow-up
        recipients = choose_recipients(quote, customer) if customer is not None else ()
        recent = is_recent(last, rt.today(), gap, rt.tz)
        warning = None
        if recent and last is not None:
            warning = labels["recent_short"].format(when=_format_date(last.done_at, lang), model=last.model or "?")
        problem = None
        if item.problem and not (recent and item.problem_code is ErrorCode.RECENT):  # the warning says it
            problem = plan_note(item.problem_code, lang)
        # the e-mail of a line that goes, shown on its own page (prepared as the sending prepares it)
        email_query = urlencode({"quote": quote.id, "model": item.model, "note": asked.note,
                                 "next_date": asked.next_text}) if item.channel is Channel.EMAIL else ""
        lines.append({"item": item, "recipients": recipients, "warning": warning, "problem": problem,
                      "held": bool(item.problem), "email_query": email_query})
    return lines


async def _plan(
    rt: Runtime, refs: tuple[str, ...], channel: ChannelChoice, per_quote: dict[str, str], force: bool, run: bool
) -> list[MassItem]:
    if not refs:
        return []
    return await plan_mass(rt, MassSelection(refs=refs), channel=channel, force=force, recover=run,
                           per_quote_models={ref: m for ref, m in per_quote.items() if ref in refs})


@logged_in
async def mass_job_page(request: Request, session: Session) -> Response:
    job = _state(request).jobs.get(request.path_params["job_id"], session.login)
    if job is None:
        raise HTTPException(404)
    lang = _language(request, session)
    return _render(request, session, "mass_job.html", job=job, files=_state(request).generated_files(session),
                   pdf_name=job.letters_pdf.name if job.letters_pdf else None,
                   outcome_note=lambda outcome: outcome_note(outcome, lang), job_error=_job_error(job, lang))


def _job_error(job: MassJob, lang: str) -> PageError | None:
    """What stopped a mass run, in the page's language (None when nothing did)."""
    if job.failure is not None:
        return page_error(job.failure, lang)
    if job.error is not None:  # not one of ours: the log has the traceback
        return PageError(LABELS[lang]["server_error"], None, job.error)
    return None


async def _letters_to_print(rt: Runtime, session: Session) -> list[Entry]:
    """The letters filed but in no print file this user may print: all of them with societe.client.voir."""
    return await asyncio.to_thread(letters_to_print, rt, None if session.sees_all_customers else session.user_id)


@logged_in
async def print_filed_letters(request: Request, session: Session) -> Response:
    """One print file of the letters filed but never printed (a mass run cut short): then the mass page."""
    form = await _read_form(request)
    _check_csrf(session, form)
    state = _state(request)
    async with state.runtime(session) as rt:
        user_id = None if session.sees_all_customers else session.user_id
        report = await print_letters(rt, state.output_dir, user_id=user_id)
    if report.path is not None:
        state.record_owner(report.path, session.login)
    return RedirectResponse("/mass", status_code=303)


@logged_in
async def mass_job_status(request: Request, session: Session) -> Response:
    job = _state(request).jobs.get(request.path_params["job_id"], session.login)
    if job is None:
        raise HTTPException(404)
    return JSONResponse(job.status())


@logged_in
async def download_file(request: Request, session: Session) -> Response:
    name = request.path_params["name"]
    state = _state(request)
    path = state.output_dir / name
    if not DOWNLOADABLE.match(name) or not path.is_file() or not state.may_download(path, session):
        raise HTTPException(404)
    return FileResponse(path, media_type="application/pdf", filename=name)


# --------------------------------------------------------------------------- Nouvelle relance


async def _render_new(
    request: Request,
    session: Session,
    rt: Runtime,
    *,
    quote_id: str,
    customer_id: str,
    model: str | None = None,
    note: str = "",
    next_date: str = "",
    channel: str = "",
    error: PageErrorBox | None = None,
    done: dict[str, Any] | None = None,
    status_code: int = 200,
    attempt: str | None = None,
    confirm_recent: bool = False,
) -> Response:
    lang = _language(request, session)
    rows: list[QuoteRow] = []
    try:
        customer_ids = (int(customer_id),) if customer_id.isdigit() else ()
        rows = await quotes_overview(rt, QuoteFilter(customer_ids=customer_ids))
    except DolirelanceError as exc:
        error = error or _error_text(exc, lang)
    rows.sort(key=lambda row: row.quote.ref)
    chosen = next((row for row in rows if str(row.quote.id) == quote_id), None)
    if model is None:
        model = chosen.next_model if chosen else ""
    recipients: tuple[Recipient, ...] | None = None  # None: no quote chosen yet
    if chosen is not None and chosen.customer is not None:
        # who an e-mail would go to, chosen as the sending chooses (the quote read with its contacts)
        recipients = choose_recipients(await read_quote(rt, chosen.quote.id), chosen.customer)
    if not channel:
        channel = "letter" if recipients == () else "email"
    default_next = rt.today() + timedelta(days=rt.settings.followup.next_delay)
    return _render(
        request, session, "new.html", status_code=status_code, error=error, rows=rows, quote_id=quote_id,
        customer_id=customer_id, customer_name=rows[0].customer.name if customer_id and rows and rows[0].customer
        else "", models=rt.model_names(), model=model, note=note, next_date=next_date or default_next.isoformat(),
        today=rt.today().isoformat(), channel=channel, done=done, recipients=recipients, chosen=chosen,
        # one token per form shown: posting it twice (a double click) makes one follow-up, not two
        attempt=attempt or _state(request).forms.issue(session.session_id), confirm_recent=confirm_recent,
        day_off=_day_off_label(rt), today_day=rt.today(), local=lambda moment: moment.astimezone(rt.tz),
    )


@logged_in
async def new_page(request: Request, session: Session) -> Response:
    quote_id = str(request.path_params.get("quote_id", request.query_params.get("quote", "")))
    customer_id = str(request.path_params.get("customer_id", request.query_params.get("customer", "")))
    async with _state(request).runtime(session) as rt:
        if quote_id.isdigit():
            await read_quote(rt, quote_id)  # a quote that does not exist: the 404 page, not an empty form
        if customer_id.isdigit():
            await read_customer(rt, int(customer_id))
        channel = request.query_params.get("channel", "")  # the Dolibarr module's « Relancer par e-mail / courrier »
        return await _render_new(request, session, rt, quote_id=quote_id, customer_id=customer_id,
                                 channel=channel if channel in ("email", "letter") else "")


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

    async def again(
        self, request: Request, session: Session, rt: Runtime, *, error: PageErrorBox | None = None,
        status_code: int = 200, confirm_recent: bool = False,
    ) -> Response:
        """The form again, as filled in, with ``error`` above it."""
        return await _render_new(request, session, rt, quote_id=self.quote_id, customer_id=self.customer_id,
                                 model=self.model, note=self.note, next_date=self.next_text,
                                 channel=self.channel_text, error=error, status_code=status_code,
                                 attempt=self.attempt, confirm_recent=confirm_recent)


async def _prepare_preview(rt: Runtime, asked: FollowUpForm, channel: Channel, labels: dict[str, str]) -> (
        PreparedFollowUp):
    """The follow-up exactly as it would leave (the service's own preparation); nothing is sent or recorded."""
    next_date = _parse_next_date(asked.next_text, rt.today(), labels)
    return await prepare_followup(rt, asked.quote_id, channel=channel, acting_user=await rt.me(),
                                  model=asked.model or None, note=asked.note, next_date=next_date)


@logged_in
async def new_preview(request: Request, session: Session) -> Response:
    """Step 1 of "Nouvelle relance": what would leave (recipient and why, texts, letter, attachments)."""
    form = await _sending_form(request, session)
    lang = _language(request, session)
    labels = LABELS[lang]
    asked = FollowUpForm.from_values(lambda name: _first(form, name))
    async with _state(request).runtime(session) as rt:
        try:
            channel = asked.checked(labels)
            prepared = await _prepare_preview(rt, asked, channel, labels)
        except DolibarrNotFound:
            raise
        except (DolirelanceError, FormError) as exc:
            if isinstance(exc, DolibarrAuthError) and exc.status_code == 401:
                raise
            return await asked.again(request, session, rt, error=_error_text(exc, lang), status_code=400)
        recent = await _recent_warning(rt, prepared, lang)
        return _render(request, session, "new_preview.html", asked=asked, prepared=prepared, recent=recent,
                       pdf_query=asked.query(), day_off=_day_off_label(rt), today_day=rt.today(),
                       email_frame=_email_frame(request, session, prepared))


def _email_frame(request: Request, session: Session, prepared: PreparedFollowUp) -> str | None:
    """The token of the prepared e-mail's HTML part, kept for its frame; None for a text-only e-mail or a letter."""
    html = viewable_html(prepared.rendered) if prepared.channel is Channel.EMAIL else None
    return None if html is None else _state(request).email_frames.keep(session.session_id, html)


@logged_in
async def email_frame(request: Request, session: Session) -> Response:
    """A previewed e-mail's HTML part, for the sandboxed frame of the preview (see ``email_frames``)."""
    state = _state(request)
    html = state.email_frames.get(session.session_id, request.path_params["token"])
    if html is None:
        raise HTTPException(404)
    return HTMLResponse(html, headers={
        "content-security-policy": frame_policy(state.settings.email.allowed_image_hosts),
        "referrer-policy": "no-referrer",
    })


@logged_in
async def email_page(request: Request, session: Session) -> Response:
    """One quote's e-mail as it would leave (a line of the mass preview): nothing is sent or recorded."""
    prepared = await _preview_asked_in_query(request, session, Channel.EMAIL)
    if isinstance(prepared, Response):
        return prepared
    return _render(request, session, "email_preview.html", prepared=prepared,
                   email_frame=_email_frame(request, session, prepared))


async def _preview_asked_in_query(request: Request, session: Session, channel: Channel) -> (
        PreparedFollowUp | Response):
    """The follow-up a preview link asks for (``?quote=&model=&note=&next_date=``), or the page saying why not.

    Dolibarr's and the service's errors go on to :func:`logged_in`, which words them with their status.
    """
    lang = _language(request, session)
    asked = FollowUpForm.from_values(lambda name: request.query_params.get(name, "").strip())
    async with _state(request).runtime(session) as rt:
        try:
            if not asked.quote_id.isdigit():
                raise FormError(LABELS[lang]["no_quote_chosen"])
            return await _prepare_preview(rt, asked, channel, LABELS[lang])
        except FormError as exc:
            return _render(request, session, "error.html", status_code=400, error=_error_text(exc, lang))


async def _recent_warning(rt: Runtime, prepared: PreparedFollowUp, lang: str) -> str | None:
    """The warning shown when the quote was followed up within ``[auto] min_gap`` days (None otherwise)."""
    gap = rt.settings.auto.min_gap
    # everyone's last follow-up: the ledger's and Dolibarr's (read with the service's key)
    last = await last_followup(rt, prepared.quote.id, prepared.history, exclude_key=prepared.key)
    if last is None or not is_recent(last, prepared.today, gap, rt.tz):
        return None
    labels = LABELS[lang]
    name = await owner_name(rt, last.owner_id)
    who = labels["recent_by"].format(name=name) if name else ""
    when = f"{_format_date(last.done_at, lang)} {last.done_at.astimezone(rt.tz).strftime('%H:%M')}"
    return labels["recent_warning"].format(when=when, model=last.model or "?", channel=labels[last.channel.value],
                                           who=who, gap=gap)


@logged_in
async def new_edit(request: Request, session: Session) -> Response:
    """Back from the preview to the form, as it was filled in."""
    form = await _read_form(request)
    _check_csrf(session, form)
    asked = FollowUpForm.from_values(lambda name: _first(form, name))
    async with _state(request).runtime(session) as rt:
        return await asked.again(request, session, rt)


@logged_in
async def new_preview_letter(request: Request, session: Session) -> Response:
    """The letter of the preview as a PDF to open: made by the same preparation as the sending, not filed."""
    prepared = await _preview_asked_in_query(request, session, Channel.LETTER)
    if isinstance(prepared, Response):
        return prepared
    assert prepared.letter_pdf is not None
    return Response(prepared.letter_pdf, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="{prepared.letter_file_name}"'})


def _outcome_error(outcome: FollowUpOutcome, lang: str) -> FormError:
    """A follow-up that did not end well, in the page's words (the service's own text as the detail)."""
    note = outcome_note(outcome, lang) or PageError(LABELS[lang]["err_generic"])
    return FormError(note.message, note.remedy, note.detail)


@logged_in
async def new_submit(request: Request, session: Session) -> Response:
    """Sends the follow-up the form asks, once per form token (``attempt``, also its ledger key)."""
    form = await _sending_form(request, session)
    asked = FollowUpForm.from_values(lambda name: _first(form, name))
    return await _once(request, session, asked.attempt, lambda: _new_submit(request, session, asked),
                       issued_only=False,
                       result_of=lambda response: f"/quotes/{asked.quote_id}/followups"
                       if response.status_code == 200 else None)


async def _once(
    request: Request, session: Session, token: str, work: Callable[[], Awaitable[Response]], *,
    issued_only: bool, result_of: Callable[[Response], str | None],
) -> Response:
    """``work`` for the first post of a sending form's token; for another post, the page saying so."""
    done = await _state(request).forms.once(session.session_id, token, work, result_of=result_of,
                                            issued_only=issued_only)
    if isinstance(done, Replayed):
        return _render(request, session, "already_posted.html", status_code=409, replay=done)
    return done


async def _new_submit(request: Request, session: Session, asked: FollowUpForm) -> Response:
    state = _state(request)
    lang = _language(request, session)
    labels = LABELS[lang]
    async with state.runtime(session) as rt:
        try:
            channel = asked.checked(labels)
            next_date = _parse_next_date(asked.next_text, rt.today(), labels)
            letter_out = None
            if channel is Channel.LETTER:
                name = f"relance-unitaire-{rt.today().isoformat()}-{secrets.token_hex(4)}.pdf"
                letter_out = state.output_dir / name
            outcome = await follow_up(rt, asked.quote_id, channel=channel, model=asked.model or None,
                                      note=asked.note, next_date=next_date, acting_user=await rt.me(),
                                      letter_out=letter_out, force=asked.force, submission=asked.attempt,
                                      origin="web")
            if letter_out is not None and letter_out.is_file():
                state.record_owner(letter_out, session.login)
            if not outcome.ok:
                raise _outcome_error(outcome, lang)
        except RecentFollowUp:
            prepared = await _prepare_preview(rt, asked, Channel(asked.channel_text), labels)
            error = (await _recent_warning(rt, prepared, lang) or labels["err_followup"], labels["recent_confirm"])
            return await asked.again(request, session, rt, error=error, status_code=409, confirm_recent=True)
        except DolibarrNotFound:
            raise
        except (DolirelanceError, FormError) as exc:
            if isinstance(exc, DolibarrAuthError) and exc.status_code == 401:
                raise
            refused = isinstance(exc, AccessDenied)
            if refused:  # the pages stop offering to send at once
                request.state.can_send = False
                state.access_cache.pop(session.session_id, None)
            return await asked.again(request, session, rt, error=_error_text(exc, lang),
                                     status_code=403 if refused else 400)
        done = {
            "outcome": outcome,
            "quote_id": asked.quote_id,
            "letter": letter_out.name if letter_out is not None and letter_out.is_file() else None,
        }
        return await _render_new(request, session, rt, quote_id="", customer_id=asked.customer_id, done=done)


# --------------------------------------------------------------------------- Suivi, À relancer


@logged_in
async def followups_page(request: Request, session: Session) -> Response:
    state = _state(request)
    quote_id = request.path_params.get("quote_id")
    customer_id = request.path_params.get("customer_id")
    lang = _language(request, session)
    title_ref = ""
    async with state.runtime(session) as rt:
        tz = rt.tz
        if quote_id is not None:
            quote = await read_quote(rt, int(quote_id))
            title = f"{LABELS[lang]['followups_of_quote']} {quote.ref}"
            title_ref = quote.ref  # kept on one line in the heading
            lines = await history_view(rt, quote=str(quote_id))
        elif customer_id is not None:
            customer = await read_customer(rt, int(customer_id))
            title = f"{LABELS[lang]['followups_of_customer']} {customer.name}"
            lines = await history_view(rt, customer=str(customer_id))
        else:
            title = f"{LABELS[lang]['followups']} — {LABELS[lang]['all_open_quotes']}"
            lines = await history_view(rt, open_only=True)
    files: dict[int, str] = {}  # a letter's PDF, a reply's message (.eml): Dolibarr's own download page
    for line in lines:
        name = line.record.file_name if isinstance(line, HistoryLine) else line.answer.file_name
        if name and not line.quote_ref.startswith("#"):
            files[line.event_id] = state.dolibarr_document_url(line.quote_ref, name)
    return _render(request, session, "followups.html", title=title, title_ref=title_ref, lines=lines, files=files,
                   quote_id=quote_id, customer_id=customer_id, local=lambda moment: moment.astimezone(tz))


@logged_in
async def todo_page(request: Request, session: Session) -> Response:
    async with _state(request).runtime(session) as rt:
        lines = await upcoming(rt, days=30)
        tz = rt.tz
    return _render(request, session, "todo.html", lines=lines, local=lambda moment: moment.astimezone(tz))


# --------------------------------------------------------------------------- errors, headers


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    session = _session(request)
    lang = _language(request, session)
    if exc.status_code == 403 and "CSRF" in str(exc.detail):
        message = LABELS[lang]["csrf_failed"]
    elif exc.status_code == 404:
        message = LABELS[lang]["not_found"]
    elif exc.status_code == 413:
        message = LABELS[lang]["form_too_large"]
    else:
        message = str(exc.detail)
    return _render(request, session, "error.html", status_code=exc.status_code, error=(message, None))


# --------------------------------------------------------------------------- Efficacité des relances


def _report_reading(request: Request, session: Session, query: ReportQuery) -> asyncio.Task[Report]:
    """The report's reading from Dolibarr, started once per session and query (see ReportCache)."""
    state = _state(request)

    async def compute() -> Report:
        async with state.runtime(session) as rt:
            return await effectiveness_report(rt, start=query.start, end=query.end,
                                              sales_rep=query.sales_rep or None, model=query.model or None)

    cache: ReportCache = request.app.state.report_cache
    return cache.computing(session.session_id, query, compute)


async def _report_for(request: Request, session: Session, query: ReportQuery) -> Report:
    cache: ReportCache = request.app.state.report_cache
    found = cache.get(session.session_id, query)
    if found is None:
        found = await asyncio.shield(_report_reading(request, session, query))
    return found


@logged_in
async def report_page(request: Request, session: Session) -> Response:
    lang = _language(request, session)
    words = REPORT_LABELS[lang]
    context: dict[str, Any] = {"r": words, "report": None, "query": ReportQuery(), "charts": list(CHARTS),
                               "figures_url": None, "wait_url": None,
                               "models": [m.name for m in _state(request).settings.models],
                               "percent": lambda rate: percent_text(rate, lang),
                               "number": lambda value: number_text(value, lang)}
    try:
        query = context["query"] = ReportQuery.parse(dict(request.query_params))
    except ValueError:
        return _render(request, session, "report.html", status_code=400, error=(words["bad_date"], None), **context)
    # the first answer waits a moment for the figures, not for thousands of rows: they follow (app.js)
    cache: ReportCache = request.app.state.report_cache
    report = cache.get(session.session_id, query)
    if report is None:
        reading = _report_reading(request, session, query)
        waiting = None if request.query_params.get("wait") else request.app.state.report_first_answer_seconds
        await asyncio.wait({reading}, timeout=waiting)
        if not reading.done():
            qs = query.query_string()
            context["figures_url"] = "/report/figures" + (f"?{qs}" if qs else "")
            context["wait_url"] = "/report?" + (f"{qs}&" if qs else "") + "wait=1"
            return _render(request, session, "report.html", **context)
        try:
            report = reading.result()
        except DolirelanceError as exc:
            return _render(request, session, "report.html", status_code=400, error=_error_text(exc, lang),
                           **context)
    context["report"] = report
    return _render(request, session, "report.html", **context)


@logged_in
async def report_figures(request: Request, session: Session) -> Response:
    """The report's figures alone, for the page that answered before they were read."""
    lang = _language(request, session)
    words = REPORT_LABELS[lang]
    context: dict[str, Any] = {"r": words, "report": None, "charts": list(CHARTS),
                               "percent": lambda rate: percent_text(rate, lang),
                               "number": lambda value: number_text(value, lang)}
    try:
        query = context["query"] = ReportQuery.parse(dict(request.query_params))
    except ValueError:
        raise HTTPException(400, "dates are YYYY-MM-DD") from None
    try:
        context["report"] = await _report_for(request, session, query)
    except DolirelanceError as exc:
        return _render(request, session, "report_figures.html", status_code=400, error=_error_text(exc, lang),
                       **context)
    return _render(request, session, "report_figures.html", **context)


@logged_in
async def report_json(request: Request, session: Session) -> Response:
    try:
        query = ReportQuery.parse(dict(request.query_params))
    except ValueError:
        raise HTTPException(400, "dates are YYYY-MM-DD") from None
    return JSONResponse(as_dict(await _report_for(request, session, query)))


@logged_in
async def report_chart(request: Request, session: Session) -> Response:
    name, fmt = request.path_params["name"], request.path_params["fmt"]
    if name not in CHARTS or fmt not in ("svg", "png"):
        raise HTTPException(404)
    try:
        query = ReportQuery.parse(dict(request.query_params))
    except ValueError:
        raise HTTPException(400, "dates are YYYY-MM-DD") from None
    report = await _report_for(request, session, query)
    draw = chart_svg if fmt == "svg" else chart_png
    body = await asyncio.to_thread(draw, name, report, _language(request, session))
    headers = {}
    if request.query_params.get("download"):
        headers["content-disposition"] = f'attachment; filename="relances-{name}.{fmt}"'
    return Response(body, media_type="image/svg+xml" if fmt == "svg" else "image/png", headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    try:  # the page in the user's language; if even that fails, a plain bilingual one
        session = _session(request)
        lang = _language(request, session)
        return _render(request, session, "error.html", status_code=500, error=(LABELS[lang]["server_error"], None))
    except Exception:
        log.exception("the error page itself failed")
        return HTMLResponse("<!doctype html><title>Erreur</title><p>Erreur interne. / Internal error.</p>",
                            status_code=500)


HSTS = b"max-age=31536000"  # one year: browsers then refuse plain http for this host


class SecurityHeaders:
    """CSP (scripts and styles only from this site), no sniffing, framing only by Dolibarr.

    A response that sets one of these headers itself keeps its own (a framed e-mail's stricter CSP).
    """

    def __init__(self, app: ASGIApp, frame_ancestors: str, always_https: bool = False) -> None:
        self.app = app
        self.always_https = always_https  # [web] secure_cookie: the site is served over https only
        self.headers = [
            (b"content-security-policy",
             f"default-src 'self'; frame-ancestors 'self' {frame_ancestors}; form-action 'self'; "
             "base-uri 'none'; object-src 'none'".encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = self.headers
        if self.always_https or scope.get("scheme") == "https":  # https as the browser sees it
            headers = [*headers, (b"strict-transport-security", HSTS)]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                named = {name.lower() for name, _ in own}
                message["headers"] = own + [(name, value) for name, value in headers if name not in named]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------- assembly


def _secret_key(settings: Settings) -> bytes:
    web = settings.web
    if web.secret_key is not None and web.secret_key.get_secret_value():
        return web.secret_key.get_secret_value().encode()
    if web.secret_key_env:
        from_env = os.environ.get(web.secret_key_env)
        if from_env:
            return from_env.encode()
        log.warning("the environment variable %s is not set: sessions use a random key", web.secret_key_env)
    # Sessions live in this process's memory anyway: a per-process key loses nothing on restart.
    return secrets.token_bytes(32)


def create_web_app(
    settings: Settings,
    *,
    dolibarr_transport: Transport | None = None,
    now: Callable[[], datetime] | None = None,
    smtp_factory: SmtpFactory | None = None,
) -> Starlette:
    """The web pages as an ASGI app; ``dolibarr_transport``, ``now`` and ``smtp_factory`` are test seams."""
    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/login/dolibarr", login_dolibarr, methods=["POST"]),
        Route("/logout", logout_page, methods=["GET"]),
        Route("/logout", logout_submit, methods=["POST"]),
        Route("/mass", mass_page, methods=["GET"]),
        Route("/mass", mass_run, methods=["POST"]),
        Route("/mass/summary", mass_summary),
        Route("/mass/jobs/{job_id}", mass_job_page),
        Route("/mass/jobs/{job_id}/status", mass_job_status),
        Route("/files/{name}", download_file),
        Route("/letters/print", print_filed_letters, methods=["POST"]),
        Route("/followup/new", new_page, methods=["GET"]),
        Route("/followup/new", new_submit, methods=["POST"]),
        Route("/followup/preview", new_preview, methods=["POST"]),
        Route("/followup/edit", new_edit, methods=["POST"]),
        Route("/followup/preview.pdf", new_preview_letter, methods=["GET"]),
        Route("/followup/preview/email/{token:str}", email_frame, methods=["GET"]),
        Route("/followup/email", email_page, methods=["GET"]),
        Route("/quotes/{quote_id:int}/followup", new_page),
        Route("/customers/{customer_id:int}/followup", new_page),
        Route("/followups", followups_page),
        Route("/quotes/{quote_id:int}/followups", followups_page),
        Route("/customers/{customer_id:int}/followups", followups_page),
        Route("/todo", todo_page),
        Route("/report", report_page),
        Route("/report.json", report_json),
        Route("/report/figures", report_figures),
        Route("/report/charts/{name}.{fmt}", report_chart),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.web = WebState(
        settings=settings,
        sessions=SessionStore(secret_key=_secret_key(settings), lifetime_seconds=settings.web.session_hours * 3600),
        forms=OneTimeForms(lifetime_seconds=settings.web.session_hours * 3600),
        limiter=LoginLimiter(),
        templates=_make_templates(),
        dolibarr_transport=dolibarr_transport,
        now=now,
        smtp_factory=smtp_factory,
        sso=sso_verifier(settings.web),
    )
    app.state.report_cache = ReportCache()
    app.state.report_first_answer_seconds = FIRST_ANSWER_SECONDS
    app.state.selections = SelectionCache()
    dolibarr_origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.dolibarr.url))
    app.add_middleware(SecurityHeaders, frame_ancestors=dolibarr_origin, always_https=settings.web.secure_cookie)
    if settings.web.trusted_proxies:  # outermost: the pages see the scheme and client the proxy saw
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[
            str(ipaddress.ip_network(item, strict=False)) for item in settings.web.trusted_proxies])
    return app


def serve_web(
    settings: Settings, *, dolibarr_transport: Transport | None = None, access_log: bool = True
) -> None:
    """Serve the pages on ``[web] host``/``port`` until interrupted (``dolirelance web``).

    Logs go through the root logger the caller configured (text or JSON lines), uvicorn's included.
    """
    app = create_web_app(settings, dolibarr_transport=dolibarr_transport)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the app
    # believes X-Forwarded-For and -Proto only from [web] trusted_proxies (create_web_app).
    uvicorn.run(
        app,
        host=settings.web.host,
        port=settings.web.port,
        log_config=None,
        access_log=access_log,
        proxy_headers=False,
    )
