"""A real SMTP server on loopback that keeps what it receives (tests and the demo).

>>> with SmtpSink() as sink:
...     ...  # send to sink.host:sink.port with security "none"
...     sink.messages[0].message["Subject"]

Faults can be injected to exercise the sender: :meth:`SmtpSink.refuse_recipient`,
:meth:`SmtpSink.fail_next` (temporary 4xx on DATA) and :meth:`SmtpSink.drop_next_connection`;
:meth:`SmtpSink.hold_next_data` keeps a message but holds its DATA reply until :meth:`SmtpSink.release_data`
(a test can kill the sender while it waits, not knowing whether the message left).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    # the DSN parameters of MAIL FROM (RFC 3461), as sent: ENVID (xtext), RET (FULL / HDRS)
    dsn: dict[str, str] = field(default_factory=dict)

    def viewable_html(self) -> str | None:
        """The HTML part as received, its ``cid:`` images written in as ``data:`` URIs (for a browser)."""
        return viewable_html(self.message)


def viewable_html(message: EmailMessage) -> str | None:
    """A received message's HTML part with the images it carries by ``cid:`` written in."""
    part = message.get_body(preferencelist=("html",))
    if not isinstance(part, EmailMessage):
        return None
    html = str(part.get_content())
    for inner in message.walk():
        cid = inner.get("Content-ID")
        payload = inner.get_payload(decode=True)
        if cid and inner.get_content_maintype() == "image" and isinstance(payload, bytes):
            data = base64.b64encode(payload).decode("ascii")
            html = html.replace(f"cid:{cid.strip('<>')}", f"data:{inner.get_content_type()};base64,{data}")
    return html


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (Controller does not accept port 0 everywhere)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


_DSN_MAIL_PARAMETERS = ("ENVID", "RET")


class _DsnSmtp(SMTP):
    """aiosmtpd offering the DSN extension (RFC 3461) as most SMTP servers do: EHLO says ``DSN`` and
    MAIL FROM takes ``ENVID`` and ``RET`` (kept as sent: aiosmtpd upper-cases the parameters it parses)."""

    async def smtp_MAIL(self, arg: str) -> None:
        words = (arg or "").split()
        dsn = {}
        for word in words[1:]:
            name, _, value = word.partition("=")
            if name.upper() in _DSN_MAIL_PARAMETERS and getattr(self, "dsn_offered", False):
                dsn[name.upper()] = value
        self.dsn_parameters = dsn
        kept = [w for w in words[1:] if w.partition("=")[0].upper() not in dsn]
        await super().smtp_MAIL(" ".join(words[:1] + kept))


class _DsnController(Controller):
    def factory(self) -> SMTP:
        return _DsnSmtp(self.handler, **self.SMTP_kwargs)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        server.dsn_offered = self._sink.offers_dsn
        return [*responses[:-1], "250-DSN", *responses[-1:]] if self._sink.offers_dsn else responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self._sink._take_drop():
            server.transport.close()
            return "421 4.3.2 closing connection (injected)"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.dsn = dict(getattr(server, "dsn_parameters", {}))
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        code = self._sink._refused_code(address)
        if code is not None:
            return f"{code} 5.1.1 <{address}>: recipient address rejected (injected)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        code = self._sink._take_failure()
        if code is not None:
            return f"{code} 4.3.0 try again later (injected)"
        raw = envelope.original_content or envelope.content
        self._sink._store(envelope.mail_from, list(envelope.rcpt_tos), bytes(raw), getattr(envelope, "dsn", {}))
        if self._sink._take_hold():
            # The message is kept (it arrived in full) but the client does not hear so until released.
            try:
                while not self._sink._released.is_set():
                    await asyncio.sleep(0.02)
            finally:
                with self._sink._lock:
                    self._sink.holding -= 1
        return "250 2.0.0 OK: queued"


class SmtpSink:
    """aiosmtpd on 127.0.0.1 and a free port; ``messages`` holds what arrived."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int | None = None, eml_dir: Path | None = None, dsn: bool = True
    ):
        self.host = host
        # EHLO offers DSN (RFC 3461: ENVID, RET in MAIL FROM); without it those parameters are refused (555)
        self.offers_dsn = dsn
        self.port = port or free_port(host)
        self.eml_dir = eml_dir
        self.messages: list[ReceivedMessage] = []
        self._lock = threading.Lock()
        self._refused: dict[str, int] = {}
        self._failures: list[int] = []
        self._drops = 0
        self._holds = 0
        self.holding = 0  # DATA replies held right now
        self._released = threading.Event()
        self._controller: Controller = _DsnController(_Handler(self), hostname=host, port=self.port)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._released.set()  # a held reply must not keep the server thread from stopping
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- fault injection --------------------------------------------------------------------------

    def refuse_recipient(self, address: str, code: int = 550) -> None:
        with self._lock:
            self._refused[address.lower()] = code

    def fail_next(self, n: int = 1, code: int = 451) -> None:
        """The next ``n`` messages get ``code`` after DATA (temporary by default)."""
        with self._lock:
            self._failures.extend([code] * n)

    def drop_next_connection(self) -> None:
        """The next MAIL FROM closes the connection, as a server dropping an idle client does."""
        with self._lock:
            self._drops += 1

    def hold_next_data(self, n: int = 1) -> None:
        """The next ``n`` messages are kept, but their DATA reply waits until :meth:`release_data`."""
        with self._lock:
            self._holds += n
            self._released.clear()

    def release_data(self) -> None:
        """Send the held DATA replies (250) now."""
        self._released.set()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self._refused.clear()
            self._failures.clear()
            self._drops = 0

    # -- called by the handler (server thread) ---------------------------------------------------

    def _refused_code(self, address: str) -> int | None:
        with self._lock:
            return self._refused.get(address.lower())

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _take_hold(self) -> bool:
        with self._lock:
            if self._holds:
                self._holds -= 1
                self.holding += 1
                return True
            return False

    def _take_drop(self) -> bool:
        with self._lock:
            if self._drops:
                self._drops -= 1
                return True
            return False

    def _store(self, mail_from: str, rcpt_tos: list[str], raw: bytes, dsn: dict[str, str]) -> None:
        parsed = message_from_bytes(raw, policy=policy.default)
        with self._lock:
            self.messages.append(ReceivedMessage(mail_from, rcpt_tos, parsed, raw, dict(dsn)))
            number = len(self.messages)
        if self.eml_dir is not None:
            self.eml_dir.mkdir(parents=True, exist_ok=True)
            (self.eml_dir / f"{number:04d}.eml").write_bytes(raw)
            html = viewable_html(parsed) if isinstance(parsed, EmailMessage) else None
            if html is not None:  # beside it, to open in a browser
                (self.eml_dir / f"{number:04d}.html").write_text(html, encoding="utf-8")


@contextmanager
def running_sink(eml_dir: Path | None = None) -> Iterator[SmtpSink]:
    """``with running_sink() as sink:`` — also the body of a pytest fixture (``yield from``)."""
    with SmtpSink(eml_dir=eml_dir) as sink:
        yield sink
