"""The mass follow-up's reordering: follow-ups end in any order, they are handed on in the plan's."""

from __future__ import annotations

import asyncio

from dolirelance.domain import Channel
from dolirelance.service.delivery import FollowUpOutcome
from dolirelance.service.manual import _InPlanOrder


def outcome(ref: str) -> FollowUpOutcome:
    return FollowUpOutcome(ref, "Client", "relance1", Channel.EMAIL, "recorded")


async def test_follow_ups_are_handed_on_in_the_plan_order_and_none_runs_beyond_the_window() -> None:
    shown: list[str] = []
    order = _InPlanOrder(None, lambda o: shown.append(o.quote_ref), window=2)
    await asyncio.wait_for(order.wait_turn(0), 1)
    await asyncio.wait_for(order.wait_turn(1), 1)
    third = asyncio.create_task(order.wait_turn(2))  # two ahead of the first unfinished one: it waits
    await order.finished(1, outcome("B"), None)
    await asyncio.sleep(0.05)
    assert not third.done() and shown == [] and order.outcomes == []  # B waits for A
    await order.finished(0, outcome("A"), None)
    await asyncio.wait_for(third, 1)
    assert shown == ["A", "B"] and [o.quote_ref for o in order.outcomes] == ["A", "B"]


async def test_a_progress_callback_that_fails_does_not_stop_the_hand_on() -> None:
    def broken(_: FollowUpOutcome) -> None:
        raise RuntimeError("display gone")

    order = _InPlanOrder(None, broken, window=1)
    await order.finished(0, outcome("A"), None)
    await asyncio.wait_for(order.wait_turn(1), 1)  # the next one may still start (and then stop)
    await order.finished(1, outcome("B"), None)
    assert [o.quote_ref for o in order.outcomes] == ["A", "B"]
    assert isinstance(order.progress_error, RuntimeError)
