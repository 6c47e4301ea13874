"""The mail sections: ``[smtp]``, ``[imap]``, ``[oauth2]`` and ``[email]`` (the look of HTML e-mails)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from dolirelance.config.secrets import resolve_secret
from dolirelance.config.values import Address, AsciiSecret, Section, check_address
from dolirelance.errors import ConfigError, ConfigProblem

# The SMTP sender's waits between two attempts of one message (the last one repeats).
SMTP_RETRY_WAITS = (1.0, 3.0, 10.0)


class SmtpSettings(Section):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    # "password": username + password (AUTH PLAIN/LOGIN); "oauth2": SASL XOAUTH2 with a token from [oauth2].
    auth: Literal["password", "oauth2"] = "password"
    username: str | None = None
    password: AsciiSecret | None = None  # smtplib sends AUTH in ASCII only
    password_env: str | None = None
    timeout: float = Field(30.0, gt=0, le=600)
    sender: Address = Field(description='From address, e.g. "Solaire Rhône-Alpes <devis@example.fr>"')
    # "user": the display name is the sending user's ("Julie Dupont <devis@...>"); "fixed": as written.
    sender_display_name: Literal["user", "fixed"] = "fixed"
    bcc: list[str] = Field(default_factory=list)
    rate_limit_per_minute: int = Field(60, ge=0, description="0 = no limit")
    max_retries: int = Field(2, ge=0, le=10)
    # DKIM signature for relays that do not sign: a PEM private key file (relative to this file),
    # the selector published in DNS (<selector>._domainkey.<domain>), the domain (the sender's by default).
    dkim_key_file: Path | None = None
    dkim_selector: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    dkim_domain: str | None = Field(None, pattern=r"^[A-Za-z0-9.-]{1,253}$")

    @field_validator("bcc")
    @classmethod
    def _bcc_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            check_address(address)
        return value

    @model_validator(mode="after")
    def _dkim_complete(self) -> SmtpSettings:
        if self.dkim_key_file is not None and not self.dkim_selector:
            raise ValueError("dkim_key_file is set: set dkim_selector too (the name published in DNS)")
        return self

    @model_validator(mode="after")
    def _oauth2_user(self) -> SmtpSettings:
        if self.auth == "oauth2" and not self.username:
            raise ValueError('auth = "oauth2": set username to the mailbox that sends (e.g. "devis@example.fr")')
        return self

    def resolved_password(self) -> SecretStr | None:
        if self.auth == "oauth2":
            return None
        return resolve_secret(self.password, self.password_env, key="smtp.password")

    def turn_seconds(self) -> float:
        """The longest one message can hold the SMTP connection: pacing, every attempt, the waits between."""
        pacing = 60.0 / self.rate_limit_per_minute if self.rate_limit_per_minute > 0 else 0.0
        waits = sum(SMTP_RETRY_WAITS[min(i, len(SMTP_RETRY_WAITS) - 1)] for i in range(self.max_retries))
        # an attempt that stalls stalls on one exchange, which `timeout` ends
        return (self.max_retries + 1) * (pacing + self.timeout) + waits


_COLOR = r"^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$"


class EmailSettings(Section):
    """The look of HTML e-mails."""

    # The logo at the top of HTML e-mails (relative to this file); [letter] logo by default.
    logo: Path | None = None
    brand_color: str = Field("#1f5f8b", pattern=_COLOR)  # the line under the logo, links, the footer's name
    text_color: str = Field("#222222", pattern=_COLOR)
    # Signature images from these hosts stay remote images; any other remote image is removed.
    allowed_image_hosts: list[str] = Field(default_factory=list)
    # Who a customer's "Reply" goes to: the sales person, the replies mailbox ([imap] address), or both
    # (several addresses in Reply-To). Unset: "both" when [imap] is set, else the sales person.
    reply_to: Literal["both", "sales_person", "mailbox"] | None = None

    @field_validator("allowed_image_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.match(r"^[A-Za-z0-9.-]{1,253}$", host):
                raise ValueError(f'{host[:60]!r} is not a host name like "www.example.fr" (no scheme, no path)')
        return [host.lower() for host in value]


class ImapSettings(Section):
    """The mailbox where customers' replies and bounces arrive (the Reply-To of our e-mails)."""

    host: str
    port: int | None = Field(None, ge=1, le=65535)  # None: 993 with tls, 143 otherwise
    security: Literal["none", "starttls", "tls"] = "tls"
    # "password": LOGIN with username + password; "oauth2": SASL XOAUTH2 with a token from [oauth2].
    auth: Literal["password", "oauth2"] = "password"
    username: str
    password: AsciiSecret | None = None
    password_env: str | None = None
    # The mailbox's own e-mail address: our e-mails' Reply-To names it so that replies reach it.
    address: Address | None = None
    folder: str = "INBOX"
    # What becomes of a message once Dolibarr holds its record: a keyword on it, or a move to a folder.
    processed: Literal["flag", "move"] = "flag"
    processed_folder: str = "dolirelance/traités"
    timeout: float = Field(30.0, gt=0, le=600)
    # `serve` reads the mailbox every so many minutes (0: only `dolirelance replies --once`).
    every_minutes: int = Field(5, ge=0, le=1440)
    # A sender matches a follow-up by address (no In-Reply-To) only within this many days of it.
    match_days: int = Field(90, ge=1, le=3650)
    # A message over this size is never fetched whole: reported, its header only read (10 MB by default).
    max_message_kb: int = Field(10240, ge=16, le=1024 * 1024)
    # Each message is parsed in a worker process limited to this much more memory and this long.
    read_memory_mb: int = Field(192, ge=32, le=4096)
    read_seconds: float = Field(20.0, gt=0, le=600)
    # The authserv-id of the replies mailbox's own receiving server (its Authentication-Results headers
    # are believed, no other's): a reply matched only by sender and subject counts when it shows DMARC
    # or DKIM pass for the sender's domain. None: such a reply is never believed (a person checks it).
    trusted_authserv_id: str | None = Field(None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _password_given(self) -> ImapSettings:
        if self.auth == "oauth2":
            return self
        if (self.password is None or not self.password.get_secret_value()) and not self.password_env:
            raise ValueError(
                "set password_env (the environment variable holding the IMAP password) or password, "
                'or auth = "oauth2" with an [oauth2] table'
            )
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)

    def resolved_password(self) -> SecretStr:
        secret = resolve_secret(self.password, self.password_env, key="imap.password")
        if secret is None:  # auth = "oauth2": no password; _password_given checked the other case
            raise ConfigError(
                [ConfigProblem("configuration", None, "imap.password", 'auth = "oauth2" signs in without a password')]
            )
        return secret


REPLY_TO_REMEDY = (
    'set [imap] address to the replies mailbox\'s e-mail address and [email] reply_to = "both" (or "mailbox")'
)
_MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
_GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
DEFAULT_SCOPES = {
    "microsoft": "https://outlook.office365.com/.default",
    "google": "https://mail.google.com/",
}


class OAuth2Settings(Section):
    """``[oauth2]``: where the tokens come from when ``[smtp]`` or ``[imap]`` has ``auth = "oauth2"``.

    - ``microsoft``: an Entra app registration, client-credentials flow (SMTP.SendAsApp, IMAP.AccessAsApp):
      ``tenant_id``, ``client_id``, and ``client_secret_env`` or ``certificate_file``.
    - ``google``: a service account with domain-wide delegation (``service_account_file``; the token is asked
      for each mailbox), or a user account (``client_id``, ``client_secret_env``, ``refresh_token_env``).
    - ``generic``: ``token_url``, ``client_id``, ``client_secret_env``; ``refresh_token_env`` for a user's
      grant, else the client-credentials flow.
    """

    provider: Literal["microsoft", "google", "generic"]
    tenant_id: str | None = Field(None, pattern=r"^[A-Za-z0-9.-]{1,253}$")
    client_id: str | None = Field(None, min_length=1, max_length=255)
    client_secret: AsciiSecret | None = None
    client_secret_env: str | None = None
    # Microsoft: a PEM file holding the app's certificate and its private key (instead of a client secret).
    certificate_file: Path | None = None
    scope: str | None = None
    token_url: str | None = None
    refresh_token_env: str | None = None
    service_account_file: Path | None = None
    timeout: float = Field(30.0, gt=0, le=600)

    @field_validator("token_url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError('expected an http(s) URL like "https://login.example.com/oauth2/token"')
        return value

    @model_validator(mode="after")
    def _complete(self) -> OAuth2Settings:
        has_secret = bool(self.client_secret and self.client_secret.get_secret_value()) or bool(self.client_secret_env)
        if self.provider == "microsoft":
            missing = [key for key in ("tenant_id", "client_id") if not getattr(self, key)]
            if missing:
                needs = " and ".join(missing)
                raise ValueError(f'provider = "microsoft" needs {needs} (from the Entra app\'s overview)')
            if has_secret == (self.certificate_file is not None):
                raise ValueError('provider = "microsoft" needs client_secret_env or certificate_file (one of them)')
        elif self.provider == "google":
            if self.service_account_file is None and not (self.client_id and has_secret and self.refresh_token_env):
                raise ValueError(
                    'provider = "google" needs service_account_file (Google Workspace, domain-wide delegation), '
                    "or client_id, client_secret_env and refresh_token_env (a user account)"
                )
        else:
            missing = [key for key in ("token_url", "client_id") if not getattr(self, key)]
            if not has_secret and not self.refresh_token_env:
                missing.append("client_secret_env (or refresh_token_env)")
            if missing:
                raise ValueError(f'provider = "generic" needs {", ".join(missing)}')
        if self.certificate_file is not None and self.provider != "microsoft":
            raise ValueError('certificate_file is for provider = "microsoft" only')
        return self

    @property
    def effective_token_url(self) -> str:
        if self.token_url:
            return self.token_url
        if self.provider == "microsoft":
            return _MICROSOFT_TOKEN_URL.format(tenant=self.tenant_id)
        return _GOOGLE_TOKEN_URL  # generic always has token_url (_complete)

    @property
    def effective_scope(self) -> str | None:
        return self.scope or DEFAULT_SCOPES.get(self.provider)

    def resolved_client_secret(self) -> SecretStr | None:
        return resolve_secret(self.client_secret, self.client_secret_env, key="oauth2.client_secret")

    def resolved_refresh_token(self) -> SecretStr | None:
        return resolve_secret(None, self.refresh_token_env, key="oauth2.refresh_token")
