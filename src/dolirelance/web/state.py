"""What the web app keeps while it runs (:class:`WebState`): settings, sessions, caches, and the
files the pages wrote and who may download them."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote as url_quote

from jinja2 import Environment
from starlette.requests import Request

from dolirelance.config import Settings
from dolirelance.dolibarr import Transport
from dolirelance.service import Runtime, SmtpFactory, open_runtime
from dolirelance.service.access import Access, access_configured, access_of, refusal
from dolirelance.web.email_frames import EmailFrames
from dolirelance.web.jobs import JobBoard
from dolirelance.web.once import OneTimeForms
from dolirelance.web.security import LoginLimiter, Session, SessionStore
from dolirelance.web.sso import SsoVerifier

# Only files the pages themselves wrote may be downloaded: batch PDFs and single letters.
DOWNLOADABLE = re.compile(r"^(relances|relance-unitaire)-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}\.pdf$")
API_SUFFIX = "/api/index.php"


@dataclass
class WebState:
    settings: Settings
    sessions: SessionStore
    limiter: LoginLimiter
    templates: Environment
    dolibarr_transport: Transport | None = None
    now: Callable[[], datetime] | None = None
    smtp_factory: SmtpFactory | None = None
    jobs: JobBoard = field(default_factory=JobBoard)
    # session id -> (when read, what the user may do): pages reuse it for [access] cache_seconds
    access_cache: dict[str, tuple[float, Access]] = field(default_factory=dict)
    email_frames: EmailFrames = field(default_factory=EmailFrames)
    # the one-time tokens of the sending forms (see web.once)
    forms: OneTimeForms = field(default_factory=lambda: OneTimeForms(lifetime_seconds=8 * 3600))
    # the Dolibarr module's signed links ([web] dolibarr_sso_secret_env); None: the password only
    sso: SsoVerifier | None = None

    async def access(self, session: Session) -> Access:
        """What the session's user may do under ``[access]``, as Dolibarr said it at most ``cache_seconds`` ago."""
        if not access_configured(self.settings.access):
            return Access.SEND
        now = (self.now or (lambda: datetime.now(UTC)))().timestamp()
        cached = self.access_cache.get(session.session_id)
        if cached is not None and now - cached[0] < self.settings.access.cache_seconds:
            return cached[1]
        async with self.runtime(session) as rt:
            level = await access_of(rt, await rt.me())
            if level is Access.NONE:
                self.access_cache.pop(session.session_id, None)
                raise refusal(self.settings.access, await rt.me(), Access.READ)
        ttl = self.settings.access.cache_seconds
        self.access_cache = {sid: seen for sid, seen in self.access_cache.items() if now - seen[0] < ttl}
        self.access_cache[session.session_id] = (now, level)
        return level

    def runtime(self, session: Session) -> AbstractAsyncContextManager[Runtime]:
        assert session.api_key is not None
        return open_runtime(
            self.settings,
            api_key=session.api_key,
            transport=self.dolibarr_transport,
            now=self.now,
            smtp_factory=self.smtp_factory,
        )

    @property
    def output_dir(self) -> Path:
        return self.settings.resolve_path(self.settings.letter.output_dir)

    def generated_files(self, session: Session) -> list[Path]:
        """The letters this user may download: their own, or all with Dolibarr's societe.client.voir."""
        if not self.output_dir.is_dir():
            return []
        files = [
            p
            for p in self.output_dir.iterdir()
            if DOWNLOADABLE.match(p.name) and p.is_file() and self.may_download(p, session)
        ]
        return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)

    def may_download(self, path: Path, session: Session) -> bool:
        if session.sees_all_customers:
            return True
        try:
            owner = owner_file(path).read_text(encoding="utf-8").strip()
        except OSError:
            return False  # no owner recorded: only users who see every customer
        return session.login is not None and owner == session.login

    def record_owner(self, path: Path, login: str | None) -> None:
        """Remember who made a generated file (next to it, so it survives restarts)."""
        if login:
            owner_file(path).write_text(login, encoding="utf-8")

    def client_address(self, request: Request) -> str:
        """The browser's address: taken from X-Forwarded-For only behind [web] trusted_proxies
        (ProxyHeadersMiddleware, see create_web_app); otherwise whoever connected."""
        return request.client.host if request.client else "unknown"

    def dolibarr_document_url(self, quote_ref: str, file_name: str) -> str:
        """Dolibarr's own download page for a file attached to a quote (the user's Dolibarr session)."""
        root = self.settings.dolibarr.url.removesuffix(API_SUFFIX)
        return f"{root}/document.php?modulepart=propal&file={url_quote(f'{quote_ref}/{file_name}', safe='')}"


def owner_file(path: Path) -> Path:
    return path.with_name(path.name + ".owner")  # never matches DOWNLOADABLE
