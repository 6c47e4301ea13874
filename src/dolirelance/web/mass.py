"""« Relance massive »: the quotes to follow up, the preview of what would leave, the run as a job."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from dolirelance.domain import Channel, QuoteFilter
from dolirelance.errors import AccessDenied, DolirelanceError
from dolirelance.formatting import format_amount, format_short_day
from dolirelance.service import (
    ChannelChoice,
    MassItem,
    MassSelection,
    QuoteRow,
    QuotesSelection,
    Runtime,
    email_reachable,
    mass_follow_up,
    plan_mass,
    quotes_screen,
    quotes_selection,
    resolve_customer_ids,
)
from dolirelance.service.access import Access, require_access
from dolirelance.service.preview import mass_preview_lines
from dolirelance.web.files import unprinted_letters
from dolirelance.web.forms import FormError, MassFilters, MassRequest, first_value, parse_next_date
from dolirelance.web.jobs import MassJob
from dolirelance.web.labels import LABELS
from dolirelance.web.page import (
    PageErrorBox,
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
from dolirelance.web.selections import SelectionCache
from dolirelance.web.user_errors import PageError, outcome_note, page_error, plan_note

# The first screen shows the quotes whose end of validity is near (filtered by Dolibarr); "all open
# quotes" is one click away. Dolibarr sorts and pages the rows shown; the count and total of the whole
# selection come from one listing of it, fetched by the page right after it is shown (/mass/summary).
SOON_PAST_DAYS = 30
SOON_AHEAD_DAYS = 15
MASS_PAGE_SIZE = 100
# "The whole selection" is planned quote by quote on a preview a person reads: beyond this, narrow it.
MAX_MASS_SELECTION = 500


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
    lang = language_of(request, session)
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
        rows, emails, error = [], {}, error or error_text(exc, lang)
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
    return render(
        request, session, "mass.html", status_code=status_code, error=error, lines=lines,
        summary=_summary_of(selection, lang), page=filters.page + 1,
        has_next=len(rows) == MASS_PAGE_SIZE if selection is None else filters.page + 1 < selection.pages(
            MASS_PAGE_SIZE),
        soon=(SOON_PAST_DAYS, SOON_AHEAD_DAYS), max_selection=MAX_MASS_SELECTION, select_all=select_all,
        filters=filters, models=rt.model_names(), files=state_of(request).generated_files(session),
        to_print=await unprinted_letters(rt, session),
        ticked_letters=ticked_letters, ticked_emails=ticked_emails, note=note,
        next_date=next_date or default_next.isoformat(), today=rt.today().isoformat(), left_out=left_out,
        day_off=day_off_label(rt), today_day=rt.today(), local=lambda moment: moment.astimezone(rt.tz),
    )


def _summary_of(selection: QuotesSelection | None, lang: str) -> dict[str, Any] | None:
    if selection is None:
        return None
    return {
        "count": selection.count,
        "total": f"{selection.total_excl_tax:.2f}",
        "total_text": format_amount(selection.total_excl_tax, "EUR", lang),
        "pages": selection.pages(MASS_PAGE_SIZE),
    }


@logged_in
async def mass_page(request: Request, session: Session) -> Response:
    filters = MassFilters.from_values(lambda name: request.query_params.get(name, "").strip())
    async with state_of(request).runtime(session) as rt:
        return await _render_mass(request, session, rt, filters)


@logged_in
async def mass_summary(request: Request, session: Session) -> Response:
    """The count and total of the whole selection (every page), which the mass page shows once known."""
    filters = MassFilters.from_values(lambda name: request.query_params.get(name, "").strip())
    async with state_of(request).runtime(session) as rt:
        selection = await _mass_selection(request, session, rt, filters)
    assert selection is not None
    return JSONResponse(_summary_of(selection, language_of(request, session)))


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
    form = await sending_form(request, session)
    if first_value(form, "step") != "run":
        return await _mass_step(request, session, form)
    return await run_once(request, session, first_value(form, "once"), lambda: _mass_step(request, session, form),
                          issued_only=True, result_of=lambda response: response.headers.get("location"))


async def _mass_step(request: Request, session: Session, form: dict[str, list[str]]) -> Response:
    state = state_of(request)
    lang = language_of(request, session)
    labels = LABELS[lang]
    asked = MassRequest.from_form(form)
    run = first_value(form, "step") == "run"
    async with state.runtime(session) as rt:
        try:
            next_date = parse_next_date(asked.next_text, rt.today(), labels)
            plans = await _mass_plan(request, session, rt, asked, labels, run=run)
            acting_user = await rt.me()
            await require_access(rt, Access.SEND, acting_user)
        except (DolirelanceError, FormError) as exc:
            refused = isinstance(exc, AccessDenied)
            if refused:  # the pages stop offering to send at once
                request.state.can_send = False
                state.access_cache.pop(session.session_id, None)
            return await _render_mass(
                request, session, rt, asked.filters, error=error_text(exc, lang),
                status_code=403 if refused else 400,
                ticked_letters=frozenset(asked.letters), ticked_emails=frozenset(asked.emails),
                chosen_models=asked.models, note=asked.note, next_date=asked.next_text, select_all=asked.select_all,
            )
        if not run:
            items = [item for items, _ in plans for item in items]
            return render(request, session, "mass_preview.html", asked=asked,
                          lines=_preview_lines(rt, items, lang, asked), once=state.forms.issue(session.session_id),
                          next_date=next_date or rt.today() + timedelta(days=rt.settings.followup.next_delay),
                          day_off=day_off_label(rt), today_day=rt.today())

    async def work(job: MassJob) -> None:
        # Letters first, then e-mails: each run reads the history afresh, so a quote ticked for
        # both gets its letter, and its e-mail is refused as recent ([auto] min_gap) unless forced.
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
    """Each planned quote as the preview shows it (the service's :func:`mass_preview_lines`), in ``lang``."""
    labels = LABELS[lang]
    lines = []
    for line in mass_preview_lines(rt, items):
        item, recent = line.item, line.recent
        warning = None
        if recent is not None:
            warning = labels["recent_short"].format(when=format_short_day(recent.last.done_at, lang),
                                                    model=recent.last.model or "?")
        # the e-mail of a line that goes, shown on its own page (prepared as the sending prepares it)
        email_query = urlencode({"quote": item.row.quote.id, "model": item.model, "note": asked.note,
                                 "next_date": asked.next_text}) if item.channel is Channel.EMAIL else ""
        lines.append({"item": item, "recipients": line.recipients, "warning": warning,
                      "problem": plan_note(line.problem_code, lang) if line.shows_problem else None,
                      "held": line.held, "email_query": email_query})
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
    job = state_of(request).jobs.get(request.path_params["job_id"], session.login)
    if job is None:
        raise HTTPException(404)
    lang = language_of(request, session)
    return render(request, session, "mass_job.html", job=job, files=state_of(request).generated_files(session),
                  pdf_name=job.letters_pdf.name if job.letters_pdf else None,
                  outcome_note=lambda outcome: outcome_note(outcome, lang), job_error=_job_error(job, lang))


def _job_error(job: MassJob, lang: str) -> PageError | None:
    """What stopped a mass run, in the page's language (None when nothing did)."""
    if job.failure is not None:
        return page_error(job.failure, lang)
    if job.error is not None:  # not one of ours: the log has the traceback
        return PageError(LABELS[lang]["server_error"], None, job.error)
    return None


@logged_in
async def mass_job_status(request: Request, session: Session) -> Response:
    job = state_of(request).jobs.get(request.path_params["job_id"], session.login)
    if job is None:
        raise HTTPException(404)
    return JSONResponse(job.status())
