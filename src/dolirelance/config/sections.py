"""The other sections: ``[dolibarr]``, ``[followup]``, ``[letter]``, ``[company]``, ``[auto]``, ``[ledger]``,
``[serve]``, ``[web]`` and ``[access]``."""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from dolirelance.config.secrets import resolve_secret
from dolirelance.config.values import AsciiSecret, DayOffset, Language, Section, TimeOfDay, Timezone
from dolirelance.workdays import MONDAY_TO_FRIDAY, parse_region, parse_weekday


class DolibarrSettings(Section):
    url: str = Field(description="API base URL, ending with /api/index.php")
    api_key: AsciiSecret | None = None
    api_key_env: str | None = None
    # The service's own key (a user with agenda.allactions.*): reads everyone's follow-up events and
    # closes other people's to-dos when api_key belongs to a person who sees only their own events.
    service_api_key: AsciiSecret | None = None
    service_api_key_env: str | None = None
    timeout: float = Field(30.0, gt=0, le=600)
    verify_tls: bool = True
    page_size: int = Field(100, ge=1, le=1000)
    max_concurrency: int = Field(4, ge=1, le=32)  # the most requests at once (the pace adapts below it)
    # false: always max_concurrency at once, however many Dolibarr serves (to compare, or a known big server)
    adapt_concurrency: bool = True
    timezone: Timezone | None = Field(None, description="PHP date.timezone of the Dolibarr server")

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError('expected an http(s) URL like "https://erp.example.fr/api/index.php"')
        if not value.endswith("/api/index.php"):
            value = value + "/api/index.php"
        return value

    @model_validator(mode="after")
    def _key_given(self) -> DolibarrSettings:
        if self.api_key is None and not self.api_key_env:
            raise ValueError("set api_key, or api_key_env naming an environment variable that holds it")
        return self

    def resolved_api_key(self) -> SecretStr:
        key = resolve_secret(self.api_key, self.api_key_env, key="dolibarr.api_key")
        assert key is not None  # _key_given guarantees one of the two
        return key

    def resolved_service_api_key(self) -> SecretStr | None:
        """The service's own key, when one is configured (``service_api_key`` or ``service_api_key_env``)."""
        return resolve_secret(self.service_api_key, self.service_api_key_env, key="dolibarr.service_api_key")


class FollowupSettings(Section):
    attach_other_pdfs: bool = False
    # "when_stale": attach the quote's PDF as it is in Dolibarr, rebuilt only when missing or older than
    # the quote's last change (as Dolibarr does when a quote is sent from its card); "always": rebuild it.
    rebuild_pdf: Literal["when_stale", "always"] = "when_stale"
    next_delay: DayOffset = 15
    opt_out_field: str = Field("norelance", pattern=r"^[a-z0-9_]{1,64}$")
    default_language: Language = "fr"
    # Used when a customer has no sales representative and the quote's author cannot be read.
    default_sales_rep: str | None = None

    @field_validator("next_delay")
    @classmethod
    def _delay_ahead(cls, value: int) -> int:
        if value < 1:
            raise ValueError("expected a delay of at least 1 day, like '+15 days'")
        return value


class AddressWindow(Section):
    """Where the recipient's address goes: a French DL window envelope by default."""

    left_mm: float = Field(110.0, ge=0, le=200)
    top_mm: float = Field(50.0, ge=0, le=280)
    width_mm: float = Field(85.0, gt=10, le=200)


class LetterSettings(Section):
    # "Lyon" in "Lyon, le 28 novembre 2026"; the company town by default.
    place: str | None = None
    logo: Path | None = None
    address_window: AddressWindow = AddressWindow()
    batch_order: Literal["customer", "postcode", "ref"] = "customer"
    duplex: bool = False
    output_dir: Path = Path("relances")


class CompanySettings(Section):
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


class StepSettings(Section):
    model: str
    offset: DayOffset


class AutoSettings(Section):
    enabled: bool = False
    time: TimeOfDay = time(8, 30)
    timezone: Timezone = "Europe/Paris"
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
    # Dolibarr requests the run has in flight at once for its follow-ups (its list pages go up to
    # [dolibarr] max_concurrency): 1 costs Dolibarr least per follow-up and leaves its other workers to
    # its users, at a longer run (docs/automatic.md, "Dolibarr's pace"); more adapts up to it.
    requests_at_once: int = Field(1, ge=1, le=32)

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


class LedgerSettings(Section):
    # SQLAlchemy URL; None = a SQLite file in the user's state directory.
    url: str | None = None
    # Names this installation in the ledger's claims (several replicas share one instance name).
    instance: str = Field("default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # How long a claim holds without its process's heartbeat (renewed every third of it while the process
    # lives); None: 600 s, or more when the SMTP settings' worst case needs it (see Settings.lease_seconds).
    lease_seconds: int | None = Field(None, ge=1, le=86_400)


class ServeSettings(Section):
    health_host: str = "127.0.0.1"
    health_port: int = Field(8787, ge=0, le=65535)


class WebSettings(Section):
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


class AccessSettings(Section):
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
