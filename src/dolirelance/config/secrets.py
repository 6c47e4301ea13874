"""Secrets given inline or through ``*_env`` environment variables, and the check of all of them at once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from dolirelance.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from dolirelance.config.settings import Settings

# Keys whose values are never shown in messages, whatever their type.
SECRET_KEYS = frozenset({"api_key", "password", "secret_key", "client_secret"})


def resolve_secret(value: SecretStr | None, env_name: str | None, *, key: str) -> SecretStr | None:
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
