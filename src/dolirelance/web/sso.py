"""Arriving signed in from Dolibarr: the Dolibarr module's signed token, accepted once in place of the password.

The module (``dolibarr_module/dolirelance/go.php``, ``class/DolirelanceToken.php``) posts, when a user
clicks « Relancer par e-mail » on a quote or a menu entry, the fields ``v login quote to exp nonce iv key
sig``:

- ``sig``: HMAC-SHA256 (hex) over ``"dolirelance-sso\\n" + v, login, quote, to, exp, nonce, iv, key`` joined
  by line feeds, with a key derived from the secret both sides share (Dolibarr's constant
  ``DOLIRELANCE_SSO_SECRET``, here the variable ``[web] dolibarr_sso_secret_env`` names);
- ``exp``: Unix time, in the future and at most :data:`MAX_LIFETIME` seconds ahead; each ``nonce`` is
  accepted once (:class:`NonceStore`, bounded: when full of live nonces, tokens are refused);
- ``key``: the user's own Dolibarr API key, AES-256-GCM encrypted with another derived key (the login and
  the nonce as associated data), so that the session acts with that user's rights, exactly as after a
  password login; the key's user must be the token's login. Empty when the user has no key yet: they
  log in once with their password (Dolibarr makes the key then).

Anything wrong is refused like a wrong password (:class:`SsoRefused`, its reason for the log only).
:func:`sign_token` is the Python twin of the PHP signer: the tests sign with it, and both sides check
the same vectors (``tests/fixtures/sso-tokens.json``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dolirelance.config import WebSettings

log = logging.getLogger(__name__)

VERSION = "1"
MAX_LIFETIME = 120  # seconds: the module's tokens live 90, the rest allows for clocks apart
MIN_SECRET_LENGTH = 32
FIELDS = ("v", "login", "quote", "to", "exp", "nonce", "iv", "key", "sig")
_SIGNED = FIELDS[:-1]
_NONCE = re.compile(r"[0-9a-f]{32}")
_HEX_SIG = re.compile(r"[0-9a-f]{64}")
_MAX_FIELD = 4096

# The page of dolirelance each target opens, and whether it is about one quote.
TARGETS: dict[str, tuple[str, bool]] = {
    "email": ("/quotes/{quote}/followup?channel=email", True),
    "letter": ("/quotes/{quote}/followup?channel=letter", True),
    "preview": ("/quotes/{quote}/followup", True),
    "followups": ("/quotes/{quote}/followups", True),
    "new": ("/followup/new", False),
    "mass": ("/mass", False),
    "todo": ("/todo", False),
    "report": ("/report", False),
}


class SsoRefused(Exception):
    """The token is not one to accept; the reason goes to the log, the user sees a failed login."""


@dataclass(frozen=True)
class SsoClaim:
    """What a valid token says: who, about which quote, to open which page, with which API key."""

    login: str
    quote_id: int
    target: str
    api_key: str | None = field(repr=False)  # None: the user has no API key in Dolibarr yet

    @property
    def path(self) -> str:
        return target_path(self.target, self.quote_id)


def target_path(target: str, quote_id: int) -> str:
    """The page a target opens ("/mass" for an unknown one)."""
    template, about_quote = TARGETS.get(target, ("/mass", False))
    if about_quote and quote_id <= 0:
        return "/mass"
    return template.format(quote=quote_id)


def requested_path(fields: Mapping[str, str]) -> str:
    """The page a token asks for, read without trusting it (where the login page leads afterwards)."""
    quote = fields.get("quote", "")
    return target_path(fields.get("to", ""), int(quote) if quote.isdigit() and len(quote) < 12 else 0)


def _derived(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def _signed_text(fields: Mapping[str, str]) -> bytes:
    return "\n".join(["dolirelance-sso", *(fields.get(name, "") for name in _SIGNED)]).encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(
    secret: bytes,
    *,
    login: str,
    quote_id: int,
    target: str,
    api_key: str,
    now: int,
    lifetime: int = 90,
    nonce: str | None = None,
    iv: bytes | None = None,
) -> dict[str, str]:
    """The fields the Dolibarr module posts (the same bytes as ``DolirelanceToken::sign`` for the same inputs)."""
    nonce = nonce or secrets.token_hex(16)
    iv = iv or os.urandom(12)
    key = ""
    if api_key:
        aead = AESGCM(_derived(secret, b"dolirelance-sso-encrypt"))
        key = _b64url(aead.encrypt(iv, api_key.encode("utf-8"), f"{login}\n{nonce}".encode()))
    fields = {"v": VERSION, "login": login, "quote": str(quote_id), "to": target, "exp": str(now + lifetime),
              "nonce": nonce, "iv": _b64url(iv), "key": key}  # fmt: skip
    sign_key = _derived(secret, b"dolirelance-sso-sign")
    fields["sig"] = hmac.new(sign_key, _signed_text(fields), hashlib.sha256).hexdigest()
    return fields


class NonceStore:
    """The nonces already used, each kept until its token expires; at most ``capacity`` at once."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._expiry: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    def use(self, nonce: str, expires_at: float, now: float) -> None:
        """Remember ``nonce``; :class:`SsoRefused` when it was used already or when the store is full."""
        if nonce in self._expiry and self._expiry[nonce] > now:
            raise SsoRefused("token replayed (nonce already used)")
        if len(self._expiry) >= self.capacity:
            self._expiry = {seen: until for seen, until in self._expiry.items() if until > now}
            if len(self._expiry) >= self.capacity:  # fail closed: forgetting a live nonce would allow a replay
                raise SsoRefused(f"too many signed tokens in {MAX_LIFETIME} s (more than {self.capacity})")
        self._expiry[nonce] = expires_at


class SsoVerifier:
    """Checks the Dolibarr module's tokens against the shared secret."""

    def __init__(self, secret: bytes, *, nonces: NonceStore | None = None) -> None:
        self._sign_key = _derived(secret, b"dolirelance-sso-sign")
        self._aead = AESGCM(_derived(secret, b"dolirelance-sso-encrypt"))
        self.nonces = nonces or NonceStore()

    def __repr__(self) -> str:  # never the keys
        return f"SsoVerifier(nonces={len(self.nonces)})"

    def verify(self, fields: Mapping[str, str], now: float) -> SsoClaim:
        for name in FIELDS:
            value = fields.get(name, "")
            if len(value) > _MAX_FIELD or "\n" in value or "\r" in value:
                raise SsoRefused(f"field {name} malformed")
        if fields.get("v") != VERSION:
            raise SsoRefused(f"token version {fields.get('v', '')[:8]!r} unknown")
        sig = fields.get("sig", "")
        expected = hmac.new(self._sign_key, _signed_text(fields), hashlib.sha256).hexdigest()
        if not _HEX_SIG.fullmatch(sig) or not hmac.compare_digest(sig, expected):
            raise SsoRefused("bad signature (not signed with the shared secret)")
        login, quote, target, exp = fields["login"], fields["quote"], fields["to"], fields["exp"]
        if not login or not quote.isdigit() or not exp.isdigit() or target not in TARGETS:
            raise SsoRefused("token fields malformed")
        expires_at = int(exp)
        if expires_at <= now:
            raise SsoRefused(f"token expired {int(now - expires_at)} s ago")
        if expires_at > now + MAX_LIFETIME:
            raise SsoRefused(f"token valid for {int(expires_at - now)} s, more than {MAX_LIFETIME} s")
        nonce = fields["nonce"]
        if not _NONCE.fullmatch(nonce):
            raise SsoRefused("nonce malformed")
        self.nonces.use(nonce, expires_at, now)
        api_key: str | None = None
        if fields["key"]:
            try:
                associated = f"{login}\n{nonce}".encode()
                plain = self._aead.decrypt(_unb64url(fields["iv"]), _unb64url(fields["key"]), associated)
                api_key = plain.decode("utf-8")
            except (InvalidTag, ValueError) as exc:
                raise SsoRefused(f"API key not decryptable ({type(exc).__name__})") from None
        quote_id = int(quote)
        if TARGETS[target][1] and quote_id <= 0:
            raise SsoRefused(f"page {target} needs a quote")
        return SsoClaim(login=login, quote_id=quote_id, target=target, api_key=api_key)


def sso_verifier(settings: WebSettings) -> SsoVerifier | None:
    """The verifier of the secret ``[web] dolibarr_sso_secret_env`` names; None (password only) without one."""
    name = settings.dolibarr_sso_secret_env
    if not name:
        return None
    secret = os.environ.get(name, "")
    if len(secret) < MIN_SECRET_LENGTH:
        log.warning(
            "the environment variable %s is %s: arriving signed in from Dolibarr is off (the module's setup "
            "page makes a secret: copy it into %s)",
            name, "not set" if not secret else f"shorter than {MIN_SECRET_LENGTH} characters", name,
        )  # fmt: skip
        return None
    return SsoVerifier(secret.encode("utf-8"))


def login_page_for(fields: Mapping[str, str]) -> str:
    """The login page, leading afterwards to the page the token asked for."""
    return "/login?" + urlencode({"next": requested_path(fields)})
