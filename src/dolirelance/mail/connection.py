"""One signed-in SMTP connection: TLS as ``[smtp] security`` asks, the login by password or by XOAUTH2."""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import TYPE_CHECKING

from dolirelance.config import SmtpSettings
from dolirelance.errors import MailError, MailPermanentError, MailTemporaryError, OAuthTokenError
from dolirelance.mail.refusals import reply_error, reply_text

if TYPE_CHECKING:
    from dolirelance.oauth import TokenSource


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
            f"the SMTP server {where} refused the login of {smtp.username}: "
            f"{exc.smtp_code} {reply_text(exc.smtp_error)}",
            remedy="check smtp.username and the password (smtp.password_env)",
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailPermanentError(
            f"the SMTP server {where} does not support what we asked: {exc}",
            remedy='set smtp.security to "none", "starttls" or "tls" as your provider documents',
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise reply_error(exc.smtp_code, exc.smtp_error, f"connecting to {where}") from None
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
                    f"{exc.smtp_code} {reply_text(exc.smtp_error)}",
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
        greeting = reply_text(text).splitlines()[0] if text else ""
        return f"{code} {greeting}".strip()
    finally:
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()
