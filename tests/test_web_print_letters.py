"""The web's generated files: letters filed but in no print file are listed, and one button makes their print file."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from dolirelance.domain import Channel
from dolirelance.letter import LetterBatch
from dolirelance.service import FollowUpOutcome
from dolirelance.web.user_errors import outcome_note
from test_web import Web, run_mass
from test_web import web as web  # the fixture, shared


async def test_a_mass_run_without_its_print_file_leaves_letters_to_print_from_the_files_zone(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    await web.login()
    refs = web.sample.refs

    def cut(self: LetterBatch, *exc_info: object) -> bool:  # the batch's file is never completed
        raise OSError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(LetterBatch, "__exit__", cut)
        result = await run_mass(web, {"letter": [refs["expired"], refs["no_email"]], "next_date": "2026-12-15"})
    assert result.status_code == 200 and 'id="letters-pdf"' not in result.text

    files_zone = (await web.client.get("/mass")).text
    assert "dans aucun fichier à imprimer (2)" in files_zone
    assert refs["expired"] in files_zone and refs["no_email"] in files_zone
    made = await web.client.post("/letters/print", data={"csrf": await web.csrf()})
    assert made.status_code == 303 and made.headers["location"] == "/mass"

    files_zone = (await web.client.get("/mass")).text
    assert "aucun fichier à imprimer" not in files_zone
    link = re.search(r'href="(/files/relances-[^"]+-[0-9a-f]{8}\.pdf)"', files_zone)
    assert link, files_zone
    pdf = await web.client.get(link.group(1))
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert refs["expired"] in text and refs["no_email"] in text
    letters = [e for e in web.fake.events.values() if e.code == "AC_RELANCE_LETTER"]
    assert len(letters) == 2  # printed from the quotes' files: nothing filed or recorded again


async def test_the_print_button_needs_the_csrf_token(web: Web) -> None:
    await web.login()
    refused = await web.client.post("/letters/print", data={})
    assert refused.status_code == 403


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_uncertain_letter_sends_people_to_the_quotes_files_not_to_a_mailbox(lang: str) -> None:
    letter = FollowUpOutcome("PR1", "Client", "m", Channel.LETTER, "uncertain", error="uncertain: no answer")
    email = FollowUpOutcome("PR1", "Client", "m", Channel.EMAIL, "uncertain", error="uncertain: no answer")
    letter_note, email_note = outcome_note(letter, lang), outcome_note(email, lang)
    assert letter_note is not None and email_note is not None
    files = {"fr": "fichiers du devis", "en": "quote's files"}[lang]
    mailbox = {"fr": "boîte", "en": "mail"}[lang]
    assert files in f"{letter_note.message} {letter_note.remedy}"
    assert mailbox not in f"{letter_note.message} {letter_note.remedy}"
    assert mailbox in f"{email_note.message} {email_note.remedy}"
