"""Replies reach the replies mailbox: ``[imap] address`` and ``[email] reply_to`` put it in our e-mails' Reply-To.

End to end as a user runs it: `remind` sends through the SMTP sink, the customer's mail client answers to
the received e-mail's Reply-To, the copy to the mailbox lands in a real dovecot, `replies --once` records it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import getaddresses
from pathlib import Path

import pytest

from conftest import MutableClock
from dolirelance.config import Settings, SmtpSettings, load_config
from dolirelance.demo import write_demo_config
from dolirelance.domain import Recipient, User
from dolirelance.mail import build_email
from dolirelance.render import RenderedFollowUp
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.mailbox_samples import customer_reply
from dolirelance.testing.smtp_sink import SmtpSink
from in_process_cli import CliResult, run_main, served_for_cli
from mailbox_samples import NEEDS_DOVECOT

SOPHIE = "sophie.dupont@garage-dupont.test"
SALES_PERSON = User(id=3, login="tbernard", firstname="Thomas", lastname="Bernard", email="thomas@solaire-ra.fr")
MAILBOX = "Relances <relances@solaire-ra.fr>"
SENT_AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
RENDERED = RenderedFollowUp(model_name="1ère relance", lang="fr", email_subject="Votre devis", email_text="Madame,",
                            email_html=None, letter_subject="x", letter_text="x")  # fmt: skip


def reply_to(**options: object) -> list[str]:
    smtp = SmtpSettings(sender="Solaire <devis@solaire-ra.fr>")
    message = build_email(smtp=smtp, sender_user=options.pop("user", SALES_PERSON),  # type: ignore[arg-type]
                          recipients=(Recipient(SOPHIE, "Sophie Dupont", "customer"),), rendered=RENDERED,
                          attachments=(), now=SENT_AT, **options)  # type: ignore[arg-type]  # fmt: skip
    return [address for _, address in getaddresses([str(v) for v in message.get_all("Reply-To", [])])]


def test_reply_to_names_the_sales_person_the_mailbox_or_both() -> None:
    """Each mode gives its addresses, each once; without a known mailbox, the sales person as before."""
    assert reply_to(reply_to="both", replies_mailbox=MAILBOX) == ["thomas@solaire-ra.fr", "relances@solaire-ra.fr"]
    assert reply_to(reply_to="mailbox", replies_mailbox=MAILBOX) == ["relances@solaire-ra.fr"]
    assert reply_to(reply_to="sales_person", replies_mailbox=MAILBOX) == ["thomas@solaire-ra.fr"]
    assert reply_to(reply_to="both", replies_mailbox=None) == ["thomas@solaire-ra.fr"]
    assert reply_to(reply_to="both", replies_mailbox="RELANCES@solaire-ra.fr",
                    user=User(id=4, login="r", firstname="R", lastname="", email="relances@solaire-ra.fr")) == [
        "relances@solaire-ra.fr"
    ]  # fmt: skip
    no_email = User(id=5, login="x", firstname="X", lastname="", email="")
    assert reply_to(reply_to="both", replies_mailbox=MAILBOX, user=no_email) == ["relances@solaire-ra.fr"]


def settings_with(tmp_path: Path, imap: str, email: str = "") -> Settings:
    path = write_demo_config(tmp_path, dolibarr_url="http://x.test/api/index.php", api_key="k", smtp_port=25)
    text = path.read_text(encoding="utf-8").replace("[email]\n", f"[email]\n{email}\n", 1)
    path.write_text(text + "\n[imap]\nhost = \"127.0.0.1\"\npassword = \"p\"\n" + imap, encoding="utf-8")
    return load_config(path)


def test_the_default_and_the_warnings_follow_imap(tmp_path: Path) -> None:
    """With [imap], "both" by default; a warning when replies cannot reach the mailbox, none when they can."""
    without = load_config(write_demo_config(tmp_path / "a", dolibarr_url="http://x.test/api/index.php",
                                            api_key="k", smtp_port=25))  # fmt: skip
    assert without.reply_to_mode == "sales_person" and without.reply_problems() == []

    good = settings_with(tmp_path / "b", f'username = "relances"\naddress = "{MAILBOX}"\n')
    assert good.reply_to_mode == "both" and good.replies_address == MAILBOX and good.reply_problems() == []

    no_address = settings_with(tmp_path / "c", 'username = "relances"\n')
    [problem] = no_address.reply_problems()
    assert "[imap] address is not set" in problem and "will not reach it" in problem

    from_is_the_mailbox = settings_with(tmp_path / "d", 'username = "devis@solaire-ra.example"\n')
    assert from_is_the_mailbox.replies_address is not None and from_is_the_mailbox.reply_problems() == []

    sales_only = settings_with(tmp_path / "e", f'username = "relances"\naddress = "{MAILBOX}"\n',
                               email='reply_to = "sales_person"')  # fmt: skip
    [problem] = sales_only.reply_problems()
    assert 'reply_to = "sales_person"' in problem and "does not read" in problem


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer("relances@solaire-ra.example") as server:
        yield server


@NEEDS_DOVECOT
def test_a_customers_reply_to_the_reply_to_addresses_is_recorded_on_the_quote(
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    dovecot: DovecotServer,
    clock: MutableClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`remind` with [imap] address: Reply-To = the sales person and the mailbox; her Reply, `replies --once`."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    with served_for_cli(fake_dolibarr, clock, monkeypatch) as url:
        config = write_demo_config(tmp_path, dolibarr_url=url, api_key=sample_data.api_keys["jdupont"],
                                   smtp_port=smtp_sink.port, imap=dovecot)  # fmt: skip

        def cli(*args: str) -> CliResult:
            return run_main([*args, "--config", str(config)], capsys, monkeypatch)

        checked = cli("config", "check")
        assert checked.code == 0 and "warning" not in checked.text, checked
        sent = cli("remind", ref, "--email")
        assert sent.code == 0, sent

        [received] = smtp_sink.messages
        reply_to = [str(value) for value in received.message.get_all("Reply-To", [])]
        addresses = [address for _, address in getaddresses(reply_to)]
        sales_person = fake_dolibarr.users[sample_data.users["jdupont"]].email
        assert addresses == [sales_person, dovecot.user]
        # her mail client's "Reply": to every Reply-To address; the mailbox's copy arrives in dovecot
        dovecot.deliver(customer_reply(sender=SOPHIE, sender_name="Sophie Dupont", to=", ".join(reply_to),
                                       subject=str(received.message["Subject"]),
                                       in_reply_to=str(received.message["Message-ID"]),
                                       at=datetime(2026, 11, 28, 15, 0, tzinfo=UTC)))  # fmt: skip
        read = cli("replies", "--once")

    assert read.code == 0, read
    [reply] = [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_REPLY"]
    assert reply.fk_element == quote_id and reply.email_from == SOPHIE
    assert "nous signons la semaine prochaine" in reply.note


@NEEDS_DOVECOT
def test_config_check_warns_when_replies_go_to_the_sales_people_only(
    tmp_path: Path, dovecot: DovecotServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """[imap] set but reply_to = "sales_person": `config check` passes, with a warning and what to set."""
    config = write_demo_config(tmp_path, dolibarr_url="http://x.test/api/index.php", api_key="k", smtp_port=25,
                               imap=dovecot)  # fmt: skip
    config.write_text(config.read_text(encoding="utf-8").replace("[email]\n", '[email]\nreply_to = "sales_person"\n'),
                      encoding="utf-8")  # fmt: skip
    result = run_main(["config", "check", "--config", str(config)], capsys, monkeypatch)
    assert result.code == 0, result
    assert 'warning: [email] reply_to = "sales_person"' in result.flat
    assert "set [imap] address" in result.flat
