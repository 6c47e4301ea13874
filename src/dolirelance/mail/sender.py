"""A batch of messages over one SMTP connection: paced, retried, reconnected once, every failure classified."""

from __future__ import annotations

import contextlib
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING

from dolirelance.config import SMTP_RETRY_WAITS, SmtpSettings
from dolirelance.errors import (
    DolirelanceError,
    MailError,
    MailPermanentError,
    MailTemporaryError,
    MailUncertain,
)
from dolirelance.mail.connection import open_connection
from dolirelance.mail.message import envelope_recipients
from dolirelance.mail.refusals import UNCERTAIN_REMEDY
from dolirelance.mail.signing import DkimSigner
from dolirelance.mail.transmit import data_payload, transmit

if TYPE_CHECKING:
    from dolirelance.oauth import TokenSource


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
                    remedy=UNCERTAIN_REMEDY,
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
        payload = data_payload(message, self._dkim)
        envelope_id = str(message["Message-ID"] or "").strip()
        reconnected = False
        while True:
            connection = self._connect()
            try:
                transmit(connection, payload, sender, recipients, on_content=self._content_sent,
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
