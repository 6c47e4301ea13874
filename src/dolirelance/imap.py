"""The replies mailbox over IMAP (``imap-tools``): list new messages, read one, flag or move it.

Blocking (imaplib underneath): the service calls it off the event loop. Messages are read with
``BODY.PEEK[]`` so reading never marks them seen: the sales person still finds them unread. Their
size is asked first (``RFC822.SIZE``), and every fetch is a partial one (``BODY.PEEK[]<0.n>``): a
message over ``[imap] max_message_kb`` is never fetched whole, whatever size the server announced.
A processed message gets the keyword :data:`PROCESSED_KEYWORD` (``processed = "flag"``) or is moved
to ``processed_folder`` (``processed = "move"``); listing leaves out what carries the keyword.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import imap_tools
from imap_tools import AND, NOT
from imap_tools.errors import MailboxLoginError, UnexpectedCommandStatusError

from dolirelance.config import ImapSettings
from dolirelance.errors import MailboxError, OAuthTokenError

if TYPE_CHECKING:
    from dolirelance.oauth import TokenSource

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$DolirelanceDone"
_ERRORS = (imaplib.IMAP4.error, OSError, ssl.SSLError, socket.timeout, UnexpectedCommandStatusError)


_SIZE = re.compile(rb"RFC822\.SIZE\s+(\d+)", re.IGNORECASE)
# The header fetched of a message too big to read: enough for its Message-ID, In-Reply-To and References.
HEADER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class TooBig:
    """A message over the size limit: not fetched; its first ``HEADER_BYTES`` of header only."""

    size: int
    header: bytes


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    uids: tuple[int, ...]  # messages still to look at, oldest first


def mailbox_name(settings: ImapSettings) -> str:
    """How the ledger names this mailbox: who reads which folder where (no secret)."""
    return f"{settings.username}@{settings.host}:{settings.effective_port}/{settings.folder}"


class RepliesMailbox:
    """One IMAP session on the configured folder (a context manager)."""

    def __init__(self, settings: ImapSettings, *, tokens: TokenSource | None = None) -> None:
        self.settings = settings
        self._tokens = tokens  # for auth = "oauth2"
        self._box: imap_tools.BaseMailBox | None = None

    def __enter__(self) -> RepliesMailbox:
        settings = self.settings
        where = f"{settings.host}:{settings.effective_port}"
        try:
            box: imap_tools.BaseMailBox
            if settings.security == "tls":
                box = imap_tools.MailBox(settings.host, settings.effective_port, timeout=settings.timeout)
            elif settings.security == "starttls":
                box = imap_tools.MailBoxStartTls(settings.host, settings.effective_port, timeout=settings.timeout)
            else:
                box = imap_tools.MailBoxUnencrypted(settings.host, settings.effective_port, timeout=settings.timeout)
        except _ERRORS as exc:
            raise MailboxError(
                f"cannot reach the replies mailbox at {where} ({settings.security}): {exc}",
                remedy="check [imap] host, port and security in dolirelance.toml (993 for tls, 143 for starttls)",
            ) from None
        try:
            if settings.auth == "oauth2":
                self._sign_in_oauth2(box, where)
            else:
                box.login(settings.username, settings.resolved_password().get_secret_value())
        except MailboxError:
            _logout_quietly(box)
            raise
        except MailboxLoginError:
            _logout_quietly(box)
            raise MailboxError(
                f"the replies mailbox at {where} refused the login of {settings.username}",
                remedy="check [imap] username and the password in the environment variable named by password_env "
                "(many providers need an app password for IMAP)",
            ) from None
        except _ERRORS as exc:
            _logout_quietly(box)
            raise MailboxError(f"cannot log into the replies mailbox at {where}: {exc}") from None
        self._box = box
        try:
            if not box.folder.exists(settings.folder):
                raise MailboxError(
                    f"the replies mailbox has no folder {settings.folder!r}",
                    remedy="set [imap] folder to an existing folder (INBOX by default)",
                )
        except _ERRORS as exc:
            self.__exit__(None, None, None)
            raise MailboxError(f"cannot read the folders of the replies mailbox: {exc}") from None
        except MailboxError:
            self.__exit__(None, None, None)
            raise
        return self

    def _sign_in_oauth2(self, box: imap_tools.BaseMailBox, where: str) -> None:
        """AUTHENTICATE XOAUTH2 with a token from ``[oauth2]``; a refused token is dropped and a new one tried
        once (it may have expired or been revoked early), then the refusal says what to check."""
        from dolirelance.oauth import server_refusal_remedy, xoauth2_response

        user, tokens = self.settings.username, self._tokens
        if tokens is None:
            raise MailboxError('[imap] auth = "oauth2" but no token source was given',
                               remedy="add an [oauth2] table to dolirelance.toml")  # fmt: skip
        for attempt in (1, 2):
            try:
                token = tokens.token_for(user)
            except OAuthTokenError as exc:
                raise MailboxError(f"no OAuth2 token to sign in to the replies mailbox at {where}: {exc.message}",
                                   remedy=exc.remedy) from None  # fmt: skip
            try:
                status, data = box.client.authenticate("XOAUTH2", _XOAuth2Answers(xoauth2_response(user, token)))
                said = " ".join(_text(item) for item in data)
            except imaplib.IMAP4.error as exc:
                status, said = "NO", str(exc)
            if status == "OK":
                return
            if "[UNAVAILABLE]" in said:  # RFC 5530: the server could not check the token now
                raise MailboxError(
                    f"the replies mailbox at {where} could not check the OAuth2 token now: {said[:200]}",
                    remedy="a temporary failure on the server's side: the next reading tries again",
                )
            tokens.forget(user)
            if attempt == 2:
                raise MailboxError(
                    f"the replies mailbox at {where} refused the OAuth2 token for {user}: {said[:200]}",
                    remedy=server_refusal_remedy(tokens.settings, "IMAP"),
                )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._box is not None:
            _logout_quietly(self._box)
            self._box = None

    @property
    def box(self) -> imap_tools.BaseMailBox:
        assert self._box is not None, "use RepliesMailbox as a context manager"
        return self._box

    def new_messages(self) -> FolderState:
        """The folder's UIDVALIDITY and the UIDs of the messages not flagged as processed."""
        folder = self.settings.folder
        try:
            self.box.folder.set(folder)
            uidvalidity = int(self.box.folder.status(folder, ["UIDVALIDITY"])["UIDVALIDITY"])
            criteria = AND(NOT(keyword=PROCESSED_KEYWORD)) if self.settings.processed == "flag" else AND(all=True)
            uids = sorted(int(uid) for uid in self.box.uids(criteria))
        except _ERRORS as exc:
            raise MailboxError(f"cannot list the messages of {folder!r} in the replies mailbox: {exc}") from None
        return FolderState(uidvalidity, tuple(uids))

    def read(self, uid: int) -> bytes | TooBig | None:
        """The raw message, or :class:`TooBig` when over ``max_message_kb`` (None when it is gone),
        without marking it seen."""
        limit = self.settings.max_message_kb * 1024
        sizes = self._fetch(uid, "(RFC822.SIZE)")
        if not sizes:
            return None
        found = next((m for m in (_SIZE.search(_head(item)) for item in sizes) if m), None)
        size = int(found.group(1)) if found else 0
        if size <= limit:
            # partial: a server announcing less than it holds still gives at most limit + 1 bytes
            raw = _literal(self._fetch(uid, f"(BODY.PEEK[]<0.{limit + 1}>)"))
            if raw is None or len(raw) <= limit:
                return raw
            size = max(size, len(raw))
        header = _literal(self._fetch(uid, f"(BODY.PEEK[HEADER]<0.{HEADER_BYTES}>)"))
        return TooBig(size, header or b"")

    def _fetch(self, uid: int, items: str) -> list[object]:
        try:
            status, data = self.box.client.uid("FETCH", str(uid), items)
        except _ERRORS as exc:
            raise MailboxError(f"cannot read message {uid} of the replies mailbox: {exc}") from None
        if status != "OK":
            raise MailboxError(f"the replies mailbox refused to give message {uid}: {data!r:.200}")
        return [item for item in data if item is not None]

    def mark_processed(self, uid: int) -> None:
        """Flag the message (keyword) or move it to the processed folder, as configured."""
        settings = self.settings
        try:
            if settings.processed == "move":
                if not self.box.folder.exists(settings.processed_folder):
                    self.box.folder.create(settings.processed_folder)
                self.box.move(str(uid), settings.processed_folder)
            else:
                self.box.flag(str(uid), PROCESSED_KEYWORD, True)
        except _ERRORS as exc:
            raise MailboxError(
                f"cannot {'move' if settings.processed == 'move' else 'flag'} message {uid} of the replies "
                f"mailbox: {exc}",
                remedy="its record is in Dolibarr already; the next run marks it (check the mailbox's rights)",
            ) from None


class _XOAuth2Answers:
    """imaplib's authenticator: the credentials first, then an empty line for the server's error challenge."""

    def __init__(self, response: str) -> None:
        self._pending = [response.encode("utf-8")]

    def __call__(self, challenge: bytes) -> bytes:
        return self._pending.pop() if self._pending else b""


def _text(item: object) -> str:
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)


def _head(item: object) -> bytes:
    """The response line of a FETCH item (a literal comes as (line, bytes))."""
    if isinstance(item, tuple) and item and isinstance(item[0], bytes):
        return item[0]
    return item if isinstance(item, bytes) else b""


def _literal(data: list[object]) -> bytes | None:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _logout_quietly(box: imap_tools.BaseMailBox) -> None:
    try:
        box.logout()
    except _ERRORS as exc:  # the session is over either way
        log.debug("IMAP logout failed: %s", exc)
