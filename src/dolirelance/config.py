"""``dolirelance.toml`` → validated :class:`Settings`.

Read with tomllib, validated with pydantic. Every problem is reported at once, each with
the file, the line, the key path and what is expected (:class:`ConfigError`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from datetime import time
from math import ceil
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from dolirelance.domain import format_day_offset, split_address
from dolirelance.errors import ConfigError, ConfigProblem
from dolirelance.workdays import MONDAY_TO_FRIDAY, parse_region, parse_weekday

DEFAULT_CONFIG_NAME = "dolirelance.toml"
CONFIG_ENV_VAR = "DOLIRELANCE_CONFIG"

# Ten years: longer than any quote's life, short enough that no date arithmetic can overflow.
MAX_OFFSET_DAYS = 3650
# Keys whose values are never shown in messages, whatever their type.
_SECRET_KEYS = frozenset({"api_key", "password", "secret_key", "client_secret"})

_OFFSET_RE = re.compile(r"^\s*([+-])?\s*(\d+)\s*(day|days|jour|jours|week|weeks|semaine|semaines)?\s*$", re.I)


def parse_day_offset(value: object) -> int:
    """``"+15 days"`` → 15, ``"-5 days"`` → -5, ``"2 weeks"`` → 14, ``7`` → 7."""
    if isinstance(value, bool):
        raise ValueError("expected a number of days like '+15 days' or '-5 days'")
    if isinstance(value, int):
        return _in_range(value)
    if not isinstance(value, str):
        raise ValueError("expected a number of days like '+15 days' or '-5 days'")
    match = _OFFSET_RE.match(value)
    if not match:
        raise ValueError(f"{value[:40]!r} is not a day offset; write it like '+15 days', '-5 days' or '2 weeks'")
    sign, number, unit = match.groups()
    if len(number) > 6:
        return _in_range(MAX_OFFSET_DAYS + 1)
    days = int(number) * (7 if unit and unit.lower().startswith(("week", "semaine")) else 1)
    return _in_range(-days if sign == "-" else days)


def _in_range(days: int) -> int:
    if abs(days) > MAX_OFFSET_DAYS:
        raise ValueError(f"at most {MAX_OFFSET_DAYS} days (10 years) either way")
    return days


DayOffset = Annotated[int, BeforeValidator(parse_day_offset), PlainSerializer(format_day_offset)]


def _parse_time_of_day(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{1,2})[:h](\d{2})\s*", value)
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f'{value!r} is not a time of day; write it like "08:30"')


TimeOfDay = Annotated[time, BeforeValidator(_parse_time_of_day)]


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f'{value!r} is not a known timezone; use a name like "Europe/Paris"') from exc
    return value


def _check_language(value: str) -> str:
    """A language code babel can format dates and amounts in (``fr``, ``en``, ``de_CH``...)."""
    code = value.strip().replace("-", "_")
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f'{value[:20]!r} is not a known language; use a code like "fr", "en" or "de"') from None
    return value


def _check_ascii_secret(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not value.get_secret_value().isascii():
        raise ValueError("contains characters that are not ASCII (accents, typographic quotes...): copy it again")
    return value


def _check_address(value: str) -> str:
    try:
        split_address(value)
    except ValueError as exc:
        raise ValueError(f'{exc}; write it like "Name <devis@example.fr>" or devis@example.fr') from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret(value: SecretStr | None, env_name: str | None, *, key: str) -> SecretStr | None:
    """The secret given inline, or read from the environment variable named by ``*_env``."""
    if value is not None and value.get_secret_value():
        return value
    if env_name:
        from_env = os.environ.get(env_name)
        if from_env:
            if not from_env.isascii():
                raise ConfigError(
                    [ConfigProblem("environment", None, key, f"{env_name} holds characters that are not ASCII")],
                    remedy=f"copy the value of {env_name} again (no accents or typographic quotes)",
                )
            return SecretStr(from_env)
        raise ConfigError(
            [ConfigProblem("environment", None, key, f"the environment variable {env_name} is not set")],
            remedy=f"export {env_name}=... before running dolirelance, or set {key} in the file",
        )
    return None


class DolibarrSettings(_Section):
    url: str = Field(description="API base URL, ending with /api/index.php")
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    # The service's own key (a user with agenda.allactions.*): reads everyone's follow-up events and
    # closes other people's to-dos when api_key belongs to a person who sees only their own events.
    service_api_key: SecretStr | None = None
    service_api_key_env: str | None = None
    timeout: float = Field(30.0, gt=0, le=600)
    verify_tls: bool = True
    page_size: int = Field(100, ge=1, le=1000)
    max_concurrency: int = Field(4, ge=1, le=32)
    timezone: str | None = Field(None, description="PHP date.timezone of the Dolibarr server")

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError('expected an http(s) URL like "https://erp.example.fr/api/index.php"')
        if not value.endswith("/api/index.php"):
            value = value + "/api/index.php"
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("api_key", "service_api_key")
    @classmethod
    def _ascii_key(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_ascii_secret(value)

    @model_validator(mode="after")
    def _key_given(self) -> DolibarrSettings:
        if self.api_key is None and not self.api_key_env:
            raise ValueError("set api_key, or api_key_env naming an environment variable that holds it")
        return self

    def resolved_api_key(self) -> SecretStr:
        key = _secret(self.api_key, self.api_key_env, key="dolibarr.api_key")
        assert key is not None  # _key_given guarantees one of the two
        return key

    def resolved_service_api_key(self) -> SecretStr | None:
        """The service's own key, when one is configured (``service_api_key`` or ``service_api_key_env``)."""
        return _secret(self.service_api_key, self.service_api_key_env, key="dolibarr.service_api_key")


# The SMTP sender's waits between two attempts of one message (the last one repeats).
SMTP_RETRY_WAITS = (1.0, 3.0, 10.0)
DEFAULT_LEASE_SECONDS = 600


class SmtpSettings(_Section):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    # "password": username + password (AUTH PLAIN/LOGIN); "oauth2": SASL XOAUTH2 with a token from [oauth2].
    auth: Literal["password", "oauth2"] = "password"
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    timeout: float = Field(30.0, gt=0, le=600)
    sender: str = Field(description='From address, e.g. "Solaire Rhône-Alpes <devis@example.fr>"')
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

    @field_validator("password")
    @classmethod
    def _ascii_password(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_ascii_secret(value)  # smtplib sends AUTH in ASCII only

    @field_validator("sender")
    @classmethod
    def _sender_address(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("bcc")
    @classmethod
    def _bcc_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            _check_address(address)
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
        return _secret(self.password, self.password_env, key="smtp.password")

    def turn_seconds(self) -> float:
        """The longest one message can hold the SMTP connection: pacing, every attempt, the waits between."""
        pacing = 60.0 / self.rate_limit_per_minute if self.rate_limit_per_minute > 0 else 0.0
        waits = sum(SMTP_RETRY_WAITS[min(i, len(SMTP_RETRY_WAITS) - 1)] for i in range(self.max_retries))
        # an attempt that stalls stalls on one exchange, which `timeout` ends
        return (self.max_retries + 1) * (pacing + self.timeout) + waits


class FollowupSettings(_Section):
    attach_other_pdfs: bool = False
    # "when_stale": attach the quote's PDF as it is in Dolibarr, rebuilt only when missing or older than
    # the quote's last change (as Dolibarr does when a quote is sent from its card); "always": rebuild it.
    rebuild_pdf: Literal["when_stale", "always"] = "when_stale"
    next_delay: DayOffset = 15
    opt_out_field: str = Field("norelance", pattern=r"^[a-z0-9_]{1,64}$")
    default_language: str = "fr"
    # Used when a customer has no sales representative and the quote's author cannot be read.
    default_sales_rep: str | None = None

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        return _check_language(value)

    @field_validator("next_delay")
    @classmethod
    def _delay_ahead(cls, value: int) -> int:
        if value < 1:
            raise ValueError("expected a delay of at least 1 day, like '+15 days'")
        return value


class AddressWindow(_Section):
    """Where the recipient's address goes: a French DL window envelope by default."""

    left_mm: float = Field(110.0, ge=0, le=200)
    top_mm: float = Field(50.0, ge=0, le=280)
    width_mm: float = Field(85.0, gt=10, le=200)


class LetterSettings(_Section):
    # "Lyon" in "Lyon, le 28 novembre 2026"; the company town by default.
    place: str | None = None
    logo: Path | None = None
    address_window: AddressWindow = AddressWindow()
    batch_order: Literal["customer", "postcode", "ref"] = "customer"
    duplex: bool = False
    output_dir: Path = Path("relances")


class CompanySettings(_Section):
    """Our company, when the API user may not read ``/setup/company`` (admin only)."""

    name: str
    address: str = ""
    zip: str = ""
    town: str = ""
    country_code: str = "FR"
    email: str = ""
    phone: str = ""
    url: str = ""
    siren: str = ""
    siret: str = ""
    ape: str = ""
    rcs: str = ""
    vat_number: str = ""
    capital: str = ""


_COLOR = r"^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$"


class EmailSettings(_Section):
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


_TEMPLATE_FIELDS = ("email_subject", "email_text", "email_html", "email_markdown", "letter_subject", "letter_text")


class ModelVariant(_Section):
    """The texts of a model in one language. ``*_file`` paths are relative to the config file."""

    email_subject: str | None = None
    email_text: str | None = None
    email_text_file: Path | None = None
    email_html: str | None = None
    email_html_file: Path | None = None
    # Markdown: the plain text as written, and the HTML made from it.
    email_markdown: str | None = None
    email_markdown_file: Path | None = None
    letter_subject: str | None = None
    letter_text: str | None = None
    letter_text_file: Path | None = None

    @model_validator(mode="after")
    def _inline_or_file(self) -> ModelVariant:
        for name in ("email_text", "email_html", "email_markdown", "letter_text"):
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"give {name} or {name}_file, not both")
        if self.has_email_field("email_markdown") and (
            self.has_email_field("email_text") or self.has_email_field("email_html")
        ):
            raise ValueError("email_markdown makes both the text and the HTML: give it alone, or email_text/email_html")
        return self

    def has_email_field(self, name: str) -> bool:
        return getattr(self, name) is not None or getattr(self, f"{name}_file", None) is not None

    @property
    def has_email_body(self) -> bool:
        return any(self.has_email_field(name) for name in ("email_text", "email_html", "email_markdown"))


class ModelSettings(ModelVariant):
    name: str = Field(min_length=1, max_length=60)
    variants: dict[str, ModelVariant] = Field(default_factory=dict)

    @field_validator("variants")
    @classmethod
    def _variant_languages(cls, value: dict[str, ModelVariant]) -> dict[str, ModelVariant]:
        for language in value:
            _check_language(language)
        return value

    @model_validator(mode="after")
    def _complete(self) -> ModelSettings:
        missing = [
            name
            for name in ("email_subject", "letter_subject", "letter_text")
            if getattr(self, name) is None and getattr(self, f"{name}_file", None) is None
        ]
        if not self.has_email_body:
            missing.insert(1, "an e-mail body (email_text, email_html or email_markdown)")
        if missing:
            raise ValueError(f"model {self.name!r} lacks {', '.join(missing)} (inline text or a *_file)")
        return self


class StepSettings(_Section):
    model: str
    offset: DayOffset


class AutoSettings(_Section):
    enabled: bool = False
    time: TimeOfDay = time(8, 30)
    timezone: str = "Europe/Paris"
    steps: list[StepSettings] = Field(default_factory=list)
    min_gap: DayOffset = 3
    # How long after its due day the last step may still go out (earlier steps end when the next is due).
    last_step_window: DayOffset = 30
    # The user that owns automatic follow-ups when the quote has no sales representative.
    user: str | None = None
    # Automatic follow-ups go out on these days only, public holidays of `holidays` excepted.
    working_days: list[str] = Field(default_factory=lambda: list(MONDAY_TO_FRIDAY))
    # A country code ("FR"), with a subdivision ("FR-57" for Alsace-Moselle), or "none".
    holidays: str = "FR"
    # At most this many automatic follow-ups per run, the most urgent first; the others are deferred
    # to the next run (the first day on a large Dolibarr would otherwise send thousands at once).
    max_per_run: int = Field(200, ge=1, le=100_000)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('list at least one working day, like ["monday", "tuesday", "wednesday"]')
        indexes = [parse_weekday(name) for name in value]
        if len(set(indexes)) != len(indexes):
            raise ValueError("each day once")
        return value

    @field_validator("holidays")
    @classmethod
    def _holiday_region(cls, value: str) -> str:
        parse_region(value)
        return value

    @field_validator("min_gap", "last_step_window")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("expected a positive number of days")
        return value

    @model_validator(mode="after")
    def _steps_in_order(self) -> AutoSettings:
        offsets = [step.offset for step in self.steps]
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            raise ValueError("steps must be listed from the earliest offset to the latest, each offset once")
        if self.enabled and not self.steps:
            raise ValueError("auto is enabled but has no [[auto.steps]]")
        return self


class LedgerSettings(_Section):
    # SQLAlchemy URL; None = a SQLite file in the user's state directory.
    url: str | None = None
    # Names this installation in the ledger's claims (several replicas share one instance name).
    instance: str = Field("default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # How long a claim holds without its process's heartbeat (renewed every third of it while the process
    # lives); None: 600 s, or more when the SMTP settings' worst case needs it (see Settings.lease_seconds).
    lease_seconds: int | None = Field(None, ge=1, le=86_400)


class ServeSettings(_Section):
    health_host: str = "127.0.0.1"
    health_port: int = Field(8787, ge=0, le=65535)


class ImapSettings(_Section):
    """The mailbox where customers' replies and bounces arrive (the Reply-To of our e-mails)."""

    host: str
    port: int | None = Field(None, ge=1, le=65535)  # None: 993 with tls, 143 otherwise
    security: Literal["none", "starttls", "tls"] = "tls"
    # "password": LOGIN with username + password; "oauth2": SASL XOAUTH2 with a token from [oauth2].
    auth: Literal["password", "oauth2"] = "password"
    username: str
    password: SecretStr | None = None
    password_env: str | None = None
    # The mailbox's own e-mail address: our e-mails' Reply-To names it so that replies reach it.
    address: str | None = None
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

    @field_validator("password")
    @classmethod
    def _ascii_password(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_ascii_secret(value)

    @field_validator("address")
    @classmethod
    def _mailbox_address(cls, value: str | None) -> str | None:
        return None if value is None else _check_address(value)

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
        secret = _secret(self.password, self.password_env, key="imap.password")
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


class OAuth2Settings(_Section):
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
    client_secret: SecretStr | None = None
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

    @field_validator("client_secret")
    @classmethod
    def _ascii_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_ascii_secret(value)

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
        return _secret(self.client_secret, self.client_secret_env, key="oauth2.client_secret")

    def resolved_refresh_token(self) -> SecretStr | None:
        return _secret(None, self.refresh_token_env, key="oauth2.refresh_token")


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8788, ge=0, le=65535)
    secret_key: SecretStr | None = None
    secret_key_env: str | None = None
    # The environment variable holding the secret shared with the Dolibarr module (its setup page):
    # links from Dolibarr arrive signed in (web/sso.py). Unset: the password, as always.
    dolibarr_sso_secret_env: str | None = Field(None, min_length=1, max_length=255)
    session_hours: int = Field(8, ge=1, le=168)
    language: Literal["fr", "en"] = "fr"
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or
    # networks); none by default. A request forwarded as https gets a Secure cookie and HSTS.
    trusted_proxies: list[str] = Field(default_factory=list)
    # The site is served over https only: the session cookie is always Secure, HSTS always sent.
    secure_cookie: bool = False

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f'{item[:60]!r} is not an IP address or network like "10.0.0.0/8"') from None
        return value


class AccessSettings(_Section):
    """Who may use dolirelance, by Dolibarr group (Users & Groups > Groups); unset: Dolibarr's rights alone decide."""

    # Members may send follow-ups (individual, mass, retry, automatic runs); they may read too.
    senders_group: str | None = Field(None, min_length=1, max_length=255)
    # Members may see the pages, histories, previews and `explain`, without sending.
    readers_group: str | None = Field(None, min_length=1, max_length=255)
    # The rights of the Dolibarr module (« Lire / Créer des relances de devis ») decide instead of the groups.
    module_rights: bool = False
    # How long the web pages reuse a membership read from Dolibarr; every send reads it again.
    cache_seconds: int = Field(60, ge=0, le=3600)

    @model_validator(mode="after")
    def _distinct(self) -> AccessSettings:
        if self.module_rights and (self.senders_group is not None or self.readers_group is not None):
            raise ValueError(
                "module_rights = true uses the Dolibarr module's rights: leave senders_group and readers_group unset"
            )
        if self.senders_group is not None and self.senders_group == self.readers_group:
            raise ValueError("senders_group and readers_group name the same group; senders may read already")
        return self


class Settings(_Section):
    dolibarr: DolibarrSettings
    smtp: SmtpSettings
    followup: FollowupSettings = FollowupSettings()
    letter: LetterSettings = LetterSettings()
    company: CompanySettings | None = None
    email: EmailSettings = EmailSettings()
    models: list[ModelSettings] = Field(min_length=1)
    auto: AutoSettings = AutoSettings()
    ledger: LedgerSettings = LedgerSettings()
    serve: ServeSettings = ServeSettings()
    web: WebSettings = WebSettings()
    access: AccessSettings = AccessSettings()
    imap: ImapSettings | None = None
    oauth2: OAuth2Settings | None = None
    # Directory of the config file: *_file and logo paths are relative to it.
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        names = [model.name for model in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        for step in self.auto.steps:
            if step.model not in names:
                raise ValueError(
                    f"auto step at {format_day_offset(step.offset)} uses model {step.model!r}, "
                    f"which is not defined; models are: {', '.join(names)}"
                )
        for section, auth in (("smtp", self.smtp.auth), ("imap", self.imap.auth if self.imap else None)):
            if auth == "oauth2" and self.oauth2 is None:
                raise ValueError(f'[{section}] auth = "oauth2" needs an [oauth2] table (see docs/replies.md)')
        needed = self.worst_smtp_wait()
        if self.ledger.lease_seconds is not None and self.ledger.lease_seconds < needed:
            raise ValueError(
                f"[ledger] lease_seconds = {self.ledger.lease_seconds} is shorter than the longest an e-mail may "
                f"wait for its SMTP turn to end ({needed:.0f} s: [dolibarr] max_concurrency = "
                f"{self.dolibarr.max_concurrency} messages ahead, each up to {self.smtp.turn_seconds():.0f} s "
                f"with [smtp] timeout = {self.smtp.timeout:g}, max_retries = {self.smtp.max_retries}, "
                f"rate_limit_per_minute = {self.smtp.rate_limit_per_minute}); set lease_seconds to at least "
                f"{ceil(needed)} or remove it (it is then computed), or lower max_concurrency or max_retries"
            )
        return self

    @property
    def reply_to_mode(self) -> Literal["both", "sales_person", "mailbox"]:
        """``[email] reply_to``, its default following ``[imap]``."""
        if self.email.reply_to is not None:
            return self.email.reply_to
        return "both" if self.imap is not None else "sales_person"

    @property
    def replies_address(self) -> str | None:
        """The replies mailbox's address: ``[imap] address``, else the From's when the From is that mailbox."""
        if self.imap is None:
            return None
        if self.imap.address:
            return self.imap.address
        sender = split_address(self.smtp.sender)
        if f"{sender[1]}@{sender[2]}".lower() == self.imap.username.strip().lower():
            return self.smtp.sender
        return None

    def reply_problems(self) -> list[str]:
        """Why customers' replies may miss the replies mailbox (warnings for ``config check`` and ``doctor``)."""
        if self.imap is None:
            return []
        mode = self.reply_to_mode
        if mode == "sales_person":
            return [
                '[email] reply_to = "sales_person": customers\' replies go to the sales people\'s own mailboxes, '
                "which `replies` does not read; their replies will not stop the automatic follow-ups"
            ]
        if self.replies_address is None:
            return [
                "[imap] address is not set and the From ([smtp] sender) is not the replies mailbox "
                f"({self.imap.username}): customers' replies will not reach it; set [imap] address"
            ]
        return []

    def worst_smtp_wait(self) -> float:
        """The longest a claimed e-mail can wait until its SMTP turn ends: every follow-up running at once
        (``[dolibarr] max_concurrency``) ahead of it on the run's one connection, then its own turn."""
        return self.dolibarr.max_concurrency * self.smtp.turn_seconds()

    @property
    def lease_seconds(self) -> int:
        """The ledger's lease: as set, else 600 s or the settings' worst SMTP wait if longer.

        The heartbeat renews a live claim's lease long before it ends; the lease alone still covers
        the worst case, so a heartbeat held up by a busy database never gives a live claim away.
        """
        if self.ledger.lease_seconds is not None:
            return self.ledger.lease_seconds
        return max(DEFAULT_LEASE_SECONDS, ceil(self.worst_smtp_wait()))

    def model(self, name: str) -> ModelSettings:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(name)

    def resolve_path(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path


def find_config_path(explicit: Path | None = None) -> Path:
    """The file given, else $DOLIRELANCE_CONFIG, else ./dolirelance.toml."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    return Path(DEFAULT_CONFIG_NAME)


def load_config(path: Path) -> Settings:
    """Read, parse and validate a configuration file; raise :class:`ConfigError` listing every problem."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(shown, None, "", "file not found")],
            remedy="run `dolirelance init` to write a commented dolirelance.toml here, or pass --config PATH",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(shown, None, "", f"cannot read the file: {exc}")]) from None
    return parse_config(text, source=shown, base_dir=path.parent)


def parse_config(text: str, *, source: str, base_dir: Path) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _line_of_toml_error(str(exc))
        raise ConfigError(
            [ConfigProblem(source, line, "", f"TOML syntax error: {exc}")],
            remedy="fix the line shown; strings need quotes, tables look like [section]",
        ) from None
    data["base_dir"] = str(base_dir)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        locator = _TomlLocator(text)
        problems = [
            ConfigProblem(source, locator.line_of(error["loc"]), _key_path(error["loc"]), _explain(error))
            for error in exc.errors()
        ]
        raise ConfigError(problems, remedy="see docs/configuration.md for every key") from None
    problems = _load_template_files(settings, source, _TomlLocator(text))
    if problems:
        raise ConfigError(problems, remedy="paths are relative to the configuration file's directory")
    return settings


def model_text(settings: Settings, variant: ModelVariant, field: str) -> str | None:
    """The text of a template field: inline, or read from its ``*_file``."""
    inline = getattr(variant, field, None)
    if inline is not None:
        return str(inline)
    file_path = getattr(variant, f"{field}_file", None)
    if file_path is None:
        return None
    return settings.resolve_path(file_path).read_text(encoding="utf-8")


def _load_template_files(settings: Settings, source: str, locator: _TomlLocator) -> list[ConfigProblem]:
    problems = []
    for index, model in enumerate(settings.models):
        variants: list[tuple[tuple[str | int, ...], ModelVariant]] = [(("models", index), model)]
        variants += [(("models", index, "variants", lang), v) for lang, v in model.variants.items()]
        for loc, variant in variants:
            for field in ("email_text_file", "email_html_file", "email_markdown_file", "letter_text_file"):
                file_path = getattr(variant, field)
                if file_path is None:
                    continue
                resolved = settings.resolve_path(file_path)
                try:
                    resolved.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    reason = "file not found" if isinstance(exc, FileNotFoundError) else str(exc)
                    problems.append(
                        ConfigProblem(
                            source,
                            locator.line_of((*loc, field)),
                            _key_path((*loc, field)),
                            f"{reason}: {resolved}",
                        )
                    )
    files = (
        ("letter", "logo", settings.letter.logo),
        ("email", "logo", settings.email.logo),
        ("smtp", "dkim_key_file", settings.smtp.dkim_key_file),
        ("oauth2", "certificate_file", settings.oauth2.certificate_file if settings.oauth2 else None),
        ("oauth2", "service_account_file", settings.oauth2.service_account_file if settings.oauth2 else None),
    )
    for section, key, path in files:
        if path is not None and not settings.resolve_path(path).is_file():
            problems.append(
                ConfigProblem(
                    source,
                    locator.line_of((section, key)),
                    f"{section}.{key}",
                    f"file not found: {settings.resolve_path(path)}",
                )
            )
    return problems


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-after", "function-before")):
            continue
        else:
            path += ("." if path else "") + str(part)
    return path


def _explain(error: Any) -> str:
    kind = error.get("type", "")
    message = str(error.get("msg", ""))
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; see docs/configuration.md)"
    if kind == "missing":
        return "missing required key"
    message = message.removeprefix("Value error, ")
    value = error.get("input")
    secret = any(isinstance(part, str) and part in _SECRET_KEYS for part in error.get("loc", ()))
    if secret:
        return message + (" (write it in quotes)" if kind in {"string_type"} else "")  # never the value
    if kind not in {"value_error", "assertion_error"} and isinstance(value, str | int | float | bool):
        message += f" (got {_shown(value)})"
    return message


def _shown(value: str | int | float | bool) -> str:
    if isinstance(value, str):
        return repr(value[:60] + ("…" if len(value) > 60 else ""))
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return "a number too large"
    return repr(value)


def secret_problems(settings: Settings, source: str) -> list[ConfigProblem]:
    """Every secret the commands need, checked at once (values never shown): for ``config check``."""
    problems: list[ConfigProblem] = []
    web = settings.web
    checks: list[Callable[[], object]] = [settings.dolibarr.resolved_api_key, settings.smtp.resolved_password]
    if web.secret_key_env:
        checks.append(lambda: _secret(web.secret_key, web.secret_key_env, key="web.secret_key"))
    if settings.imap is not None and settings.imap.auth == "password":
        checks.append(settings.imap.resolved_password)
    if settings.oauth2 is not None:
        checks += [settings.oauth2.resolved_client_secret, settings.oauth2.resolved_refresh_token]
    for resolve in checks:
        try:
            resolve()
        except ConfigError as exc:
            problems.extend(exc.problems)
    smtp = settings.smtp
    if smtp.auth == "password" and smtp.username and smtp.password is None and not smtp.password_env:
        problems.append(
            ConfigProblem(source, None, "smtp.password", "smtp.username is set but no password (or password_env)")
        )
    return problems


def _line_of_toml_error(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


class _TomlLocator:
    """Finds the line of a key path in TOML text, for error messages.

    It follows table headers (``[a.b]``, ``[[models]]`` with their index) and ``key =``
    lines; it does not need to be a full TOML parser because the text already parsed.
    """

    _HEADER = re.compile(r"^\s*(\[\[|\[)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str | int, ...], int] = {}
        counters: dict[tuple[str | int, ...], int] = {}
        table: tuple[str | int, ...] = ()
        for number, raw in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(raw)
            if header:
                parts = tuple(p.strip().strip("\"'") for p in header.group(2).split("."))
                table = self._resolve(parts, counters, is_array=header.group(1) == "[[")
                self._lines.setdefault(table, number)
                continue
            key = self._KEY.match(raw)
            if key:
                parts = tuple(p.strip().strip("\"'") for p in key.group(1).split("."))
                self._lines.setdefault((*table, *parts), number)

    def _resolve(
        self,
        parts: tuple[str, ...],
        counters: dict[tuple[str | int, ...], int],
        *,
        is_array: bool,
    ) -> tuple[str | int, ...]:
        resolved: tuple[str | int, ...] = ()
        for position, part in enumerate(parts):
            resolved = (*resolved, part)
            last = position == len(parts) - 1
            if last and is_array:
                counters[resolved] = counters.get(resolved, -1) + 1
                resolved = (*resolved, counters[resolved])
            elif resolved in counters:  # a sub-table of the current array element
                resolved = (*resolved, counters[resolved])
        return resolved

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        clean = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        while clean:
            if clean in self._lines:
                return self._lines[clean]
            clean = clean[:-1]
        return None
