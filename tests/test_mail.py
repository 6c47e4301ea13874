"""E-mails built, sent to a real SMTP server on loopback, and parsed back."""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from dolirelance.config import SmtpSettings
from dolirelance.domain import Recipient, User
from dolirelance.errors import MailPermanentError, MailTemporaryError
from dolirelance.htmlmail import InlineImage
from dolirelance.inbound import xtext_decode
from dolirelance.mail import (
    MESSAGE_POLICY,
    SmtpSender,
    build_email,
    check_connection,
    message_bytes,
    write_eml,
    xtext_encode,
)
from dolirelance.render import RenderedFollowUp
from dolirelance.testing.smtp_sink import SmtpSink

SENT_AT = datetime(2026, 11, 28, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
USER = User(id=3, login="tbernard", firstname="Thomas", lastname="Bérnard", email="thomas@solaire-ra.fr")
RENDERED = RenderedFollowUp(
    model_name="1ère relance",
    lang="fr",
    email_subject="Votre devis PR2611-0001 — Solaire",
    email_text="Madame,\n\nVoici le devis : 1\u202f448,00\u00a0€.\n",
    email_html="<p>Madame,</p>",
    letter_subject="x",
    letter_text="x",
)


def pdf_bytes(text: str = "DEVIS") -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(100, 700, text)
    canvas.save()
    return buffer.getvalue()


def smtp_for(sink: SmtpSink, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": sink.host,
        "port": sink.port,
        "security": "none",
        "sender": "Solaire Rhône-Alpes <devis@solaire-ra.fr>",
        "sender_display_name": "user",
        "bcc": ["archives@solaire-ra.fr"],
        "rate_limit_per_minute": 0,
        "timeout": 5,
    }
    values.update(overrides)
    return SmtpSettings.model_validate(values)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def message(smtp: SmtpSettings, *recipients: Recipient) -> EmailMessage:
    return build_email(
        smtp=smtp,
        sender_user=USER,
        recipients=recipients or (Recipient("julie@boulangerie.fr", "Julie Dupont", "customer"),),
        rendered=RENDERED,
        attachments=[("PR2611-0001.pdf", pdf_bytes()), ("Conditions générales.pdf", pdf_bytes("CGV"))],
        now=SENT_AT,
    )


def test_sent_message_parsed_back(sink: SmtpSink) -> None:
    smtp = smtp_for(sink)
    recipients = (
        Recipient("julie@boulangerie.fr", "Julie Dupont", "quote contact CUSTOMER", 12),
        Recipient("paul@boulangerie.fr", "Paul Müller", "quote contact CUSTOMER", 13),
    )
    built = message(smtp, *recipients)
    with SmtpSender(smtp) as sender:
        sender.send(built)
    assert len(sink.messages) == 1
    received = sink.messages[0]
    assert received.mail_from == "devis@solaire-ra.fr"
    assert sorted(received.rcpt_tos) == [
        "archives@solaire-ra.fr",
        "julie@boulangerie.fr",
        "paul@boulangerie.fr",
    ]
    got = received.message
    assert str(got["From"]) == "Thomas Bérnard <devis@solaire-ra.fr>"
    assert str(got["Reply-To"]) == "Thomas Bérnard <thomas@solaire-ra.fr>"
    assert [a.addr_spec for a in got["To"].addresses] == ["julie@boulangerie.fr", "paul@boulangerie.fr"]
    assert got["To"].addresses[1].display_name == "Paul Müller"
    assert got["Bcc"] is None  # never transmitted in the headers
    assert str(got["Subject"]) == "Votre devis PR2611-0001 — Solaire"
    assert str(got["Message-ID"]).endswith("@solaire-ra.fr>")
    assert str(got["Message-ID"]) == str(built["Message-ID"])
    assert got["Date"].datetime == SENT_AT  # from the injected clock, not the machine's
    assert got["Auto-Submitted"] is None  # a person's follow-up
    assert got["List-Unsubscribe"] is None  # one-to-one business mail
    body = got.get_body(preferencelist=("plain",))
    assert body is not None and "1\u202f448,00\u00a0€" in body.get_content()
    html = got.get_body(preferencelist=("html",))
    assert html is not None and "<p>Madame,</p>" in html.get_content()
    attachments = list(got.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["PR2611-0001.pdf", "Conditions générales.pdf"]
    assert all(a.get_content_type() == "application/pdf" for a in attachments)
    reader = PdfReader(io.BytesIO(attachments[0].get_content()))
    assert "DEVIS" in reader.pages[0].extract_text()
    assert b"filename*=" in received.raw  # RFC 2231 for the non-ASCII name


def test_fixed_display_name_and_given_message_id(sink: SmtpSink) -> None:
    smtp = smtp_for(sink, sender_display_name="fixed", bcc=[])
    built = build_email(
        smtp=smtp,
        sender_user=User(id=1, login="x"),
        recipients=(Recipient("a@b.fr", "A", "customer"),),
        rendered=RenderedFollowUp("m", "fr", "s", "t\n", None, "ls", "lt"),
        attachments=(),
        now=SENT_AT,
        message_id="<abc@solaire-ra.fr>",
    )
    assert str(built["From"]) == "Solaire Rhône-Alpes <devis@solaire-ra.fr>"
    assert built["Reply-To"] is None
    assert built["Message-ID"] == "<abc@solaire-ra.fr>"
    assert not built.is_multipart()


def test_header_injection_is_impossible(sink: SmtpSink) -> None:
    smtp = smtp_for(sink, bcc=[])
    evil = Recipient("julie@boulangerie.fr", "Boulangerie\r\nBcc: evil@x.fr", "customer")
    rendered = RenderedFollowUp("m", "fr", "Devis\r\nBcc: evil@x.fr", "t\n", None, "x", "x")
    built = build_email(smtp=smtp, sender_user=USER, recipients=(evil,), rendered=rendered, attachments=(), now=SENT_AT)
    with SmtpSender(smtp) as sender:
        sender.send(built)
    received = sink.messages[0]
    assert received.rcpt_tos == ["julie@boulangerie.fr"]
    assert received.message["Bcc"] is None
    assert b"\r\nBcc:" not in received.raw
    assert str(received.message["Subject"]) == "Devis Bcc: evil@x.fr"


@pytest.mark.parametrize(
    "address",
    ["not-an-address", "a@b.fr, c@d.fr", "a@b.fr\r\nBcc: e@x.fr", "a b@c.fr", '"a@b.fr" <evil@x.fr>', "<evil@x.fr>"],
)
def test_invalid_address_is_permanent(sink: SmtpSink, address: str) -> None:
    with pytest.raises(MailPermanentError, match="valid"):
        message(smtp_for(sink), Recipient(address, "X", "customer"))


def test_refused_recipient_is_permanent(sink: SmtpSink) -> None:
    sink.refuse_recipient("julie@boulangerie.fr")
    smtp = smtp_for(sink, bcc=[])
    with SmtpSender(smtp) as sender, pytest.raises(MailPermanentError) as caught:
        sender.send(message(smtp))
    assert "julie@boulangerie.fr: 550" in str(caught.value)
    assert caught.value.remedy and "Dolibarr" in caught.value.remedy
    assert sink.messages == []


def test_temporary_failure_is_retried(sink: SmtpSink) -> None:
    clock = FakeClock()
    sink.fail_next(1, code=451)
    smtp = smtp_for(sink, max_retries=2)
    with SmtpSender(smtp, clock=clock, sleep=clock.sleep) as sender:
        sender.send(message(smtp))
    assert len(sink.messages) == 1
    assert clock.sleeps == [1.0]


def test_temporary_failure_gives_up_after_retries(sink: SmtpSink) -> None:
    clock = FakeClock()
    sink.fail_next(3, code=452)
    smtp = smtp_for(sink, max_retries=2)
    with (
        SmtpSender(smtp, clock=clock, sleep=clock.sleep) as sender,
        pytest.raises(MailTemporaryError) as caught,
    ):
        sender.send(message(smtp))
    assert "452" in str(caught.value)
    assert caught.value.retryable
    assert sink.messages == []


def test_permanent_data_refusal(sink: SmtpSink) -> None:
    sink.fail_next(1, code=554)
    smtp = smtp_for(sink)
    with SmtpSender(smtp) as sender, pytest.raises(MailPermanentError, match="554"):
        sender.send(message(smtp))


def test_dropped_connection_reconnects(sink: SmtpSink) -> None:
    smtp = smtp_for(sink, max_retries=0)
    with SmtpSender(smtp) as sender:
        sender.send(message(smtp))
        sink.drop_next_connection()
        sender.send(message(smtp))
    assert len(sink.messages) == 2


def test_connection_refused_is_temporary() -> None:
    with SmtpSink() as sink:
        smtp = smtp_for(sink, max_retries=1)
    clock = FakeClock()  # the sink is stopped: nobody listens on that port any more
    with SmtpSender(smtp, clock=clock, sleep=clock.sleep) as sender, pytest.raises(MailTemporaryError):
        sender.send(message(smtp))
    assert clock.sleeps == [1.0]


def test_rate_limit_with_injected_clock(sink: SmtpSink) -> None:
    clock = FakeClock()
    smtp = smtp_for(sink, rate_limit_per_minute=30)
    with SmtpSender(smtp, clock=clock, sleep=clock.sleep) as sender:
        for _ in range(3):
            sender.send(message(smtp))
            clock.now += 0.5  # building the next message takes a while
    assert clock.sleeps == [1.5, 1.5]
    assert len(sink.messages) == 3


def test_one_connection_per_batch(sink: SmtpSink) -> None:
    smtp = smtp_for(sink)
    with SmtpSender(smtp) as sender:
        for _ in range(3):
            sender.send(message(smtp))
        assert sender.sent == 3
    assert len(sink.messages) == 3


def test_check_connection(sink: SmtpSink) -> None:
    assert check_connection(smtp_for(sink)).startswith("250")


def test_write_eml_and_sink_eml_dir(tmp_path: Path) -> None:
    with SmtpSink(eml_dir=tmp_path / "sent") as sink:
        smtp = smtp_for(sink)
        built = message(smtp)
        write_eml(built, tmp_path / "preview.eml")
        with SmtpSender(smtp) as sender:
            sender.send(built)
    assert b"Subject: Votre devis" in (tmp_path / "preview.eml").read_bytes()
    assert sorted(p.name for p in (tmp_path / "sent").iterdir()) == ["0001.eml", "0001.html"]  # HTML to open
    assert (tmp_path / "sent" / "0001.html").read_text(encoding="utf-8") == "<p>Madame,</p>\n"


def test_message_bytes_are_the_standard_librarys_bytes(sink: SmtpSink) -> None:
    """The faster encoding and flattening change nothing on the wire (PDFs, a picture, non-ASCII names)."""
    picture = InlineImage("logo@solaire-ra.fr", bytes(range(256)) * 40, "png", "logo é.png")
    rendered = dataclasses.replace(
        RENDERED, inline_images=(picture,), email_html='<p>Madame,</p><img src="cid:logo@solaire-ra.fr">'
    )
    attachments = [("PR2611-0001.pdf", pdf_bytes()), ("Conditions générales.pdf", pdf_bytes("CGV"))]
    fast = build_email(
        smtp=smtp_for(sink),
        sender_user=USER,
        recipients=(Recipient("julie@boulangerie.fr", "Julie Dupont", "customer"),),
        rendered=rendered,
        attachments=attachments,
        now=SENT_AT,
    )
    assert message_bytes(fast) == fast.as_bytes(policy=SMTP_POLICY)
    # each part as the standard content manager makes it
    parts = [p for p in fast.walk() if not p.is_multipart()]
    for (name, data), part in zip(attachments, parts[-2:], strict=True):
        standard = EmailMessage(policy=MESSAGE_POLICY)
        standard.set_content(data, maintype="application", subtype="pdf", filename=name, disposition="attachment")
        assert part.as_bytes(policy=SMTP_POLICY) == standard.as_bytes(policy=SMTP_POLICY)
        assert part.get_content() == data
    image = next(p for p in parts if p.get_content_maintype() == "image")
    standard = EmailMessage(policy=MESSAGE_POLICY)
    standard.set_content(
        picture.data,
        maintype="image",
        subtype="png",
        cid=f"<{picture.cid}>",
        filename=picture.filename,
        disposition="inline",
    )
    assert image.as_bytes(policy=SMTP_POLICY) == standard.as_bytes(policy=SMTP_POLICY)
    # every multipart boundary is absent from the rest of the message
    data = message_bytes(fast)
    for part in fast.walk():
        if part.is_multipart():
            boundary = (part.get_boundary() or "").encode()
            assert data.count(b"--" + boundary + b"\r\n") == len(part.get_payload())


def test_an_envelope_id_with_plus_and_equals_is_xtext() -> None:
    """RFC 3461: "+", "=", spaces and non-ASCII as +XX; what the replies reader decodes back."""
    value = "<a+b=c d\u00e9@x.test>"
    assert xtext_encode(value) == "<a+2Bb+3Dc+20d+C3+A9@x.test>"
    assert xtext_decode(xtext_encode(value)) == value


@pytest.mark.parametrize("offers_dsn", [True, False])
def test_envid_and_ret_are_given_only_to_a_server_that_offers_dsn(offers_dsn: bool) -> None:
    """ENVID=<our Message-ID> brings it back in a failure report; a server without DSN would refuse it (555)."""
    with SmtpSink(dsn=offers_dsn) as server:
        smtp = smtp_for(server)
        built = message(smtp, Recipient("julie@boulangerie.fr", "Julie Dupont", "quote contact CUSTOMER", 12))
        with SmtpSender(smtp) as sender:
            sender.send(built)
        [received] = server.messages
    message_id = str(received.message["Message-ID"])
    expected = {"ENVID": xtext_encode(message_id), "RET": "HDRS"} if offers_dsn else {}
    assert received.dsn == expected
