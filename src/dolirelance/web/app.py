"""The web app: the Starlette app built from the page groups' routes, its state and middleware.

The pages: :mod:`~dolirelance.web.login`, :mod:`~dolirelance.web.mass`, :mod:`~dolirelance.web.followup`,
:mod:`~dolirelance.web.history`, :mod:`~dolirelance.web.todo`, :mod:`~dolirelance.web.report`,
:mod:`~dolirelance.web.files`; what they share in :mod:`~dolirelance.web.page`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from dolirelance.config import Settings
from dolirelance.dolibarr import Transport
from dolirelance.service import SmtpFactory
from dolirelance.web.files import download_file, print_filed_letters
from dolirelance.web.followup import (
    email_frame,
    email_page,
    new_edit,
    new_page,
    new_preview,
    new_preview_letter,
    new_submit,
)
from dolirelance.web.history import followups_page
from dolirelance.web.labels import LABELS
from dolirelance.web.login import healthz, home, login_dolibarr, login_page, login_submit, logout_page, logout_submit
from dolirelance.web.mass import mass_job_page, mass_job_status, mass_page, mass_run, mass_summary
from dolirelance.web.once import OneTimeForms
from dolirelance.web.page import HERE, language_of, make_templates, render, session_of
from dolirelance.web.report import (
    FIRST_ANSWER_SECONDS,
    ReportCache,
    report_chart,
    report_figures,
    report_json,
    report_page,
)
from dolirelance.web.security import LoginLimiter, SessionStore
from dolirelance.web.selections import SelectionCache
from dolirelance.web.sso import sso_verifier
from dolirelance.web.state import WebState
from dolirelance.web.todo import todo_page

__all__ = ["create_web_app", "serve_web"]

log = logging.getLogger(__name__)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    session = session_of(request)
    lang = language_of(request, session)
    if exc.status_code == 403 and "CSRF" in str(exc.detail):
        message = LABELS[lang]["csrf_failed"]
    elif exc.status_code == 404:
        message = LABELS[lang]["not_found"]
    elif exc.status_code == 413:
        message = LABELS[lang]["form_too_large"]
    else:
        message = str(exc.detail)
    return render(request, session, "error.html", status_code=exc.status_code, error=(message, None))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    try:  # the page in the user's language; if even that fails, a plain bilingual one
        session = session_of(request)
        lang = language_of(request, session)
        return render(request, session, "error.html", status_code=500, error=(LABELS[lang]["server_error"], None))
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
        templates=make_templates(),
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
