"""« À relancer »: the follow-ups planned in the coming days."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dolirelance.service import upcoming
from dolirelance.web.page import logged_in, render, state_of
from dolirelance.web.security import Session


@logged_in
async def todo_page(request: Request, session: Session) -> Response:
    async with state_of(request).runtime(session) as rt:
        lines = await upcoming(rt, days=30)
        tz = rt.tz
    return render(request, session, "todo.html", lines=lines, local=lambda moment: moment.astimezone(tz))
