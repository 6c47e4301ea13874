"""The root :class:`Settings`: every section, the checks across sections and what is derived from several;
every secret checked at once for ``config check``."""

from __future__ import annotations

from collections.abc import Callable
from math import ceil
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from dolirelance.config.mail import EmailSettings, ImapSettings, OAuth2Settings, SmtpSettings
from dolirelance.config.models import ModelSettings
from dolirelance.config.secrets import resolve_secret
from dolirelance.config.sections import (
    AccessSettings,
    AutoSettings,
    CompanySettings,
    DolibarrSettings,
    FollowupSettings,
    LedgerSettings,
    LetterSettings,
    ServeSettings,
    WebSettings,
)
from dolirelance.config.values import Section
from dolirelance.domain import format_day_offset, split_address
from dolirelance.errors import ConfigError, ConfigProblem

DEFAULT_LEASE_SECONDS = 600


class Settings(Section):
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
        if self.auto.requests_at_once > self.dolibarr.max_concurrency:
            raise ValueError(
                f"[auto] requests_at_once = {self.auto.requests_at_once} is above [dolibarr] max_concurrency = "
                f"{self.dolibarr.max_concurrency}, the most requests ever sent at once: lower requests_at_once "
                "or raise max_concurrency"
            )
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


def secret_problems(settings: Settings, source: str) -> list[ConfigProblem]:
    """Every secret the commands need, checked at once (values never shown): for ``config check``."""
    problems: list[ConfigProblem] = []
    web = settings.web
    checks: list[Callable[[], object]] = [settings.dolibarr.resolved_api_key, settings.smtp.resolved_password]
    if web.secret_key_env:
        checks.append(lambda: resolve_secret(web.secret_key, web.secret_key_env, key="web.secret_key"))
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
