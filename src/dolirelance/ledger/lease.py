"""Leases: how long a claim holds without news of its process, and the heartbeat that renews them.

A claim's lease is measured on the database's clock. While the process that holds a claim lives, its
:class:`Heartbeat` renews the lease every third of its length, so a live claim never runs out however
long the follow-up waits (SMTP lock, pacing, a slow Dolibarr); only a claim whose heartbeat stopped (the
process died, or froze for a whole lease) is taken over by :meth:`~dolirelance.ledger.Ledger.recover_abandoned`.

The lease itself still covers the worst case of the settings without a single beat
(:attr:`dolirelance.config.Settings.lease_seconds`), so a heartbeat held up by a busy database never gives
a live claim away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from dolirelance.errors import LedgerError

log = logging.getLogger("dolirelance.ledger")

BEATS_PER_LEASE = 3  # renewed three times per lease: two beats may be late before it runs out


class Heartbeat:
    """Renews the leases of the claims this process is working on, from a daemon thread.

    ``renew`` gets the keys held and renews their leases (one short transaction); it runs every
    ``interval`` seconds while at least one key is held. A beat that fails is logged and tried again
    at the next one: the lease is long enough for a few missed beats.
    """

    def __init__(self, renew: Callable[[Collection[str]], object], interval: float) -> None:
        self._renew = renew
        self.interval = interval
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0  # beats that renewed something (for tests and the log)

    @property
    def held(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._held)

    def hold(self, key: str) -> None:
        """Keep ``key``'s lease alive from now on (the heartbeat starts with the first key)."""
        with self._lock:
            self._held.add(key)
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="dolirelance-ledger-heartbeat", daemon=True)
                self._thread.start()

    def let_go(self, key: str) -> None:
        """Stop renewing ``key``: it is finished, handed to a person, or this process gives up on it."""
        with self._lock:
            self._held.discard(key)

    def stop(self) -> None:
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            keys = self.held
            if not keys:
                continue
            try:
                self._renew(keys)
                self.beats += 1
            except LedgerError as exc:  # the database is away: the lease still holds for a while
                log.warning("could not renew the leases of %d claim(s): %s", len(keys), exc.message)
            except Exception:  # never let the heartbeat die silently
                log.exception("renewing the leases of %d claim(s) failed", len(keys))
