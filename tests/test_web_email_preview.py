"""The previews show an HTML e-mail as the customer gets it, in a sandboxed frame, the text part one click away:
over HTTP against the fake Dolibarr, compared with what a real SMTP sink then receives."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conftest import SAMPLE_NOW, without_backoff
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from dolirelance.web.email_frames import EmailFrames, frame_policy
from test_web import FAKE_URL, XSS_NAME, Web, csrf_of, run_mass, seed_xss_customer, web_settings


@pytest.fixture
async def web(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> AsyncIterator[Web]:
    """The web pages with "1ère relance" giving an HTML body (and the logo); "2nde relance" stays text only."""
    settings = web_settings(tmp_path, dolibarr_url=FAKE_URL, smtp_port=sink.port, html_email=True)
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                         now=lambda: SAMPLE_NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as client:
        yield Web(client, fake_dolibarr, sample_data, sink, settings)
        await app.state.web.jobs.wait_all()


def _frame_url(page: str) -> str:
    frame = re.search(r'<iframe class="email-frame" id="preview-html" src="([^"]+)" sandbox=""[^>]*>', page)
    assert frame, page
    return frame.group(1)


async def _framed(web: Web, page: str) -> str:
    """The HTML the page's frame shows, checked to come with a policy that lets nothing run."""
    answer = await web.client.get(_frame_url(page))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy and "script-src" not in policy
    assert "img-src data:;" in policy and "frame-ancestors 'self'" in policy
    assert answer.headers.get_list("content-security-policy") == [policy]  # the pages' own policy is not added
    return answer.text


def _lines(received: str | None) -> str | None:
    """A received text part with the line ends of the page (MIME writes CRLF on the wire)."""
    return None if received is None else received.replace("\r\n", "\n")


async def _preview(web: Web, role: str, model: str) -> str:
    quote_id = web.sample.quotes[role]
    form = await web.client.get(f"/quotes/{quote_id}/followup")
    answer = await web.client.post("/followup/preview", data={
        "csrf": csrf_of(form.text), "quote": str(quote_id), "channel": "email", "model": model,
        "next_date": "2026-12-15"})
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_the_preview_frames_the_html_that_is_then_sent(web: Web) -> None:
    """The frame shows exactly the HTML part the customer receives (its inline logo written in)."""
    await web.login()
    ref = web.sample.refs["about_to_expire"]
    page = await _preview(web, "about_to_expire", "1ère relance")
    framed = await _framed(web, page)
    assert f"<strong>{ref}</strong>" in framed and 'src="data:image/png;base64,' in framed
    assert "cid:" not in framed  # every inline image written in: the frame loads nothing
    # the text part stays available, folded under the frame
    text_version = re.search(r'<details class="text-version" id="preview-text-version">.*?</details>', page, re.S)
    assert text_version and f"Votre devis {ref} attend." in text_version.group(0)
    assert not web.sink.messages
    token = re.search(r'name="attempt" value="([0-9a-f]{32})"', page)
    assert token
    sent = await web.client.post("/followup/new", data={
        "csrf": csrf_of(page), "quote": str(web.sample.quotes["about_to_expire"]), "channel": "email",
        "model": "1ère relance", "next_date": "2026-12-15", "attempt": token.group(1)})
    assert sent.status_code == 200 and 'id="done"' in sent.text
    [received] = web.sink.messages
    assert _lines(received.viewable_html()) == framed


async def test_each_mass_preview_line_shows_its_email_as_it_then_leaves(web: Web) -> None:
    await web.login()
    refs, quotes = web.sample.refs, web.sample.quotes
    preview = await web.client.post("/mass", data={"csrf": await web.csrf(), "letter": [refs["expired"]],
                                                   "email": [refs["two_contacts"]], "model:" + refs["two_contacts"]:
                                                   "1ère relance", "next_date": "2026-12-15"})
    assert preview.status_code == 200
    row = re.search(rf'<tr data-ref="{refs["two_contacts"]}" class="goes">.*?</tr>', preview.text, re.S)
    assert row, preview.text
    link = re.search(r'<a class="see-email" href="([^"]+)" target="_blank"', row.group(0))
    assert link
    letter_row = re.search(rf'<tr data-ref="{refs["expired"]}" class="goes">.*?</tr>', preview.text, re.S)
    assert letter_row and "see-email" not in letter_row.group(0)  # a letter has its own PDF, not an e-mail
    page = await web.client.get(html.unescape(link.group(1)))
    assert page.status_code == 200 and "Aperçu de l&#39;e-mail" in page.text
    assert f"quote={quotes['two_contacts']}" in html.unescape(link.group(1))
    framed = await _framed(web, page.text)
    assert not web.sink.messages
    result = await run_mass(web, {"email": [refs["two_contacts"]], "model:" + refs["two_contacts"]: "1ère relance",
                                  "next_date": "2026-12-15"})
    assert result.text.count('class="ok"') == 1, result.text
    [received] = web.sink.messages
    assert _lines(received.viewable_html()) == framed


async def test_a_text_only_model_is_previewed_as_text(web: Web) -> None:
    await web.login()
    page = await _preview(web, "about_to_expire", "2nde relance")
    assert "<iframe" not in page and "preview-text-version" not in page
    assert f"Seconde relance du devis {web.sample.refs['about_to_expire']}." in page


async def test_a_frame_is_only_for_the_session_that_previewed_it(web: Web) -> None:
    await web.login()
    url = _frame_url(await _preview(web, "about_to_expire", "1ère relance"))
    assert (await web.client.get(url)).status_code == 200
    assert (await web.client.get(url[:-4] + "0000")).status_code == 404
    await web.client.post("/logout", data={"csrf": await web.csrf()})
    await web.login()  # a new session: the old preview is not its own
    assert (await web.client.get(url)).status_code == 404


async def test_dolibarr_values_in_the_framed_html_are_text(web: Web) -> None:
    """A customer named like a script shows as its name: escaped by the model, and the frame runs nothing anyway."""
    customer_id = seed_xss_customer(web.fake, web.sample)
    await web.login()
    form = await web.client.get(f"/customers/{customer_id}/followup")
    quote = re.search(r'<option value="(\d+)"', form.text)
    assert quote
    answer = await web.client.post("/followup/preview", data={
        "csrf": csrf_of(form.text), "quote": quote.group(1), "channel": "email", "model": "1ère relance"})
    assert answer.status_code == 200, answer.text
    framed = await _framed(web, answer.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in framed and XSS_NAME not in framed


def test_kept_previews_are_per_session_short_lived_and_bounded() -> None:
    now = [0.0]
    frames = EmailFrames(max_age=900, max_entries=3, clock=lambda: now[0])
    first = frames.keep("session-a", "<p>a</p>")
    assert frames.get("session-a", first) == "<p>a</p>" and frames.get("session-b", first) is None
    now[0] = 901
    assert frames.get("session-a", first) is None  # too old
    tokens = [frames.keep("session-a", f"<p>{n}</p>") for n in range(4)]
    assert frames.get("session-a", tokens[0]) is None  # the oldest went when a fourth came
    assert [frames.get("session-a", token) for token in tokens[1:]] == ["<p>1</p>", "<p>2</p>", "<p>3</p>"]


def test_the_frame_policy_allows_only_the_admins_image_hosts() -> None:
    policy = frame_policy(["cdn.example.fr"])
    assert "img-src data: https://cdn.example.fr http://cdn.example.fr;" in policy
    assert policy.startswith("sandbox;") and "script-src" not in policy and "connect-src" not in policy


async def test_a_preview_link_says_what_is_wrong_with_the_status_of_the_cause(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both preview links (the e-mail of a mass line, the letter PDF) word errors the same way."""
    without_backoff(monkeypatch)  # Dolibarr down: the retries, without their waits
    await web.login()
    quotes = web.sample.quotes
    for path in ("/followup/email", "/followup/preview.pdf"):
        missing = await web.client.get(path, params={"quote": "x"})
        assert missing.status_code == 400 and "devis" in missing.text.lower()
        signed = await web.client.get(path, params={"quote": str(quotes["signed"])})
        assert signed.status_code == 400 and "Traceback" not in signed.text
        web.fake.fail_next(4, 503, path_prefix="/proposals", method="GET")  # Dolibarr down (a GET is retried)
        down = await web.client.get(path, params={"quote": str(quotes["about_to_expire"])})
        web.fake.clear_faults()
        assert down.status_code == 503, down.text
    assert not web.sink.messages
