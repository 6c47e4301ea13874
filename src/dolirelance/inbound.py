"""Messages arriving in the replies mailbox, read and sorted. Pure: no I/O, no clock.

:func:`read_message` turns the raw bytes of one message into an :class:`InboundMessage`:

* a **bounce** when it is a delivery status notification: RFC 3464 ``multipart/report;
  report-type=delivery-status`` and the common non-standard forms (Exchange, qmail, Yahoo...: the
  detectors of ``flufl.bounce``). Each failed recipient is *permanent* (``Action: failed``, status
  5.x.x: the address does not work) or *temporary* (``Action: delayed``, status 4.x.x: the server
  still tries). The server's reason is the ``Diagnostic-Code`` (or ``Status``) of the report, else
  the line of the text that names the address.
* an **auto-answer** (RFC 3834 ``Auto-Submitted`` other than ``no``, ``X-Autoreply``,
  ``X-Autorespond``, ``Precedence: auto_reply``, or a subject like "Réponse automatique",
  "Absence", "Out of office", "Automatic reply").
* otherwise a plain message, possibly a **reply**: whether it answers one of our follow-ups is
  decided by the caller against the ledger, from :attr:`InboundMessage.referenced_ids` (``In-Reply-To``
  and ``References``) or from the sender and the subject.

A message that cannot be understood at all (no header, or a header that cannot be decoded) raises
:class:`UnreadableMessage`: the caller leaves it in place and reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

from flufl.bounce import all_failures
from mailparser_reply import EmailReplyParser

from dolirelance.errors import DolirelanceError

EXCERPT_LINES = 8
EXCERPT_CHARS = 600

_AUTO_SUBJECT = re.compile(
    r"^\s*(réponse automatique|reponse automatique|r[ée]ponse en votre absence|absence|absent|auto:|"
    r"automatic reply|auto-reply|autoreply|out of (the )?office|abwesend|automatische antwort|"
    r"message d'absence)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mail delivery)", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered mail|delivery status notification|mail delivery (failed|failure|system)|"
    r"returned mail|non remis|non distribuable|delivery has failed|failure notice|échec de la remise)",
    re.IGNORECASE,
)
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class UnreadableMessage(DolirelanceError):
    """A message of the replies mailbox that cannot be understood (it is left in place)."""


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str  # lower case
    permanent: bool
    reason: str  # the server's words ("550 5.1.1 <x@y>: Recipient address rejected: User unknown")


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message of the mailbox, as far as it can be read without the ledger."""

    message_id: str | None
    sender: str  # address, lower case ("" when none)
    sender_name: str
    subject: str
    sent_at: datetime | None  # its Date header (aware), None when missing or unreadable
    referenced_ids: tuple[str, ...]  # In-Reply-To first, then References (newest first), "<...>"
    excerpt: str  # the first lines of what the sender wrote, quoted text left out
    auto_answer: str | None = None  # why it is an automatic answer
    failures: tuple[FailedRecipient, ...] = ()  # a bounce when not empty
    bounced_message_ids: tuple[str, ...] = ()  # Message-IDs of the returned message, when included

    @property
    def is_bounce(self) -> bool:
        return bool(self.failures)


def read_message(raw: bytes) -> InboundMessage:
    """Read and sort one message (see the module docstring); raises :class:`UnreadableMessage`."""
    try:
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        if not message.keys():
            raise UnreadableMessage("the message has no header at all")
        return _read(message)
    except UnreadableMessage:
        raise
    except Exception as exc:  # the email package raises many kinds on broken headers
        raise UnreadableMessage(f"the message cannot be read: {type(exc).__name__}: {exc}") from None


def _read(message: EmailMessage) -> InboundMessage:
    senders = getaddresses([str(message.get("From", ""))])
    sender_name, sender = senders[0] if senders else ("", "")
    if not sender and not message.get("Message-ID") and not message.get("Subject"):
        raise UnreadableMessage("the message has no sender, no subject and no Message-ID")
    subject = " ".join(str(message.get("Subject", "")).split())
    failures = _failures(message, subject, sender)
    return InboundMessage(
        message_id=_first_id(str(message.get("Message-ID", ""))),
        sender=sender.strip().lower(),
        sender_name=sender_name.strip(),
        subject=subject,
        sent_at=_date(message),
        referenced_ids=_referenced(message),
        excerpt="" if failures else excerpt_of(_text_of(message)),
        auto_answer=None if failures else _auto_answer(message, subject),
        failures=failures,
        bounced_message_ids=_returned_ids(message) if failures else (),
    )


def _first_id(value: str) -> str | None:
    found = _MESSAGE_ID.findall(value)
    return found[0] if found else None


def _referenced(message: Message) -> tuple[str, ...]:
    ids: list[str] = _MESSAGE_ID.findall(str(message.get("In-Reply-To", "")))
    ids += reversed(_MESSAGE_ID.findall(str(message.get("References", ""))))
    return tuple(dict.fromkeys(ids))


def _date(message: Message) -> datetime | None:
    value = message.get("Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    # "-0000" (RFC 5322: in UTC, the sender's zone unknown) comes back naive
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _auto_answer(message: Message, subject: str) -> str | None:
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if message.get(header) is not None:
            return f"{header} header"
    if str(message.get("Precedence", "")).strip().lower() == "auto_reply":
        return "Precedence: auto_reply"
    if _AUTO_SUBJECT.match(subject):
        return f"subject {subject[:60]!r}"
    return None


# -- bounces ------------------------------------------------------------------------------------


def _looks_like_bounce(message: Message, subject: str, sender: str) -> bool:
    if message.get_content_type() == "multipart/report":
        return True
    return bool(_BOUNCE_SENDER.match(sender) or _BOUNCE_SUBJECT.search(subject))


def _failures(message: EmailMessage, subject: str, sender: str) -> tuple[FailedRecipient, ...]:
    if not _looks_like_bounce(message, subject, sender):
        return ()
    temporary, permanent = all_failures(message)
    reasons = _dsn_reasons(message)
    text = _text_of(message, prefer_report=True)
    found: dict[str, FailedRecipient] = {}
    for raw_address, is_permanent in [*((a, True) for a in permanent), *((a, False) for a in temporary)]:
        address = raw_address.decode("utf-8", "replace") if isinstance(raw_address, bytes) else raw_address
        address = address.strip().strip("<>").lower()
        if not address or "@" not in address or address in found:
            continue
        status, reason = reasons.get(address, ("", ""))
        if status:  # the report's status code outranks a heuristic guess
            is_permanent = status.startswith("5")
        found[address] = FailedRecipient(address, is_permanent, reason or _reason_in_text(text, address))
    return tuple(found.values())


def _dsn_reasons(message: Message) -> dict[str, tuple[str, str]]:
    """address → (status, the server's words) from every ``message/delivery-status`` part."""
    reasons: dict[str, tuple[str, str]] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = [block for block in payload if isinstance(block, Message)] if isinstance(payload, list) else []
        for block in blocks:
            recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            if not address:
                continue
            status = str(block.get("Status", "")).strip()
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
            if diagnostic.lower().startswith("smtp;"):
                diagnostic = diagnostic[5:].strip()
            reasons[address] = (status, diagnostic or (f"status {status}" if status else ""))
    return reasons


def _reason_in_text(text: str, address: str) -> str:
    """The line of a non-standard bounce that gives the reason (status code, or naming the address)."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    for index, line in enumerate(lines):
        if address in line.lower():
            following = " ".join(lines[index : index + 3])
            return following[:300]
    for line in lines:
        if _STATUS.search(line):
            return line[:300]
    return "the mail server could not deliver the message"


def _returned_ids(message: Message) -> tuple[str, ...]:
    """The Message-ID of the returned message (``message/rfc822`` or ``text/rfc822-headers`` part)."""
    ids: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            for returned in [m for m in inner if isinstance(m, Message)] if isinstance(inner, list) else []:
                found = _first_id(str(returned.get("Message-ID", "")))
                if found:
                    ids.append(found)
        elif kind == "text/rfc822-headers":
            raw_headers = part.get_payload(decode=True)
            headers = message_from_bytes(raw_headers if isinstance(raw_headers, bytes) else b"", policy=policy.compat32)
            found = _first_id(str(headers.get("Message-ID", "")))
            if found:
                ids.append(found)
    return tuple(dict.fromkeys(ids))


# -- text ---------------------------------------------------------------------------------------


def _text_of(message: EmailMessage, *, prefer_report: bool = False) -> str:
    """The message's text: its text/plain body, else its HTML without tags."""
    if prefer_report:
        parts = [p for p in message.walk() if p.get_content_type() == "text/plain"]
        return "\n".join(_decoded(p) for p in parts)
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    text = _decoded(body)
    if body.get_content_type() == "text/html":
        text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
        text = re.sub(r"<[^>]+>", " ", text)
        text = re.sub(r"&nbsp;", " ", text)
    return text


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def excerpt_of(text: str) -> str:
    """The first lines the sender wrote: quoted text and the quote's header ("Le … a écrit :") left out."""
    try:
        reply = EmailReplyParser(languages=["fr", "en", "de", "es", "it", "nl"]).parse_reply(text=text)
    except Exception:  # the parser's regular expressions must not stop a reply being recorded
        reply = text
    lines = [line.rstrip() for line in (reply or text).replace("\r\n", "\n").splitlines()]
    kept = [line for line in lines if not line.lstrip().startswith(">")]
    while kept and not kept[0].strip():
        kept.pop(0)
    result: list[str] = []
    for line in kept:
        if len(result) >= EXCERPT_LINES:
            break
        if line.strip() or (result and result[-1].strip()):
            result.append(line)
    joined = "\n".join(result).strip()
    return joined if len(joined) <= EXCERPT_CHARS else joined[: EXCERPT_CHARS - 1].rstrip() + "…"
