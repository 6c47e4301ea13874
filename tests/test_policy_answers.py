"""The automatic rules listen to the customer: replies stop the sequence, bounces leave a quote without address."""

from __future__ import annotations

from datetime import date

import pytest

from dolirelance.policy import CustomerAnswer, DecisionKind, SkipReason, decide, plan
from test_policy import RULES, auto, make_quote, manual

D = date.fromisoformat
STEP_TWO = "2026-12-20"  # step 2 is due from 2026-12-18 (end of validity 2026-12-08 + 10 days)


def reply(day: str, event_id: int = 412) -> CustomerAnswer:
    return CustomerAnswer(7, "reply", D(day), event_id, "jean@client.test")


def bounce(day: str, event_id: int = 413) -> CustomerAnswer:
    return CustomerAnswer(7, "bounce", D(day), event_id, "jean@client.test")


@pytest.mark.parametrize(
    ("answers", "past", "kind", "reason"),
    [
        ([], [auto("2026-12-03", 1, "1ère relance")], DecisionKind.DUE, None),
        ([reply("2026-12-03")], [auto("2026-12-03", 1, "1ère relance")], DecisionKind.SKIPPED, SkipReason.REPLIED),
        ([reply("2026-12-05")], [auto("2026-12-03", 1, "1ère relance")], DecisionKind.SKIPPED, SkipReason.REPLIED),
        ([reply("2026-12-01")], [], DecisionKind.SKIPPED, SkipReason.REPLIED),  # replied before any follow-up
        # a person followed up after the reply: the sequence goes on
        ([reply("2026-12-05")], [auto("2026-12-03", 1, "1ère relance"), manual("2026-12-09", "1ère relance")],
         DecisionKind.DUE, None),
        ([reply("2026-12-02")], [auto("2026-12-03", 1, "1ère relance")], DecisionKind.DUE, None),  # an old reply
        ([bounce("2026-12-03")], [auto("2026-12-03", 1, "1ère relance")], DecisionKind.DUE, None),  # see `bounced`
    ],
    ids=["no-answer", "reply-same-day", "reply-after", "reply-before-any", "followed-up-since", "older-reply",
         "bounce-alone"],
)  # fmt: skip
def test_a_reply_since_the_last_follow_up_stops_the_automatic_steps(
    answers: list[CustomerAnswer], past: list, kind: DecisionKind, reason: SkipReason | None
) -> None:
    decision = decide(make_quote(), past, RULES, D(STEP_TWO), answers=answers)
    assert (decision.kind, decision.reason) == (kind, reason)


def test_the_reply_is_named_with_its_day_and_event() -> None:
    decision = decide(make_quote(), [auto("2026-12-03", 1, "1ère relance")], RULES, D(STEP_TWO),
                      answers=[reply("2026-12-03"), reply("2026-12-04", 415)])  # fmt: skip
    assert decision.summary.startswith("skipped: the customer replied on 4 December (see event 415)")
    assert "a manual follow-up still works" in decision.summary


def test_a_due_step_whose_only_address_bounced_says_so() -> None:
    past = [auto("2026-12-03", 1, "1ère relance")]
    decision = decide(make_quote(), past, RULES, D(STEP_TWO), has_email=False, bounced=bounce("2026-12-03"))
    assert (decision.kind, decision.reason) == (DecisionKind.SKIPPED, SkipReason.BOUNCED)
    assert "jean@client.test bounced on 3 December (see event 413)" in decision.summary
    without_bounce = decide(make_quote(), past, RULES, D(STEP_TWO), has_email=False)
    assert without_bounce.reason is SkipReason.NO_EMAIL


def test_a_not_due_quote_is_not_called_bounced() -> None:
    decision = decide(make_quote(), [], RULES, D("2026-11-20"), has_email=False, bounced=bounce("2026-11-19"))
    assert decision.kind is DecisionKind.NOT_DUE


def test_plan_passes_each_quote_its_own_answers() -> None:
    quotes = [make_quote(), make_quote(id=8, ref="PR2611-0008")]
    decisions = plan(quotes, {}, RULES, D("2026-12-04"), answers_by_quote={7: [reply("2026-12-01")]})
    assert [d.reason for d in decisions] == [SkipReason.REPLIED, None]
    assert decisions[1].kind is DecisionKind.DUE
