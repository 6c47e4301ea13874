"""The product end to end against the fake Dolibarr and a real SMTP server: one e-mail follow-up."""

from __future__ import annotations

from dolirelance.domain import Channel
from dolirelance.service import Runtime, follow_up
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink


async def test_email_follow_up_is_sent_once_and_recorded(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref = sample_data.refs["about_to_expire"]
    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL, note="Appel sans réponse")
    assert outcome.outcome == "recorded"
    assert len(smtp_sink.messages) == 1
    message = smtp_sink.messages[0].message
    assert ref in str(message["Subject"])
    events = [e for e in fake_dolibarr.events.values() if e.code.startswith("AC_RELANCE")]
    assert sorted(e.code for e in events) == ["AC_RELANCE_EMAIL", "AC_RELANCE_TODO"]
    done = next(e for e in events if e.code == "AC_RELANCE_EMAIL")
    assert done.fk_element == sample_data.quotes["about_to_expire"] and done.percentage == 100
    assert "Appel sans réponse" in done.note
