"""OAuth2 sign-in (SASL XOAUTH2) to real servers on loopback: a token endpoint the test runs, an SMTP server
asking it whether each token is active, and dovecot's ``oauth2`` passdb asking it through its introspection URL.

The flows are Authlib's, against the endpoint over real HTTP: Microsoft's client credentials, a refresh
token (generic), a Google service account's JWT assertion for one mailbox.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import MutableClock, product_settings
from dolirelance.config import OAuth2Settings, Settings, load_config
from dolirelance.domain import Channel
from dolirelance.errors import MailboxError, MailPermanentError
from dolirelance.imap import RepliesMailbox
from dolirelance.ledger import FollowUpState
from dolirelance.mail import SmtpSender
from dolirelance.oauth import TokenSource
from dolirelance.service import follow_up, open_runtime, read_replies
from dolirelance.service.checks import mail_checks
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.oauth_server import OAuthServer, OAuthSmtpSink
from mailbox_samples import NEEDS_DOVECOT

MAILBOX = "relances@example.test"
SECRET_ENV = "DOLIRELANCE_TEST_OAUTH_SECRET"
REFRESH_ENV = "DOLIRELANCE_TEST_REFRESH_TOKEN"

pytestmark = NEEDS_DOVECOT


class Seconds:
    """A monotonic clock the test moves (the token source's)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def oauth() -> Iterator[OAuthServer]:
    with OAuthServer(mailbox=MAILBOX) as server:
        yield server


@pytest.fixture
def oauth_sink(oauth: OAuthServer) -> Iterator[OAuthSmtpSink]:
    with OAuthSmtpSink(oauth) as sink:
        yield sink


@pytest.fixture
def oauth_dovecot(oauth: OAuthServer) -> Iterator[DovecotServer]:
    with DovecotServer(MAILBOX, oauth=oauth) as server:
        yield server


def oauth_config(
    tmp_path: Path, sink_port: int, api_key: str, dovecot: DovecotServer, oauth: OAuthServer, oauth2_table: str
) -> Path:
    """The demo's configuration with [smtp] and [imap] signing in by OAuth2 as the mailbox, and ``oauth2_table``."""
    path = product_settings(tmp_path, sink_port, api_key).base_dir / "dolirelance.toml"
    text = path.read_text(encoding="utf-8").replace(
        "[smtp]\n", f'[smtp]\nauth = "oauth2"\nusername = "{MAILBOX}"\n', 1
    )
    text += f"""
[imap]
host = "{dovecot.host}"
port = {dovecot.port}
security = "none"
auth = "oauth2"
username = "{MAILBOX}"
address = "Relances <{MAILBOX}>"

[oauth2]
{oauth2_table}
"""
    path.write_text(text, encoding="utf-8")
    return path


def microsoft_table(oauth: OAuthServer) -> str:
    return f"""provider = "microsoft"
tenant_id = "contoso.onmicrosoft.test"
client_id = "{oauth.client_id}"
client_secret_env = "{SECRET_ENV}"
token_url = "{oauth.token_url}"
"""


@pytest.fixture
def settings(
    tmp_path: Path,
    oauth_sink: OAuthSmtpSink,
    oauth_dovecot: DovecotServer,
    oauth: OAuthServer,
    sample_data: SampleData,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.setenv(SECRET_ENV, oauth.client_secret)
    path = oauth_config(
        tmp_path, oauth_sink.port, sample_data.api_keys["jdupont"], oauth_dovecot, oauth, microsoft_table(oauth)
    )
    return load_config(path)


def a_message(subject: str = "Votre devis") -> EmailMessage:
    message = EmailMessage()
    message["From"] = MAILBOX
    message["To"] = "sophie.dupont@garage-dupont.test"
    message["Subject"] = subject
    message.set_content("Bonjour")
    return message


def send(settings: Settings, tokens: TokenSource, message: EmailMessage) -> None:
    with SmtpSender(settings.smtp, tokens=tokens, sleep=lambda _: None) as sender:
        sender.send(message)


def folder_size(settings: Settings, tokens: TokenSource) -> int:
    assert settings.imap is not None
    with RepliesMailbox(settings.imap, tokens=tokens) as mailbox:
        return len(mailbox.new_messages().uids)


# --------------------------------------------------------------------------------------- sign-in


def test_smtp_and_imap_sign_in_with_one_token_of_the_microsoft_app(
    settings: Settings, oauth: OAuthServer, oauth_sink: OAuthSmtpSink, oauth_dovecot: DovecotServer
) -> None:
    """The client-credentials token signs in to SMTP (the message is accepted) and to IMAP; it is asked once."""
    assert settings.oauth2 is not None
    tokens = TokenSource(settings.oauth2, clock=Seconds())
    oauth_dovecot.deliver(b"From: a@b.test\r\nSubject: hello\r\n\r\nhello\r\n")

    send(settings, tokens, a_message())
    assert folder_size(settings, tokens) == 1

    assert [m.message["Subject"] for m in oauth_sink.messages] == ["Votre devis"]
    assert oauth_sink.signed_in == [MAILBOX]
    assert len(oauth.issued()) == 1 and tokens.fetched == 1  # kept in memory, used by both
    assert oauth.introspections == 2  # the SMTP server and dovecot each asked the endpoint


def test_dovecot_asks_the_endpoint_by_get_as_well(settings: Settings, oauth: OAuthServer) -> None:
    """introspection_mode = get: dovecot passes the token in the URL; the sign-in works the same."""
    assert settings.oauth2 is not None and settings.imap is not None
    with DovecotServer(MAILBOX, oauth=oauth, introspection_mode="get") as by_get:
        imap = settings.imap.model_copy(update={"port": by_get.port})
        with RepliesMailbox(imap, tokens=TokenSource(settings.oauth2, clock=Seconds())) as mailbox:
            assert mailbox.new_messages().uids == ()
    assert oauth.introspections == 1


def test_a_token_about_to_expire_is_replaced_before_signing_in(
    settings: Settings, oauth: OAuthServer, oauth_sink: OAuthSmtpSink
) -> None:
    """Past its expires_in (less a margin) the held token is not used: a new one is asked first, no sign-in fails."""
    assert settings.oauth2 is not None
    clock = Seconds()
    tokens = TokenSource(settings.oauth2, clock=clock)
    send(settings, tokens, a_message("one"))
    clock.now += oauth.lifetime - 200  # within the 5 minutes' margin
    oauth.expire_tokens()  # and the server no longer takes it

    send(settings, tokens, a_message("two"))

    assert [str(m.message["Subject"]) for m in oauth_sink.messages] == ["one", "two"]
    assert oauth_sink.refused_tokens == 0 and len(oauth.issued()) == 2


def test_a_token_the_server_let_lapse_early_is_renewed_and_the_message_still_goes(
    settings: Settings, oauth: OAuthServer, oauth_sink: OAuthSmtpSink, oauth_dovecot: DovecotServer
) -> None:
    """A held token refused by the servers (expired there first) is dropped and a new one signs in: nothing fails."""
    assert settings.oauth2 is not None
    tokens = TokenSource(settings.oauth2, clock=Seconds())
    send(settings, tokens, a_message("one"))
    oauth.expire_tokens()

    send(settings, tokens, a_message("two"))
    oauth.expire_tokens()
    assert folder_size(settings, tokens) == 0

    assert [str(m.message["Subject"]) for m in oauth_sink.messages] == ["one", "two"]
    assert oauth_sink.refused_tokens == 1 and len(oauth.issued()) == 3


async def test_a_revoked_app_sends_nothing_and_says_what_to_check(
    settings: Settings,
    oauth: OAuthServer,
    oauth_sink: OAuthSmtpSink,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    clock: MutableClock,
) -> None:
    """Access revoked: the follow-up fails before any message leaves, its claim released, with what to check."""
    oauth.revoke_client()
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with open_runtime(settings, transport=transport, now=clock) as rt:
        assert settings.oauth2 is not None
        rt.token_source = TokenSource(settings.oauth2, clock=Seconds())
        outcome = await follow_up(rt, sample_data.refs["about_to_expire"], channel=Channel.EMAIL)
        entries = rt.ledger.entries_for_quotes([sample_data.quotes["about_to_expire"]])

    assert outcome.outcome == "failed" and outcome.error is not None
    assert "the token endpoint" in outcome.error and "invalid_client" in outcome.error
    assert oauth_sink.messages == []
    assert [entry.state for entry in entries] == [FollowUpState.FAILED]  # the claim released
    assert not [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_EMAIL"]


def test_a_revoked_token_is_refused_clearly_by_both_servers(
    settings: Settings, oauth: OAuthServer, oauth_sink: OAuthSmtpSink
) -> None:
    """The endpoint refusing new tokens after the servers refused the held one: an error naming the app registration."""
    assert settings.oauth2 is not None
    tokens = TokenSource(settings.oauth2, clock=Seconds())
    send(settings, tokens, a_message("one"))
    oauth.revoke_client()

    with pytest.raises(MailPermanentError) as smtp_error:
        send(settings, tokens, a_message("two"))
    with pytest.raises(MailboxError) as imap_error:
        folder_size(settings, tokens)

    for error in (smtp_error.value, imap_error.value):
        assert "invalid_client" in error.message and error.remedy is not None
        assert "App registrations" in error.remedy and "client secret" in error.remedy
    assert [str(m.message["Subject"]) for m in oauth_sink.messages] == ["one"]


def test_a_mailbox_the_app_was_not_given_is_refused_with_the_exchange_grants_to_check(
    settings: Settings, oauth: OAuthServer, oauth_sink: OAuthSmtpSink
) -> None:
    """Tokens given, but not for this mailbox: both servers refuse, and the remedy names permission and grants."""
    assert settings.oauth2 is not None
    oauth.mailbox = "someone-else@example.test"
    tokens = TokenSource(settings.oauth2, clock=Seconds())

    with pytest.raises(MailPermanentError) as smtp_error:
        send(settings, tokens, a_message())
    with pytest.raises(MailboxError) as imap_error:
        folder_size(settings, tokens)

    assert f"refused the OAuth2 token for {MAILBOX}" in smtp_error.value.message
    assert smtp_error.value.remedy is not None and "SMTP.SendAsApp" in smtp_error.value.remedy
    assert "Add-MailboxPermission" in smtp_error.value.remedy and "New-ServicePrincipal" in smtp_error.value.remedy
    assert f"refused the OAuth2 token for {MAILBOX}" in imap_error.value.message
    assert imap_error.value.remedy is not None and "IMAP.AccessAsApp" in imap_error.value.remedy
    assert oauth_sink.messages == [] and oauth_sink.refused_tokens == 2  # the second try with a new token


async def test_the_runtime_reads_the_replies_mailbox_by_oauth2_and_keeps_its_token_across_runtimes(
    settings: Settings, oauth: OAuthServer, oauth_dovecot: DovecotServer, fake_dolibarr: FakeDolibarr,
    clock: MutableClock,
) -> None:
    """`replies --once` and the daemon's passes (one runtime each) sign in with one token held by the process."""
    oauth_dovecot.deliver(b"From: a@b.test\r\nSubject: hello\r\nMessage-ID: <x@b.test>\r\n\r\nhello\r\n")
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    held = []
    for _ in range(2):
        async with open_runtime(settings, transport=transport, now=clock) as rt:
            report = await read_replies(rt)
            held.append(rt.tokens)
        assert report.ok, report
    assert held[0] is held[1] and len(oauth.issued()) == 1


# --------------------------------------------------------------------------------------- other providers


def test_a_refresh_token_signs_in_for_the_generic_provider_and_a_revoked_one_says_sign_in_again(
    settings: Settings, oauth: OAuthServer, oauth_sink: OAuthSmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """provider = "generic" with refresh_token_env: a token by the refresh-token grant; once revoked, a clear error."""
    monkeypatch.setenv(REFRESH_ENV, oauth.refresh_token)
    generic = OAuth2Settings(
        provider="generic", token_url=oauth.token_url, client_id=oauth.client_id, refresh_token_env=REFRESH_ENV
    )
    send(settings, TokenSource(generic, clock=Seconds()), a_message())
    assert [t.grant for t in oauth.tokens.values()] == ["refresh_token"]

    oauth.refresh_token = "a-new-one"  # the old refresh token is revoked
    with pytest.raises(MailPermanentError) as caught:
        send(settings, TokenSource(generic, clock=Seconds()), a_message("two"))
    assert "invalid_grant" in caught.value.message
    assert caught.value.remedy is not None and "sign in again" in caught.value.remedy
    assert len(oauth_sink.messages) == 1


def test_a_google_service_account_gets_a_token_for_the_mailbox_it_acts_as(
    tmp_path: Path, settings: Settings, oauth: OAuthServer, oauth_dovecot: DovecotServer
) -> None:
    """Domain-wide delegation: a JWT assertion whose subject is the mailbox; dovecot takes the token for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    account = {"client_email": oauth.service_account_email, "private_key": pem, "private_key_id": "k1",
               "token_uri": oauth.token_url}  # fmt: skip
    (tmp_path / "service-account.json").write_text(json.dumps(account), encoding="utf-8")
    google = OAuth2Settings(provider="google", service_account_file=Path("service-account.json"))
    tokens = TokenSource(google, base_dir=tmp_path, clock=Seconds())

    assert folder_size(settings, tokens) == 0

    [issued] = oauth.tokens.values()
    assert (issued.grant, issued.mailbox) == ("urn:ietf:params:oauth:grant-type:jwt-bearer", MAILBOX)
    assert tokens.per_mailbox


def test_a_microsoft_app_signs_in_with_its_certificate_instead_of_a_secret(
    tmp_path: Path, settings: Settings, oauth: OAuthServer, oauth_sink: OAuthSmtpSink
) -> None:
    """certificate_file: the token request is a client assertion signed by the certificate's key (x5t named)."""
    oauth.certificate_pem = self_signed_certificate(tmp_path / "app.pem")
    microsoft = OAuth2Settings(provider="microsoft", tenant_id="contoso.test", client_id=oauth.client_id,
                               certificate_file=Path("app.pem"), token_url=oauth.token_url)  # fmt: skip
    send(settings, TokenSource(microsoft, base_dir=tmp_path, clock=Seconds()), a_message())
    assert len(oauth_sink.messages) == 1 and [t.grant for t in oauth.tokens.values()] == ["client_credentials"]

    oauth.certificate_pem = self_signed_certificate(tmp_path / "other.pem")  # Entra holds another certificate
    with pytest.raises(MailPermanentError, match="invalid_client") as caught:
        send(settings, TokenSource(microsoft, base_dir=tmp_path, clock=Seconds()), a_message())
    assert caught.value.remedy is not None and "certificate" in caught.value.remedy


def self_signed_certificate(path: Path) -> bytes:
    """A PEM file with a new key and its self-signed certificate; returns the certificate alone."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dolirelance")])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(start).not_valid_after(start + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    path.write_bytes(key_pem + certificate_pem)
    return certificate_pem


# --------------------------------------------------------------------------------------- doctor, secrets


async def test_doctor_signs_in_to_both_servers_and_says_what_fails(settings: Settings, oauth: OAuthServer) -> None:
    """`doctor`'s mail checks: both sign-ins by OAuth2 succeed; revoked, both fail with what to check."""
    assert settings.oauth2 is not None
    good = {c.name: c for c in await mail_checks(settings, tokens=TokenSource(settings.oauth2))}
    assert good["SMTP"].ok and "(OAuth2)" in good["SMTP"].detail
    assert good["replies mailbox"].ok and f"signed in as {MAILBOX} (OAuth2)" in good["replies mailbox"].detail
    assert good["replies reach the mailbox"].ok

    oauth.revoke_client()
    bad = {c.name: c for c in await mail_checks(settings, tokens=TokenSource(settings.oauth2))}
    assert not bad["SMTP"].ok and not bad["SMTP"].warning and "invalid_client" in bad["SMTP"].detail
    assert not bad["replies mailbox"].ok and bad["replies mailbox"].remedy


def test_no_secret_or_token_in_logs_reprs_or_errors(
    settings: Settings,
    oauth: OAuthServer,
    oauth_sink: OAuthSmtpSink,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At DEBUG (as --debug), through sign-ins (secret, refresh token), a renewal and refusals: no secret shows."""
    assert settings.oauth2 is not None
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(REFRESH_ENV, oauth.refresh_token)
    generic = OAuth2Settings(provider="generic", token_url=oauth.token_url, client_id=oauth.client_id,
                             client_secret_env=SECRET_ENV, refresh_token_env=REFRESH_ENV)  # fmt: skip
    send(settings, TokenSource(generic, clock=Seconds()), a_message("by the refresh token"))
    tokens = TokenSource(settings.oauth2, clock=Seconds())
    shown: list[str] = [repr(settings), repr(settings.oauth2), repr(generic), repr(tokens)]
    send(settings, tokens, a_message("one"))
    oauth.expire_tokens()
    send(settings, tokens, a_message("two"))
    shown.append(repr(tokens._held))  # what a debugger or a traceback would show
    oauth.revoke_client()
    for attempt in (lambda: send(settings, tokens, a_message("three")), lambda: folder_size(settings, tokens)):
        with pytest.raises((MailPermanentError, MailboxError)) as caught:
            attempt()
        shown += [str(caught.value), repr(caught.value)]
    ours = [r for r in caplog.records if not r.name.startswith(("mail.log", "uvicorn"))]  # not the test servers'
    shown += [r.getMessage() for r in ours]

    everything = "\n".join(shown)
    assert len(oauth.issued()) == 3 and ours  # something was logged, tokens were given
    for secret in [oauth.client_secret, oauth.refresh_token, *oauth.issued()]:
        assert secret not in everything


# --------------------------------------------------------------------------------------- configuration


def test_oauth2_settings_say_what_each_provider_needs() -> None:
    """A provider missing what it needs is refused with the keys to set."""
    with pytest.raises(ValueError, match="tenant_id and client_id"):
        OAuth2Settings(provider="microsoft", client_secret_env="X")
    with pytest.raises(ValueError, match="client_secret_env or certificate_file"):
        OAuth2Settings(provider="microsoft", tenant_id="t", client_id="c")
    with pytest.raises(ValueError, match="service_account_file"):
        OAuth2Settings(provider="google", client_id="c")
    with pytest.raises(ValueError, match="token_url"):
        OAuth2Settings(provider="generic", client_id="c", client_secret_env="X")
    microsoft = OAuth2Settings(provider="microsoft", tenant_id="contoso.test", client_id="c", client_secret_env="X")
    assert microsoft.effective_token_url == "https://login.microsoftonline.com/contoso.test/oauth2/v2.0/token"
    assert microsoft.effective_scope == "https://outlook.office365.com/.default"
    google = OAuth2Settings(provider="google", service_account_file=Path("sa.json"))
    assert google.effective_scope == "https://mail.google.com/"


def test_config_check_names_a_missing_client_secret_variable(
    tmp_path: Path, oauth: OAuthServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config check` with the client secret's variable unset: the key and the variable named, no traceback."""
    from in_process_cli import run_main

    monkeypatch.delenv(SECRET_ENV, raising=False)
    with DovecotServer(MAILBOX) as dovecot:
        path = oauth_config(tmp_path, 2525, "key", dovecot, oauth, microsoft_table(oauth))
    result = run_main(["config", "check", "--config", str(path)], capsys, monkeypatch)
    assert result.code != 0 and "Traceback" not in result.text
    assert "oauth2.client_secret" in result.flat and SECRET_ENV in result.flat


def test_oauth2_auth_without_an_oauth2_table_is_a_configuration_error(tmp_path: Path) -> None:
    """[smtp] auth = "oauth2" needs [oauth2]; the error names the table to add."""
    from dolirelance.errors import ConfigError

    path = product_settings(tmp_path, 2525, "key").base_dir / "dolirelance.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("[smtp]\n", '[smtp]\nauth = "oauth2"\nusername = "d@x.test"\n', 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"needs an \[oauth2\] table"):
        load_config(path)

