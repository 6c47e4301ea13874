"""Everything a use case needs, built once at the edge: settings, clients, caches; and the rights check."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dolirelance.config import Settings
from dolirelance.dolibarr import DolibarrClient, login_for_key
from dolirelance.domain import (
    Company,
    User,
    model_level,
)
from dolirelance.errors import DolibarrAuthError
from dolirelance.ledger import Ledger, default_ledger_path
from dolirelance.letter import PdfPageCache
from dolirelance.mail import SmtpSender, dkim_signer
from dolirelance.render import Renderer
from dolirelance.rights import FOLLOW_UP_RIGHTS

log = logging.getLogger(__name__)


REQUIRED_RIGHTS = FOLLOW_UP_RIGHTS


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a use case needs, built once at the edge (CLI, daemon, web)."""

    settings: Settings
    dolibarr: DolibarrClient
    ledger: Ledger
    renderer: Renderer
    now: Callable[[], datetime] = _utc_now
    smtp_factory: Callable[[], AbstractContextManager[SmtpSender]] | None = None
    letter_pages: PdfPageCache = field(default_factory=PdfPageCache)  # parsed PDFs shared by this runtime's letters
    _company: Company | None = None
    _users: dict[int, User] = field(default_factory=dict)
    _me: User | None = None
    _sales_reps: dict[int, list[User]] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.auto.timezone)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def open_smtp(self) -> AbstractContextManager[SmtpSender]:
        if self.smtp_factory is not None:
            return self.smtp_factory()
        smtp = self.settings.smtp
        key_file = self.settings.resolve_path(smtp.dkim_key_file) if smtp.dkim_key_file else None
        return SmtpSender(smtp, dkim=dkim_signer(smtp, key_file))

    async def company(self) -> Company:
        if self._company is None:
            configured = self.settings.company
            if configured is not None:
                self._company = Company(**configured.model_dump())
            else:
                self._company = await self.dolibarr.company()
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


SmtpFactory = Callable[[], AbstractContextManager[SmtpSender]]


async def log_in(settings: Settings, login: str, password: str, *, transport: object | None = None) -> str:
    """A Dolibarr login and password → that user's API key (the web pages' sessions)."""
    dolibarr = settings.dolibarr
    return await login_for_key(
        dolibarr.url,
        login,
        password,
        timeout=dolibarr.timeout,
        verify_tls=dolibarr.verify_tls,
        transport=transport,  # type: ignore[arg-type]
    )


def open_ledger(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Ledger:
    """The configured ledger, its schema brought up to date; front ends open it only through here."""
    return Ledger(settings.ledger.url, instance=settings.ledger.instance, clock=clock or _utc_now)


def ledger_location(settings: Settings) -> str:
    """Where the ledger is, for messages (the default SQLite file when none is configured)."""
    return settings.ledger.url or str(default_ledger_path())


def state_directory(settings: Settings) -> Path:
    """Where the daemon keeps its state: beside a SQLite ledger, else in the user's state directory."""
    url = settings.ledger.url
    if url and url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).parent
    return default_ledger_path().parent


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    api_key: str | None = None,
    transport: object | None = None,
    now: Callable[[], datetime] | None = None,
    smtp_factory: Callable[[], AbstractContextManager[SmtpSender]] | None = None,
    ledger: Ledger | None = None,
) -> AsyncIterator[Runtime]:
    """A runtime with a Dolibarr client; ``api_key`` overrides the configured one (web sessions)."""
    key = api_key if api_key is not None else settings.dolibarr.resolved_api_key().get_secret_value()
    client = DolibarrClient(
        settings.dolibarr.url,
        key,
        timeout=settings.dolibarr.timeout,
        verify_tls=settings.dolibarr.verify_tls,
        page_size=settings.dolibarr.page_size,
        max_concurrency=settings.dolibarr.max_concurrency,
        server_timezone=settings.dolibarr.timezone,
        opt_out_field=settings.followup.opt_out_field,
        transport=transport,  # type: ignore[arg-type]
    )
    own_ledger = ledger is None
    the_ledger = ledger or open_ledger(settings, clock=now)
    try:
        async with client:
            yield Runtime(
                settings=settings,
                dolibarr=client,
                ledger=the_ledger,
                renderer=Renderer(settings),
                now=now or _utc_now,
                smtp_factory=smtp_factory,
            )
    finally:
        if own_ledger:
            the_ledger.close()


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
