"""E-mail building and SMTP sending. smtplib, email and dkim live only here.

A follow-up is ``multipart/mixed``: the text (``multipart/alternative``: ``text/plain`` first, then the
HTML in a ``multipart/related`` with its ``cid:`` images) and exactly the PDFs given. One
:class:`SmtpSender` holds one connection for a whole batch, reconnects once when the server
dropped it, paces messages to the configured rate, retries temporary failures and, when
``[smtp] dkim_key_file`` is set, signs the very bytes it sends. Every value that comes from
Dolibarr is flattened to one line before it reaches a header.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.contentmanager import ContentManager, raw_data_manager
from email.generator import BytesGenerator
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import dkim

from dolirelance.config import SMTP_RETRY_WAITS, SmtpSettings
from dolirelance.domain import Recipient, User, bare_address, split_address
from dolirelance.errors import (
    DolirelanceError,
    MailError,
    MailPermanentError,
    MailTemporaryError,
    MailUncertain,
    OAuthTokenError,
)
from dolirelance.htmlmail import standalone_html
from dolirelance.render import RenderedFollowUp

if TYPE_CHECKING:
    from dolirelance.oauth import TokenSource

ReplyToMode = Literal["both", "sales_person", "mailbox"]


class _HeaderClasses(HeaderRegistry):
    """The standard header classes, each made once: :class:`HeaderRegistry` makes a new class for every
    header it parses, about a third of the time it takes to build a message."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# SMTP's policy (CRLF, folding, RFC 2047), with the header classes made once.
MESSAGE_POLICY = SMTP_POLICY.clone(header_factory=_HeaderClasses())


def _set_bytes_content(
    msg: EmailMessage,
    data: bytes,
    maintype: str,
    subtype: str,
    *,
    disposition: str | None = None,
    filename: str | None = None,
    cid: str | None = None,
) -> None:
    """The standard bytes handler's result (base64 in 76-character lines) without its Python loop per line."""
    msg["Content-Type"] = f"{maintype}/{subtype}"
    msg["Content-Transfer-Encoding"] = "base64"
    encoded = base64.b64encode(data).decode("ascii")  # one call, then cut: encodebytes loops per 57 bytes
    msg.set_payload("".join([encoded[i : i + 76] + "\n" for i in range(0, len(encoded), 76)]))
    if disposition is None and filename is not None:
        disposition = "attachment"
    if disposition is not None:
        msg["Content-Disposition"] = disposition
    if filename is not None:
        msg.set_param("filename", filename, header="Content-Disposition", replace=True)
    if cid is not None:
        msg["Content-ID"] = cid


# The standard content manager, with bytes (the PDFs, the pictures) encoded in one call.
_CONTENT: ContentManager = copy.deepcopy(raw_data_manager)  # deep: the standard one stays as it is
_CONTENT.add_set_handler(bytes, _set_bytes_content)


_LINE_END = re.compile(r"\r\n|\r|\n")  # as the generator splits lines


class _WholeLinesGenerator(BytesGenerator):
    """:class:`BytesGenerator` writing a body's lines in one call instead of two calls per line."""

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(_LINE_END.sub(self._NL, lines))  # type: ignore[attr-defined]


def message_bytes(message: EmailMessage) -> bytes:
    """``message.as_bytes(policy=SMTP)``, the same bytes, several times faster for a message with PDFs."""
    buffer = io.BytesIO()
    _WholeLinesGenerator(buffer, mangle_from_=False, policy=SMTP_POLICY).flatten(message)
    return buffer.getvalue()


def _one_line(value: str) -> str:
    """Collapse CR, LF and other line breaks to single spaces: no header injection."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def parse_address(value: str, *, display_name: str | None = None, role: str = "address") -> Address:
    """One e-mail address (optionally "Name <addr>") → :class:`Address`; MailPermanentError if not.

    With ``display_name`` (an address field of Dolibarr, the name beside it), ``value`` must be
    the address alone: a name or brackets in it would send the e-mail to another address.
    """
    try:
        name, local, domain = split_address(bare_address(value) if display_name is not None else value)
    except ValueError as exc:
        raise MailPermanentError(
            f"{role} {exc}", remedy="correct the address in Dolibarr (or in dolirelance.toml)"
        ) from None
    flat = _one_line(value)
    shown = _one_line(display_name if display_name is not None else name)
    try:
        return Address(display_name=shown, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise MailPermanentError(f"{role} {flat!r} is not a valid e-mail address: {exc}") from None


def build_email(
    *,
    smtp: SmtpSettings,
    sender_user: User,
    recipients: Sequence[Recipient],
    rendered: RenderedFollowUp,
    attachments: Sequence[tuple[str, bytes]],
    now: datetime,
    automatic: bool = False,
    message_id: str | None = None,
    reply_to: ReplyToMode = "sales_person",
    replies_mailbox: str | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The follow-up e-mail: text (and HTML) body and exactly the PDFs given.

    ``descriptions``: by file name, what an attachment is (its ``Content-Description``, RFC 2045),
    « PDF du devis du 28/11/2026 ».

    ``now`` (from the injected clock) dates it; ``automatic`` marks it ``Auto-Submitted: auto-generated``
    (RFC 3834), so that vacation responders do not answer it; people's follow-ups are not marked.
    ``reply_to`` says who a customer's "Reply" reaches: the sales person, the replies mailbox
    (``replies_mailbox``, the ``[imap]`` address), or both (RFC 5322 allows several Reply-To addresses).
    """
    if not recipients:
        raise MailPermanentError("the e-mail has no recipient", remedy="add an e-mail address in Dolibarr")
    sender = parse_address(smtp.sender, role="smtp.sender")
    if smtp.sender_display_name == "user":
        sender = Address(_one_line(sender_user.full_name), sender.username, sender.domain)
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = sender
    answer_to = _reply_to_addresses(sender_user, reply_to, replies_mailbox)
    if answer_to:
        message["Reply-To"] = answer_to
    message["To"] = [parse_address(r.email, display_name=r.name, role="recipient") for r in recipients]
    if smtp.bcc:
        message["Bcc"] = [parse_address(address, role="smtp.bcc") for address in smtp.bcc]
    message["Subject"] = _one_line(rendered.email_subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = _one_line(message_id) if message_id else make_msgid(domain=sender.domain)
    if automatic:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.email_text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if rendered.email_html:
        message.add_alternative(rendered.email_html, subtype="html", charset="utf-8", cte="quoted-printable")
        if rendered.inline_images:
            html_part = list(message.iter_parts())[1]  # text/plain first, text/html second
            for image in rendered.inline_images:
                html_part.add_related(
                    image.data,
                    maintype="image",
                    subtype=image.subtype,
                    cid=f"<{image.cid}>",
                    filename=image.filename,
                    disposition="inline",
                    content_manager=_CONTENT,
                )
    for filename, data in attachments:
        message.add_attachment(
            data,
            maintype="application",
            subtype="pdf",
            filename=_one_line(filename) or "document.pdf",
            content_manager=_CONTENT,
        )
        description = (descriptions or {}).get(filename)
        if description:
            list(message.iter_attachments())[-1]["Content-Description"] = _one_line(description)
    # last: building the body moves or drops the Content-* headers set before it
    message["Content-Language"] = rendered.lang
    for part in message.walk():
        if part.is_multipart():
            # "=_" never appears in base64 or quoted-printable text: no need to search the body for it
            part.set_boundary(f"=_{secrets.token_hex(12)}")
    return message


def _reply_to_addresses(sales_person: User, mode: ReplyToMode, replies_mailbox: str | None) -> list[Address]:
    """The Reply-To addresses: the sales person's, the replies mailbox's, or both (each address once)."""
    chosen: list[Address] = []
    # no mailbox known: as without [imap]
    if (mode in ("sales_person", "both") or replies_mailbox is None) and sales_person.email:
        chosen.append(
            parse_address(sales_person.email, display_name=sales_person.full_name, role="the user's e-mail")
        )
    if mode in ("mailbox", "both") and replies_mailbox is not None:
        mailbox = parse_address(replies_mailbox, role="[imap] address")
        if all(mailbox.addr_spec.lower() != known.addr_spec.lower() for known in chosen):
            chosen.append(mailbox)
    return chosen


def envelope_recipients(message: EmailMessage) -> list[str]:
    """Every address the message goes to (To, Cc, Bcc)."""
    fields = [str(value) for key in ("To", "Cc", "Bcc") for value in message.get_all(key, [])]
    return [addr for _, addr in getaddresses(fields) if addr]


def write_eml(message: EmailMessage, path: Path) -> None:
    """Save a message as an .eml file (previews, the demo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(message_bytes(message))


def viewable_html(rendered: RenderedFollowUp) -> str | None:
    """The HTML part as a file a browser opens: its ``cid:`` images written in (previews)."""
    if rendered.email_html is None:
        return None
    return standalone_html(rendered.email_html, rendered.inline_images)


# The headers a relay must not change; Bcc is never signed (it is removed before sending).
_DKIM_HEADERS = (
    b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to",
    b"mime-version", b"content-type", b"content-language", b"auto-submitted",
)  # fmt: skip


class DkimSigner:
    """Signs outgoing messages with DKIM (``[smtp] dkim_key_file``); the key is read once, on first use."""

    def __init__(self, key_file: Path, *, selector: str, domain: str) -> None:
        self.key_file = key_file
        self.selector = selector
        self.domain = domain
        self._key: bytes | None = None

    def check(self) -> None:
        """Read the key and sign a sample message; MailPermanentError naming what is wrong (``config check``)."""
        self.sign(b"From: check@" + self.domain.encode("ascii") + b"\r\nSubject: check\r\n\r\ncheck\r\n")

    def sign(self, payload: bytes) -> bytes:
        """The ``DKIM-Signature:`` header line (CRLF-terminated) for ``payload``."""
        remedy = "set [smtp] dkim_key_file to the PEM private key whose public key is in DNS"
        if self._key is None:
            try:
                self._key = self.key_file.read_bytes()
            except OSError as exc:
                raise MailPermanentError(f"cannot read the DKIM key {self.key_file}: {exc}", remedy=remedy) from None
        try:
            return bytes(
                dkim.sign(
                    payload,
                    self.selector.encode("ascii"),
                    self.domain.encode("ascii"),
                    self._key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=list(_DKIM_HEADERS),
                )
            )
        except (dkim.DKIMException, ValueError) as exc:
            self._key = None
            raise MailPermanentError(f"the DKIM key {self.key_file} cannot sign: {exc}", remedy=remedy) from None


def dkim_signer(smtp: SmtpSettings, key_file: Path | None) -> DkimSigner | None:
    """The signer ``[smtp]`` asks for (``key_file`` resolved against the config's folder), or None."""
    if key_file is None or not smtp.dkim_selector:
        return None
    domain = smtp.dkim_domain or split_address(smtp.sender)[2]
    return DkimSigner(key_file, selector=smtp.dkim_selector, domain=domain)


_UNCERTAIN_REMEDY = (
    "check the sender's mailbox or the SMTP logs, then `dolirelance ledger resolve KEY --sent` or `--not-sent`"
)


class SmtpSender:
    """One SMTP connection for a batch of messages, with pacing and retries.

    >>> with SmtpSender(settings.smtp) as sender:
    ...     sender.send(message)
    """

    def __init__(
        self,
        smtp: SmtpSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        dkim: DkimSigner | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self._settings = smtp
        self._dkim = dkim
        self._tokens = tokens
        self._clock = clock
        self._sleep = sleep
        self._connection: smtplib.SMTP | None = None
        self._last_sent: float | None = None
        self.sent = 0
        self._content_started = False

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def min_interval(self) -> float:
        """Seconds between two messages (0 = no limit)."""
        rate = self._settings.rate_limit_per_minute
        return 60.0 / rate if rate > 0 else 0.0

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def send(self, message: EmailMessage, *, on_turn: Callable[[], object] | None = None) -> None:
        """Send one message; retry temporary failures up to ``smtp.max_retries`` times.

        Raises :class:`MailUncertain` only when the content may have left; every other error means
        nothing left (the claim can be released). After an uncertain send the connection is dropped:
        the next message goes over a new one, never over a session in an unknown state.

        ``on_turn`` is called once, after the pacing wait and before anything is said to the server:
        the message's SMTP turn begins (the ledger marks it SENDING there). An error it raises stops
        the send at once, nothing sent.
        """
        attempts = self._settings.max_retries + 1
        for attempt in range(attempts):
            self._pace()
            if on_turn is not None and attempt == 0:
                on_turn()
            try:
                self._send_guarded(message)
            except MailTemporaryError:
                self._drop()
                if attempt + 1 >= attempts:
                    raise
                self._sleep(SMTP_RETRY_WAITS[min(attempt, len(SMTP_RETRY_WAITS) - 1)])
                continue
            self._last_sent = self._clock()
            self.sent += 1
            return

    # -- internals ------------------------------------------------------------------------------

    def _send_guarded(self, message: EmailMessage) -> None:
        """:meth:`_send_once`, with any unforeseen error classified by whether the content was being sent."""
        self._content_started = False
        try:
            self._send_once(message)
        except MailUncertain:
            self._drop()
            raise
        except MailError:
            raise
        except DolirelanceError as exc:  # a missing secret, say: nothing was sent
            self._drop()
            raise MailPermanentError(exc.message, remedy=exc.remedy) from None
        except Exception as exc:
            self._drop()
            if self._content_started:
                raise MailUncertain(
                    f"sending the message failed midway ({type(exc).__name__}: {exc}): it may have been sent",
                    remedy=_UNCERTAIN_REMEDY,
                ) from None
            raise MailPermanentError(
                f"the message could not be handed to the SMTP server ({type(exc).__name__}: {exc}); nothing was sent",
                remedy="check the addresses (the server may not accept non-ASCII ones) and the [smtp] settings",
            ) from None

    def _pace(self) -> None:
        interval = self.min_interval
        if interval and self._last_sent is not None:
            wait = self._last_sent + interval - self._clock()
            if wait > 0:
                self._sleep(wait)

    def _send_once(self, message: EmailMessage) -> None:
        recipients = envelope_recipients(message)
        sender = parseaddr(str(message["From"]))[1]
        payload = _data_payload(message, self._dkim)
        envelope_id = str(message["Message-ID"] or "").strip()
        reconnected = False
        while True:
            connection = self._connect()
            try:
                _transmit(connection, payload, sender, recipients, on_content=self._content_sent,
                          envelope_id=envelope_id)  # fmt: skip
            except smtplib.SMTPServerDisconnected as exc:
                # A connection idle since the previous message may have been closed: reconnect once.
                self._drop()
                if not reconnected:
                    reconnected = True
                    continue
                raise MailTemporaryError(
                    f"the SMTP server closed the connection: {exc}", remedy="retry later"
                ) from None
            except (TimeoutError, OSError) as exc:
                raise MailTemporaryError(
                    f"the connection to the SMTP server failed while sending: {exc}", remedy="retry later"
                ) from None
            return

    def _content_sent(self) -> None:
        self._content_started = True

    def _connect(self) -> smtplib.SMTP:
        if self._connection is None:
            self._connection = open_connection(self._settings, tokens=self._tokens)
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()


def open_connection(smtp: SmtpSettings, *, tokens: TokenSource | None = None) -> smtplib.SMTP:
    """Connect, say EHLO, STARTTLS when asked, log in when a username is set (by XOAUTH2 with ``auth = "oauth2"``)."""
    where = f"{smtp.host}:{smtp.port}"
    connection: smtplib.SMTP
    try:
        if smtp.security == "tls":
            connection = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
            )
        else:
            connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        connection.ehlo()
        if smtp.security == "starttls":
            connection.starttls(context=ssl.create_default_context())
            connection.ehlo()
        if smtp.auth == "oauth2":
            _sign_in_oauth2(connection, smtp, tokens, where)
        elif smtp.username:
            if not connection.has_extn("auth"):
                raise MailPermanentError(
                    f"the SMTP server {where} offers no login (no AUTH) but smtp.username is set",
                    remedy=_no_auth_remedy(smtp, connection),
                )
            password = smtp.resolved_password()
            connection.login(smtp.username, password.get_secret_value() if password else "")
    except MailError:
        connection.close()
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailPermanentError(
            f"the SMTP server {where} refused the login of {smtp.username}: {exc.smtp_code} {_text(exc.smtp_error)}",
            remedy="check smtp.username and the password (smtp.password_env)",
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailPermanentError(
            f"the SMTP server {where} does not support what we asked: {exc}",
            remedy='set smtp.security to "none", "starttls" or "tls" as your provider documents',
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise _reply_error(exc.smtp_code, exc.smtp_error, f"connecting to {where}") from None
    except ssl.SSLError as exc:
        raise MailPermanentError(
            f"TLS with the SMTP server {where} failed: {exc}",
            remedy='check smtp.security ("tls" is usually port 465, "starttls" port 587)',
        ) from None
    except (smtplib.SMTPException, TimeoutError, socket.gaierror, OSError) as exc:
        raise MailTemporaryError(
            f"cannot connect to the SMTP server {where}: {exc}",
            remedy="check smtp.host and smtp.port, and that the server is reachable",
        ) from None
    return connection


def _sign_in_oauth2(connection: smtplib.SMTP, smtp: SmtpSettings, tokens: TokenSource | None, where: str) -> None:
    """AUTH XOAUTH2 with a token from ``tokens``; a refused token is dropped and a new one tried once
    (it may have expired or been revoked early), then the refusal says what to check."""
    from dolirelance.oauth import server_refusal_remedy, xoauth2_response

    user = smtp.username or ""
    if tokens is None:
        raise MailPermanentError(
            'smtp.auth = "oauth2" but no token source was given', remedy="add an [oauth2] table to dolirelance.toml"
        )
    offered = connection.esmtp_features.get("auth", "").upper().split()
    if "XOAUTH2" not in offered:
        raise MailPermanentError(
            f"the SMTP server {where} does not offer the XOAUTH2 sign-in (it offers: {' '.join(offered) or 'none'})",
            remedy="check smtp.host, port and security (Microsoft 365: smtp.office365.com, 587, starttls; "
            "Google: smtp.gmail.com, 587, starttls)",
        )
    for attempt in (1, 2):
        try:
            token = tokens.token_for(user)
        except OAuthTokenError as exc:
            error = MailTemporaryError if exc.temporary else MailPermanentError
            raise error(f"no OAuth2 token to sign in to the SMTP server {where}: {exc.message}",
                        remedy=exc.remedy) from None  # fmt: skip
        try:
            connection.auth("XOAUTH2", _XOAuth2Answer(xoauth2_response(user, token)))
            return
        except smtplib.SMTPAuthenticationError as exc:
            tokens.forget(user)
            if attempt == 2:
                raise MailPermanentError(
                    f"the SMTP server {where} refused the OAuth2 token for {user}: "
                    f"{exc.smtp_code} {_text(exc.smtp_error)}",
                    remedy=server_refusal_remedy(tokens.settings, "SMTP"),
                ) from None


class _XOAuth2Answer:
    """smtplib's authobject: the credentials first; an empty line answers the server's error challenge (334)."""

    def __init__(self, response: str) -> None:
        self._response = response

    def __call__(self, challenge: bytes | None = None) -> str:
        return self._response if challenge is None else ""


def _no_auth_remedy(smtp: SmtpSettings, connection: smtplib.SMTP) -> str:
    """What to change when the server offers no AUTH: encryption first if it offers that, else the login."""
    if smtp.security == "none" and connection.has_extn("starttls"):
        return 'set smtp.security = "starttls": this server offers the login only over an encrypted connection'
    return "remove smtp.username (and the password): this server takes mail without a login"


def check_connection(smtp: SmtpSettings, *, tokens: TokenSource | None = None) -> str:
    """Connect, EHLO, log in and quit; return the server's greeting (``dolirelance doctor``)."""
    connection = open_connection(smtp, tokens=tokens)
    try:
        code, text = connection.ehlo()
        greeting = _text(text).splitlines()[0] if text else ""
        return f"{code} {greeting}".strip()
    finally:
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _reply_error(code: int, text: bytes | str, doing: str) -> MailError:
    reply = f"{code} {_text(text)}".strip()
    if 400 <= code < 500:
        return MailTemporaryError(
            f"the SMTP server said {reply} while {doing}",
            remedy="a temporary refusal: the follow-up can be retried later",
        )
    return MailPermanentError(
        f"the SMTP server said {reply} while {doing}",
        remedy="read the server's reply: the sender may not be allowed, or the message was rejected",
    )


def _refused(refused: dict[str, tuple[int, bytes]]) -> MailError:
    details = "; ".join(f"{addr}: {code} {_text(text)}" for addr, (code, text) in refused.items())
    if refused and all(400 <= code < 500 for code, _ in refused.values()):
        return MailTemporaryError(f"the SMTP server deferred recipients ({details})", remedy="retry later")
    return MailPermanentError(
        f"the SMTP server refused recipients ({details})",
        remedy="correct the contact's or customer's e-mail address in Dolibarr",
    )


def _transmit(
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
        raise _reply_error(code, reply, "MAIL FROM")
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        code, reply = connection.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if refused:  # all or nobody: a follow-up half-delivered would be neither failed nor done
        connection.rset()
        raise _refused(refused)
    connection.putcmd("data")
    code, reply = connection.getreply()
    if code != 354:
        connection.rset()
        raise _reply_error(code, reply, "DATA")
    on_content()
    try:
        connection.send(payload)
        code, reply = connection.getreply()
    except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
        raise MailUncertain(
            f"the SMTP server took the message but did not confirm it ({exc}): it may have been sent",
            remedy=_UNCERTAIN_REMEDY,
        ) from None
    if code != 250:
        raise _reply_error(code, reply, "the end of DATA")


def xtext_encode(value: str) -> str:
    """RFC 3461 xtext (an ENVID): "+" and "=", controls, spaces and non-ASCII as ``+XX``."""
    return "".join(
        f"+{byte:02X}" if byte < 33 or byte > 126 or byte in (43, 61) else chr(byte) for byte in value.encode("utf-8")
    )


def _data_payload(message: EmailMessage, dkim_signer: DkimSigner | None = None) -> bytes:
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
