"""Sessions, CSRF tokens and the login rate limit of the web pages.

The session lives on the server (the user's Dolibarr API key never leaves this process); the
cookie carries only a random session id, signed with HMAC-SHA256 so a forged id is refused
before any lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "dolirelance_session"


@dataclass
class Session:
    """One browser's session. ``api_key`` is None until the user has logged in."""

    session_id: str
    csrf_token: str
    expires_at: float
    api_key: str | None = None
    login: str | None = None
    user_id: int | None = None
    display_name: str = ""
    language: str | None = None  # chosen with ?lang=, else the configured one
    # Dolibarr's societe.client.voir (or admin): may see every customer's generated letters.
    sees_all_customers: bool = False

    @property
    def logged_in(self) -> bool:
        return self.api_key is not None

    def __repr__(self) -> str:  # never show the key (logs, tracebacks)
        return f"Session(login={self.login!r}, logged_in={self.logged_in})"


@dataclass
class SessionStore:
    """Sessions in memory, keyed by a random id; they expire ``lifetime_seconds`` after creation."""

    secret_key: bytes
    lifetime_seconds: float
    clock: Callable[[], float] = time.time
    _sessions: dict[str, Session] = field(default_factory=dict)

    def create(self) -> Session:
        self._drop_expired()
        session = Session(
            session_id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=self.clock() + self.lifetime_seconds,
        )
        self._sessions[session.session_id] = session
        return session

    def renew(self, old: Session) -> Session:
        """A fresh id (and CSRF token) after login, so an id planted before login is worth nothing."""
        self._sessions.pop(old.session_id, None)
        session = self.create()
        session.language = old.language
        return session

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.session_id, None)

    def from_cookie(self, cookie: str | None) -> Session | None:
        session_id = self.unsign(cookie) if cookie else None
        if session_id is None:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at <= self.clock():
            self.drop(session)
            return None
        return session

    def cookie_value(self, session: Session) -> str:
        return f"{session.session_id}.{self._signature(session.session_id)}"

    def unsign(self, cookie: str) -> str | None:
        session_id, _, signature = cookie.rpartition(".")
        if not session_id or not hmac.compare_digest(signature, self._signature(session_id)):
            return None
        return session_id

    def _signature(self, value: str) -> str:
        return hmac.new(self.secret_key, value.encode(), hashlib.sha256).hexdigest()

    def _drop_expired(self) -> None:
        now = self.clock()
        for session_id in [sid for sid, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[session_id]


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf_token.encode(), submitted.encode())


@dataclass
class LoginLimiter:
    """At most ``max_failures`` failed logins per client address and per login in ``window_seconds``."""

    max_failures: int = 5
    window_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, client: str, login: str) -> bool:
        return any(self._count(key) >= self.max_failures for key in self._keys(client, login))

    def record_failure(self, client: str, login: str) -> None:
        now = self.clock()
        for key in self._keys(client, login):
            self._failures.setdefault(key, deque()).append(now)

    def _keys(self, client: str, login: str) -> tuple[str, str]:
        return f"ip:{client}", f"login:{login.strip().lower()}"

    def _count(self, key: str) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        horizon = self.clock() - self.window_seconds
        while failures and failures[0] <= horizon:
            failures.popleft()
        return len(failures)
