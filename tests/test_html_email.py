"""HTML e-mails: what the SMTP server receives (both parts, the inline logo, the signature, the PDF),
the headers, DKIM, the sanitiser and the checks of a model's HTML."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from pypdf import PdfReader

import dolirelance
from conftest import SAMPLE_TODAY, MutableClock
from dolirelance.config import ModelSettings, Settings, SmtpSettings, load_config
from dolirelance.domain import Channel, Recipient
from dolirelance.errors import MailPermanentError, TemplateError
from dolirelance.htmlmail import html_problems, html_to_text, sanitize_signature
from dolirelance.mail import SmtpSender, build_email, dkim_signer
from dolirelance.render import Renderer, sample_context
from dolirelance.service import Runtime, follow_up
from dolirelance.service.auto import run_auto
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink
from test_cli_basics import run_cli

XSS = "<img src=x onerror=alert(1)>"
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SIGNATURE = (
    '<p onclick="steal()">Julie Dupont<br><strong>Chargée d\'affaires</strong><br>04 78 00 00 12</p>'
    "<script>alert('signature')</script>"
    f'<p><img src="data:image/png;base64,{base64.b64encode(PIXEL_PNG).decode()}" alt="tampon"></p>'
    '<p><img src="https://tracker.example.net/open.gif"><a href="javascript:alert(1)">site</a></p>'
)


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


@pytest.fixture
def example_settings() -> Settings:
    return load_config(Path(dolirelance.__file__).parent / "defaults" / "dolirelance.toml")


def words(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


# --------------------------------------------------------------------------- what the customer receives


async def test_followup_received_with_text_html_logo_signature_and_pdf(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """The default model goes as text + HTML; the HTML shows the inline logo and the sanitised Dolibarr signature."""
    fake_dolibarr.users[sample_data.users["jdupont"]].signature = SIGNATURE
    ref = sample_data.refs["about_to_expire"]
    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL)
    assert outcome.outcome == "recorded"
    [received] = smtp_sink.messages
    message = received.message

    # structure: mixed → alternative (plain first, then related(html, images)) + the quote's PDF
    assert message.get_content_type() == "multipart/mixed"
    alternative = next(message.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = list(alternative.iter_parts())
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_doc, *images = list(related.iter_parts())
    assert html_doc.get_content_type() == "text/html"
    cids = {str(image["Content-ID"]).strip("<>"): image for image in images}
    html = html_part(message)
    logo_cid = re.search(r'<img src="cid:([^"]+)" alt="Solaire', html)
    assert logo_cid is not None and logo_cid.group(1) in cids
    logo = cids[logo_cid.group(1)]
    assert logo.get_content_type() == "image/png" and logo.get_content_disposition() == "inline"
    assert logo.get_payload(decode=True) == (Path(runtime.settings.base_dir) / "logo.png").read_bytes()
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == f"{ref}.pdf"
    assert ref in PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()

    # the signature as in Dolibarr, without its script, handler, tracker or script link
    assert "<strong>Chargée d'affaires</strong>" in html or "<strong>Chargée d&#39;affaires</strong>" in html
    for unsafe in ("<script", "onclick", "tracker.example.net", "javascript:", "steal()"):
        assert unsafe not in html
    stamp = re.search(r'<img src="cid:(sig-[^"]+)"', html)
    assert stamp is not None and cids[stamp.group(1)].get_payload(decode=True) == PIXEL_PNG

    # the plain text says the same as the HTML
    text = text_part(message)
    html_as_text = words(html_to_text(html))
    for line in text.splitlines():
        if line.strip():
            assert words(line) in html_as_text, line
    assert "Chargée d'affaires" in text and "<" not in text


async def test_a_customer_named_like_html_is_shown_as_text(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """A Dolibarr value with HTML in it reaches the HTML part escaped, and the text part as written."""
    fake_dolibarr.thirdparties[sample_data.customers["garage"]].name = XSS
    model = runtime.settings.models[0].model_copy(
        update={
            "email_html": "<p>Bonjour {{ customer.name }},</p>{{ user.signature_html }}",
            "email_html_file": None,
            "email_text": "Bonjour {{ customer.name }},\n",
        }
    )
    runtime.settings = runtime.settings.model_copy(update={"models": [model, *runtime.settings.models[1:]]})
    runtime.renderer = Renderer(runtime.settings)
    await follow_up(runtime, sample_data.refs["about_to_expire"], channel=Channel.EMAIL, model=model.name)
    message = smtp_sink.messages[0].message
    html = html_part(message)
    assert "Bonjour &lt;img src=x onerror=alert(1)&gt;," in html
    assert "<img src=x" not in html and "onerror=alert(1)>" not in html
    assert f"Bonjour {XSS}," in text_part(message)


def test_english_customer_receives_english_text_and_html_with_the_logo_and_french_stays_french(
    example_settings: Settings, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Each default model, built and sent to the SMTP server for an English customer then a French one:
    the English mail has both parts in English (amounts and dates the English way) and the inline logo;
    the French mail of the same quote says what it always said."""
    (tmp_path / "logo.png").write_bytes(PIXEL_PNG)
    smtp = SmtpSettings.model_validate(
        {
            "host": smtp_sink.host,
            "port": smtp_sink.port,
            "security": "none",
            "sender": example_settings.smtp.sender,
            "rate_limit_per_minute": 0,
        }
    )
    email = example_settings.email.model_copy(update={"logo": tmp_path / "logo.png"})
    renderer = Renderer(example_settings.model_copy(update={"smtp": smtp, "email": email}))
    french = sample_context(SAMPLE_TODAY)  # Madame Julie Dupont; valid until 8 December; last follow-up 14 November
    english = dataclasses.replace(french, customer=dataclasses.replace(french.customer, default_lang="en_GB"))
    with SmtpSender(smtp) as sender:
        for ctx in (english, french):
            for model in example_settings.models:
                sender.send(
                    build_email(
                        smtp=smtp,
                        sender_user=ctx.user,
                        recipients=(Recipient("julie.dupont@boulangerie-martin.fr", "Julie Dupont", "customer"),),
                        rendered=renderer.render(model.name, ctx),
                        attachments=[("PR2611-0001.pdf", b"%PDF-1.4 x")],
                        now=datetime(2026, 11, 28, 8, 30, tzinfo=UTC),
                    )
                )
    received = [message.message for message in smtp_sink.messages]
    assert [str(m["Subject"]) for m in received] == [
        "Your quote PR2611-0001 — Solaire Rhône-Alpes SARL",
        "Following up on quote PR2611-0001",
        "Votre devis PR2611-0001 — Solaire Rhône-Alpes SARL",
        "Relance : devis PR2611-0001",
    ]
    for message, lang in zip(received, ("en", "en", "fr", "fr"), strict=True):
        assert message["Content-Language"] == lang
        plain, related = list(next(message.iter_parts()).iter_parts())
        html_doc, logo = list(related.iter_parts())
        assert (plain.get_content_type(), html_doc.get_content_type()) == ("text/plain", "text/html")
        html, text = html_part(message), text_part(message)
        assert f'<html lang="{lang}">' in html
        logo_cid = re.search(r'<img src="cid:([^"]+)" alt="Solaire', html)
        assert logo_cid is not None and str(logo["Content-ID"]) == f"<{logo_cid.group(1)}>"
        assert logo.get_content_disposition() == "inline" and logo.get_payload(decode=True) == PIXEL_PNG
        [pdf] = list(message.iter_attachments())
        assert pdf.get_filename() == "PR2611-0001.pdf"
        for body in (words(text), words(html_to_text(html))):
            if lang == "en":
                assert body.startswith("Dear Ms Dupont,") or "SARL Dear Ms Dupont, " in body
                assert "for €1,206.67 excl. VAT (€1,448.00 incl. VAT), valid until 8 December 2026." in body
                assert "8 November 2026" in body and "Kind regards," in body and "Thomas Bernard" in body
                for word in ("Madame", "devis", "TTC", "cordialement", "novembre"):
                    assert word not in body, word
            else:
                assert body.startswith("Madame,") or "SARL Madame, " in body
                assert "d'un montant de 1 206,67 € HT (1 448,00 € TTC), valable jusqu'au 8 décembre 2026." in body
                assert "8 novembre 2026" in body and "Bien cordialement," in body and "Thomas Bernard" in body
                assert "Dear" not in body and "VAT" not in body
        for line in text.splitlines():
            if line.strip():
                assert words(line) in words(html_to_text(html)), (lang, line)
    assert "<strong>€1,206.67 excl. VAT</strong>" in html_part(received[0])
    assert "We last wrote to you about it on 14 November 2026." in words(text_part(received[1]))
    assert "Nous vous avions déjà relancé le 14 novembre 2026." in words(text_part(received[3]))


async def test_headers_date_from_the_clock_message_id_reply_to_and_auto_submitted_only_when_automatic(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """Date comes from the injected clock; a person's follow-up is not Auto-Submitted, an automatic one is."""
    manual = await follow_up(runtime, sample_data.refs["two_contacts"], channel=Channel.EMAIL)
    report = await run_auto(runtime)
    assert report.sent, report
    first, *automatic = [received.message for received in smtp_sink.messages]
    assert first["Date"].datetime == clock()
    assert str(first["Message-ID"]) == manual.message_id
    assert str(first["Message-ID"]).endswith("@solaire-ra.example>")  # the sender's domain
    assert str(first["Reply-To"]).endswith("<julie.dupont@solaire-rhone-alpes.test>")
    assert first["Auto-Submitted"] is None
    assert automatic and all(str(m["Auto-Submitted"]) == "auto-generated" for m in automatic)
    for message in (first, *automatic):
        assert message["List-Unsubscribe"] is None  # one-to-one business mail
    assert first["Content-Language"] == "fr"  # was lost before: set_content() drops Content-* headers


# --------------------------------------------------------------------------- DKIM


def _dkim_key(tmp_path: Path) -> tuple[Path, bytes]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test DKIM key")
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, base64.b64encode(public)


def test_dkim_signature_verifies_on_what_the_server_received(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """With [smtp] dkim_key_file, the bytes sent carry a DKIM-Signature that verifies with the DNS key."""
    key, public = _dkim_key(tmp_path)
    smtp = SmtpSettings.model_validate(
        {
            "host": smtp_sink.host,
            "port": smtp_sink.port,
            "security": "none",
            "sender": "Solaire <devis@solaire-ra.example>",
            "dkim_key_file": str(key),
            "dkim_selector": "relance",
            "rate_limit_per_minute": 0,
        }
    )
    renderer = Renderer(_settings_with(smtp))
    rendered = renderer.render("M", sample_context(SAMPLE_TODAY))
    message = build_email(
        smtp=smtp,
        sender_user=sample_context(SAMPLE_TODAY).user,
        recipients=(Recipient("julie@boulangerie.test", "Julie", "customer"),),
        rendered=rendered,
        attachments=[("PR.pdf", b"%PDF-1.4 x")],
        now=datetime(2026, 11, 28, 9, 30).astimezone(),
    )
    with SmtpSender(smtp, dkim=dkim_signer(smtp, key)) as sender:
        sender.send(message)
    raw = smtp_sink.messages[0].raw
    assert raw.startswith(b"DKIM-Signature:") and b"d=solaire-ra.example" in raw and b"s=relance" in raw

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"relance._domainkey.solaire-ra.example."
        return b"v=DKIM1; k=rsa; p=" + public

    assert dkim.verify(raw, dnsfunc=dns)
    tampered = raw.replace(b"PR2611-0001", b"PR2611-0002", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_a_bad_dkim_key_means_nothing_sent(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """A key that cannot sign is a permanent error before anything reaches the server."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key", encoding="utf-8")
    smtp = SmtpSettings.model_validate(
        {
            "host": smtp_sink.host,
            "port": smtp_sink.port,
            "security": "none",
            "sender": "devis@solaire-ra.example",
            "dkim_key_file": str(bad),
            "dkim_selector": "relance",
        }
    )
    message = build_email(
        smtp=smtp,
        sender_user=sample_context(SAMPLE_TODAY).user,
        recipients=(Recipient("a@b.test", "A", "customer"),),
        rendered=Renderer(_settings_with(smtp)).render("M", sample_context(SAMPLE_TODAY)),
        attachments=(),
        now=datetime(2026, 11, 28, 9, 30).astimezone(),
    )
    with SmtpSender(smtp, dkim=dkim_signer(smtp, bad)) as sender, pytest.raises(MailPermanentError, match="DKIM"):
        sender.send(message)
    assert smtp_sink.messages == []


def _settings_with(smtp: Any, **model: Any) -> Settings:
    texts = {
        "name": "M",
        "email_subject": "Devis {{ quote.ref }}",
        "email_html": "<p>{{ contact.greeting }},</p><p>Devis {{ quote.ref }}.</p>{{ user.signature_html }}",
        "letter_subject": "L",
        "letter_text": "L",
    }
    texts.update(model)
    return Settings.model_validate(
        {
            "dolibarr": {"url": "https://erp.example.test", "api_key": "k"},
            "smtp": smtp.model_dump() if not isinstance(smtp, dict) else smtp,
            "company": {"name": "Solaire"},
            "models": [texts],
        }
    )


# --------------------------------------------------------------------------- models


SMTP = {"host": "localhost", "sender": "devis@solaire-ra.example"}


def test_html_only_model_gets_its_text_alternative() -> None:
    """A model that gives only HTML is sent with a plain text made from it."""
    rendered = Renderer(_settings_with(SMTP)).render("M", sample_context(SAMPLE_TODAY))
    assert rendered.email_html is not None and "<!DOCTYPE html>" in rendered.email_html
    assert rendered.email_text.startswith("Madame,\n\nDevis PR2611-0001.\n")
    assert "Thomas Bernard" in rendered.email_text  # the signature too


def test_markdown_model_makes_text_and_escaped_html() -> None:
    """Markdown: the text as written (values as they are), the HTML from it (values escaped)."""
    settings = _settings_with(
        SMTP,
        email_html=None,
        email_markdown="{{ contact.greeting }},\n\nLe devis **{{ quote.ref }}** de {{ customer.name }}.",
    )
    ctx = sample_context(SAMPLE_TODAY)
    ctx = dataclasses.replace(ctx, customer=dataclasses.replace(ctx.customer, name="A & <b>B</b>"))
    rendered = Renderer(settings).render("M", ctx)
    assert rendered.email_text == "Madame,\n\nLe devis **PR2611-0001** de A & <b>B</b>.\n"
    assert rendered.email_html is not None
    assert "<p>Le devis <strong>PR2611-0001</strong> de A &amp; &lt;b&gt;B&lt;/b&gt;.</p>" in rendered.email_html


def test_markdown_with_text_or_html_is_refused() -> None:
    """email_markdown makes both parts: giving another body too is a configuration error."""
    with pytest.raises(ValueError, match="email_markdown"):
        ModelSettings.model_validate(
            {
                "name": "M",
                "email_subject": "s",
                "email_markdown": "m",
                "email_text": "t",
                "letter_subject": "l",
                "letter_text": "l",
            }
        )


def test_english_variant_never_borrows_the_french_html(example_settings: Settings) -> None:
    """A variant that gives only an English text sends that text alone, not the French HTML of the base model."""
    first = example_settings.models[0]
    english_text_only = first.variants["en"].model_copy(update={"email_html_file": None})
    model = first.model_copy(update={"variants": {"en": english_text_only}})
    settings = example_settings.model_copy(update={"models": [model, *example_settings.models[1:]]})
    ctx = sample_context(SAMPLE_TODAY)
    english = dataclasses.replace(ctx, customer=dataclasses.replace(ctx.customer, default_lang="en_GB"), contact=None)
    rendered = Renderer(settings).render("1ère relance", english)
    assert rendered.lang == "en" and rendered.email_html is None and "Kind regards" in rendered.email_text
    french = Renderer(settings).render("1ère relance", ctx)
    assert french.email_html is not None and "Bien cordialement" in french.email_html


def test_every_default_model_says_the_same_in_text_and_html(example_settings: Settings) -> None:
    """Each default model, in French and in English, has an HTML version whose words are those of its text."""
    renderer = Renderer(example_settings)
    french = sample_context(SAMPLE_TODAY)
    english = dataclasses.replace(french, customer=dataclasses.replace(french.customer, default_lang="en_GB"))
    for ctx, lang in ((french, "fr"), (english, "en")):
        for model in example_settings.models:
            rendered = renderer.render(model.name, ctx)
            assert rendered.lang == lang and rendered.email_html is not None, (model.name, lang)
            html_as_text = words(html_to_text(rendered.email_html))
            for line in rendered.email_text.splitlines():
                if line.strip():
                    assert words(line) in html_as_text, (model.name, lang, line)


def test_unsafe_model_html_is_refused_and_reported() -> None:
    """Scripts, handlers and remote images stop the sending; config check also names unclosed tags."""
    settings = _settings_with(
        SMTP,
        email_html=(
            "<p>Bonjour</p>\n<div><script>alert(1)</script>\n<img src=\"https://cdn.example.net/x.png\">\n"
            "<span onmouseover=\"x()\">survol</span>\n<table><tr><td>cellule</table>\n<div>jamais fermé"
        ),
    )
    renderer = Renderer(settings)
    with pytest.raises(TemplateError, match="unsafe HTML"):
        renderer.render("M", sample_context(SAMPLE_TODAY))
    found = "\n".join(str(error) for error in renderer.check(sample_context(SAMPLE_TODAY)))
    assert "<script> is not allowed" in found
    assert "cdn.example.net" in found and "allowed_image_hosts" in found
    assert "onmouseover" in found
    assert "broken HTML" in found and "<div> is never closed" in found
    assert "broken HTML at line 6 of the HTML as rendered: <div> is never closed" in found  # where it starts


def test_allowed_image_hosts_let_remote_images_through() -> None:
    """A host listed in [email] allowed_image_hosts is allowed in models and in signatures."""
    settings = _settings_with(SMTP, email_html='<p><img src="https://cdn.example.net/x.png" alt="x"></p>')
    settings = settings.model_copy(
        update={"email": settings.email.model_copy(update={"allowed_image_hosts": ["cdn.example.net"]})}
    )
    assert Renderer(settings).check(sample_context(SAMPLE_TODAY)) == []
    kept = sanitize_signature(
        '<img src="https://cdn.example.net/s.png"><img src="https://other.example/s.png">',
        allowed_image_hosts=frozenset({"cdn.example.net"}),
        cid_domain="solaire-ra.example",
    )
    assert kept.html == '<img src="https://cdn.example.net/s.png">'


def test_a_logo_mail_clients_cannot_show_is_reported(tmp_path: Path) -> None:
    """An SVG logo is named by config check; the e-mail then shows the company's name in its place."""
    (tmp_path / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    settings = _settings_with(SMTP)
    settings = settings.model_copy(
        update={"base_dir": tmp_path, "email": settings.email.model_copy(update={"logo": Path("logo.svg")})}
    )
    renderer = Renderer(settings)
    [error] = renderer.check(sample_context(SAMPLE_TODAY))
    assert "logo.svg is not a PNG, JPEG or GIF image" in str(error)
    rendered = renderer.render("M", sample_context(SAMPLE_TODAY))
    assert rendered.inline_images == () and rendered.email_html is not None
    assert 'color:#1f5f8b;">Solaire Rhône-Alpes SARL</span>' in rendered.email_html  # the name instead


def test_signature_sanitiser_keeps_the_look_and_drops_the_rest() -> None:
    """Styles that only colour and size text are kept; positions, url() and forms are not."""
    cleaned = sanitize_signature(
        '<div style="color:#1f5f8b;position:fixed;background:url(https://t.example/x)">Julie</div>'
        "<form action=\"https://x.example\"><input name=a></form><iframe src=\"https://x.example\"></iframe>"
        '<a href="https://www.solaire-ra.example">www.solaire-ra.example</a>',
        allowed_image_hosts=frozenset(),
        cid_domain="solaire-ra.example",
    )
    assert '<div style="color:#1f5f8b">Julie</div>' in cleaned.html
    assert "form" not in cleaned.html and "iframe" not in cleaned.html and "input" not in cleaned.html
    assert '<a href="https://www.solaire-ra.example" rel="noopener noreferrer">' in cleaned.html
    assert cleaned.images == ()


def test_html_checker_accepts_optional_end_tags_and_void_elements() -> None:
    """Paragraphs and cells closed by what follows, <br> and <img> are valid HTML, not reported."""
    html = "<p>un<p>deux<br><table><tr><td>a<td>b</table><img src=cid:x>"
    assert html_problems(html, allowed_image_hosts=frozenset()) == []


# --------------------------------------------------------------------------- config check, preview


def test_config_check_reports_unsafe_and_broken_html_with_file_and_line(tmp_path: Path) -> None:
    """`config check` names the model's file, the line, what is unsafe or broken; and a DKIM key that cannot sign."""
    defaults = Path(dolirelance.__file__).parent / "defaults"
    shutil.copytree(defaults / "templates", tmp_path / "templates")
    page = tmp_path / "templates" / "2nde-relance.email.html"
    page.write_text(
        page.read_text(encoding="utf-8")
        + '<div>\n<img src="https://pixel.example.net/o.gif">\n<script>track()</script>\n',
        encoding="utf-8",
    )
    (tmp_path / "dkim.pem").write_text("not a key", encoding="utf-8")
    text = (defaults / "dolirelance.toml").read_text(encoding="utf-8")
    text = text.replace('# dkim_key_file = "dkim-private.pem"\n# dkim_selector = "relance"', (
        'dkim_key_file = "dkim.pem"\ndkim_selector = "relance"'
    ))
    (tmp_path / "dolirelance.toml").write_text(text, encoding="utf-8")
    result = run_cli(
        "config", "check", "--config", str(tmp_path / "dolirelance.toml"),
        env={"DOLIRELANCE_API_KEY": "x", "DOLIRELANCE_SMTP_PASSWORD": "y"},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout
    errors = " ".join(result.stderr.split())
    assert "(" + str(page) + "): unsafe HTML at line" in errors and "pixel.example.net" in errors
    assert "<script> is not allowed" in errors
    assert "broken HTML" in errors and "<div> is never closed" in errors
    assert "DKIM key" in errors and "cannot sign" in errors
    assert "Traceback" not in result.stderr
