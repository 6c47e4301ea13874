"""One message over an open SMTP session: MAIL, RCPT, DATA by hand, with DSN's ENVID where offered."""

from __future__ import annotations

import copy
import re
import smtplib
from collections.abc import Callable, Sequence
from email.message import EmailMessage

from dolirelance.errors import MailUncertain
from dolirelance.mail.mime import message_bytes
from dolirelance.mail.refusals import UNCERTAIN_REMEDY, refused_error, reply_error
from dolirelance.mail.signing import DkimSigner


def transmit(
    connection: smtplib.SMTP,
    payload: bytes,
    sender: str,
    recipients: Sequence[str],
    *,
    on_content: Callable[[], None] = lambda: None,
    envelope_id: str = "",
) -> None:
    """MAIL, RCPT, DATA by hand, so that we know when the message itself has been handed over.

    Where the server offers DSN (RFC 3461), MAIL FROM gives ``ENVID=<our Message-ID>`` and ``RET=HDRS``:
    a failure report then carries our (random) Message-ID back, the proof that it returns our e-mail
    (the replies reader believes no bounce without it).

    Before the content is sent, any failure is safe to retry: nothing can have left. Once the
    content is sent, a lost connection or a missing reply is *uncertain*: the server may have
    queued the message, so it is never retried (a person decides).
    """
    connection.ehlo_or_helo_if_needed()
    options = [f"ENVID={xtext_encode(envelope_id)}", "RET=HDRS"] if envelope_id and connection.has_extn("dsn") else []
    code, reply = connection.mail(sender, options)
    if code != 250:
        connection.rset()
        raise reply_error(code, reply, "MAIL FROM")
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        code, reply = connection.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if refused:  # all or nobody: a follow-up half-delivered would be neither failed nor done
        connection.rset()
        raise refused_error(refused)
    connection.putcmd("data")
    code, reply = connection.getreply()
    if code != 354:
        connection.rset()
        raise reply_error(code, reply, "DATA")
    on_content()
    try:
        connection.send(payload)
        code, reply = connection.getreply()
    except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
        raise MailUncertain(
            f"the SMTP server took the message but did not confirm it ({exc}): it may have been sent",
            remedy=UNCERTAIN_REMEDY,
        ) from None
    if code != 250:
        raise reply_error(code, reply, "the end of DATA")


def xtext_encode(value: str) -> str:
    """RFC 3461 xtext (an ENVID): "+" and "=", controls, spaces and non-ASCII as ``+XX``."""
    return "".join(
        f"+{byte:02X}" if byte < 33 or byte > 126 or byte in (43, 61) else chr(byte) for byte in value.encode("utf-8")
    )


def data_payload(message: EmailMessage, dkim_signer: DkimSigner | None = None) -> bytes:
    """The message as SMTP DATA: Bcc removed, signed when asked, CRLF line ends, leading dots doubled, final dot."""
    clone = copy.copy(message)  # deleting headers rebinds the clone's header list only
    del clone["Bcc"]
    del clone["Resent-Bcc"]
    content = message_bytes(clone)
    if dkim_signer is not None:
        content = dkim_signer.sign(content) + content
    body = re.sub(rb"(?m)^\.", b"..", content)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"
