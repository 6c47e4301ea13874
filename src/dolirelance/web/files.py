"""The files the pages wrote (batch PDFs, single letters): download, and printing the letters left unprinted."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from dolirelance.ledger import Entry
from dolirelance.service import Runtime, letters_to_print, print_letters
from dolirelance.web.forms import read_form
from dolirelance.web.page import check_csrf, logged_in, state_of
from dolirelance.web.security import Session
from dolirelance.web.state import DOWNLOADABLE


async def unprinted_letters(rt: Runtime, session: Session) -> list[Entry]:
    """The letters filed but in no print file this user may print: all of them with societe.client.voir."""
    return await asyncio.to_thread(letters_to_print, rt, None if session.sees_all_customers else session.user_id)


@logged_in
async def print_filed_letters(request: Request, session: Session) -> Response:
    """One print file of the letters filed but never printed (a mass run cut short): then the mass page."""
    form = await read_form(request)
    check_csrf(session, form)
    state = state_of(request)
    async with state.runtime(session) as rt:
        user_id = None if session.sees_all_customers else session.user_id
        report = await print_letters(rt, state.output_dir, user_id=user_id)
    if report.path is not None:
        state.record_owner(report.path, session.login)
    return RedirectResponse("/mass", status_code=303)


@logged_in
async def download_file(request: Request, session: Session) -> Response:
    name = request.path_params["name"]
    state = state_of(request)
    path = state.output_dir / name
    if not DOWNLOADABLE.match(name) or not path.is_file() or not state.may_download(path, session):
        raise HTTPException(404)
    return FileResponse(path, media_type="application/pdf", filename=name)
