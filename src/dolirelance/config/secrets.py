"""Secrets given inline or through ``*_env`` environment variables; the keys never shown in messages."""

from __future__ import annotations

import os

from pydantic import SecretStr

from dolirelance.errors import ConfigError, ConfigProblem

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
