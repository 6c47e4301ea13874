"""Replies and bounces, against a real dovecot on loopback and the fake Dolibarr in-process.

Each test first makes the automatic run of 28 November 2026 (three e-mails, see test_auto_run.py), then
delivers sample messages (tests/samples/mailbox/) into dovecot with IMAP APPEND, reads the mailbox once
and looks at what Dolibarr, the ledger, the mailbox and `explain` then say.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from conftest import MutableClock, product_settings
from dolirelance.config import Settings, load_config
from dolirelance.history import decode_facts
from dolirelance.imap import PROCESSED_KEYWORD
from dolirelance.ledger import MailboxLedger, MessageState
from dolirelance.policy import DecisionKind, SkipReason
from dolirelance.service import Runtime, explain, read_replies, run_auto
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.imap_server import DovecotServer, dovecot_available
from dolirelance.testing.smtp_sink import SmtpSink

SAMPLES = Path(__file__).parent / "samples" / "mailbox"
OUR_ADDRESS = "devis@solaire-rhone-alpes.test"
PASSWORD_ENV = "DOLIRELANCE_TEST_IMAP_PASSWORD"
# The day step 2 of `about_to_expire` is due: end of validity (1 December) + 10 days.
STEP_TWO_DAY = date(2026, 12, 11)
AFTER_THE_REPLIES = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not dovecot_available(), reason="dovecot-imapd is not installed (.ci/run installs it)")


def sample(name: str, *, message_id: str = "<none@nowhere.test>", ref: str = "", customer: str = "") -> bytes:
    raw = (SAMPLES / name).read_bytes()
    for placeholder, value in (
        (b"@@MESSAGE_ID@@", message_id),
        (b"@@QUOTE_REF@@", ref),
        (b"@@CUSTOMER@@", customer),
        (b"@@US@@", OUR_ADDRESS),
    ):
        raw = raw.replace(placeholder, value.encode())
    return raw


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


def with_imap(settings: Settings, dovecot: DovecotServer, **extra: str) -> Settings:
    """The test's configuration file with an [imap] section for the dovecot on loopback."""
    path = settings.base_dir / "dolirelance.toml"
    lines = [
        "",
        "[imap]",
        f'host = "{dovecot.host}"',
        f"port = {dovecot.port}",
        'security = "none"',
        f'username = "{dovecot.user}"',
        f'password_env = "{PASSWORD_ENV}"',
        *(f'{key} = "{value}"' for key, value in extra.items()),
    ]
    path.write_text(path.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


@pytest.fixture
def settings(
    tmp_path: Path, smtp_sink: SmtpSink, sample_data: SampleData, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    return with_imap(product_settings(tmp_path, smtp_sink.port, sample_data.api_keys["jdupont"]), dovecot)


def message_id_to(sink: SmtpSink, address: str) -> str:
    found = [m for m in sink.messages if address in str(m.message["To"])]
    assert len(found) == 1, [str(m.message["To"]) for m in sink.messages]
    return str(found[0].message["Message-ID"])


def events(fake: FakeDolibarr, code: str, quote_id: int | None = None) -> list[object]:
    return [
        e for e in fake.events.values() if e.code == code and (quote_id is None or e.fk_element == quote_id)
    ]


async def run_then_deliver(runtime: Runtime, clock: MutableClock) -> None:
    report = await run_auto(runtime)
    assert report.ok and len(report.sent) == 3
    clock.set(AFTER_THE_REPLIES)


# --------------------------------------------------------------------------------------- replies


async def test_a_reply_stops_the_next_step_and_is_on_the_quote(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """A Thunderbird reply (In-Reply-To) is recorded on the quote and the customer; step 2 no longer goes out."""
    quote_id, ref = sample_data.quotes["about_to_expire"], sample_data.refs["about_to_expire"]
    customer = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    before, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert before.kind is DecisionKind.DUE  # without the reply, step 2 would go out that day
    message_id = message_id_to(smtp_sink, customer)
    dovecot.deliver(sample("thunderbird_reply.eml", message_id=message_id, ref=ref, customer=customer))

    report = await read_replies(runtime)

    assert report.ok, report
    [outcome] = report.messages
    assert (outcome.kind, outcome.outcome, outcome.quote_ref) == ("reply", "recorded", ref)
    [reply] = events(fake_dolibarr, "AC_RELANCE_REPLY", quote_id)
    assert reply.socid == fake_dolibarr.proposals[quote_id].socid  # on the customer too
    assert reply.contact_id == sample_data.contacts["sophie_dupont"]
    assert reply.percentage == 100 and reply.email_from == customer
    assert "Nous signons la semaine prochaine" in reply.note and "a écrit" not in reply.note
    assert "> Madame, Monsieur" not in reply.note  # the quoted text is left out
    facts = decode_facts(reply.note)
    assert facts["address"] == customer and facts["file"].endswith(".eml")
    [stored] = [f for f in fake_dolibarr.proposal_files(fake_dolibarr.proposals[quote_id]) if f.name.endswith(".eml")]
    assert b"Nous signons la semaine prochaine" in stored.content and message_id.encode() in stored.content
    todos = events(fake_dolibarr, "AC_RELANCE_TODO", quote_id)
    follow_up_todos = [t for t in todos if "for" not in decode_facts(t.note)]
    assert follow_up_todos and all(t.percentage == 100 for t in follow_up_todos)  # the planned follow-up is closed
    [answer_todo] = [t for t in todos if decode_facts(t.note).get("for") == "reply"]
    assert answer_todo.label.startswith("Répondre à Jean Martin")  # the sample's sender name
    assert answer_todo.percentage == 0 and answer_todo.userownerid == sample_data.users["jdupont"]
    assert datetime.fromtimestamp(answer_todo.datep, UTC).date() == AFTER_THE_REPLIES.date()

    [(uid, flags, _)] = dovecot.messages()
    assert PROCESSED_KEYWORD in flags and "\\Seen" not in flags  # still unread for the sales person
    row = MailboxLedger(runtime.ledger, report.mailbox).all_messages()[0]
    assert (row.uid, row.state, row.kind, row.event_id) == (uid, MessageState.DONE, "reply", reply.id)

    after, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert after.kind is DecisionKind.SKIPPED and after.reason is SkipReason.REPLIED
    assert f"the customer replied on 30 November (see event {reply.id})" in after.summary
