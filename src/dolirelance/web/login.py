"""Logging in and out: the password form, the Dolibarr module's signed link (SSO), the rate limit."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from dolirelance.errors import DolibarrAuthError, DolirelanceError
from dolirelance.service import log_in
from dolirelance.web.forms import first_value, read_form, safe_next
from dolirelance.web.labels import LABELS
from dolirelance.web.page import (
    PageErrorBox,
    check_csrf,
    error_text,
    language_of,
    render,
    session_of,
    set_session_cookie,
    state_of,
)
from dolirelance.web.security import SESSION_COOKIE, Session, csrf_ok
from dolirelance.web.sso import FIELDS as SSO_FIELDS
from dolirelance.web.sso import SsoRefused, login_page_for, requested_path

log = logging.getLogger(__name__)


async def login_page(request: Request) -> Response:
    session = session_of(request)
    if session is not None and session.logged_in:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    new = session is None
    session = session or state_of(request).sessions.create()
    response = render(request, session, "login.html", next=safe_next(request.query_params.get("next")), login="")
    if new:
        set_session_cookie(request, response, session)
    return response


async def login_submit(request: Request) -> Response:
    state = state_of(request)
    session = session_of(request)
    form = await read_form(request)
    login = first_value(form, "login")
    next_page = safe_next(first_value(form, "next"))
    if session is None or not csrf_ok(session, first_value(form, "csrf") or None):
        fresh = session or state.sessions.create()
        labels = LABELS[language_of(request, fresh)]
        response = render(request, fresh, "login.html", status_code=403, next=next_page, login=login,
                          error=(labels["csrf_failed"], None))
        set_session_cookie(request, response, fresh)
        return response
    labels = LABELS[language_of(request, session)]
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
        return render(request, session, "login.html", status_code=401, next=next_page, login=login,
                      error=(labels["login_failed"], None))
    except DolirelanceError as exc:  # Dolibarr down or answering oddly: not a failed login
        state.limiter.succeeded(client, login)
        return render(request, session, "login.html", status_code=502, next=next_page, login=login,
                      error=error_text(exc, language_of(request, session)))
    state.limiter.succeeded(client, login)
    fresh = state.sessions.renew(session)
    fresh.api_key, fresh.login, fresh.user_id, fresh.display_name = key, me.login, me.id, me.full_name
    fresh.sees_all_customers = me.admin or "societe.client.voir" in me.rights
    log.info("login of %s", me.login)
    redirect = RedirectResponse(next_page, status_code=303)
    set_session_cookie(request, redirect, fresh)
    return redirect


def _rate_limited(
    request: Request, session: Session, labels: dict[str, str], wait: float, *, next_page: str, login: str
) -> Response:
    """The login page refusing to try: too many attempts, and in how many minutes to try again."""
    minutes = max(1, math.ceil(wait / 60))
    response = render(request, session, "login.html", status_code=429, next=next_page, login=login,
                      error=(labels["login_rate_limited"].format(minutes=minutes), None))
    response.headers["retry-after"] = str(math.ceil(wait))
    return response


async def login_dolibarr(request: Request) -> Response:
    """The Dolibarr module's signed token in place of the password (web/sso.py), then the page it asked for.

    Refused (another login's key, expired, replayed, badly signed) exactly like a wrong password. Without a
    shared secret here, or for a user without an API key in Dolibarr yet, the login page as before.
    """
    state = state_of(request)
    form = await read_form(request)
    fields = {name: first_value(form, name) for name in SSO_FIELDS}
    if state.sso is None:
        return RedirectResponse(login_page_for(fields), status_code=303)
    new = (session := session_of(request)) is None
    session = session or state.sessions.create()
    labels = LABELS[language_of(request, session)]
    client = state.client_address(request)
    login = "".join(char for char in fields["login"][:255] if char.isprintable())  # it goes into the log

    def login_form(status_code: int, error: PageErrorBox) -> Response:
        response = render(request, session, "login.html", status_code=status_code,
                          next=requested_path(fields), login=login, error=error)  # fmt: skip
        if new:
            set_session_cookie(request, response, session)
        return response

    wait = state.limiter.begin(client, login)  # counted now, before Dolibarr is asked
    if wait is not None:
        log.warning("login rate limit reached for client=%s login=%s", client, login)
        response = _rate_limited(request, session, labels, wait, next_page=requested_path(fields), login=login)
        if new:
            set_session_cookie(request, response, session)
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
        return login_form(502, error_text(exc, language_of(request, session)))
    state.limiter.succeeded(client, login)
    fresh = state.sessions.renew(session)
    fresh.api_key, fresh.login, fresh.user_id, fresh.display_name = claim.api_key, me.login, me.id, me.full_name
    fresh.sees_all_customers = me.admin or "societe.client.voir" in me.rights
    log.info("login of %s from Dolibarr", me.login)
    redirect = RedirectResponse(claim.path, status_code=303)
    set_session_cookie(request, redirect, fresh)
    return redirect


async def logout_page(request: Request) -> Response:
    session = session_of(request)
    if session is None or not session.logged_in:
        return RedirectResponse("/login", status_code=303)
    return render(request, session, "logout.html")


async def logout_submit(request: Request) -> Response:
    session = session_of(request)
    form = await read_form(request)
    if session is not None:
        check_csrf(session, form)
        state_of(request).sessions.drop(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def home(request: Request) -> Response:
    return RedirectResponse("/todo", status_code=303)
