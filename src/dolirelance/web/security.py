"""Sessions, CSRF tokens and the login rate limit of the web pages.

The session lives on the server (the user's Dolibarr API key never leaves this process); the
cookie carries only a random session id, signed with HMAC-SHA256 so a forged id is refused
before any lookup.

A session made before login (the login page's CSRF token, the chosen language) is cheap for
anyone to create: it lives ``PRE_LOGIN_SECONDS`` and at most ``MAX_PRE_LOGIN`` of them are kept
(the oldest goes first), so a flood of ``GET /login`` holds a bounded amount of memory. Logging
in gives a new session of the full ``[web] session_hours``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "dolirelance_session"
PRE_LOGIN_SECONDS = 30 * 60  # time to fill in the login form
MAX_PRE_LOGIN = 2_000  # sessions not logged in kept at once; beyond, the oldest is dropped


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
    """Sessions in memory, keyed by a random id.

    A logged-in session expires ``lifetime_seconds`` after login; one made before login
    ``pre_login_seconds`` after creation, and only the newest ``max_pre_login`` are kept.
    """

    secret_key: bytes
    lifetime_seconds: float
    clock: Callable[[], float] = time.time
    pre_login_seconds: float = PRE_LOGIN_SECONDS
    max_pre_login: int = MAX_PRE_LOGIN
    _sessions: dict[str, Session] = field(default_factory=dict)
    # the ids of sessions not logged in, oldest first (a subset of _sessions)
    _pre_login: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self) -> Session:
        """A session before login: short-lived, and the oldest one dropped beyond ``max_pre_login``."""
        self._drop_expired()
        while len(self._pre_login) >= self.max_pre_login:
            oldest, _ = self._pre_login.popitem(last=False)
            self._sessions.pop(oldest, None)
        session = self._new(self.pre_login_seconds)
        self._pre_login[session.session_id] = None
        return session

    def renew(self, old: Session) -> Session:
        """A fresh id (and CSRF token) after login, so an id planted before login is worth nothing.

        The new session lives the full ``lifetime_seconds``; the caller marks it logged in.
        """
        self.drop(old)
        self._drop_expired()
        session = self._new(self.lifetime_seconds)
        session.language = old.language
        return session

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.session_id, None)
        self._pre_login.pop(session.session_id, None)

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

    def seconds_left(self, session: Session) -> int:
        """How long the session's cookie should live (its server-side life, at least one second)."""
        return max(1, round(session.expires_at - self.clock()))

    def cookie_value(self, session: Session) -> str:
        return f"{session.session_id}.{self._signature(session.session_id)}"

    def unsign(self, cookie: str) -> str | None:
        session_id, _, signature = cookie.rpartition(".")
        if not session_id or not hmac.compare_digest(signature, self._signature(session_id)):
            return None
        return session_id

    def _new(self, lifetime: float) -> Session:
        session = Session(
            session_id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=self.clock() + lifetime,
        )
        self._sessions[session.session_id] = session
        return session

    def _signature(self, value: str) -> str:
        return hmac.new(self.secret_key, value.encode(), hashlib.sha256).hexdigest()

    def _drop_expired(self) -> None:
        now = self.clock()
        for session_id in [sid for sid, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[session_id]
            self._pre_login.pop(session_id, None)


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf_token.encode(), submitted.encode())


@dataclass
class LoginLimiter:
    """At most ``max_failures`` failed logins per client address and per login in ``window_seconds``.

    An attempt is counted *before* Dolibarr is asked (:meth:`begin`), as if it failed; a login
    that succeeds is then taken off (:meth:`succeeded`). So parallel attempts cannot all reach
    Dolibarr while the first answers are awaited: the ``max_failures + 1``-th is refused at once.
    """

    max_failures: int = 5
    window_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000  # addresses and logins remembered at once (a flood of made-up logins)
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def begin(self, client: str, login: str) -> float | None:
        """Count an attempt about to be made; None if allowed, else seconds until one is allowed again.

        An allowed attempt returns None and must be followed by :meth:`succeeded` if Dolibarr
        accepts it (a refusal needs nothing more: it is counted already).
        """
        wait = self.retry_after(client, login)
        if wait is not None:
            return wait
        now = self.clock()
        for key in self._keys(client, login):
            self._failures.setdefault(key, deque()).append(now)
        self._prune()
        return None

    def succeeded(self, client: str, login: str) -> None:
        """The attempt counted by :meth:`begin` was no failure: a good login, or Dolibarr never answered."""
        for key in self._keys(client, login):
            attempts = self._failures.get(key)
            if attempts:
                attempts.pop()  # one attempt of this key, the newest: all weigh the same

    def retry_after(self, client: str, login: str) -> float | None:
        """Seconds until the client may try this login again; None when it may now."""
        waits = [
            failures[0] + self.window_seconds - self.clock()
            for key in self._keys(client, login)
            if self._count(key) >= self.max_failures and (failures := self._failures[key])
        ]
        return max(waits) if waits else None

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

    def _prune(self) -> None:
        if len(self._failures) <= self.max_keys:
            return
        for key in [key for key in self._failures if not self._count(key)]:
            del self._failures[key]
        while len(self._failures) > self.max_keys:  # all recent: the oldest entries go first
            del self._failures[next(iter(self._failures))]
