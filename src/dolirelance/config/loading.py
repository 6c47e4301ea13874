"""``dolirelance.toml`` → validated :class:`Settings`.

Read with tomllib, validated with pydantic. Every problem is reported at once, each with
the file, the line, the key path and what is expected (:class:`ConfigError`).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dolirelance.config.models import ModelVariant
from dolirelance.config.secrets import SECRET_KEYS
from dolirelance.config.settings import Settings
from dolirelance.errors import ConfigError, ConfigProblem

DEFAULT_CONFIG_NAME = "dolirelance.toml"
CONFIG_ENV_VAR = "DOLIRELANCE_CONFIG"


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
    secret = any(isinstance(part, str) and part in SECRET_KEYS for part in error.get("loc", ()))
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
