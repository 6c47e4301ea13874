"""An OAuth2 token endpoint on loopback, and an SMTP server that signs in by XOAUTH2 against it (tests, demo).

>>> with OAuthServer() as oauth, OAuthSmtpSink(oauth) as sink, DovecotServer(oauth=oauth) as imap:
...     ...  # [oauth2] provider = "microsoft", token_url = oauth.token_url, client_id/secret = oauth's

The endpoint (Starlette, served by uvicorn on a free port) issues random opaque tokens with an
``expires_in``: by the client-credentials grant (a client secret, sent in the form or by HTTP Basic), by a
refresh token, or by a JWT bearer assertion (a Google service account's, its subject the mailbox). Its
introspection URL (RFC 7662, POST or GET) says whether a token is active and for which mailbox: dovecot's
``oauth2`` passdb and :class:`OAuthSmtpSink` ask it at each sign-in. A test can make every token it gave
lapse (:meth:`OAuthServer.expire_tokens`), revoke one (:meth:`OAuthServer.revoke`), or revoke the app's
access altogether (:meth:`OAuthServer.revoke_client`: no new token, the old ones inactive).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dolirelance.testing.server import serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink, _Handler

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class IssuedToken:
    mailbox: str
    grant: str
    active: bool = True


class OAuthServer:
    """The token endpoint; ``mailbox`` is the mailbox the app was given (its tokens act as that mailbox)."""

    def __init__(
        self,
        *,
        client_id: str = "dolirelance-app",
        client_secret: str | None = None,
        mailbox: str = "relances@example.test",
        lifetime: int = 3600,
        refresh_token: str | None = None,
        service_account_email: str = "dolirelance@project.iam.example.test",
        certificate_pem: bytes | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or "app-secret-" + secrets.token_urlsafe(12)
        self.refresh_token = refresh_token or "refresh-" + secrets.token_urlsafe(16)
        self.mailbox = mailbox
        self.lifetime = lifetime
        self.service_account_email = service_account_email
        # the app's certificate (Microsoft's "certificate credential"): a client assertion signed by its key
        self.certificate_pem = certificate_pem
        self.tokens: dict[str, IssuedToken] = {}
        self.introspections = 0
        self.client_revoked = False
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self.base_url = ""

    # -- life ---------------------------------------------------------------------------------

    def __enter__(self) -> OAuthServer:
        self._stack = ExitStack()
        url = self._stack.enter_context(serve_in_thread(self.app()))
        self.base_url = url.removesuffix("/api/index.php")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/oauth2/introspect"

    # -- what a test does ---------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every token given so far lapses (as if its expires_in had passed); new ones are still given."""
        with self._lock:
            for token in self.tokens.values():
                token.active = False

    def revoke(self, token: str) -> None:
        with self._lock:
            if token in self.tokens:
                self.tokens[token].active = False

    def revoke_client(self) -> None:
        """The app's access is withdrawn: no new token (invalid_client), every token given inactive."""
        self.client_revoked = True
        self.expire_tokens()

    def issued(self) -> list[str]:
        with self._lock:
            return list(self.tokens)

    def is_active(self, token: str) -> IssuedToken | None:
        with self._lock:
            self.introspections += 1
            found = self.tokens.get(token)
            return found if found is not None and found.active else None

    # -- the endpoint -------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth2/token", self._token, methods=["POST"]),
                Route("/oauth2/introspect", self._introspect, methods=["GET", "POST"]),
            ]
        )

    async def _token(self, request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            mailbox = _assertion_subject(form.get("assertion", ""), issuer=self.service_account_email)
            if mailbox is None:
                return _error("invalid_grant", "the assertion is not a JWT from the service account", 400)
        else:
            client_id, secret = _client_credentials(request, form)
            if "client_assertion" in form:  # the app is named by the assertion (checked below)
                client_id = form.get("client_id") or self.client_id
            if self.client_revoked or client_id != self.client_id:
                return _error("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)
            if grant == "client_credentials" and "client_assertion" in form:
                if not self._assertion_signed_by_the_certificate(form["client_assertion"]):
                    return _error("invalid_client", "AADSTS700027: the client assertion's signature is invalid.", 401)
            elif grant == "client_credentials":
                if secret != self.client_secret:
                    return _error("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)
            elif grant == "refresh_token":
                if form.get("refresh_token") != self.refresh_token:
                    return _error("invalid_grant", "the refresh token is invalid or was revoked", 400)
            else:
                return _error("unsupported_grant_type", grant, 400)
            mailbox = self.mailbox
        token = "tok-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = IssuedToken(mailbox=mailbox, grant=grant)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime})

    def _assertion_signed_by_the_certificate(self, assertion: str) -> bool:
        """As Entra checks it: signed by the certificate's key, named by its x5t thumbprint, from the app, for us."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import RSAKey

        if self.certificate_pem is None:
            return False
        certificate = x509.load_pem_x509_certificate(self.certificate_pem)
        public = certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA1())).decode().rstrip("=")
        try:
            token = jwt.decode(assertion, RSAKey.import_key(public), algorithms=["RS256"])
        except (JoseError, ValueError):
            return False
        claims = token.claims
        return (
            token.header.get("x5t") == thumbprint
            and claims.get("iss") == claims.get("sub") == self.client_id
            and claims.get("aud") == self.token_url
        )

    async def _introspect(self, request: Request) -> Response:
        if request.method == "POST":
            token = (await _form(request)).get("token", "")
        else:
            token = request.query_params.get("token", "")
        found = self.is_active(token)
        if found is None:
            return JSONResponse({"active": False})
        return JSONResponse({"active": True, "username": found.mailbox, "token_type": "Bearer"})


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (without Starlette's optional python-multipart)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _error(code: str, description: str, status: int) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _assertion_subject(assertion: str, *, issuer: str) -> str | None:
    """The ``sub`` of a JWT bearer assertion from ``issuer`` (a fake: the signature is the client's business)."""
    try:
        claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "==="))
    except (IndexError, ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or claims.get("iss") != issuer or not claims.get("sub"):
        return None
    return str(claims["sub"])


# --------------------------------------------------------------------------- SMTP


class _OAuthHandler(_Handler):
    """The sink's handler, with AUTH XOAUTH2 checked against the token endpoint's introspection URL."""

    def __init__(self, sink: OAuthSmtpSink) -> None:
        super().__init__(sink)
        self._oauth_sink = sink

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:  # aiosmtpd finds it by this name
        sink = self._oauth_sink
        try:
            raw = base64.b64decode(args[1]) if len(args) > 1 else b""
            fields = dict(part.split("=", 1) for part in raw.decode("utf-8").split("\x01") if "=" in part)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 cannot decode the XOAUTH2 response")
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        async with httpx.AsyncClient() as client:
            answer = (await client.post(sink.oauth.introspection_url, data={"token": token})).json()
        if answer.get("active") is True and str(answer.get("username", "")).lower() == user.lower():
            sink.signed_in.append(user)
            return AuthResult(success=True, auth_data=user)
        sink.refused_tokens += 1
        # as Microsoft and Google do: an error challenge, then 535 once the client answered it
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")


class OAuthSmtpSink(SmtpSink):
    """:class:`SmtpSink` that takes mail only after AUTH XOAUTH2 with a token ``oauth`` says is active."""

    def __init__(self, oauth: OAuthServer, *, eml_dir: Path | None = None) -> None:
        super().__init__(eml_dir=eml_dir)
        self.oauth = oauth
        self.signed_in: list[str] = []
        self.refused_tokens = 0
        self._controller = Controller(
            _OAuthHandler(self),
            hostname=self.host,
            port=self.port,
            auth_required=True,
            auth_require_tls=False,  # loopback only
            auth_exclude_mechanism=["PLAIN", "LOGIN"],
        )
