"""« Suivi »: the follow-ups of a quote, a customer, or every open quote."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dolirelance.service import HistoryLine, history_view, read_customer, read_quote
from dolirelance.web.labels import LABELS
from dolirelance.web.page import language_of, logged_in, render, state_of
from dolirelance.web.security import Session


@logged_in
async def followups_page(request: Request, session: Session) -> Response:
    state = state_of(request)
    quote_id = request.path_params.get("quote_id")
    customer_id = request.path_params.get("customer_id")
    lang = language_of(request, session)
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
    return render(request, session, "followups.html", title=title, title_ref=title_ref, lines=lines, files=files,
                  quote_id=quote_id, customer_id=customer_id, local=lambda moment: moment.astimezone(tz))
