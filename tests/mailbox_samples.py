"""The sample messages of tests/samples/mailbox/, and the [imap] section that points a configuration at dovecot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dolirelance.testing.imap_server import DovecotServer, dovecot_available

SAMPLES = Path(__file__).parent / "samples" / "mailbox"
OUR_ADDRESS = "devis@solaire-rhone-alpes.test"
IMAP_PASSWORD_ENV = "DOLIRELANCE_TEST_IMAP_PASSWORD"
# The replies mailbox's receiving server: its Authentication-Results headers are believed ([imap]
# trusted_authserv_id); the samples that it vouches for carry one with this id.
TRUSTED_AUTHSERV_ID = "mx.solaire-rhone-alpes.test"

# CI (.ci/run sets CI) installs dovecot: there a missing one fails instead of skipping
NEEDS_DOVECOT = pytest.mark.skipif(
    not dovecot_available() and not os.environ.get("CI"), reason="dovecot-imapd is not installed (.ci/run installs it)"
)


def sample_message(name: str, *, message_id: str = "<none@nowhere.test>", ref: str = "", customer: str = "") -> bytes:
    """The sample ``name`` as if it answered our e-mail ``message_id`` about quote ``ref``, from ``customer``."""
    raw = (SAMPLES / name).read_bytes()
    for placeholder, value in (
        (b"@@MESSAGE_ID@@", message_id),
        (b"@@QUOTE_REF@@", ref),
        (b"@@CUSTOMER@@", customer),
        (b"@@CUSTOMER_DOMAIN@@", customer.rpartition("@")[2]),
        (b"@@US@@", OUR_ADDRESS),
    ):
        raw = raw.replace(placeholder, value.encode())
    return raw


def add_imap_section(config: Path, dovecot: DovecotServer) -> None:
    """Append an [imap] section for the dovecot on loopback; its password is read from ``IMAP_PASSWORD_ENV``."""
    lines = [
        "",
        "[imap]",
        f'host = "{dovecot.host}"',
        f"port = {dovecot.port}",
        'security = "none"',
        f'username = "{dovecot.user}"',
        f'password_env = "{IMAP_PASSWORD_ENV}"',
        f'trusted_authserv_id = "{TRUSTED_AUTHSERV_ID}"',
    ]
    config.write_text(config.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")
