"""« Nouvelle relance »: the form, its preview (the e-mail, the letter's PDF), and the sending."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from dolirelance.domain import Channel, QuoteFilter, Recipient, choose_recipients
from dolirelance.errors import AccessDenied, DolibarrAuthError, DolibarrNotFound, DolirelanceError, RecentFollowUp
from dolirelance.formatting import format_short_day
from dolirelance.mail import viewable_html
from dolirelance.service import (
    FollowUpOutcome,
    PreparedFollowUp,
    QuoteRow,
    Runtime,
    follow_up,
    prepare_followup,
    quotes_overview,
    read_customer,
    read_quote,
)
from dolirelance.service.preview import RecentFollowUpNotice, recent_followup
from dolirelance.web.email_frames import frame_policy
from dolirelance.web.forms import FollowUpForm, FormError, first_value, parse_next_date, read_form
from dolirelance.web.labels import LABELS
from dolirelance.web.page import (
    PageErrorBox,
    check_csrf,
    day_off_label,
    error_text,
    language_of,
    logged_in,
    render,
    run_once,
    sending_form,
    state_of,
)
from dolirelance.web.security import Session
from dolirelance.web.user_errors import PageError, outcome_note


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
    lang = language_of(request, session)
    rows: list[QuoteRow] = []
    try:
        customer_ids = (int(customer_id),) if customer_id.isdigit() else ()
        rows = await quotes_overview(rt, QuoteFilter(customer_ids=customer_ids))
    except DolirelanceError as exc:
        error = error or error_text(exc, lang)
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
    return render(
        request, session, "new.html", status_code=status_code, error=error, rows=rows, quote_id=quote_id,
        customer_id=customer_id, customer_name=rows[0].customer.name if customer_id and rows and rows[0].customer
        else "", models=rt.model_names(), model=model, note=note, next_date=next_date or default_next.isoformat(),
        today=rt.today().isoformat(), channel=channel, done=done, recipients=recipients, chosen=chosen,
        # one token per form shown: posting it twice (a double click) makes one follow-up, not two
        attempt=attempt or state_of(request).forms.issue(session.session_id), confirm_recent=confirm_recent,
        day_off=day_off_label(rt), today_day=rt.today(), local=lambda moment: moment.astimezone(rt.tz),
    )


@logged_in
async def new_page(request: Request, session: Session) -> Response:
    quote_id = str(request.path_params.get("quote_id", request.query_params.get("quote", "")))
    customer_id = str(request.path_params.get("customer_id", request.query_params.get("customer", "")))
    async with state_of(request).runtime(session) as rt:
        if quote_id.isdigit():
            await read_quote(rt, quote_id)  # a quote that does not exist: the 404 page, not an empty form
        if customer_id.isdigit():
            await read_customer(rt, int(customer_id))
        channel = request.query_params.get("channel", "")  # the Dolibarr module's « Relancer par e-mail / courrier »
        return await _render_new(request, session, rt, quote_id=quote_id, customer_id=customer_id,
                                 channel=channel if channel in ("email", "letter") else "")


async def _prepare_preview(rt: Runtime, asked: FollowUpForm, channel: Channel, labels: dict[str, str]) -> (
        PreparedFollowUp):
    """The follow-up exactly as it would leave (the service's own preparation); nothing is sent or recorded."""
    next_date = parse_next_date(asked.next_text, rt.today(), labels)
    return await prepare_followup(rt, asked.quote_id, channel=channel, acting_user=await rt.me(),
                                  model=asked.model or None, note=asked.note, next_date=next_date)


@logged_in
async def new_preview(request: Request, session: Session) -> Response:
    """Step 1 of "Nouvelle relance": what would leave (recipient and why, texts, letter, attachments)."""
    form = await sending_form(request, session)
    lang = language_of(request, session)
    labels = LABELS[lang]
    asked = FollowUpForm.from_values(lambda name: first_value(form, name))
    async with state_of(request).runtime(session) as rt:
        try:
            channel = asked.checked(labels)
            prepared = await _prepare_preview(rt, asked, channel, labels)
        except DolibarrNotFound:
            raise
        except (DolirelanceError, FormError) as exc:
            if isinstance(exc, DolibarrAuthError) and exc.status_code == 401:
                raise
            return await form_again(asked, request, session, rt, error=error_text(exc, lang), status_code=400)
        recent = _recent_warning(rt, await recent_followup(rt, prepared), lang)
        return render(request, session, "new_preview.html", asked=asked, prepared=prepared, recent=recent,
                      pdf_query=asked.query(), day_off=day_off_label(rt), today_day=rt.today(),
                      email_frame=_email_frame(request, session, prepared))


def _email_frame(request: Request, session: Session, prepared: PreparedFollowUp) -> str | None:
    """The token of the prepared e-mail's HTML part, kept for its frame; None for a text-only e-mail or a letter."""
    html = viewable_html(prepared.rendered) if prepared.channel is Channel.EMAIL else None
    return None if html is None else state_of(request).email_frames.keep(session.session_id, html)


@logged_in
async def email_frame(request: Request, session: Session) -> Response:
    """A previewed e-mail's HTML part, for the sandboxed frame of the preview (see ``email_frames``)."""
    state = state_of(request)
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
    return render(request, session, "email_preview.html", prepared=prepared,
                  email_frame=_email_frame(request, session, prepared))


async def _preview_asked_in_query(request: Request, session: Session, channel: Channel) -> (
        PreparedFollowUp | Response):
    """The follow-up a preview link asks for (``?quote=&model=&note=&next_date=``), or the page saying why not.

    Dolibarr's and the service's errors go on to :func:`logged_in`, which words them with their status.
    """
    lang = language_of(request, session)
    asked = FollowUpForm.from_values(lambda name: request.query_params.get(name, "").strip())
    async with state_of(request).runtime(session) as rt:
        try:
            if not asked.quote_id.isdigit():
                raise FormError(LABELS[lang]["no_quote_chosen"])
            return await _prepare_preview(rt, asked, channel, LABELS[lang])
        except FormError as exc:
            return render(request, session, "error.html", status_code=400, error=error_text(exc, lang))


def _recent_warning(rt: Runtime, recent: RecentFollowUpNotice | None, lang: str) -> str | None:
    """The warning of a quote followed up within ``[auto] min_gap`` days (:func:`recent_followup`), in ``lang``."""
    if recent is None:
        return None
    labels, last = LABELS[lang], recent.last
    who = labels["recent_by"].format(name=recent.owner_name) if recent.owner_name else ""
    when = f"{format_short_day(last.done_at, lang)} {last.done_at.astimezone(rt.tz).strftime('%H:%M')}"
    return labels["recent_warning"].format(when=when, model=last.model or "?", channel=labels[last.channel.value],
                                           who=who, gap=recent.gap_days)


@logged_in
async def new_edit(request: Request, session: Session) -> Response:
    """Back from the preview to the form, as it was filled in."""
    form = await read_form(request)
    check_csrf(session, form)
    asked = FollowUpForm.from_values(lambda name: first_value(form, name))
    async with state_of(request).runtime(session) as rt:
        return await form_again(asked, request, session, rt)


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
    form = await sending_form(request, session)
    asked = FollowUpForm.from_values(lambda name: first_value(form, name))
    return await run_once(request, session, asked.attempt, lambda: _new_submit(request, session, asked),
                          issued_only=False,
                          result_of=lambda response: f"/quotes/{asked.quote_id}/followups"
                          if response.status_code == 200 else None)


async def _new_submit(request: Request, session: Session, asked: FollowUpForm) -> Response:
    state = state_of(request)
    lang = language_of(request, session)
    labels = LABELS[lang]
    async with state.runtime(session) as rt:
        try:
            channel = asked.checked(labels)
            next_date = parse_next_date(asked.next_text, rt.today(), labels)
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
            warning = _recent_warning(rt, await recent_followup(rt, prepared), lang)
            error = (warning or labels["err_followup"], labels["recent_confirm"])
            return await form_again(asked, request, session, rt, error=error, status_code=409, confirm_recent=True)
        except DolibarrNotFound:
            raise
        except (DolirelanceError, FormError) as exc:
            if isinstance(exc, DolibarrAuthError) and exc.status_code == 401:
                raise
            refused = isinstance(exc, AccessDenied)
            if refused:  # the pages stop offering to send at once
                request.state.can_send = False
                state.access_cache.pop(session.session_id, None)
            return await form_again(asked, request, session, rt, error=error_text(exc, lang),
                                    status_code=403 if refused else 400)
        done = {
            "outcome": outcome,
            "quote_id": asked.quote_id,
            "letter": letter_out.name if letter_out is not None and letter_out.is_file() else None,
        }
        return await _render_new(request, session, rt, quote_id="", customer_id=asked.customer_id, done=done)


async def form_again(
    asked: FollowUpForm, request: Request, session: Session, rt: Runtime, *, error: PageErrorBox | None = None,
    status_code: int = 200, confirm_recent: bool = False,
) -> Response:
    """The form again, as filled in, with ``error`` above it."""
    return await _render_new(request, session, rt, quote_id=asked.quote_id, customer_id=asked.customer_id,
                             model=asked.model, note=asked.note, next_date=asked.next_text,
                             channel=asked.channel_text, error=error, status_code=status_code,
                             attempt=asked.attempt, confirm_recent=confirm_recent)
