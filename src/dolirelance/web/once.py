"""One-time tokens of the forms that send: a form posted twice does its work once.

Each sending form (« Nouvelle relance », the mass confirmation) carries a token the page handed
out (:meth:`OneTimeForms.issue`). Posting it runs the work through :meth:`OneTimeForms.once`:

- the first post of a token does the work;
- a post of the same token while the first runs (a double click, two tabs) waits for the first
  and gets a :class:`Replay` of it (where to see its result), never a second run;
- a post of a token already used gets the same :class:`Replay`;
- a first post that did nothing (its page shows an error and asks to correct the form) hands the
  token back, so the corrected form can be posted with it.

The tokens live in this process's memory, as the sessions do: a bounded number, each for the
life of a session. The individual form's token is also the ledger key of its follow-up, which
holds across processes and restarts; the mass form's token exists only here.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from starlette.responses import Response

MAX_TOKENS = 20_000  # tokens kept at once (every session together); beyond, the oldest is forgotten
WAIT_FOR_FIRST_SECONDS = 120.0  # how long a second post waits for the first one to finish


class Replay(Enum):
    """Why a post of a token did not run the work again."""

    DONE = "done"  # the first post of this token did it: ``result`` says where to see it
    RUNNING = "running"  # the first post is still at work (longer than a second post waits)
    UNKNOWN = "unknown"  # never issued to this session, or forgotten since (expired, restart)


@dataclass(frozen=True)
class Replayed:
    """A form posted again: nothing was done a second time."""

    why: Replay
    result: str | None = None  # a page of this site showing what the first post did


@dataclass
class _Token:
    session_id: str
    expires_at: float
    running: asyncio.Event | None = None  # set while the first post works; set() when it ends
    result: str | None = None  # where to see the result, once done


@dataclass
class OneTimeForms:
    lifetime_seconds: float
    clock: Callable[[], float] = time.time
    max_tokens: int = MAX_TOKENS
    wait_seconds: float = WAIT_FOR_FIRST_SECONDS
    _tokens: OrderedDict[str, _Token] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._tokens)

    def issue(self, session_id: str) -> str:
        """A new token for a form shown to this session (32 hex digits: it may serve as a ledger key)."""
        self._forget_old()
        token = secrets.token_hex(16)
        self._tokens[token] = _Token(session_id, self.clock() + self.lifetime_seconds)
        return token

    async def once(
        self,
        session_id: str,
        token: str,
        work: Callable[[], Awaitable[Response]],
        *,
        result_of: Callable[[Response], str | None],
        issued_only: bool,
    ) -> Response | Replayed:
        """Run ``work`` for the first post of ``token``; a :class:`Replayed` for any other post.

        ``result_of`` reads the work's response: the page where its result is seen (the token is
        then used up), or None when nothing was done (the token may be posted again).
        ``issued_only``: refuse a token this process did not hand out (else it is taken as new).
        """
        while True:
            entry = self._tokens.get(token)
            if entry is not None and (entry.session_id != session_id or entry.expires_at <= self.clock()):
                if entry.session_id == session_id:
                    del self._tokens[token]
                return Replayed(Replay.UNKNOWN)
            if entry is None:
                if issued_only:
                    return Replayed(Replay.UNKNOWN)
                self._forget_old()
                entry = _Token(session_id, self.clock() + self.lifetime_seconds)
                self._tokens[token] = entry
            if entry.result is not None:
                return Replayed(Replay.DONE, entry.result)
            if entry.running is None:
                break
            try:  # a second post of a token at work: wait for the first, then look again
                await asyncio.wait_for(entry.running.wait(), self.wait_seconds)
            except TimeoutError:
                return Replayed(Replay.RUNNING)
        running = entry.running = asyncio.Event()
        try:
            response = await work()
            entry.result = result_of(response)
            return response
        finally:
            entry.running = None  # done (result set) or handed back (nothing was done)
            running.set()

    def _forget_old(self) -> None:
        """Forget expired tokens, then the oldest beyond ``max_tokens`` (a token at work stays, moved last)."""
        now = self.clock()
        at_work: list[tuple[str, _Token]] = []
        while self._tokens:
            token, oldest = next(iter(self._tokens.items()))
            if oldest.expires_at > now and len(self._tokens) + len(at_work) < self.max_tokens:
                break
            del self._tokens[token]
            if oldest.running is not None:
                at_work.append((token, oldest))
        self._tokens.update(at_work)
