"""Once the message content is handed to SMTP, a missing reply is uncertain: never retried, never released."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import pytest

from dolirelance.config import SmtpSettings
from dolirelance.domain import Channel
from dolirelance.errors import MailPermanentError, MailUncertain
from dolirelance.ledger import FollowUpState
from dolirelance.mail import SmtpSender
from dolirelance.service import Runtime, follow_up
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink


def _smtp(sink: SmtpSink, timeout: float) -> SmtpSettings:
    return SmtpSettings(
        host=sink.host,
        port=sink.port,
        security="none",
        sender="Devis <devis@example.fr>",
        timeout=timeout,
        rate_limit_per_minute=0,
        max_retries=3,
    )


def _relance(to: str, content: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "devis@example.fr"
    message["To"] = to
    message["Subject"] = "Relance"
    message.set_content(content)
    return message


async def test_a_lost_reply_after_data_is_uncertain_and_not_retried(
    runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_sink.hold_next_data()
    runtime.smtp_factory = lambda: SmtpSender(_smtp(smtp_sink, timeout=1.0))
    try:
        outcome = await follow_up(runtime, sample_data.refs["about_to_expire"], channel=Channel.EMAIL)
    finally:
        smtp_sink.release_data()
    assert outcome.outcome == "uncertain" and outcome.error is not None and outcome.error.startswith("uncertain")
    assert len(smtp_sink.messages) == 1  # handed over once, despite max_retries = 3
    entry = runtime.ledger.get(outcome.key or "")
    assert entry is not None and entry.state is FollowUpState.UNCERTAIN
    assert [e.key for e in runtime.ledger.uncertain()] == [outcome.key]
    assert not [e for e in fake_dolibarr.events.values() if e.code.startswith("AC_RELANCE")]
    # ops find it under the delivery's logger (JSON logs: "logger"), as before the delivery was split
    said = [r for r in caplog.records if r.levelno >= logging.ERROR and "UNCERTAIN" in r.getMessage()]
    assert [r.name for r in said] == ["dolirelance.service.delivery"]


def test_the_sender_raises_uncertain_without_a_second_attempt(smtp_sink: SmtpSink) -> None:
    message = _relance("client@example.fr", "Bonjour")
    smtp_sink.hold_next_data()
    with SmtpSender(_smtp(smtp_sink, timeout=1.0)) as sender, pytest.raises(MailUncertain):
        sender.send(message)
    smtp_sink.release_data()
    assert len(smtp_sink.messages) == 1


def test_one_refused_recipient_sends_to_nobody(smtp_sink: SmtpSink) -> None:
    message = _relance("ok@example.fr, refused@example.fr", ".line starting with a dot\nBonjour")
    smtp_sink.refuse_recipient("refused@example.fr")
    with SmtpSender(_smtp(smtp_sink, timeout=5)) as sender, pytest.raises(MailPermanentError) as caught:
        sender.send(message)
    assert "refused@example.fr" in caught.value.message
    assert smtp_sink.messages == []
    smtp_sink.clear()
    del message["To"]
    message["To"] = "ok@example.fr"
    with SmtpSender(_smtp(smtp_sink, timeout=5)) as sender:
        sender.send(message)
    (received,) = smtp_sink.messages
    assert received.message.get_content().startswith(".line starting with a dot")
