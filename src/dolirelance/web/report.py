"""The page "Efficacité des relances": the report's figures as tables and charts.

Its handlers, and what is particular to the page: its words, its query, and a small per-session cache
so that the page, its figures and its chart images (separate requests) cost one reading of Dolibarr.

The page answers at once with its filters; when the report takes longer than ``FIRST_ANSWER_SECONDS``
to read (thousands of quotes and follow-ups), its figures come after, from ``/report/figures``, and
the charts after them: the reading started by the page goes on and is shared, never started twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dolirelance.effectiveness import Rate, Report, as_dict
from dolirelance.errors import DolirelanceError
from dolirelance.service.report import effectiveness_report
from dolirelance.web.charts import CHARTS, chart_png, chart_svg
from dolirelance.web.page import error_text, language_of, logged_in, render, state_of
from dolirelance.web.security import Session

__all__ = ["REPORT_LABELS", "ReportCache", "ReportQuery", "number_text", "percent_text"]

CACHE_SECONDS = 300
CACHE_ENTRIES = 32
# How long the page waits for its figures before answering without them (they follow).
FIRST_ANSWER_SECONDS = 1.5

REPORT_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "report": "Efficacité des relances",
        "from": "Du",
        "to": "au",
        "sales_rep": "Commercial (identifiant)",
        "model": "Modèle",
        "all_models": "tous",
        "show": "Afficher",
        "summary": "Du {start} au {end} : {followups} relance(s) sur {quotes} devis. "
        "Signés après une relance : {rate}, pour {amount} HT.",
        "median": "Signature en {days} jour(s) après la relance (médiane).",
        "comparison": "Devis de la période jamais relancés : {rate} signés, pour {amount} HT.",
        "by_model": "Par modèle",
        "by_step": "Par étape automatique",
        "by_channel": "Par canal",
        "by_sales_person": "Par commercial",
        "funnel": "Entonnoir : n-ième relance des devis",
        "months": "Mois par mois",
        "comparison_title": "Avec et sans relance",
        "key_model": "Modèle",
        "key_step": "Étape",
        "key_channel": "Canal",
        "key_sales_person": "Commercial",
        "followups": "Relances",
        "quotes": "Devis relancés",
        "signed": "Signés après",
        "conversion": "Taux",
        "median_days": "Jours (médiane)",
        "refused": "Refusés",
        "open": "En cours",
        "expired": "Expirés sans réponse",
        "other": "Autres",
        "amount_signed": "Montant signé HT",
        "stage": "Relance n°",
        "reached": "Devis arrivés là",
        "month": "Mois",
        "manual": "manuelle",
        "email": "e-mail",
        "letter": "courrier",
        "download": "Télécharger :",
        "how_to_read": "Un devis signé est attribué à la dernière relance faite avant sa signature. "
        "Le taux = devis signés après la relance / devis relancés.",
        "chart_models": "Devis relancés et signés ensuite, par modèle",
        "chart_steps": "Devis relancés et signés ensuite, par étape",
        "chart_funnel": "Entonnoir des relances",
        "chart_months": "Relances faites et montant signé, mois par mois",
        "chart_comparison": "Taux de signature avec et sans relance",
        "bad_date": "Date invalide (format attendu : AAAA-MM-JJ).",
        "computing": "Calcul des chiffres en cours… ils s'afficheront ici.",
        "show_when_ready": "Afficher les chiffres (la page attend qu'ils soient prêts)",
    },
    "en": {
        "report": "Follow-up effectiveness",
        "from": "From",
        "to": "to",
        "sales_rep": "Sales person (login)",
        "model": "Model",
        "all_models": "all",
        "show": "Show",
        "summary": "From {start} to {end}: {followups} follow-up(s) on {quotes} quote(s). "
        "Signed after a follow-up: {rate}, for {amount} excl. tax.",
        "median": "Signed {days} day(s) after the follow-up (median).",
        "comparison": "Quotes of the period never followed up: {rate} signed, for {amount} excl. tax.",
        "by_model": "Per model",
        "by_step": "Per automatic step",
        "by_channel": "Per channel",
        "by_sales_person": "Per sales person",
        "funnel": "Funnel: the quotes' n-th follow-up",
        "months": "Month by month",
        "comparison_title": "With and without follow-up",
        "key_model": "Model",
        "key_step": "Step",
        "key_channel": "Channel",
        "key_sales_person": "Sales person",
        "followups": "Follow-ups",
        "quotes": "Quotes followed up",
        "signed": "Signed after",
        "conversion": "Rate",
        "median_days": "Days (median)",
        "refused": "Refused",
        "open": "Open",
        "expired": "Expired, no answer",
        "other": "Other",
        "amount_signed": "Amount signed excl. tax",
        "stage": "Follow-up no.",
        "reached": "Quotes reaching it",
        "month": "Month",
        "manual": "manual",
        "email": "e-mail",
        "letter": "letter",
        "download": "Download:",
        "how_to_read": "A signed quote is credited to the last follow-up done before its signature. "
        "Rate = quotes signed after the follow-up / quotes followed up.",
        "chart_models": "Quotes followed up and signed afterwards, per model",
        "chart_steps": "Quotes followed up and signed afterwards, per step",
        "chart_funnel": "Follow-up funnel",
        "chart_months": "Follow-ups done and amount signed, month by month",
        "chart_comparison": "Signature rate with and without follow-up",
        "bad_date": "Invalid date (expected: YYYY-MM-DD).",
        "computing": "Working out the figures… they will show here.",
        "show_when_ready": "Show the figures (the page waits until they are ready)",
    },
}


def percent_text(rate: Rate, lang: str) -> str:
    """``3/8 (37,5 %)``: the count first, never a bare percentage."""
    percent = rate.percent
    if percent is None:
        return f"{rate.count}/{rate.total}"
    shown = f"{percent:g}"
    return f"{rate.count}/{rate.total} ({shown.replace('.', ',') if lang == 'fr' else shown} %)"


def number_text(value: float, lang: str) -> str:
    """``7,5`` in French, ``7.5`` in English; no trailing zeros."""
    shown = f"{value:g}"
    return shown.replace(".", ",") if lang == "fr" else shown


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """The page's filters, as given (empty = default)."""

    start: date | None = None
    end: date | None = None
    sales_rep: str = ""
    model: str = ""

    @classmethod
    def parse(cls, params: dict[str, str]) -> ReportQuery:
        """Raises ``ValueError`` for a date that is not ``YYYY-MM-DD``."""

        def day(name: str) -> date | None:
            text = params.get(name, "").strip()
            return date.fromisoformat(text) if text else None

        return cls(day("from"), day("to"), params.get("sales_rep", "").strip(), params.get("model", "").strip())

    def query_string(self) -> str:
        values = {
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
            "sales_rep": self.sales_rep,
            "model": self.model,
        }
        return urlencode({key: value for key, value in values.items() if value})


class ReportCache:
    """The last reports computed, per session and query, for a few minutes."""

    def __init__(self, seconds: float = CACHE_SECONDS, entries: int = CACHE_ENTRIES) -> None:
        self._seconds = seconds
        self._entries = entries
        self._items: OrderedDict[tuple[str, ReportQuery], tuple[float, Report]] = OrderedDict()
        self._pending: dict[tuple[str, ReportQuery], asyncio.Task[Report]] = {}

    def get(self, session_id: str, query: ReportQuery) -> Report | None:
        found = self._items.get((session_id, query))
        if found is None or time.monotonic() - found[0] > self._seconds:
            return None
        return found[1]

    def computing(
        self, session_id: str, query: ReportQuery, compute: Callable[[], Awaitable[Report]]
    ) -> asyncio.Task[Report]:
        """The reading of this report in progress, started now if it is not: one per session and query.

        Its result goes into the cache; awaiting it through :func:`asyncio.shield` lets a request that
        goes away (a closed tab) leave it to the others.
        """
        key = (session_id, query)
        task = self._pending.get(key)
        if task is None:

            async def read() -> Report:
                try:
                    report = await compute()
                    self.put(session_id, query, report)
                    return report
                finally:
                    self._pending.pop(key, None)

            task = self._pending[key] = asyncio.ensure_future(read())
            # a reading nobody waits for any more (the page gave up) keeps its error to itself
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    def put(self, session_id: str, query: ReportQuery, report: Report) -> None:
        self._items[(session_id, query)] = (time.monotonic(), report)
        self._items.move_to_end((session_id, query))
        while len(self._items) > self._entries:
            self._items.popitem(last=False)


# --------------------------------------------------------------------------- the handlers


def _report_reading(request: Request, session: Session, query: ReportQuery) -> asyncio.Task[Report]:
    """The report's reading from Dolibarr, started once per session and query (see ReportCache)."""
    state = state_of(request)

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
    lang = language_of(request, session)
    words = REPORT_LABELS[lang]
    context: dict[str, Any] = {"r": words, "report": None, "query": ReportQuery(), "charts": list(CHARTS),
                               "figures_url": None, "wait_url": None,
                               "models": [m.name for m in state_of(request).settings.models],
                               "percent": lambda rate: percent_text(rate, lang),
                               "number": lambda value: number_text(value, lang)}
    try:
        query = context["query"] = ReportQuery.parse(dict(request.query_params))
    except ValueError:
        return render(request, session, "report.html", status_code=400, error=(words["bad_date"], None), **context)
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
            return render(request, session, "report.html", **context)
        try:
            report = reading.result()
        except DolirelanceError as exc:
            return render(request, session, "report.html", status_code=400, error=error_text(exc, lang),
                          **context)
    context["report"] = report
    return render(request, session, "report.html", **context)


@logged_in
async def report_figures(request: Request, session: Session) -> Response:
    """The report's figures alone, for the page that answered before they were read."""
    lang = language_of(request, session)
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
        return render(request, session, "report_figures.html", status_code=400, error=error_text(exc, lang),
                      **context)
    return render(request, session, "report_figures.html", **context)


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
    body = await asyncio.to_thread(draw, name, report, language_of(request, session))
    headers = {}
    if request.query_params.get("download"):
        headers["content-disposition"] = f'attachment; filename="relances-{name}.{fmt}"'
    return Response(body, media_type="image/svg+xml" if fmt == "svg" else "image/png", headers=headers)
