"""`config check` finds at load time what used to fail at run time, and never shows a secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dolirelance import starter
from dolirelance.cli import main
from dolirelance.config import parse_config, parse_day_offset
from dolirelance.errors import ConfigError

DEFAULTS = Path(starter.__file__).parent / "defaults"
EXAMPLE = (DEFAULTS / "dolirelance.toml").read_text(encoding="utf-8")


def problems_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="dolirelance.toml", base_dir=DEFAULTS)
    return str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'default_language = "fr"',
            'default_language = "xx"',
            "[followup.default_language]: 'xx' is not a known language",
        ),
        ("[models.variants.en]", "[models.variants.zz]", "'zz' is not a known language"),
        ('next_delay = "+15 days"', 'next_delay = "99999999999 days"', "at most 3650 days"),
        ('next_delay = "+15 days"', "next_delay = 99999999999", "at most 3650 days"),
        ('next_delay = "+15 days"', 'next_delay = "-3 days"', "at least 1 day"),
        ('offset = "-5 days"', 'offset = "-99999 weeks"', "at most 3650 days"),
        (
            'sender = "Solaire Rhône-Alpes <devis@example.fr>"',
            'sender = "Solaire <devis at example>"',
            "[smtp.sender]: 'Solaire <devis at example>' is not",
        ),
        ("bcc = []", 'bcc = ["archives@example.fr", "nobody"]', "[smtp.bcc]: 'nobody' is not"),
    ],
)
def test_problems_found_when_the_file_is_read(old: str, new: str, expected: str) -> None:
    """Bad languages, offsets, delays and addresses are configuration errors with the key and line."""
    assert old in EXAMPLE
    message = problems_of(EXAMPLE.replace(old, new, 1))
    assert expected in message
    assert "dolirelance.toml:" in message


def test_offsets_in_range_still_parse() -> None:
    """The usual forms keep working up to ten years either way."""
    assert parse_day_offset("+15 days") == 15
    assert parse_day_offset("-2 semaines") == -14
    assert parse_day_offset(3650) == 3650
    with pytest.raises(ValueError, match="at most 3650"):
        parse_day_offset("3651")


@pytest.mark.parametrize(
    "line",
    ["api_key = 73310553318831", 'api_key = "clé-à-accents-73310553318831"', "api_key = 7331055331883.1"],
)
def test_secrets_are_checked_but_never_echoed(line: str) -> None:
    """An unquoted numeric or non-ASCII key is refused with a message that never holds the value."""
    text = EXAMPLE.replace('api_key_env = "DOLIRELANCE_API_KEY"', line, 1)
    message = problems_of(text)
    assert "[dolibarr.api_key]" in message
    assert "73310553318831" not in message and "7331055331883" not in message
    assert "clé" not in message


def _config_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "dolirelance.toml"
    text = EXAMPLE.replace("[ledger]", '[web]\nsecret_key_env = "DOLIRELANCE_WEB_KEY"\n\n[ledger]', 1)
    path.write_text(text, encoding="utf-8")
    (tmp_path / "templates").symlink_to(DEFAULTS / "templates")
    monkeypatch.setattr(sys, "argv", ["dolirelance", "config", "check", "--config", str(path)])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    return capsys.readouterr().err


def test_config_check_names_every_missing_or_bad_secret_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dolibarr key, SMTP password and web key: every problem in one check, no value shown."""
    monkeypatch.setenv("DOLIRELANCE_API_KEY", "clé-secrète-é")
    monkeypatch.delenv("DOLIRELANCE_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("DOLIRELANCE_WEB_KEY", raising=False)
    err = " ".join(_config_check(tmp_path, monkeypatch, capsys).split())
    assert "the configuration has 3 problems" in err
    assert "DOLIRELANCE_API_KEY holds characters that are not ASCII" in err
    assert "DOLIRELANCE_SMTP_PASSWORD is not set" in err
    assert "DOLIRELANCE_WEB_KEY is not set" in err
    assert "secrète" not in err and "Traceback" not in err


def test_access_groups_are_checked_when_the_file_is_read() -> None:
    """[access]: the same group for senders and readers, or an empty name, is named with the key."""
    def with_access(lines: str) -> str:
        assert EXAMPLE.count("\n[access]\n") == 1
        return EXAMPLE.replace("\n[access]\n", f"\n[access]\n{lines}")

    same = problems_of(with_access('senders_group = "Relances"\nreaders_group = "Relances"\n'))
    assert "[access]" in same and "name the same group" in same
    empty = problems_of(with_access('senders_group = ""\n'))
    assert "[access.senders_group]" in empty
    settings = parse_config(with_access('senders_group = "Relances devis"\n'), source="t", base_dir=DEFAULTS)
    assert settings.access.senders_group == "Relances devis" and settings.access.readers_group is None
