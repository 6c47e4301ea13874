"""What a sales person sees before anything leaves, the mass page's selection at scale, and errors in the page's
language: against the fake Dolibarr (in-process) and a real SMTP sink on loopback."""

from __future__ import annotations

import io
import re
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from test_web import Web, csrf_of
from test_web import web as web


def _nothing_done(web: Web) -> None:
    assert not web.sink.messages
    assert not [e for e in web.fake.events.values() if e.code.startswith("AC_RELANCE")]


async def _preview(web: Web, role: str, channel: str, **fields: str) -> str:
    quote_id = web.sample.quotes[role]
    form = await web.client.get(f"/quotes/{quote_id}/followup")
    data = {"csrf": csrf_of(form.text), "quote": str(quote_id), "channel": channel, **fields}
    answer = await web.client.post("/followup/preview", data=data)
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_the_email_preview_shows_recipient_and_why_subject_text_and_attachments(web: Web) -> None:
    """The e-mail as it would leave, from the service's own preparation; nothing sent, nothing recorded."""
    await web.login()
    page = await _preview(web, "about_to_expire", "email", model="1ère relance", note="Appelée")
    ref = web.sample.refs["about_to_expire"]
    assert "Aperçu avant envoi" in page and "Rien n&#39;est encore parti" in page
    assert "sophie.dupont@garage-dupont.test" in page and "(contact client du devis)" in page  # no nested brackets
    assert f"Votre devis {ref}" in page  # the subject as rendered
    assert f"Votre devis {ref} attend." in page  # the text as rendered
    assert re.search(r'id="preview-attachments">.*\.pdf', page)
    assert 'id="send"' in page and 'name="channel" value="email"' in page
    assert 'id="recent-warning"' not in page
    _nothing_done(web)


async def test_the_letter_preview_is_a_pdf_to_open(web: Web) -> None:
    await web.login()
    page = await _preview(web, "no_email", "letter", model="2nde relance")
    link = re.search(r'id="preview-letter" href="([^"]+)"', page)
    assert link, page
    pdf = await web.client.get(link.group(1).replace("&amp;", "&"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Seconde relance de la proposition" in text and web.sample.refs["no_email"] in text
    assert len(reader.pages) >= 2  # the letter, then the quote
    _nothing_done(web)
    assert not list(web.settings.base_dir.rglob("relance*.pdf"))  # no copy kept, nothing filed


async def test_email_is_disabled_with_the_reason_where_there_is_no_address(web: Web) -> None:
    await web.login()
    page = (await web.client.get(f"/quotes/{web.sample.quotes['no_email']}/followup")).text
    email = re.search(r'<input type="radio" name="channel" value="email"[^>]*>', page)
    assert email and "disabled" in email.group(0)
    assert "Ni le client ni un contact client du devis n&#39;ont d&#39;adresse e-mail" in page
    letter = re.search(r'<input type="radio" name="channel" value="letter"[^>]*>', page)
    assert letter and "checked" in letter.group(0)
    with_email = (await web.client.get(f"/quotes/{web.sample.quotes['about_to_expire']}/followup")).text
    assert 'id="recipient"' in with_email and "sophie.dupont@garage-dupont.test" in with_email


async def test_a_recent_follow_up_is_shown_and_sending_needs_relancer_quand_meme(web: Web) -> None:
    await web.login()
    quote_id = str(web.sample.quotes["about_to_expire"])
    first = await web.client.post("/followup/new", data={"csrf": await web.csrf(), "quote": quote_id,
                                                         "channel": "email", "model": "1ère relance"})
    assert first.status_code == 200 and 'id="done"' in first.text
    page = await _preview(web, "about_to_expire", "email")
    assert 'id="recent-warning"' in page and "Ce devis a déjà été relancé le" in page
    assert "1ère relance, e-mail par Julie Dupont" in page and "Relancer quand même" in page
    token = re.search(r'name="attempt" value="([0-9a-f]{32})"', page)
    assert token
    fields = {"csrf": csrf_of(page), "quote": quote_id, "channel": "email", "attempt": token.group(1)}
    refused = await web.client.post("/followup/new", data=fields)
    assert refused.status_code == 409 and "Ce devis a déjà été relancé le" in refused.text
    assert len(web.sink.messages) == 1
    forced = await web.client.post("/followup/new", data={**fields, "force": "1"})
    assert forced.status_code == 200 and 'id="done"' in forced.text
    assert len(web.sink.messages) == 2


@pytest.mark.parametrize(
    ("path", "lang", "words"),
    [
        ("/quotes/99999/followup", "fr", "Ce devis (ou ce client) n&#39;existe pas dans Dolibarr"),
        ("/quotes/99999/followups", "fr", "Ce devis (ou ce client) n&#39;existe pas dans Dolibarr"),
        ("/customers/99999/followup", "fr", "Ce devis (ou ce client) n&#39;existe pas dans Dolibarr"),
        ("/quotes/99999/followup?lang=en", "en", "This quote (or customer) does not exist in Dolibarr"),
        ("/nowhere", "fr", "Page introuvable."),
    ],
)
async def test_a_missing_quote_is_a_404_page_in_the_pages_language(web: Web, path: str, lang: str, words: str) -> None:
    await web.login()
    answer = await web.client.get(path)
    assert answer.status_code == 404
    assert words in answer.text and f'<html lang="{lang}">' in answer.text
    assert "Traceback" not in answer.text and "DolibarrNotFound" not in answer.text
    assert "404" not in answer.text.split("<main", 1)[1]  # no technical code for the person


async def test_service_errors_on_french_pages_are_in_french(web: Web) -> None:
    """No customer matches the filter: the page says so in French, with what to do."""
    await web.login()
    page = await web.client.get("/mass?customer=Inconnu%20SARL")
    assert "Aucun client ne correspond à « Inconnu SARL »." in page.text
    assert "Donnez le nom, le code ou l&#39;identifiant du client." in page.text
    assert "no customer matches" not in page.text
    english = await web.client.get("/mass?customer=Inconnu%20SARL&lang=en")
    assert "No customer matches “Inconnu SARL”." in english.text  # English quotation marks
    # a sales person's filter lists the whole selection first: its errors land on the page too
    with_rep = await web.client.get("/mass?customer=Inconnu%20SARL&sales_rep=jdupont&lang=fr")
    assert with_rep.status_code == 200 and "Aucun client ne correspond à « Inconnu SARL »." in with_rep.text


async def test_the_mass_preview_lists_what_leaves_before_anything_does(web: Web) -> None:
    await web.login()
    refs = web.sample.refs
    data = {"csrf": await web.csrf(), "letter": [refs["expired"], refs["no_email"]],
            "email": [refs["about_to_expire"], refs["no_email"]], "note": "Fin de mois"}
    answer = await web.client.post("/mass", data=data)
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "Aperçu avant envoi" in page and 'id="confirm-mass"' in page
    row = re.search(rf'<tr data-ref="{refs["about_to_expire"]}" class="goes">.*?</tr>', page, re.S)
    assert row and "sophie.dupont@garage-dupont.test" in row.group(0) and "contact client du devis" in row.group(0)
    no_email = re.search(rf'<tr data-ref="{refs["no_email"]}" class="held">.*?</tr>', page, re.S)
    assert no_email and "pas d&#39;adresse e-mail" in no_email.group(0)
    assert "1 par e-mail, 2 par courrier, 1 écartés." in page
    _nothing_done(web)


async def test_select_all_acts_on_the_whole_selection_not_only_the_page(web: Web) -> None:
    """"The whole selection" is every quote the filters select, counted and totalled over every page."""
    hotel, owner = web.sample.customers["hotel"], web.sample.users["jdupont"]
    for _ in range(105):  # past the first page of 100
        proposal = web.fake.add_proposal(hotel, date=web.sample.today, duree_validite=-3, user_id=owner)
        web.fake.add_proposal_line(proposal.id, description="Entretien", qty=1, subprice="10")
        web.fake.validate_proposal(proposal.id, user_id=owner)
    await web.login()
    midnight = datetime.combine(web.sample.today, time(0), ZoneInfo("Europe/Paris")).timestamp()
    expired = [p for p in web.fake.proposals.values() if p.status == 1 and (p.fin_validite or 0) < midnight]
    summary = (await web.client.get("/mass/summary?expired=1")).json()
    assert summary["count"] == len(expired) > 100
    assert Decimal(summary["total"]) == sum((Decimal(p.total_ht) for p in expired), Decimal(0))
    page = await web.client.post("/mass", data={"csrf": await web.csrf("/mass?expired=1"), "expired": "1",
                                                "select_all": "letter"})
    assert page.status_code == 200, page.text
    listed = set(re.findall(r'<tr data-ref="([^"]+)" class="(?:goes|held)">', page.text))
    assert listed == {p.ref for p in expired}
    _nothing_done(web)


async def test_mass_filters_due_and_opt_out_are_applied_on_the_server(web: Web) -> None:
    await web.login()
    refs = web.sample.refs
    shown = (await web.client.get("/mass?all=1")).text
    assert refs["opt_out"] in shown
    hidden = (await web.client.get("/mass?all=1&hide_opt_out=1")).text
    assert refs["opt_out"] not in hidden and refs["expired"] in hidden
    nothing_due = (await web.client.get("/mass?all=1&due=1")).text
    assert 'data-ref="' not in nothing_due
    # a follow-up whose next date is today makes its quote due
    done = await web.client.post("/followup/new", data={
        "csrf": await web.csrf(), "quote": str(web.sample.quotes["expired"]), "channel": "letter",
        "next_date": web.sample.today.isoformat()})
    assert done.status_code == 200
    due = (await web.client.get("/mass?all=1&due=1")).text
    assert re.findall(r'<tr data-ref="([^"]+)">', due) == [refs["expired"]]
