"""E-mail building and SMTP sending. smtplib, email and dkim live only in this package, one concern a module:

- ``mime``: the standard library's message machinery made fast (header classes, base64, the generator);
- ``message``: ``build_email``: addresses, headers, Reply-To, text, HTML and pictures, the PDFs;
- ``signing``: ``DkimSigner``, when ``[smtp] dkim_key_file`` is set, over the very bytes sent;
- ``connection``: ``open_connection``: TLS and the login (password or XOAUTH2), ``check_connection``;
- ``transmit``: one message over a session: MAIL, RCPT, DATA, with DSN's ENVID where offered;
- ``sender``: ``SmtpSender``, one connection for a batch: pacing, retries, one reconnection;
- ``refusals``: what the server's replies mean: temporary, permanent or uncertain.
"""

from dolirelance.mail.connection import check_connection
from dolirelance.mail.message import build_email, viewable_html, write_eml
from dolirelance.mail.mime import MESSAGE_POLICY, message_bytes
from dolirelance.mail.sender import SmtpSender
from dolirelance.mail.signing import DkimSigner, dkim_signer
from dolirelance.mail.transmit import xtext_encode

__all__ = [
    "MESSAGE_POLICY",
    "DkimSigner",
    "SmtpSender",
    "build_email",
    "check_connection",
    "dkim_signer",
    "message_bytes",
    "viewable_html",
    "write_eml",
    "xtext_encode",
]
