"""DKIM signatures (``[smtp] dkim_key_file``) over the very bytes that are sent."""

from __future__ import annotations

from pathlib import Path

import dkim

from dolirelance.config import SmtpSettings
from dolirelance.domain import split_address
from dolirelance.errors import MailPermanentError

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
