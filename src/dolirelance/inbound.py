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

Strangers write to the replies mailbox, so nothing here trusts a message's size or shape:
:func:`prescan` bounds the header (fields, their length, encoded words) and the MIME structure (parts,
multipart containers) on the raw bytes before the ``email`` package sees them (a 340 KB Subject of
20,000 encoded words takes it gigabytes), and a :class:`MessageReader` parses in a worker process
with a memory and a time limit. Nor does anything here trust what a message says of itself: the
``Authentication-Results`` header is believed only when the receiving server named by
``trusted_authserv_id`` wrote it (:func:`sender_authentication`).
"""

from __future__ import annotations

import os
import pickle
import re
import resource
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import IO
from urllib.parse import unquote_to_bytes

import authres
from flufl.bounce import all_failures
from mailparser_reply import EmailReplyParser

from dolirelance.errors import DolirelanceError

EXCERPT_LINES = 8
EXCERPT_CHARS = 600
# The excerpt is taken from the start of the text only (the quoted-text parser is slow on megabytes).
EXCERPT_SOURCE_CHARS = 64 * 1024

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
# "Message-ID: <...>" in the text of a non-standard bounce's copy of the returned message (qmail)
_MESSAGE_ID_LINE = re.compile(r"(?im)^message-id:\s*(<[^<>\s]+>)")


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
    envelope_ids: tuple[str, ...] = ()  # a DSN's Original-Envelope-Id (the ENVID we sent), decoded
    # what the trusted receiving server's Authentication-Results says of the sender's domain
    # ("dmarc=pass header.from=… (mx.example)"), None when it vouches for nothing
    sender_authenticated: str | None = None

    @property
    def is_bounce(self) -> bool:
        return bool(self.failures)


def read_message(raw: bytes, *, trusted_authserv_id: str | None = None) -> InboundMessage:
    """Read and sort one message (see the module docstring); raises :class:`UnreadableMessage`.

    Call :func:`prescan` first (or :func:`read_message_contained`, which does): this parses whatever
    it is given, in this process.
    """
    try:
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        if not message.keys():
            raise UnreadableMessage("the message has no header at all")
        return _read(message, trusted_authserv_id)
    except (UnreadableMessage, MemoryError):
        raise
    except Exception as exc:  # the email package raises many kinds on broken headers
        raise UnreadableMessage(f"the message cannot be read: {type(exc).__name__}: {exc}") from None


def _read(message: EmailMessage, trusted_authserv_id: str | None) -> InboundMessage:
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
        excerpt="" if failures else excerpt_of(_text_of(message)[:EXCERPT_SOURCE_CHARS]),
        auto_answer=None if failures else _auto_answer(message, subject),
        failures=failures,
        bounced_message_ids=_returned_ids(message) if failures else (),
        envelope_ids=_envelope_ids(message) if failures else (),
        sender_authenticated=sender_authentication(message, sender.strip().lower(), trusted_authserv_id),
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


# -- bounded reading -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """What a message may hold before it is parsed, and what parsing it may cost."""

    max_header_fields: int = 500
    max_header_field_bytes: int = 32 * 1024  # one field, unfolded (a long References is a few KB)
    max_header_bytes: int = 256 * 1024
    max_encoded_words: int = 2000  # "=?utf-8?q?...?=" in the whole message
    max_mime_parts: int = 1000
    max_multiparts: int = 64  # multipart containers: bounds the nesting depth too
    memory_mb: int = 192  # address space the parsing worker may add to its own
    seconds: float = 20.0


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ENCODED_WORD = re.compile(rb"=\?[^?\s]{1,64}\?[bBqQ]\?")
_PART_HEADER = re.compile(rb"(?im)^content-type:")
_MULTIPART = re.compile(rb"(?im)^content-type:[ \t]*(?:\r?\n[ \t]+)?multipart/")


def prescan(raw: bytes, limits: ReadLimits = ReadLimits()) -> str | None:
    """Why the raw message is not to be parsed at all (None: it may be): a cheap look at its bytes.

    Counts the top header's fields and their unfolded lengths, the encoded words and the MIME parts
    of the whole message: the shapes that make the ``email`` package take gigabytes or minutes.
    """
    end = _HEADER_END.search(raw)
    header = raw[: end.start()] if end else raw
    if len(header) > limits.max_header_bytes:
        return f"its header is {len(header) // 1024} KB (at most {limits.max_header_bytes // 1024} KB are read)"
    fields, longest, current = 0, 0, 0
    for line in header.splitlines():
        if line[:1] in (b" ", b"\t"):
            current += len(line)
        else:
            fields += 1
            current = len(line)
        longest = max(longest, current)
    if fields > limits.max_header_fields:
        return f"its header has {fields} fields (at most {limits.max_header_fields} are read)"
    if longest > limits.max_header_field_bytes:
        return (
            f"one of its header fields is {longest // 1024} KB long "
            f"(at most {limits.max_header_field_bytes // 1024} KB are read)"
        )
    words = sum(1 for _ in _ENCODED_WORD.finditer(raw))
    if words > limits.max_encoded_words:
        return f"it holds {words} encoded words (at most {limits.max_encoded_words} are read)"
    multiparts = sum(1 for _ in _MULTIPART.finditer(raw))
    if multiparts > limits.max_multiparts:
        return f"it nests {multiparts} multipart containers (at most {limits.max_multiparts} are read)"
    parts = sum(1 for _ in _PART_HEADER.finditer(raw))
    if parts > limits.max_mime_parts:
        return f"it has {parts} MIME parts (at most {limits.max_mime_parts} are read)"
    return None


class MessageReader:
    """Parses messages in a worker process limited in memory (RLIMIT_AS) and time (a context manager).

    One worker serves one reading of the mailbox, a message at a time (its start, ~0.3 s, is paid
    once); a worker over its memory or time, or dead, is killed, the message is unreadable, and the next
    message gets a new worker. Blocking: the caller runs :meth:`read` off the event loop.
    """

    def __init__(self, limits: ReadLimits = ReadLimits(), *, trusted_authserv_id: str | None = None) -> None:
        self.limits = limits
        self.trusted_authserv_id = trusted_authserv_id
        self._worker: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MessageReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Let the worker end (its input closed), or kill it."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        if worker.stdin is not None:
            worker.stdin.close()
        try:
            worker.wait(2)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()

    def read(self, raw: bytes) -> InboundMessage:
        """:func:`prescan`, then :func:`read_message` in the worker; raises :class:`UnreadableMessage`."""
        refused = prescan(raw, self.limits)
        if refused is not None:
            raise UnreadableMessage(f"the message is not read: {refused}")
        limits = self.limits
        if self._worker is not None and self._worker.poll() is not None:  # it ended since the last message
            self._kill()
        worker = self._worker or self._start()
        assert worker.stdin is not None and worker.stdout is not None
        try:
            worker.stdin.write(struct.pack(">Q", len(raw)) + raw)
            worker.stdin.flush()
            answer = _read_frame(worker.stdout, time.monotonic() + limits.seconds)
        except TimeoutError:
            self._kill()
            why = f"reading the message took more than {limits.seconds:g} s: it is not read"
            raise UnreadableMessage(why) from None
        except (OSError, EOFError):  # the worker died (killed by the system when over its memory)
            self._kill()
            raise UnreadableMessage(
                f"reading the message needed more than {limits.memory_mb} MB of memory: it is not read"
            ) from None
        status, value = pickle.loads(answer)  # our own worker's answer
        if status == "ok" and isinstance(value, InboundMessage):
            return value
        if status == "exit":  # it ran out of memory and stops: the next message gets a new one
            self._kill()
        raise UnreadableMessage(str(value))

    def _start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", "import dolirelance.inbound as i; i.serve_worker()"]
        command += [str(self.limits.memory_mb), self.trusted_authserv_id or ""]
        self._worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        return self._worker

    def _kill(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
            worker.wait()
            for stream in (worker.stdin, worker.stdout):
                if stream is not None:
                    stream.close()


def read_message_contained(
    raw: bytes, *, limits: ReadLimits = ReadLimits(), trusted_authserv_id: str | None = None
) -> InboundMessage:
    """One message read by a :class:`MessageReader` of its own (a worker started for it)."""
    with MessageReader(limits, trusted_authserv_id=trusted_authserv_id) as reader:
        return reader.read(raw)


def _read_frame(stream: IO[bytes], deadline: float) -> bytes:
    """One length-prefixed frame from the worker's stdout by ``deadline`` (else TimeoutError); EOFError
    when the worker is gone."""
    fd = stream.fileno()
    data = b""
    wanted = 8
    length: int | None = None
    while len(data) < wanted:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(wanted - len(data), 1 << 20))
        if not chunk:
            raise EOFError
        data += chunk
        if length is None and len(data) >= 8:
            length = int(struct.unpack(">Q", data[:8])[0])
            data, wanted = data[8:], length
    return data


def serve_worker() -> None:
    """The worker's loop (:class:`MessageReader` starts it): frames of raw messages in on stdin, frames of
    ("ok", message) / ("error", why) / ("exit", why: out of memory, it stops) out on stdout."""
    memory_mb, trusted_authserv_id = int(sys.argv[1]), sys.argv[2] or None
    own = _address_space_bytes()
    if own is not None:
        limit = own + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # the answers go to the real stdout; anything a library prints goes to stderr, not into a frame
    sink = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    source = sys.stdin.buffer
    while True:
        head = source.read(8)
        if len(head) < 8:
            return
        raw = source.read(struct.unpack(">Q", head)[0])
        answer: tuple[str, object]
        try:
            answer = ("ok", read_message(raw, trusted_authserv_id=trusted_authserv_id))
        except UnreadableMessage as exc:
            answer = ("error", exc.message)
        except MemoryError:
            answer = ("exit", f"reading the message needed more than {memory_mb} MB of memory: it is not read")
        del raw
        frame = pickle.dumps(answer)
        sink.write(struct.pack(">Q", len(frame)) + frame)
        sink.flush()
        if answer[0] == "exit":
            return


def _address_space_bytes() -> int | None:
    """This process's virtual memory size (Linux), the base of its RLIMIT_AS."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
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
    text = _text_of(message, prefer_report=True)[: 4 * EXCERPT_SOURCE_CHARS]
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
        elif kind == "text/plain":
            # a non-standard bounce (qmail) quotes the returned message in its text
            ids += _MESSAGE_ID_LINE.findall(_decoded(part))
    own = _first_id(str(message.get("Message-ID", "")))
    return tuple(found for found in dict.fromkeys(ids) if found != own)


def _envelope_ids(message: Message) -> tuple[str, ...]:
    """The ``Original-Envelope-Id`` of every delivery-status part: the ENVID we gave in MAIL FROM (xtext)."""
    ids: list[str] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        for block in [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []:
            value = str(block.get("Original-Envelope-Id", "")).strip()
            if value:
                ids.append(xtext_decode(value))
    return tuple(dict.fromkeys(ids))


def xtext_decode(value: str) -> str:
    """RFC 3461 xtext (``+XX`` for "+", "=", controls, spaces) back to text (mail/transmit.py encodes ENVID so)."""
    return unquote_to_bytes(value.replace("%", "%25").replace("+", "%")).decode("utf-8", "replace")


# -- who vouches for the sender ------------------------------------------------------------------


def sender_authentication(message: Message, sender: str, trusted_authserv_id: str | None) -> str | None:
    """What the trusted receiving server says of the sender's domain, when it vouches for it.

    Only the topmost ``Authentication-Results`` header whose authserv-id is ``trusted_authserv_id``
    counts: the receiving server adds it on top of whatever the message carried (and is meant to
    remove forged ones with its own id, RFC 8601 §5). It vouches when it shows ``dmarc=pass`` for the
    From domain, or ``dkim=pass`` with a signing domain (``header.d``/``header.i``) of the sender's.
    """
    if not trusted_authserv_id or "@" not in sender:
        return None
    domain = sender.rpartition("@")[2]
    trusted = trusted_authserv_id.strip().lower()
    for value in message.get_all("Authentication-Results") or []:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(" ".join(str(value).split()))
        except Exception:  # authres raises its own SyntaxError and others on garbage: not the trusted one
            continue
        if str(header.authserv_id or "").lower() != trusted:
            continue
        for result in header.results:
            method, verdict = str(result.method).lower(), str(result.result).lower()
            props = {f"{p.type}.{p.name}".lower(): str(p.value or "").lower() for p in result.properties}
            if method == "dmarc" and verdict == "pass":
                from_domain = props.get("header.from", domain)
                if _same_domain(domain, from_domain):
                    return f"dmarc=pass header.from={from_domain} ({trusted})"
            if method == "dkim" and verdict == "pass":
                signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
                if signer and _same_domain(domain, signer):
                    return f"dkim=pass header.d={signer} ({trusted})"
        return None  # the topmost trusted header decides
    return None


def _same_domain(sender_domain: str, signer: str) -> bool:
    """The signer is the sender's domain or one it belongs to (DMARC's relaxed alignment, roughly)."""
    signer = signer.strip().strip(".")
    return bool(signer) and "." in signer and (sender_domain == signer or sender_domain.endswith("." + signer))


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
