"""Messages as they arrive in a replies mailbox, built for the demo (the tests use tests/samples/mailbox/)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def customer_reply(*, sender: str, sender_name: str, to: str, subject: str, in_reply_to: str, at: datetime) -> bytes:
    """A customer's answer from a mail client: In-Reply-To our follow-up, the quoted text below."""
    message = EmailMessage()
    message["From"] = f"{sender_name} <{sender}>"
    message["To"] = to
    message["Subject"] = f"Re: {subject}"
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message["In-Reply-To"] = in_reply_to
    message["References"] = in_reply_to
    message.set_content(
        "Bonjour,\n\nMerci pour votre relance : nous signons la semaine prochaine.\n\n"
        f"Bien cordialement,\n{sender_name}\n\n"
        f"Le {at:%d/%m/%Y} à 09:30, {to} a écrit :\n"
        "> Madame, Monsieur,\n> Nous revenons vers vous au sujet de notre devis.\n"
    )
    return message.as_bytes()


def hard_bounce(*, recipient: str, to: str, subject: str, returned_id: str, at: datetime) -> bytes:
    """A Postfix delivery status notification (RFC 3464): 550 5.1.1 user unknown."""
    boundary = "demo-report-boundary"
    reason = f"550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
    text = f"""From: MAILER-DAEMON@mx.example.test (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Date: {format_datetime(at)}
Message-ID: {make_msgid(domain="mx.example.test")}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

<{recipient}>: host mx.example-customer.test said: {reason}

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.test

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; {reason}

--{boundary}
Content-Type: text/rfc822-headers

From: {to}
To: {recipient}
Subject: {subject}
Message-ID: {returned_id}

--{boundary}--
"""
    return text.replace("\n", "\r\n").encode("utf-8")


# -- bombs: what a stranger can send to take a replies reader down (issue 24; bench/replies.py, tests) -----


def _bomb_head(sender: str, to: str, subject: str, at: datetime, extra: str = "") -> str:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {format_datetime(at)}\r\n"
        f"Message-ID: {make_msgid(domain='attacker.test')}\r\nMIME-Version: 1.0\r\n{extra}"
    )


def encoded_words_bomb(*, to: str, at: datetime, words: int = 20_000) -> bytes:
    """A Subject of ``words`` encoded words (20,000: ~340 KB; the email package took 3.4 GB on it)."""
    subject = "\r\n ".join("=?utf-8?q?=C3=A9t=C3=A9?=" for _ in range(words))
    head = _bomb_head("x@attacker.test", to, subject, at, "Content-Type: text/plain; charset=utf-8\r\n")
    return f"{head}\r\nBonjour\r\n".encode()


def mime_parts_bomb(*, to: str, at: datetime, parts: int = 50_000) -> bytes:
    """A multipart/mixed message of ``parts`` tiny parts (50,000: 15 s of CPU to parse)."""
    boundary = "b0mb"
    body = "".join(f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n{n}\r\n" for n in range(parts))
    extra = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
    return f"{_bomb_head('x@attacker.test', to, 'parts', at, extra)}\r\n{body}--{boundary}--\r\n".encode()


def big_body_bomb(*, to: str, at: datetime, megabytes: float = 50, references: str = "") -> bytes:
    """A plain message of ``megabytes`` of text (50 MB: 34 s and 405 MB); it may name our e-mail."""
    extra = "Content-Type: text/plain; charset=us-ascii\r\n"
    if references:
        extra += f"In-Reply-To: {references}\r\nReferences: {references}\r\n"
    line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    body = line * max(1, int(megabytes * 1024 * 1024 / len(line)))
    return f"{_bomb_head('x@attacker.test', to, 'Re: big', at, extra)}\r\n{body}".encode()


def references_bomb(*, to: str, at: datetime, ids: int = 100_000) -> bytes:
    """A References header of ``ids`` Message-IDs (100,000: 10 s)."""
    references = "\r\n ".join(f"<{n}.ref@attacker.test>" for n in range(ids))
    extra = f"References: {references}\r\nContent-Type: text/plain\r\n"
    return f"{_bomb_head('x@attacker.test', to, 'Re: refs', at, extra)}\r\nBonjour\r\n".encode()
