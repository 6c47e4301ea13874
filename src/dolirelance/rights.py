"""The Dolibarr rights dolirelance uses, in one table: `doctor` lists them, every follow-up checks its own.

Leaf module. Dolibarr still checks its own rights on every call; this table lets us stop before
anything is read or written and name the missing right.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Right:
    name: str  # Dolibarr's dotted name, as ``User.has_right`` takes it
    why: str  # what dolirelance does with it ("cannot <why>" when missing)
    required: bool  # `doctor`: an error when missing (else a warning)
    every_follow_up: bool = False  # checked before any follow-up starts


RIGHTS: tuple[Right, ...] = (
    Right("propal.lire", "read quotes", required=True, every_follow_up=True),
    Right("propal.creer", "build quote PDFs, attach letters, set the opt-out flag", required=True),
    Right("societe.lire", "read customers", required=True),
    Right("societe.client.voir", "see every customer's quotes, not only those you represent", required=False),
    Right("societe.contact.lire", "read the quotes' contacts", required=True),
    Right("agenda.myactions.read", "read follow-up events", required=True),
    Right("agenda.myactions.create", "create agenda events", required=True, every_follow_up=True),
    Right("agenda.allactions.read", "read events of other users (history, to-dos)", required=False),
    Right("agenda.allactions.create", "give the next to-do to the sales person", required=False),
    Right("user.user.lire", "read the sales people's names and signatures", required=False),
)

# right → why, for the check made before every follow-up
FOLLOW_UP_RIGHTS: dict[str, str] = {right.name: right.why for right in RIGHTS if right.every_follow_up}
