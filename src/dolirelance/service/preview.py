"""What a preview says about the follow-ups it shows, before anything leaves: the rules, not the words.

- A quote followed up fewer than ``[auto] min_gap`` days ago (by anyone: the ledger's and Dolibarr's
  last follow-up) gets a :class:`RecentFollowUpNotice`; the front ends word it.
- Each line of a mass preview (:class:`MassPreviewLine`): who the e-mail would go to, the recent
  follow-up if any, and whether its problem is worth saying besides that warning.

Reading only: nothing here writes to the ledger or to Dolibarr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dolirelance.domain import Recipient, choose_recipients
from dolirelance.errors import ErrorCode
from dolirelance.service.agenda import LastFollowUp, is_recent, last_followup, owner_name
from dolirelance.service.manual import MassItem
from dolirelance.service.prepare import PreparedFollowUp
from dolirelance.service.runtime import Runtime

__all__ = ["MassPreviewLine", "RecentFollowUpNotice", "mass_preview_lines", "recent_followup"]


@dataclass(frozen=True, slots=True)
class RecentFollowUpNotice:
    """The quote's last follow-up, done within ``gap_days`` days (``[auto] min_gap``): a preview warns."""

    last: LastFollowUp
    gap_days: int
    owner_name: str | None = None  # who did it, when that may be read


@dataclass(frozen=True, slots=True)
class MassPreviewLine:
    """One planned quote as a mass preview shows it."""

    item: MassItem
    recipients: tuple[Recipient, ...]  # whom an e-mail would go to, chosen as the sending chooses
    recent: RecentFollowUpNotice | None
    problem_code: ErrorCode | None  # why it is left out, when the recent warning does not say it already
    shows_problem: bool

    @property
    def held(self) -> bool:
        """Left out of the run (its problem, or a recent follow-up without ``force``)."""
        return bool(self.item.problem)


def mass_preview_lines(rt: Runtime, items: Sequence[MassItem]) -> list[MassPreviewLine]:
    """Each planned quote (:func:`~dolirelance.service.manual.plan_mass`) with what its preview line says."""
    gap = rt.settings.auto.min_gap
    lines = []
    for item in items:
        quote, customer, last = item.row.quote, item.row.customer, item.last  # everyone's last follow-up
        recent = None
        if last is not None and is_recent(last, rt.today(), gap, rt.tz):
            recent = RecentFollowUpNotice(last, gap)
        said_by_warning = recent is not None and item.problem_code is ErrorCode.RECENT
        lines.append(
            MassPreviewLine(
                item=item,
                recipients=choose_recipients(quote, customer) if customer is not None else (),
                recent=recent,
                problem_code=item.problem_code,
                shows_problem=bool(item.problem) and not said_by_warning,
            )
        )
    return lines


async def recent_followup(rt: Runtime, prepared: PreparedFollowUp) -> RecentFollowUpNotice | None:
    """The quote's follow-up within ``[auto] min_gap`` days before this one (None otherwise)."""
    gap = rt.settings.auto.min_gap
    # everyone's last follow-up: the ledger's and Dolibarr's (read with the service's key)
    last = await last_followup(rt, prepared.quote.id, prepared.history, exclude_key=prepared.key)
    if last is None or not is_recent(last, prepared.today, gap, rt.tz):
        return None
    return RecentFollowUpNotice(last, gap, await owner_name(rt, last.owner_id))
