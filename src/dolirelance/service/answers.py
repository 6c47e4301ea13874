"""A quote's replies and bounces as `explain` shows them: when, from or to whom, what, and whether a
bounced address still keeps the automatic runs away (the rule of :func:`.auto.customer_answers.blocked_addresses`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from dolirelance.history import AnswerRecord, QuoteHistory


@dataclass(frozen=True)
class QuoteAnswer:
    answer: AnswerRecord
    # a bounce whose address automatic runs still avoid: the customer or contact card that holds it
    # was not changed in Dolibarr since (always False for a reply)
    address_blocked: bool = False


def quote_answers(history: QuoteHistory, blocked: Collection[str]) -> list[QuoteAnswer]:
    """The replies and permanent bounces of one quote's history, newest first.

    ``blocked``: the addresses automatic runs do not use (``explain`` found them with its decision:
    nothing is read again).
    """
    return [
        QuoteAnswer(answer, address_blocked=answer.kind == "bounce" and answer.address in blocked)
        for answer in sorted(history.answers, key=lambda a: (a.at, a.event_id), reverse=True)
    ]
