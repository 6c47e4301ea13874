"""OAuth2 access tokens for the SMTP and IMAP sign-in (SASL XOAUTH2). Authlib lives only here.

Where the tokens come from (``[oauth2] provider``), every flow done by Authlib's httpx clients:

- ``microsoft``: the client-credentials flow of an Entra app registration (SMTP.SendAsApp,
  IMAP.AccessAsApp), authenticated by a client secret or by a certificate (a signed JWT assertion);
- ``google``: a service account with domain-wide delegation (a JWT bearer assertion whose subject is
  the mailbox: one token per mailbox), or a user account's refresh token;
- ``generic``: a refresh token when ``refresh_token_env`` is set, else the client-credentials flow.

A :class:`TokenSource` keeps the tokens in memory only, and asks for a new one before the one it holds
expires (a margin of 5 minutes, or half the token's life when that is shorter), so that a sign-in never
uses a token about to lapse. A token the mail server refused is forgotten (:meth:`TokenSource.forget`)
and the next sign-in asks for a new one. Tokens and secrets never reach a log, a repr or an error.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx  # only for its errors and transport type: the requests are Authlib's

with warnings.catch_warnings(record=True):  # Authlib sets its own "always" filter on import
    # Authlib 1.9 warns on import that its httpx client will move to "httpx2" (pyproject pins 1.9):
    # a note for us, not for the people running dolirelance, who would see it on every command
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AssertionClient, OAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

from dolirelance.config import OAuth2Settings
from dolirelance.errors import OAuthTokenError

log = logging.getLogger(__name__)

_MAX_MARGIN_SECONDS = 300.0
_DEFAULT_LIFETIME_SECONDS = 3600.0  # when the endpoint does not say (expires_in is only RECOMMENDED)

Service = Literal["SMTP", "IMAP"]


def xoauth2_response(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial client response (before base64), as Microsoft and Google document it."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


@dataclass(slots=True)
class _Held:
    """One token in memory; its value never shown."""

    value: str = field(repr=False)
    expires_at: float  # on the source's clock
    margin: float


class TokenSource:
    """Access tokens for the mailboxes dolirelance signs in to, fetched from ``[oauth2]``'s token endpoint.

    Thread-safe (SMTP and IMAP run in threads); one per process is enough (the runtime and ``doctor`` hold one).
    ``clock`` is monotonic seconds (tests advance it); ``transport`` reaches a token endpoint in-process.
    """

    def __init__(
        self,
        settings: OAuth2Settings,
        *,
        base_dir: Path = Path("."),
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._base_dir = base_dir
        self._clock = clock
        self._transport = transport
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}
        self._rotated_refresh_token: str | None = None
        self.fetched = 0  # tokens asked for so far (doctor, tests)

    def __repr__(self) -> str:
        return f"TokenSource(provider={self.settings.provider!r}, token_url={self.settings.effective_token_url!r})"

    @property
    def per_mailbox(self) -> bool:
        """Whether each mailbox has its own token (Google's domain-wide delegation), or one token serves all."""
        return self.settings.provider == "google" and self.settings.service_account_file is not None

    def token_for(self, mailbox: str) -> str:
        """A token valid for a while yet, to sign in to ``mailbox``; asks the endpoint when none is held."""
        key = mailbox.strip().lower() if self.per_mailbox else ""
        with self._lock:
            held = self._held.get(key)
            if held is not None and self._clock() < held.expires_at - held.margin:
                return held.value
            token = self._fetch(mailbox)
            lifetime = _lifetime(token)
            held = _Held(str(token["access_token"]), self._clock() + lifetime, min(_MAX_MARGIN_SECONDS, lifetime / 2))
            self._held[key] = held
            self.fetched += 1
            log.info("OAuth2: a token from %s, valid %d s", _host(self.settings.effective_token_url), int(lifetime))
            return held.value

    def forget(self, mailbox: str) -> None:
        """Drop the token held for ``mailbox`` (the server refused it): the next sign-in asks for a new one."""
        key = mailbox.strip().lower() if self.per_mailbox else ""
        with self._lock:
            self._held.pop(key, None)

    # -- the flows (Authlib) ----------------------------------------------------------------------------

    def _fetch(self, mailbox: str) -> dict[str, Any]:
        settings = self.settings
        url = settings.effective_token_url
        try:
            if settings.provider == "google" and settings.service_account_file is not None:
                return self._service_account_token(mailbox)
            refresh_token = self._rotated_refresh_token or _value(settings.resolved_refresh_token())
            with self._client() as client:
                if refresh_token is not None:
                    token = dict(client.refresh_token(url, refresh_token=refresh_token))
                    if token.get("refresh_token") and token["refresh_token"] != refresh_token:
                        self._rotated_refresh_token = str(token["refresh_token"])  # rotated: the old one is spent
                else:
                    token = dict(client.fetch_token(url, grant_type="client_credentials"))
        except OAuthError as exc:
            raise OAuthTokenError(
                f"the token endpoint {_host(url)} refused to give a token: {_said(exc.error, exc.description)}",
                remedy=endpoint_refusal_remedy(settings, str(exc.error or "")),
            ) from None
        except httpx.HTTPStatusError as exc:
            raise OAuthTokenError(
                f"the token endpoint {_host(url)} answered HTTP {exc.response.status_code}",
                remedy="the identity provider is having trouble: retry later",
                temporary=True,
            ) from None
        except httpx.HTTPError as exc:
            raise OAuthTokenError(
                f"cannot reach the token endpoint {_host(url)}: {type(exc).__name__}",
                remedy="check the network (and [oauth2] token_url, tenant_id); the follow-up can be retried",
                temporary=True,
            ) from None
        except ValueError as exc:  # not a JSON object, a bad key file...
            raise OAuthTokenError(
                f"no token from {_host(url)}: {str(exc)[:200]}", remedy="check [oauth2] token_url"
            ) from None
        if not token.get("access_token"):
            raise OAuthTokenError(
                f"the token endpoint {_host(url)} answered without an access token",
                remedy="check [oauth2] token_url: it must be the provider's OAuth2 token endpoint",
            )
        return token

    def _client(self) -> OAuth2Client:
        settings = self.settings
        secret = _value(settings.resolved_client_secret())
        auth_method: str | PrivateKeyJWT = "client_secret_post"
        if settings.certificate_file is not None:
            private_key, thumbprint = _certificate(self._base_dir / settings.certificate_file)
            secret = private_key
            # Entra identifies the certificate by the x5t header (its SHA-1 thumbprint)
            auth_method = PrivateKeyJWT(settings.effective_token_url, headers={"x5t": thumbprint}, alg="RS256")
        elif secret is None:
            auth_method = "none"  # a public client with a refresh token
        return OAuth2Client(
            client_id=settings.client_id,
            client_secret=secret,
            token_endpoint_auth_method=auth_method,
            scope=settings.effective_scope,
            timeout=settings.timeout,
            transport=self._transport,
        )

    def _service_account_token(self, mailbox: str) -> dict[str, Any]:
        settings = self.settings
        assert settings.service_account_file is not None
        path = self._base_dir / settings.service_account_file
        try:
            account = json.loads(path.read_text(encoding="utf-8"))
            issuer, key = str(account["client_email"]), str(account["private_key"])
            key_id = str(account.get("private_key_id", ""))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = f"no key {exc}" if isinstance(exc, KeyError) else type(exc).__name__
            raise OAuthTokenError(
                f"cannot read the service account file {path} ({reason})",
                remedy="set [oauth2] service_account_file to the JSON key downloaded from Google Cloud "
                "(IAM > Service accounts > Keys > Add key > JSON)",
            ) from None
        url = settings.token_url or str(account.get("token_uri") or settings.effective_token_url)
        header = {"alg": "RS256", **({"kid": key_id} if key_id else {})}
        with AssertionClient(
            token_endpoint=url,
            issuer=issuer,
            subject=mailbox,  # domain-wide delegation: the token acts as this mailbox
            audience=url,
            claims={"scope": settings.effective_scope},
            key=key,
            header=header,
            timeout=settings.timeout,
            transport=self._transport,
        ) as client:
            return dict(client.refresh_token())


@functools.lru_cache(maxsize=8)
def shared_token_source(settings: OAuth2Settings, base_dir: Path) -> TokenSource:
    """The process's token source for these settings: the daemon's passes (each with its own runtime) reuse
    the tokens it holds instead of asking for new ones every few minutes."""
    return TokenSource(settings, base_dir=base_dir)


def endpoint_refusal_remedy(settings: OAuth2Settings, error: str) -> str:
    """What to check when the token endpoint refuses (by its OAuth2 ``error`` code)."""
    if settings.provider == "microsoft":
        if error in ("invalid_client", "unauthorized_client"):
            return (
                "check in Entra (App registrations) that [oauth2] tenant_id and client_id are the app's, and that "
                "its client secret (client_secret_env) has not expired, or its certificate is uploaded"
            )
        return (
            "check [oauth2] scope (https://outlook.office365.com/.default), and that the app has the API "
            "permissions SMTP.SendAsApp / IMAP.AccessAsApp of Office 365 Exchange Online with admin consent"
        )
    if settings.provider == "google" and settings.service_account_file is not None:
        return (
            "check that the service account's client ID is listed in the Google Admin console (Security > "
            "API controls > Domain-wide delegation) with the scope https://mail.google.com/, and that the "
            "username is a mailbox of the domain"
        )
    if error == "invalid_grant":
        return (
            "the refresh token (refresh_token_env) was revoked or has expired: sign in again with the "
            "provider's consent screen to get a new one"
        )
    return "check [oauth2] client_id, the client secret (client_secret_env), token_url and scope"


def server_refusal_remedy(settings: OAuth2Settings, service: Service) -> str:
    """What to check when the mail server refuses a token the endpoint gave."""
    if settings.provider == "microsoft":
        permission = "SMTP.SendAsApp" if service == "SMTP" else "IMAP.AccessAsApp"
        grant = (
            "Add-MailboxPermission -AccessRights FullAccess and Add-RecipientPermission -AccessRights SendAs, "
            "and that SMTP AUTH is enabled for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false)"
            if service == "SMTP"
            else "Add-MailboxPermission -AccessRights FullAccess"
        )
        return (
            f"check that the Entra app has the API permission {permission} (Office 365 Exchange Online) with "
            "admin consent; that Exchange Online knows its service principal (New-ServicePrincipal) and gave "
            f"it the mailbox ({grant}); and that [oauth2] scope is https://outlook.office365.com/.default"
        )
    if settings.provider == "google":
        return (
            "check that the scope is https://mail.google.com/, that the username is the mailbox the token was "
            f"made for, and that {service} access is allowed for it in the Google Admin console"
        )
    return f"check [oauth2] scope and that the token's user is the {service} username"


def _certificate(path: Path) -> tuple[str, str]:
    """The private key (PEM) and the certificate's x5t thumbprint, from one PEM file holding both."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    remedy = "set [oauth2] certificate_file to a PEM file with the app's certificate and its private key"
    try:
        data = path.read_bytes()
        certificate = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise OAuthTokenError(f"cannot read the certificate {path} ({type(exc).__name__})", remedy=remedy) from None
    der = certificate.public_bytes(serialization.Encoding.DER)
    # x5t is the SHA-1 thumbprint by definition (RFC 7515)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode("ascii").rstrip("=")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return pem, thumbprint


def _value(secret: Any) -> str | None:
    return None if secret is None else str(secret.get_secret_value())


def _lifetime(token: dict[str, Any]) -> float:
    try:
        seconds = float(token.get("expires_in") or _DEFAULT_LIFETIME_SECONDS)
    except (TypeError, ValueError):
        seconds = _DEFAULT_LIFETIME_SECONDS
    return max(seconds, 1.0)


def _host(url: str) -> str:
    """The endpoint as shown: scheme, host and path, never a query (which could hold a secret)."""
    return url.split("?", 1)[0]


def _said(error: object, description: object) -> str:
    text = str(error or "error")
    if description:
        text += f" ({str(description)[:300]})"
    return text
