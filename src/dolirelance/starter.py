"""The starter files shipped inside the package: a commented ``dolirelance.toml`` and the default models.

``dolirelance init`` writes them into a folder; the demo builds its configuration from the same
files, so both work from an installed wheel, away from any source tree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.utils import parseaddr
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dolirelance.errors import InitError

if TYPE_CHECKING:
    from dolirelance.config import Settings

CONFIG_NAME = "dolirelance.toml"
TEMPLATES_DIR = "templates"


def _defaults() -> Traversable:
    return files("dolirelance") / "defaults"


def example_config_text() -> str:
    """The commented configuration, with the default models and automatic steps."""
    return (_defaults() / CONFIG_NAME).read_text(encoding="utf-8")


def default_templates() -> dict[str, str]:
    """The default models' text files: name → text (the configuration names them ``templates/<name>``)."""
    folder = _defaults() / TEMPLATES_DIR
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.is_file() and entry.name.endswith((".txt", ".html"))
    }


def write_default_templates(directory: Path) -> list[Path]:
    """Write (or refresh) ``directory/templates/*``; for the demo, whose folder is its own."""
    folder = directory / TEMPLATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in default_templates().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class StarterAnswers:
    """What ``init`` may ask; None keeps the example value of the file."""

    dolibarr_url: str | None = None
    smtp_host: str | None = None
    sender: str | None = None


# The example lines an answer replaces (each is in the shipped file exactly once: tested).
_ANSWER_LINES = {
    "dolibarr_url": re.compile(r'^url = "https://erp\.example\.fr/api/index\.php"', re.MULTILINE),
    "smtp_host": re.compile(r'^host = "smtp\.example\.fr"', re.MULTILINE),
    "sender": re.compile(r'^sender = "Solaire Rhône-Alpes <devis@example\.fr>"', re.MULTILINE),
}
_ANSWER_KEYS = {"dolibarr_url": "url", "smtp_host": "host", "sender": "sender"}


def starter_config_text(answers: StarterAnswers | None = None) -> str:
    text = example_config_text()
    for field, pattern in _ANSWER_LINES.items():
        value = getattr(answers, field, None) if answers else None
        if value:
            line = f"{_ANSWER_KEYS[field]} = {json.dumps(value.strip(), ensure_ascii=False)}"
            text = pattern.sub(line.replace("\\", "\\\\"), text, count=1)
    return text


def starter_paths(directory: Path) -> list[Path]:
    """Every file ``init`` writes into ``directory``."""
    return [directory / CONFIG_NAME, *(directory / TEMPLATES_DIR / name for name in default_templates())]


def refuse_to_overwrite(directory: Path) -> None:
    """Raise :class:`InitError` naming every starter file that exists already in ``directory``."""
    existing = [path for path in starter_paths(directory) if path.exists()]
    if existing:
        shown = ", ".join(str(path) for path in existing)
        raise InitError(
            f"not overwriting {shown}",
            remedy="choose another folder (`dolirelance init DIR`), or move the existing files away first",
        )


def write_starter_files(directory: Path, answers: StarterAnswers | None = None) -> list[Path]:
    """Write the commented configuration and the default models into ``directory``; never overwrite."""
    targets = starter_paths(directory)
    refuse_to_overwrite(directory)
    try:
        (directory / TEMPLATES_DIR).mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_NAME).write_text(starter_config_text(answers), encoding="utf-8")
        write_default_templates(directory)
    except OSError as exc:
        raise InitError(
            f"cannot write the starter files in {directory}: {exc.strerror or exc}",
            remedy="choose a folder you can write to",
        ) from None
    return targets


# The made-up domains of the starter file (example.fr) and of RFC 2606: no real server or mailbox is there.
EXAMPLE_DOMAINS = ("example.fr", "example.com", "example.net", "example.org")


def is_example_domain(domain: str) -> bool:
    """``smtp.example.fr`` or ``example.com``: a name from the examples, not a real one."""
    name = domain.strip().strip(".").lower()
    return any(name == example or name.endswith("." + example) for example in EXAMPLE_DOMAINS)


def sender_domain(sender: str) -> str:
    """The domain of a From address (``Name <devis@solaire.fr>`` → ``solaire.fr``)."""
    return parseaddr(sender)[1].rpartition("@")[2]


def example_values_left(settings: Settings) -> list[tuple[str, str]]:
    """The keys that still hold an example value of the starter file, with that value."""
    found: list[tuple[str, str]] = []

    def check(key: str, value: str | None, domain: str | None) -> None:
        if value and domain and is_example_domain(domain):
            found.append((key, value))

    check("[dolibarr] url", settings.dolibarr.url, urlsplit(settings.dolibarr.url).hostname)
    check("[smtp] host", settings.smtp.host, settings.smtp.host)
    username = settings.smtp.username
    check("[smtp] username", username, username.rpartition("@")[2] if username else None)
    check("[smtp] sender", settings.smtp.sender, sender_domain(settings.smtp.sender))
    if settings.imap is not None:
        check("[imap] host", settings.imap.host, settings.imap.host)
        check("[imap] username", settings.imap.username, settings.imap.username.rpartition("@")[2])
    return found
