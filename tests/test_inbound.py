"""Sorting the messages of the replies mailbox (pure): every sample under tests/samples/mailbox/."""

from __future__ import annotations

import pytest

from dolirelance.inbound import UnreadableMessage, excerpt_of, read_message
from mailbox_samples import sample_message

OURS = "<relance.8f2a@solaire-rhone-alpes.test>"
CUSTOMER = "jean.martin@boulangerie-martin.test"


def sample(name: str) -> bytes:
    return sample_message(name, message_id=OURS, ref="PR2611-0001", customer=CUSTOMER)


@pytest.mark.parametrize(
    ("name", "references_ours", "first_line"),
    [
        ("thunderbird_reply.eml", True, "Bonjour Madame Dupont,"),
        ("outlook_reply.eml", True, "Bonjour,"),
        ("gmail_reply.eml", False, "Bonjour,"),
    ],
)
def test_replies_from_common_clients_keep_only_what_the_customer_wrote(
    name: str, references_ours: bool, first_line: str
) -> None:
    message = read_message(sample(name))
    assert message.sender == CUSTOMER and message.sender_name == "Jean Martin"
    assert (OURS in message.referenced_ids) is references_ours
    assert "PR2611-0001" in message.subject
    assert not message.is_bounce and message.auto_answer is None
    assert message.excerpt.splitlines()[0] == first_line
    for quoted in ("a écrit", "Envoyé", "Madame, Monsieur", "> "):
        assert quoted not in message.excerpt
    assert message.sent_at is not None and message.sent_at.tzinfo is not None


@pytest.mark.parametrize(
    ("name", "permanent", "reason_part", "returned_id"),
    [
        ("postfix_dsn.eml", True, "550 5.1.1", True),
        ("exchange_ndr.eml", True, "5.1.10 RESOLVER.ADR.RecipientNotFound", True),
        ("qmail_bounce.eml", True, "no mailbox here by that name", True),  # its inline copy of our e-mail
        ("postfix_delayed.eml", False, "Connection timed out", False),
    ],
)
def test_bounces_standard_and_not_name_the_address_its_permanence_and_the_reason(
    name: str, permanent: bool, reason_part: str, returned_id: bool
) -> None:
    message = read_message(sample(name))
    assert message.is_bounce and message.auto_answer is None  # a DSN's Auto-Submitted does not make it an auto-answer
    [failure] = message.failures
    assert failure.address == CUSTOMER and failure.permanent is permanent
    assert reason_part in failure.reason
    assert (OURS in message.bounced_message_ids) is returned_id


def test_a_french_out_of_office_is_an_automatic_answer() -> None:
    message = read_message(sample("auto_reply_fr.eml"))
    assert message.auto_answer == "Auto-Submitted: auto-replied"
    assert message.subject.startswith("Réponse automatique") and not message.is_bounce


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ("X-Autoreply: yes\n", "X-Autoreply header"),
        ("X-Autorespond: on\n", "X-Autorespond header"),
        ("Subject: Out of Office: devis\n", "subject"),
        ("Subject: Absence du bureau\n", "subject"),
        ("Subject: Automatic reply: devis\n", "subject"),
    ],
)
def test_the_usual_marks_of_an_automatic_answer(headers: str, why: str) -> None:
    raw = f"From: a@b.test\n{headers}Message-ID: <x@b.test>\n\nJe suis absent.\n".encode()
    message = read_message(raw)
    assert message.auto_answer is not None and message.auto_answer.startswith(why)


def test_auto_submitted_no_is_a_person() -> None:
    message = read_message(b"From: a@b.test\nAuto-Submitted: no\nSubject: Re: devis\n\nOui.\n")
    assert message.auto_answer is None


def test_an_unrelated_message_is_neither() -> None:
    message = read_message(sample("unrelated.eml"))
    assert not message.is_bounce and message.auto_answer is None and message.referenced_ids == ()


def test_bytes_without_a_header_cannot_be_read() -> None:
    with pytest.raises(UnreadableMessage, match="no header"):
        read_message(sample("unreadable.eml"))


def test_the_excerpt_is_short() -> None:
    long_text = "\n".join(f"ligne {n}" for n in range(50))
    assert len(excerpt_of(long_text).splitlines()) == 8
    assert len(excerpt_of("x" * 5000)) == 600 and excerpt_of("x" * 5000).endswith("…")


TRUSTED = "mx.us.test"


@pytest.mark.parametrize(
    ("headers", "vouched"),
    [
        ([f"{TRUSTED}; dmarc=pass header.from=client.test"], "dmarc=pass header.from=client.test (mx.us.test)"),
        ([f"{TRUSTED}; dkim=pass header.d=client.test; dmarc=none"], "dkim=pass header.d=client.test (mx.us.test)"),
        ([f"{TRUSTED}; dkim=pass header.i=@client.test"], "dkim=pass header.d=client.test (mx.us.test)"),
        ([f"{TRUSTED}; dkim=pass header.d=mail.other.test"], None),  # signed, but by another domain
        ([f"{TRUSTED}; dkim=pass header.d=test"], None),  # a top-level domain vouches for nobody
        ([f"{TRUSTED}; dmarc=pass header.from=other.test"], None),  # DMARC of another From domain
        ([f"{TRUSTED}; dmarc=fail header.from=client.test", f"{TRUSTED}; dmarc=pass"], None),  # the topmost decides
        (["mx.attacker.test; dmarc=pass header.from=client.test"], None),  # not our server
        (["garbage ;; =", f"{TRUSTED}; dmarc=pass (p=reject) header.from=client.test"], "dmarc=pass header.from"),
        ([], None),
    ],
)
def test_only_the_topmost_header_of_the_trusted_server_vouches_for_the_sender(
    headers: list[str], vouched: str | None
) -> None:
    head = "".join(f"Authentication-Results: {value}\r\n" for value in headers)
    raw = f"{head}From: Sophie <sophie@client.test>\r\nSubject: Re: devis\r\n\r\nBonjour\r\n".encode()
    found = read_message(raw, trusted_authserv_id=TRUSTED).sender_authenticated
    assert (found is None) if vouched is None else (found is not None and found.startswith(vouched))
    assert read_message(raw).sender_authenticated is None  # no trusted server configured: nobody vouches


def test_a_subdomain_sender_is_vouched_for_by_its_parent_domain_signature() -> None:
    raw = (
        f"Authentication-Results: {TRUSTED}; dkim=pass header.d=client.test\r\n"
        "From: s@mail.client.test\r\nSubject: x\r\n\r\nx\r\n"
    ).encode()
    assert read_message(raw, trusted_authserv_id=TRUSTED).sender_authenticated is not None
