"""A previewed e-mail's HTML part, shown as the customer's mail client shows it, in a sandboxed frame.

Why a frame with its own URL rather than ``<iframe srcdoc>``: a srcdoc document inherits the page's
Content-Security-Policy (styles and images from this site only), which would hide the e-mail's own
``<style>``, inline styles and ``data:`` images; loosening the pages' policy for it would weaken every
page. The frame's document gets a policy of its own instead (:func:`frame_policy`): ``sandbox`` (no
scripts, an opaque origin: no cookie, no same-origin request, no form, no pop-up), no network but
the remote images the admin allows in e-mails, framed by this site only. The ``<iframe sandbox>`` that
shows it says the same from the page's side.

The page that prepared the preview keeps the HTML here, under a random token, for its own session
and a short while: the frame shows exactly what the page prepared, without preparing it again.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

__all__ = ["EmailFrames", "frame_policy"]


class EmailFrames:
    """Previewed HTML bodies by token, each readable only by the session that made it, for ``max_age`` seconds."""

    def __init__(
        self, *, max_age: float = 900.0, max_entries: int = 200, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age, self.max_entries, self.clock = max_age, max_entries, clock
        self._frames: OrderedDict[str, tuple[str, float, str]] = OrderedDict()  # token → (session, when, html)

    def keep(self, session_id: str, html: str) -> str:
        """Keep ``html`` for ``session_id``; the token the frame's URL carries."""
        token = secrets.token_hex(16)
        self._frames[token] = (session_id, self.clock(), html)
        while len(self._frames) > self.max_entries:  # the oldest previews go first
            self._frames.popitem(last=False)
        return token

    def get(self, session_id: str, token: str) -> str | None:
        found = self._frames.get(token)
        if found is None or found[0] != session_id:
            return None
        if self.clock() - found[1] > self.max_age:
            del self._frames[token]
            return None
        return found[2]


def frame_policy(allowed_image_hosts: Iterable[str]) -> str:
    """The Content-Security-Policy of a framed e-mail: its own styles and inline images, nothing that runs."""
    images = " ".join(["data:", *(f"https://{host} http://{host}" for host in sorted(allowed_image_hosts))])
    return (
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; "
        f"img-src {images}; font-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
