"""Everything a use case needs, built once at the edge: settings, clients, caches; and the rights check."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dolirelance.config import Settings
from dolirelance.dolibarr import DolibarrClient, Transport, login_for_key
from dolirelance.domain import (
    Company,
    User,
    model_level,
)
from dolirelance.errors import DolibarrAuthError, SetupIncomplete
from dolirelance.rights import FOLLOW_UP_RIGHTS

# The ledger (SQLAlchemy, Alembic), the letters (ReportLab, pypdf), the mail and the templates (Jinja2)
# are imported when first used: a command that only reads Dolibarr (``quotes``) starts without them.
if TYPE_CHECKING:
    from dolirelance.ledger import Ledger
    from dolirelance.letter import PdfPageCache
    from dolirelance.mail import SmtpSender
    from dolirelance.oauth import TokenSource
    from dolirelance.render import Renderer

log = logging.getLogger(__name__)


REQUIRED_RIGHTS = FOLLOW_UP_RIGHTS


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a use case needs, built once at the edge (CLI, daemon, web)."""

    settings: Settings
    dolibarr: DolibarrClient  # the acting user's key: what they do is theirs in Dolibarr
    now: Callable[[], datetime] = _utc_now
    smtp_factory: Callable[[], AbstractContextManager[SmtpSender]] | None = None
    ledger_clock: Callable[[], datetime] | None = None
    # OAuth2 tokens for SMTP and IMAP (auth = "oauth2"); by default the process's, kept across runtimes
    token_source: TokenSource | None = None
    _ledger: Ledger | None = None
    _renderer: Renderer | None = None
    _letter_pages: PdfPageCache | None = None
    _opening: threading.Lock = field(default_factory=threading.Lock)
    _company: Company | None = None
    _users: dict[int, User] = field(default_factory=dict)
    _me: User | None = None
    _sales_reps: dict[int, list[User]] = field(default_factory=dict)
    # ``[dolibarr] service_api_key`` when it is not the acting user's key (web sessions, a sales person's
    # own configuration): reads everyone's follow-up events, closes to-dos the acting user may not touch.
    service_dolibarr: DolibarrClient | None = None

    def __post_init__(self) -> None:
        if self.service_dolibarr is not None:  # one Dolibarr: both keys' requests under one limit
            self.service_dolibarr.share_pace_with(self.dolibarr)

    @property
    def events_reader(self) -> DolibarrClient:
        """The client that reads follow-up events: the service's key sees every user's, a sales person's
        own key may see only theirs (Dolibarr without ``agenda.allactions.read``)."""
        return self.service_dolibarr or self.dolibarr

    @property
    def ledger(self) -> Ledger:
        """The configured ledger, opened (its schema brought up to date) the first time it is used."""
        with self._opening:  # worker threads may be the first to ask
            if self._ledger is None:
                self._ledger = open_ledger(self.settings, clock=self.ledger_clock)
            return self._ledger

    @property
    def ledger_opened(self) -> bool:
        return self._ledger is not None

    @property
    def renderer(self) -> Renderer:
        """Every model compiled, the first time a follow-up is rendered."""
        with self._opening:
            if self._renderer is None:
                from dolirelance.render import Renderer

                self._renderer = Renderer(self.settings)
            return self._renderer

    @renderer.setter
    def renderer(self, renderer: Renderer) -> None:
        """Another renderer (settings changed since): used from now on."""
        self._renderer = renderer

    @property
    def letter_pages(self) -> PdfPageCache:
        """Parsed PDFs shared by this runtime's letters, made when the first letter is composed."""
        with self._opening:
            if self._letter_pages is None:
                from dolirelance.letter import PdfPageCache

                self._letter_pages = PdfPageCache()
            return self._letter_pages

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.auto.timezone)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    @property
    def tokens(self) -> TokenSource | None:
        """Where SMTP and IMAP get their OAuth2 tokens; None without an ``[oauth2]`` table."""
        if self.token_source is None and self.settings.oauth2 is not None:
            from dolirelance.oauth import shared_token_source

            self.token_source = shared_token_source(self.settings.oauth2, self.settings.base_dir)
        return self.token_source

    def open_smtp(self) -> AbstractContextManager[SmtpSender]:
        if self.smtp_factory is not None:
            return self.smtp_factory()
        smtp = self.settings.smtp
        from dolirelance.mail import SmtpSender, dkim_signer

        key_file = self.settings.resolve_path(smtp.dkim_key_file) if smtp.dkim_key_file else None
        return SmtpSender(smtp, dkim=dkim_signer(smtp, key_file), tokens=self.tokens)

    async def company(self) -> Company:
        if self._company is None:
            configured = self.settings.company
            if configured is not None:
                self._company = Company(**configured.model_dump())
            else:
                try:
                    self._company = await self.dolibarr.company()
                except DolibarrAuthError as exc:
                    # the cause is the missing [company] (only an admin may read Dolibarr's), not a user's right
                    raise SetupIncomplete(
                        "dolirelance.toml has no [company] table, and the API user may not read the company "
                        f"details in Dolibarr (admin only): {exc.message}",
                        remedy="fill the [company] table of dolirelance.toml (docs/configuration.md), or make "
                        "the API user admin, or add its login to the Dolibarr constant "
                        "API_LOGINS_ALLOWED_FOR_GET_COMPANY",
                    ) from None
        return self._company

    async def me(self) -> User:
        if self._me is None:
            self._me = await self.dolibarr.current_user()
            self._users[self._me.id] = self._me
        return self._me

    async def user(self, user_id: int) -> User:
        if user_id not in self._users:
            self._users[user_id] = await self.dolibarr.get_user(user_id)
        return self._users[user_id]

    async def sales_representatives(self, customer_id: int) -> list[User]:
        """A customer's sales representatives, read once per runtime (a run sends to many quotes of one customer)."""
        if customer_id not in self._sales_reps:
            self._sales_reps[customer_id] = await self.dolibarr.sales_representatives(customer_id)
        return self._sales_reps[customer_id]

    def forget_people(self) -> None:
        """Read users and sales representatives again from now on (a new run in a long-lived daemon)."""
        self._users = {uid: user for uid, user in self._users.items() if self._me is not None and uid == self._me.id}
        self._sales_reps.clear()

    def model_names(self) -> list[str]:
        return [model.name for model in self.settings.models]

    def level_of(self, model_name: str | None) -> int | None:
        return model_level(self.model_names(), model_name)


SmtpFactory = Callable[[], AbstractContextManager["SmtpSender"]]


async def log_in(settings: Settings, login: str, password: str, *, transport: Transport | None = None) -> str:
    """A Dolibarr login and password → that user's API key (the web pages' sessions)."""
    dolibarr = settings.dolibarr
    return await login_for_key(
        dolibarr.url,
        login,
        password,
        timeout=dolibarr.timeout,
        verify_tls=dolibarr.verify_tls,
        transport=transport,
    )


def open_ledger(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Ledger:
    """The configured ledger, its schema brought up to date; front ends open it only through here."""
    from dolirelance.ledger import Ledger

    return Ledger(
        settings.ledger.url,
        instance=settings.ledger.instance,
        lease_seconds=settings.lease_seconds,
        clock=clock or _utc_now,
    )


def ledger_location(settings: Settings) -> str:
    """Where the ledger is, for messages (the default SQLite file when none is configured)."""
    from dolirelance.ledger import default_ledger_path

    return settings.ledger.url or str(default_ledger_path())


def state_directory(settings: Settings) -> Path:
    """Where the daemon keeps its state: beside a SQLite ledger, else in the user's state directory."""
    from dolirelance.ledger import default_ledger_path

    url = settings.ledger.url
    if url and url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).parent
    return default_ledger_path().parent


def _client(settings: Settings, key: str, transport: Transport | None) -> DolibarrClient:
    return DolibarrClient(
        settings.dolibarr.url,
        key,
        timeout=settings.dolibarr.timeout,
        verify_tls=settings.dolibarr.verify_tls,
        page_size=settings.dolibarr.page_size,
        max_concurrency=settings.dolibarr.max_concurrency,
        adapt_concurrency=settings.dolibarr.adapt_concurrency,
        server_timezone=settings.dolibarr.timezone,
        opt_out_field=settings.followup.opt_out_field,
        transport=transport,
    )


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    api_key: str | None = None,
    transport: Transport | None = None,
    now: Callable[[], datetime] | None = None,
    smtp_factory: Callable[[], AbstractContextManager[SmtpSender]] | None = None,
    ledger: Ledger | None = None,
) -> AsyncIterator[Runtime]:
    """A runtime with a Dolibarr client; ``api_key`` overrides the configured one (web sessions)."""
    key = api_key if api_key is not None else settings.dolibarr.resolved_api_key().get_secret_value()
    client = _client(settings, key, transport)
    service_secret = settings.dolibarr.resolved_service_api_key()
    service_key = service_secret.get_secret_value() if service_secret is not None else key
    service_client = _client(settings, service_key, transport) if service_key != key else None
    rt = Runtime(settings=settings, dolibarr=client, now=now or _utc_now, smtp_factory=smtp_factory,
                 ledger_clock=now, _ledger=ledger, service_dolibarr=service_client)  # fmt: skip
    try:
        async with client:
            if service_client is None:
                yield rt
            else:
                async with service_client:
                    yield rt
    finally:
        if ledger is None and rt.ledger_opened:  # opened here, on first use
            rt.ledger.close()


async def require_rights(rt: Runtime, user: User, *, extra: dict[str, str] | None = None) -> None:
    """Stop at once, naming the missing right, before anything is read or written."""
    needed = dict(REQUIRED_RIGHTS)
    needed.update(extra or {})
    missing = [f"{right} ({why})" for right, why in needed.items() if not user.has_right(right)]
    if missing:
        raise DolibarrAuthError(
            f"the Dolibarr user {user.login} lacks the right(s): {', '.join(missing)}",
            remedy="give these permissions to the user in Dolibarr (Users & Groups > user > Permissions)",
        )


async def api_user(rt: Runtime) -> User:
    """The API key's user; when Dolibarr will not even say who it is, name the rights a follow-up needs."""
    try:
        return await rt.me()
    except DolibarrAuthError as exc:
        if exc.status_code != 403:
            raise
        needed = ", ".join(f"{right} ({why})" for right, why in REQUIRED_RIGHTS.items())
        raise DolibarrAuthError(
            f"{exc.message}; a follow-up also needs the right(s): {needed}",
            remedy=exc.remedy,
            status_code=exc.status_code,
        ) from None
