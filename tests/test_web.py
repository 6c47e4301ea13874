"""The web pages against the fake Dolibarr (in-process) and a real SMTP sink on loopback."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from conftest import ON_EACH_RECORDED_VERSION, SAMPLE_NOW
from dolirelance.config import Settings, parse_config
from dolirelance.dolibarr import login_for_key
from dolirelance.errors import DolibarrAuthError
from dolirelance.ledger import FollowUpState, Ledger
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from dolirelance.web.labels import LABELS

FAKE_URL = "http://dolibarr.test/api/index.php"
# Every page against a Dolibarr 20.0.0 and a 23.0.0-beta.
pytestmark = ON_EACH_RECORDED_VERSION
XSS_NAME = "<script>alert(1)</script>"

WEB_CONFIG = """
[dolibarr]
url = "{dolibarr_url}"
api_key = "unused-the-web-pages-use-the-session-key"
timezone = "Europe/Paris"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "Solaire Rhône-Alpes <devis@solaire-rhone-alpes.test>"
rate_limit_per_minute = 0

[followup]
next_delay = "+15 days"

[letter]
output_dir = "relances"

# Sales users may not read /setup/company (admin only).
[company]
name = "Solaire Rhône-Alpes SARL"
address = "12 rue de la République"
zip = "69002"
town = "Lyon"

[ledger]
url = "sqlite:///{ledger}"

[[models]]
name = "1ère relance"
email_subject = "Votre devis {{{{ quote.ref }}}}"
email_text = "{{{{ contact.greeting }}}},\\nVotre devis {{{{ quote.ref }}}} attend.\\n{{{{ user.signature }}}}"
letter_subject = "Relance de notre proposition {{{{ quote.ref }}}}"
letter_text = "{{{{ contact.greeting }}}},\\nNotre proposition {{{{ quote.ref }}}} attend votre accord."

[[models]]
name = "2nde relance"
email_subject = "Relance : devis {{{{ quote.ref }}}}"
email_text = "{{{{ contact.greeting }}}},\\nSeconde relance du devis {{{{ quote.ref }}}}."
letter_subject = "Seconde relance : proposition {{{{ quote.ref }}}}"
letter_text = "{{{{ contact.greeting }}}},\\nSeconde relance de la proposition {{{{ quote.ref }}}}."
"""


# "1ère relance" with an HTML body too (and the company logo in it): what the HTML previews show.
HTML_BODY = (
    'email_html = "<p>{{ contact.greeting }},</p><p>Votre devis <strong>{{ quote.ref }}</strong> attend '
    '<em>{{ customer.name }}</em>.</p>{{ user.signature_html }}"'
)
# 1 x 1 px, the logo of HTML e-mails
LOGO_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def web_settings(tmp_path: Path, *, dolibarr_url: str, smtp_port: int, html_email: bool = False) -> Settings:
    text = WEB_CONFIG.format(dolibarr_url=dolibarr_url, smtp_port=smtp_port, ledger=tmp_path / "ledger.sqlite3")
    if html_email:
        (tmp_path / "logo.png").write_bytes(LOGO_PNG)
        text = text.replace("[[models]]", '[email]\nlogo = "logo.png"\n\n[[models]]', 1)
        first_text = text.index("email_text =")
        end = text.index("\n", first_text)
        text = text[: end + 1] + HTML_BODY + "\n" + text[end + 1 :]
    return parse_config(text, source="test", base_dir=tmp_path)


def seed_xss_customer(fake: FakeDolibarr, sample: SampleData) -> int:
    """A customer whose name is a script, with one open quote, followed by jdupont."""
    customer = fake.add_thirdparty(name=XSS_NAME, client=1, email="xss@example.test",
                                   sales_rep_ids=[sample.users["jdupont"]])
    proposal = fake.add_proposal(customer.id, date=sample.today, duree_validite=10,
                                 user_id=sample.users["jdupont"])
    fake.add_proposal_line(proposal.id, description="Audit", qty=1, subprice="500", tva_tx=20, product_type=1)
    fake.validate_proposal(proposal.id, user_id=sample.users["jdupont"])
    fake.build_proposal_pdf(proposal.id, user_id=sample.users["jdupont"])
    return customer.id


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class Web:
    client: httpx.AsyncClient
    fake: FakeDolibarr
    sample: SampleData
    sink: SmtpSink
    settings: Settings

    async def login(self, login: str = "jdupont", password: str = "relance") -> httpx.Response:
        page = await self.client.get("/login")
        return await self.client.post(
            "/login", data={"csrf": csrf_of(page.text), "login": login, "password": password, "next": "/mass"}
        )

    async def csrf(self, path: str = "/mass") -> str:
        return csrf_of((await self.client.get(path)).text)


async def served_web(
    tmp_path: Path, fake: FakeDolibarr, sample: SampleData, sink: SmtpSink, *, peer: str = "127.0.0.1", **web: Any
) -> AsyncIterator[Web]:
    """The pages on the fake Dolibarr, asked by an in-process client at ``peer`` (the address the test
    client's requests come from); ``web``: [web] settings."""
    settings = web_settings(tmp_path, dolibarr_url=FAKE_URL, smtp_port=sink.port)
    if web:
        settings = settings.model_copy(update={"web": settings.web.model_copy(update=web)})
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake)), now=lambda: SAMPLE_NOW)
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar.test") as client:
        yield Web(client, fake, sample, sink, settings)
        await app.state.web.jobs.wait_all()  # a mass job a test did not wait for ends before the loop does


@pytest.fixture
async def web(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> AsyncIterator[Web]:
    async for running in served_web(tmp_path, fake_dolibarr, sample_data, sink):
        yield running


# --------------------------------------------------------------------------- login_for_key


async def test_login_for_key_returns_the_users_key(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> None:
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    key = await login_for_key(FAKE_URL, "jdupont", "relance", transport=transport)
    assert key == sample_data.api_keys["jdupont"]
    with pytest.raises(DolibarrAuthError, match="wrong login or password"):
        await login_for_key(FAKE_URL, "jdupont", "nope", transport=transport)
    # The password travels in the body, never in a URL (access logs).
    assert all("password" not in entry.params for entry in fake_dolibarr.requests)


# --------------------------------------------------------------------------- access


async def test_pages_need_a_login(web: Web) -> None:
    answer = await web.client.get("/mass?expired=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fmass%3Fexpired%3D1"
    assert (await web.client.get("/healthz")).json() == {"status": "ok"}


async def test_login_ok_sets_a_signed_httponly_session_cookie(web: Web) -> None:
    answer = await web.login()
    assert answer.status_code == 303 and answer.headers["location"] == "/mass"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
    assert web.sample.api_keys["jdupont"] not in cookie
    page = await web.client.get("/mass")
    assert page.status_code == 200
    assert "Julie Dupont" in page.text and "Relance massive" in page.text


async def test_login_ko_shows_a_message(web: Web) -> None:
    answer = await web.login(password="wrong")
    assert answer.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in answer.text
    assert "Traceback" not in answer.text


async def test_login_is_rate_limited_per_login(web: Web) -> None:
    for _ in range(5):
        assert (await web.login(password="wrong")).status_code == 401
    blocked = await web.login()  # even the right password, until the window passes
    assert blocked.status_code == 429
    assert "Trop d&#39;essais de connexion" in blocked.text


async def test_forged_session_cookie_is_refused(web: Web) -> None:
    await web.login()
    web.client.cookies.set("dolirelance_session", "forged.0000")
    assert (await web.client.get("/mass")).status_code == 303


async def test_posts_without_the_csrf_token_are_refused(web: Web) -> None:
    page = await web.client.get("/login")
    no_token = await web.client.post("/login", data={"login": "jdupont", "password": "relance"})
    assert no_token.status_code == 403 and "Le formulaire a expiré" in no_token.text
    await web.client.post("/login", data={"csrf": csrf_of(page.text), "login": "jdupont", "password": "relance"})
    quote_id = web.sample.quotes["about_to_expire"]
    for path, data in (
        ("/followup/new", {"quote": str(quote_id), "send_email": "1"}),
        ("/mass", {"letter": web.sample.refs["expired"]}),
        ("/logout", {}),
    ):
        answer = await web.client.post(path, data={**data, "csrf": "wrong"})
        assert answer.status_code == 403, path
    assert not [e for e in web.fake.events.values() if e.code.startswith("AC_RELANCE")]
    assert (await web.client.get("/mass")).status_code == 200  # still logged in


async def test_logout_ends_the_session(web: Web) -> None:
    await web.login()
    answer = await web.client.post("/logout", data={"csrf": await web.csrf()})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert (await web.client.get("/mass")).status_code == 303


async def test_every_page_renders_without_the_api_key(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seed_xss_customer(web.fake, web.sample)
    password = "Unusual-Pa55word"
    user = web.fake.user_by_login("jdupont")
    assert user is not None
    user.password = password
    await web.login(password=password)
    quote_id = web.sample.quotes["about_to_expire"]
    customer_id = web.sample.customers["garage"]
    # One follow-up first so that history, to-do and file links have something to show.
    done = await web.client.post("/followup/new", data={"csrf": await web.csrf(), "quote": str(quote_id),
                                                        "channel": "letter", "note": "Relancé",
                                                        "next_date": "2026-12-10"})
    assert done.status_code == 200, done.text
    pages = [
        "/mass", "/mass?expired=1", "/mass?customer=Garage", f"/mass?sales_rep=jdupont&customer={customer_id}",
        "/followup/new", f"/quotes/{quote_id}/followup", f"/customers/{customer_id}/followup",
        "/followups", f"/quotes/{quote_id}/followups", f"/customers/{customer_id}/followups",
        "/todo", "/logout", "/mass?lang=en",
    ]
    keys = list(web.sample.api_keys.values())
    for path in pages:
        answer = await web.client.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "content-security-policy" in answer.headers
        for key in keys:
            assert key not in answer.text, path
            assert key not in str(answer.headers), path
    static = await web.client.get("/static/app.js")
    assert static.status_code == 200 and all(key not in static.text for key in keys)
    assert caplog.records and all(secret not in caplog.text for secret in [*keys, password])


async def test_english_labels_on_request(web: Web) -> None:
    await web.login()
    page = await web.client.get("/mass?lang=en")
    assert "Mass follow-up" in page.text and "Amount excl. tax" in page.text
    assert "Mass follow-up" in (await web.client.get("/mass")).text  # kept for the session


async def test_the_pages_name_their_icon(web: Web) -> None:
    """A browser asks for an icon: the pages name one that is there (no 404 in the logs and the console)."""
    page = (await web.client.get("/login")).text
    href = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert href, page
    icon = await web.client.get(href.group(1))
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


async def test_english_pages_use_english_punctuation(web: Web) -> None:
    """No French space before a colon, no « » on the English pages; the French ones keep them."""
    await web.login()
    english = (await web.client.get("/mass?all=1&lang=en")).text
    visible = re.sub(r"<[^>]+>", " ", english)
    assert "Total:" in " ".join(visible.split()) and " : " not in visible and "«" not in visible
    french = " ".join(re.sub(r"<[^>]+>", " ", (await web.client.get("/mass?all=1&lang=fr")).text).split())
    assert "Total :" in french and "« ne pas relancer »" in french


async def test_mass_page_lists_open_quotes_with_email_availability(web: Web) -> None:
    await web.login()
    page = (await web.client.get("/mass?all=1")).text
    for role in web.sample.open_quotes:
        assert web.sample.refs[role] in page
    for role in ("signed", "refused"):
        assert web.sample.refs[role] not in page
    # The farm has no e-mail address: its e-mail box is disabled, with a sign.
    ferme_row = re.search(rf'<tr data-ref="{web.sample.refs["no_email"]}">.*?</tr>', page, re.S)
    assert ferme_row and "Pas d&#39;adresse e-mail" in ferme_row.group(0)
    assert 'name="email"' not in ferme_row.group(0)
    assert "Montant HT" in page and "Fichiers générés" in page
    expired = (await web.client.get("/mass?expired=1")).text
    assert web.sample.refs["expired"] in expired and web.sample.refs["not_yet_due"] not in expired


async def test_mass_page_first_screen_is_filtered_by_dolibarr_and_all_quotes_are_paged(web: Web) -> None:
    """First screen: near their end of validity, sorted and paged by Dolibarr; totals of the whole selection."""
    hotel, owner = web.sample.customers["hotel"], web.sample.users["jdupont"]
    for _ in range(150):  # far from their end of validity: only on the "all" pages
        proposal = web.fake.add_proposal(hotel, date=date(2026, 11, 20), duree_validite=120, user_id=owner)
        web.fake.add_proposal_line(proposal.id, description="Entretien", qty=1, subprice="10")
        web.fake.validate_proposal(proposal.id, user_id=owner)
    await web.login()
    web.fake.reset_requests()
    first = (await web.client.get("/mass")).text
    lists = [e for e in web.fake.requests if e.path == "/proposals"]
    assert lists and all("t.fin_validite:>=:" in e.params.get("sqlfilters", "") for e in lists)
    assert web.sample.refs["expired"] in first and "fin de validité est proche" in first
    open_quotes = [p for p in web.fake.proposals.values() if p.status == 1]
    web.fake.reset_requests()
    one = (await web.client.get("/mass?all=1")).text
    # the page shown costs one list request, sorted and paged by Dolibarr: not every open quote
    lists = [e for e in web.fake.requests if e.path == "/proposals"]
    assert len(lists) == 1 and lists[0].params["limit"] == "100"
    # whether each quote can be e-mailed comes from bulk reads, not one request per quote
    assert not [e for e in web.fake.requests if re.fullmatch(r"/proposals/\d+", e.path)]
    assert len(web.fake.requests) <= 8, [e.path for e in web.fake.requests]
    assert lists[0].params["sortfield"] == "t.fin_validite,t.rowid"
    assert 'data-summary-url="/mass/summary?all=1"' in one
    summary = (await web.client.get("/mass/summary?all=1")).json()
    total = sum((Decimal(p.total_ht) for p in open_quotes), Decimal(0))
    assert summary["count"] == len(open_quotes) and Decimal(summary["total"]) == total and summary["pages"] == 2
    # once counted, the pages show it without asking again
    web.fake.reset_requests()
    two = (await web.client.get("/mass?all=1&page=2")).text
    assert not [e for e in web.fake.requests if e.path == "/proposals" and e.params.get("limit") != "100"]
    rows_one = re.findall(r'<tr data-ref="([^"]+)">', one)
    rows_two = re.findall(r'<tr data-ref="([^"]+)">', two)
    assert len(rows_one) == 100 and len(rows_two) == len(open_quotes) - 100 and not set(rows_one) & set(rows_two)
    assert f'Total (<span data-fill="count">{len(open_quotes)}</span>)' in two
    assert "Page 2" in two and " / 2" in two


async def test_customer_name_is_escaped(web: Web) -> None:
    customer_id = seed_xss_customer(web.fake, web.sample)
    await web.login()
    for path in ("/mass", f"/customers/{customer_id}/followup"):
        page = (await web.client.get(path)).text
        assert XSS_NAME not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --------------------------------------------------------------------------- Nouvelle relance


async def test_followup_by_email_through_the_form(web: Web) -> None:
    await web.login()
    quote_id = web.sample.quotes["about_to_expire"]
    form = await web.client.get(f"/quotes/{quote_id}/followup")
    assert f'<option value="{quote_id}" selected>' in form.text
    answer = await web.client.post("/followup/new", data={
        "csrf": csrf_of(form.text), "quote": str(quote_id), "note": "Appelée, attend le budget",
        "model": "1ère relance", "next_date": "2026-12-14", "send_email": "1",
    })
    assert answer.status_code == 200, answer.text
    assert "Relance enregistrée dans Dolibarr." in answer.text
    done = [e for e in web.fake.events.values() if e.code == "AC_RELANCE_EMAIL"]
    assert len(done) == 1
    assert done[0].userownerid == web.sample.users["jdupont"]
    assert done[0].fk_element == quote_id and "Appelée, attend le budget" in done[0].note
    todo = [e for e in web.fake.events.values() if e.code == "AC_RELANCE_TODO"]
    assert len(todo) == 1 and todo[0].percentage == 0
    assert len(web.sink.messages) == 1
    message = web.sink.messages[0].message
    assert message["Subject"] == f"Votre devis {web.sample.refs['about_to_expire']}"
    assert "sophie.dupont@garage-dupont.test" in message["To"]
    history = (await web.client.get(f"/quotes/{quote_id}/followups")).text
    assert "Appelée, attend le budget" in history and "Julie Dupont" in history


async def test_followup_by_letter_can_be_downloaded(web: Web) -> None:
    await web.login()
    quote_id = web.sample.quotes["no_email"]
    answer = await web.client.post("/followup/new", data={
        "csrf": await web.csrf("/followup/new"), "quote": str(quote_id), "next_date": "", "channel": "letter",
    })
    assert answer.status_code == 200, answer.text
    link = re.search(r'href="(/files/relance-unitaire-[^"]+\.pdf)"', answer.text)
    assert link, answer.text
    pdf = await web.client.get(link.group(1))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) >= 2  # the letter, then the quote
    assert [e for e in web.fake.events.values() if e.code == "AC_RELANCE_LETTER"]
    assert not web.sink.messages


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quote": ""}, "Choisissez un devis."),
        ({"next_date": "2026-11-01"}, "La date de prochaine relance est dans le passé."),
        ({"next_date": "demain"}, "Date invalide"),
        ({"role": "signed"}, "Ce devis n&#39;est plus ouvert"),
        ({"role": "no_email", "channel": "email"}, "Ni le client ni un contact client du devis"),
        ({"channel": ""}, "Choisissez le canal : e-mail ou courrier."),
    ],
)
async def test_bad_input_gets_a_message_on_the_form(web: Web, fields: dict[str, str], message: str) -> None:
    await web.login()
    fields = dict(fields)  # the parameter is shared by each run of the test
    role = fields.pop("role", "about_to_expire")
    data = {"csrf": await web.csrf("/followup/new"), "quote": str(web.sample.quotes[role]), "channel": "letter",
            **fields}
    answer = await web.client.post("/followup/new", data=data)
    assert answer.status_code == 400
    assert message in answer.text
    assert 'name="quote"' in answer.text  # the form is shown again
    assert "Traceback" not in answer.text
    assert not [e for e in web.fake.events.values() if e.code.startswith("AC_RELANCE")]


async def test_new_followup_from_a_customer_lists_only_its_quotes(web: Web) -> None:
    await web.login()
    page = (await web.client.get(f"/customers/{web.sample.customers['garage']}/followup")).text
    assert web.sample.refs["about_to_expire"] in page and web.sample.refs["two_contacts"] in page
    assert web.sample.refs["expired"] not in page


# --------------------------------------------------------------------------- Relance massive


def once_of(html: str) -> str:
    """The one-time token of a mass preview's confirmation form."""
    match = re.search(r'name="once" value="([0-9a-f]{32})"', html)
    assert match, "no one-time token in the confirmation form"
    return match.group(1)


async def confirm_mass(web: Web, data: dict[str, str | list[str]]) -> httpx.Response:
    """The mass preview of ``data``, then its confirmation form posted (a 303 to the job's page)."""
    preview = await web.client.post("/mass", data={"csrf": await web.csrf(), **data})
    assert preview.status_code == 200, preview.text
    confirm = {"csrf": csrf_of(preview.text), "once": once_of(preview.text), **data, "step": "run"}
    return await web.client.post("/mass", data=confirm)


async def run_mass(web: Web, data: dict[str, str | list[str]]) -> httpx.Response:
    answer = await confirm_mass(web, data)
    assert answer.status_code == 303, answer.text
    job_url = answer.headers["location"]
    for _ in range(600):
        status = (await web.client.get(f"{job_url}/status")).json()
        if status["finished"]:
            break
        await asyncio.sleep(0.05)
    return await web.client.get(job_url)


async def test_a_mass_preview_reads_the_ledger_and_changes_nothing_only_the_run_recovers(web: Web) -> None:
    """A quote whose sender died mid-send (lease run out) is held on the preview, its row left as it is;
    confirming the run is what moves the abandoned claim on (to UNCERTAIN, for a person to settle)."""
    await web.login()
    ref, quote_id = web.sample.refs["expired"], web.sample.quotes["expired"]
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)  # a lease taken then has run out on any clock
    with Ledger(web.settings.ledger.url, instance=web.settings.ledger.instance, lease_clock=lambda: long_ago) as dead:
        assert dead.claim("manual:dead", quote_id=quote_id, quote_ref=ref, step=None, model="m", channel="email",
                          run_id="web-dead").won
        dead.mark_sending("manual:dead")
        before = dead.get("manual:dead")
    assert before is not None and before.state is FollowUpState.SENDING

    preview = await web.client.post("/mass", data={"csrf": await web.csrf(), "email": ref})
    assert preview.status_code == 200, preview.text
    assert any(LABELS[lang]["in_progress_elsewhere"] in preview.text for lang in LABELS)  # held: it may have left
    with Ledger(web.settings.ledger.url, instance=web.settings.ledger.instance) as ledger:
        assert ledger.get("manual:dead") == before  # the preview wrote nothing

    answer = await web.client.post("/mass", data={"csrf": csrf_of(preview.text), "once": once_of(preview.text),
                                                  "email": ref, "step": "run"})
    assert answer.status_code == 303, answer.text
    for _ in range(600):  # the job ends (nothing to send)
        if (await web.client.get(f"{answer.headers['location']}/status")).json()["finished"]:
            break
        await asyncio.sleep(0.05)
    with Ledger(web.settings.ledger.url, instance=web.settings.ledger.instance) as ledger:
        after = ledger.get("manual:dead")
    assert after is not None and after.state is FollowUpState.UNCERTAIN  # the sending path recovered it
    assert not web.sink.messages  # and sent nothing over a follow-up that may have left


async def test_mass_followup_two_letters_one_email(web: Web) -> None:
    await web.login()
    refs = web.sample.refs
    result = await run_mass(web, {
        "letter": [refs["expired"], refs["no_email"]], "email": [refs["about_to_expire"]],
        f"model:{refs['expired']}": "2nde relance", "note": "Campagne de fin de mois", "next_date": "2026-12-15",
    })
    assert result.status_code == 200
    assert result.text.count('class="ok"') == 3, result.text
    link = re.search(r'id="letters-pdf" href="(/files/relances-[^"]+\.pdf)"', result.text)
    assert link
    pdf = await web.client.get(link.group(1))
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Seconde relance de la proposition" in text and refs["no_email"] in text
    assert len(web.sink.messages) == 1
    letters = [e for e in web.fake.events.values() if e.code == "AC_RELANCE_LETTER"]
    assert len(letters) == 2 and {e.userownerid for e in letters} == {web.sample.users["jdupont"]}
    files_zone = (await web.client.get("/mass")).text
    assert link.group(1) in files_zone


async def test_mass_followup_bad_input(web: Web) -> None:
    await web.login()
    refs = web.sample.refs
    nothing = await web.client.post("/mass", data={"csrf": await web.csrf(), "note": "x"})
    assert nothing.status_code == 400 and "Cochez au moins un devis" in nothing.text
    past = await web.client.post("/mass", data={"csrf": await web.csrf(), "letter": refs["expired"],
                                                "next_date": "2026-01-01"})
    assert past.status_code == 400 and "dans le passé" in past.text
    assert f'value="{refs["expired"]}" checked' in past.text  # the ticks are kept
    # A quote signed meanwhile: the run reports it, the others go on.
    web.fake.close_proposal(web.sample.quotes["expired"], 2, user_id=web.sample.users["jdupont"])
    result = await run_mass(web, {"letter": [refs["expired"], refs["no_email"]]})
    assert result.text.count('class="ko"') == 1 and result.text.count('class="ok"') == 1
    assert "Ce devis n&#39;est plus ouvert" in result.text


async def test_downloads_are_limited_to_generated_files(web: Web) -> None:
    await web.login()
    (web.settings.base_dir / "relances").mkdir()
    (web.settings.base_dir / "secret.pdf").write_bytes(b"%PDF")
    for path in ("/files/secret.pdf", "/files/..%2Fsecret.pdf", "/files/relances-2026-11-28-zzzzzzzz.pdf",
                 "/files/relances-2026-11-28-00000000.pdf"):
        assert (await web.client.get(path)).status_code == 404, path


async def test_a_job_is_visible_only_to_its_owner(web: Web) -> None:
    await web.login()
    answer = await confirm_mass(web, {"letter": web.sample.refs["expired"]})
    job_url = answer.headers["location"]
    await web.client.post("/logout", data={"csrf": await web.csrf()})
    await web.login("admin", "admin")
    assert (await web.client.get(job_url)).status_code == 404
    assert (await web.client.get(f"{job_url}/status")).status_code == 404


async def test_the_opt_out_quote_is_marked_in_the_mass_list(web: Web) -> None:
    """The sales person sees which quote automatic runs skip, next to its ref."""
    await web.login()
    page = (await web.client.get("/mass")).text
    opt_out_ref = web.sample.refs["opt_out"]
    row = page[page.index(f'<tr data-ref="{opt_out_ref}">') :]
    row = row[: row.index("</tr>")]
    assert "(pas de relance auto)" in row
    other = page[page.index(f'<tr data-ref="{web.sample.refs["expired"]}">') :]
    assert "(pas de relance auto)" not in other[: other.index("</tr>")]
