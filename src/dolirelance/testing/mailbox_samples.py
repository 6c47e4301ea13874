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
