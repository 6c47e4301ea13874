"""``dolirelance.toml`` → validated :class:`Settings`, one concern per module.

- ``loading``: finding, reading and parsing the file (and the template files it names); every problem
  with its file, line and key path.
- ``values``: the value types and checks the sections share (day offsets, times, zones, languages).
- ``secrets``: secrets given inline or through ``*_env`` variables.
- ``mail``: ``[smtp]``, ``[imap]``, ``[oauth2]``, ``[email]``.
- ``models``: ``[[models]]`` and their language variants.
- ``sections``: the other sections.
- ``settings``: the root :class:`Settings`, its checks across sections, every secret checked at once.
"""

from __future__ import annotations

from dolirelance.config.loading import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_NAME,
    find_config_path,
    load_config,
    model_text,
    parse_config,
)
from dolirelance.config.mail import (
    DEFAULT_SCOPES,
    REPLY_TO_REMEDY,
    SMTP_RETRY_WAITS,
    EmailSettings,
    ImapSettings,
    OAuth2Settings,
    SmtpSettings,
)
from dolirelance.config.models import ModelSettings, ModelVariant
from dolirelance.config.sections import (
    AccessSettings,
    AddressWindow,
    AutoSettings,
    CompanySettings,
    DolibarrSettings,
    FollowupSettings,
    LedgerSettings,
    LetterSettings,
    ServeSettings,
    StepSettings,
    WebSettings,
)
from dolirelance.config.settings import DEFAULT_LEASE_SECONDS, Settings, secret_problems
from dolirelance.config.values import MAX_OFFSET_DAYS, DayOffset, TimeOfDay, parse_day_offset

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_SCOPES",
    "MAX_OFFSET_DAYS",
    "REPLY_TO_REMEDY",
    "SMTP_RETRY_WAITS",
    "AccessSettings",
    "AddressWindow",
    "AutoSettings",
    "CompanySettings",
    "DayOffset",
    "DolibarrSettings",
    "EmailSettings",
    "FollowupSettings",
    "ImapSettings",
    "LedgerSettings",
    "LetterSettings",
    "ModelSettings",
    "ModelVariant",
    "OAuth2Settings",
    "ServeSettings",
    "Settings",
    "SmtpSettings",
    "StepSettings",
    "TimeOfDay",
    "WebSettings",
    "find_config_path",
    "load_config",
    "model_text",
    "parse_config",
    "parse_day_offset",
    "secret_problems",
]
