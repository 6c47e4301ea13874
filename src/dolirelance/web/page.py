"""What every page uses: the request's state, session and language, rendering a template, the
logged-in guard that words errors, and the checks of a posted form (CSRF, one-time token).

Every page runs as the logged-in Dolibarr user: the request opens a runtime with that user's own
API key (kept in the server-side session), so Dolibarr applies the user's rights and the events
it records name that user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dolirelance.errors import (
    AccessDenied,
    DolibarrAuthError,
    DolibarrNotFound,
    DolibarrUnavailable,
    DolirelanceError,
    FollowUpError,
)
from dolirelance.formatting import format_amount, format_short_day
from dolirelance.service import Runtime, working_calendar
from dolirelance.service.access import MODULE_RIGHT_LABELS, MODULE_WRITE_RIGHT, Access
from dolirelance.web.forms import FormError, first_value, read_form
from dolirelance.web.labels import LABELS, LANGUAGES
from dolirelance.web.once import Replayed
from dolirelance.web.security import SESSION_COOKIE, Session, csrf_ok
from dolirelance.web.state import WebState
from dolirelance.web.user_errors import page_error

HERE = Path(__file__).parent
Handler = Callable[[Request], Awaitable[Response]]


def make_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def session_of(request: Request) -> Session | None:
    return state_of(request).sessions.from_cookie(request.cookies.get(SESSION_COOKIE))


def language_of(request: Request, session: Session | None) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        if session is not None:
            session.language = asked
        return asked
    if session is not None and session.language:
        return session.language
    return state_of(request).settings.web.language


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    state = state_of(request)
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


def render(
    request: Request,
    session: Session | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    state = state_of(request)
    lang = language_of(request, session)
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
        fmt_date=lambda value: format_short_day(value, lang),
        fmt_amount=lambda value, currency="EUR": format_amount(value, currency, lang),
        error=context.pop("error", None),
        can_send=getattr(request.state, "can_send", True),
        senders_group=send_right,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


PageErrorBox = tuple[str, str | None] | tuple[str, str | None, str | None]


def error_text(exc: DolirelanceError | FormError, lang: str) -> PageErrorBox:
    """The error box of a page: a form's own words, or a service error in the page's language."""
    if isinstance(exc, FormError):
        return exc.message, exc.remedy, exc.detail
    shown = page_error(exc, lang)
    return shown.message, shown.remedy, shown.detail


def logged_in(handler: Callable[[Request, Session], Awaitable[Response]]) -> Handler:
    """Pages for logged-in users: others go to the login page, then come back.

    Dolibarr refusing the session's key (revoked, user disabled) ends the session. Any other
    error a user can meet is shown as a message with its remedy, never as a stack trace.
    """

    async def wrapper(request: Request) -> Response:
        session = session_of(request)
        if session is None or not session.logged_in:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={url_quote(target, safe='')}", status_code=303)
        try:
            # [access]: who may read at all, and whether the pages offer to send (the sends check again)
            request.state.can_send = await state_of(request).access(session) >= Access.SEND
            return await handler(request, session)
        except AccessDenied as exc:
            request.state.can_send = False
            return render(request, session, "error.html", status_code=403,
                          error=error_text(exc, language_of(request, session)))
        except DolibarrAuthError as exc:
            if exc.status_code == 401:
                state_of(request).sessions.drop(session)
                return RedirectResponse("/login", status_code=303)
            return render(request, session, "error.html", status_code=403,
                          error=error_text(exc, language_of(request, session)))
        except DolibarrNotFound as exc:  # a quote or customer that does not exist: a user error, not a 5xx
            return render(request, session, "error.html", status_code=404,
                          error=error_text(exc, language_of(request, session)))
        except DolibarrUnavailable as exc:
            return render(request, session, "error.html", status_code=503,
                          error=error_text(exc, language_of(request, session)))
        except FollowUpError as exc:  # asked for something that cannot be done: the user's side
            return render(request, session, "error.html", status_code=400,
                          error=error_text(exc, language_of(request, session)))
        except DolirelanceError as exc:  # Dolibarr refused or answered oddly, a setting is wrong: not the user's
            return render(request, session, "error.html", status_code=502,
                          error=error_text(exc, language_of(request, session)))

    return wrapper


def check_csrf(session: Session, form: dict[str, list[str]]) -> None:
    if not csrf_ok(session, first_value(form, "csrf") or None):
        raise HTTPException(403, "CSRF token missing or wrong")


async def sending_form(request: Request, session: Session) -> dict[str, list[str]]:
    """The posted form of a page that previews, sends or files follow-ups, its CSRF token checked.

    Every handler that may send (Nouvelle relance, Relance massive) reads its form here: the one
    place where a check of who may send belongs.
    """
    form = await read_form(request)
    check_csrf(session, form)
    return form


async def run_once(
    request: Request, session: Session, token: str, work: Callable[[], Awaitable[Response]], *,
    issued_only: bool, result_of: Callable[[Response], str | None],
) -> Response:
    """``work`` for the first post of a sending form's token; for another post, the page saying so."""
    done = await state_of(request).forms.once(session.session_id, token, work, result_of=result_of,
                                              issued_only=issued_only)
    if isinstance(done, Replayed):
        return render(request, session, "already_posted.html", status_code=409, replay=done)
    return done


def day_off_label(rt: Runtime) -> str | None:
    """The label warning that today is a day off (manual sends are allowed: the person is told), or None."""
    calendar, today = working_calendar(rt), rt.today()
    if calendar.is_working_day(today):
        return None
    is_weekday = today.weekday() in calendar.working_weekdays
    return "day_off_holiday" if is_weekday and calendar.holiday_name(today) else "day_off_weekday"
