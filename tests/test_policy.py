"""Decisions of the automatic follow-up policy, as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dolirelance.config import AutoSettings
from dolirelance.domain import Quote, QuoteStatus
from dolirelance.policy import (
    AutoRules,
    Decision,
    DecisionKind,
    PastFollowUp,
    SkipReason,
    Step,
    decide,
    local_day,
    plan,
    summarize,
)
from dolirelance.service.auto import rules_from_settings

FIRST = "1ère relance"
SECOND = "2nde relance"
PARIS = ZoneInfo("Europe/Paris")
END = date(2026, 12, 8)  # step 1 due 2026-12-03 (window to 12-08), step 2 due 12-18 (window to 2027-01-17)

RULES = rules_from_settings(
    AutoSettings.model_validate(
        {
            "enabled": True,
            "steps": [{"model": FIRST, "offset": "-5 days"}, {"model": SECOND, "offset": "+10 days"}],
            "min_gap": "3 days",
            "last_step_window": "30 days",
            # Every day works here: these tables pin the day arithmetic; test_workdays_policy.py adds the calendar.
            "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "holidays": "none",
        }
    ),
    [FIRST, SECOND],
)

DUE = DecisionKind.DUE
NOT_DUE = DecisionKind.NOT_DUE
SKIPPED = DecisionKind.SKIPPED
D = date.fromisoformat


def make_quote(**changes: Any) -> Quote:
    quote = Quote(
        id=7,
        ref="PR2611-0007",
        customer_id=3,
        status=QuoteStatus.OPEN,
        issue_date=date(2026, 11, 8),
        end_of_validity=END,
        total_excl_tax=Decimal("1000.00"),
        total_tax=Decimal("200.00"),
        total_incl_tax=Decimal("1200.00"),
        currency="EUR",
    )
    return replace(quote, **changes)


def manual(day: str, model: str | None, *, channel: str = "email", level: int | None = None) -> PastFollowUp:
    return PastFollowUp(7, D(day), model, channel, automatic=False, step=None, source="dolibarr", level=level)


def auto(day: str, step: int | None, model: str) -> PastFollowUp:
    return PastFollowUp(7, D(day), model, "email", automatic=True, step=step, source="ledger")


# id, today, past, has_email, kind, reason, step, due_on, window_end, retry_on
Case = tuple[str, str, list[PastFollowUp], bool | None, DecisionKind, SkipReason | None, int, str, str, str | None]
# fmt: off
CASES: list[Case] = [
    ("not due yet", "2026-11-20", [], None, NOT_DUE, None, 1, "2026-12-03", "2026-12-08", None),
    ("day before step 1", "2026-12-02", [], None, NOT_DUE, None, 1, "2026-12-03", "2026-12-08", None),
    ("due on the exact day", "2026-12-03", [], None, DUE, None, 1, "2026-12-03", "2026-12-08", None),
    ("catch-up after missed days", "2026-12-06", [], None, DUE, None, 1, "2026-12-03", "2026-12-08", None),
    ("step 1 on the end of validity", "2026-12-08", [], True, DUE, None, 1, "2026-12-03", "2026-12-08", None),
    ("step 1 never after expiry", "2026-12-09", [], None, NOT_DUE, None, 2, "2026-12-18", "2027-01-17", None),
    ("step 1 superseded by step 2", "2026-12-20", [], None, DUE, None, 2, "2026-12-18", "2027-01-17", None),
    ("last step, last day", "2027-01-17", [], None, DUE, None, 2, "2026-12-18", "2027-01-17", None),
    (
        "last step window passed", "2027-01-18", [], None,
        SKIPPED, SkipReason.WINDOW_PASSED, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "step 1 done by an automatic follow-up", "2026-12-05", [auto("2026-12-03", 1, FIRST)], None,
        NOT_DUE, None, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "step 2 done by an automatic follow-up", "2026-12-25",
        [auto("2026-12-03", 1, FIRST), auto("2026-12-18", 2, SECOND)], None,
        SKIPPED, SkipReason.ALREADY_DONE, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "manual 1ère relance makes step 1 done", "2026-12-04", [manual("2026-11-28", FIRST)], None,
        NOT_DUE, None, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "manual higher level makes both steps done", "2026-12-04", [manual("2026-11-25", SECOND)], None,
        SKIPPED, SkipReason.ALREADY_DONE, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "manual letter counts like an e-mail", "2026-12-20", [manual("2026-12-12", SECOND, channel="letter")],
        None, SKIPPED, SkipReason.ALREADY_DONE, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "done before step 1 is due", "2026-11-20", [manual("2026-11-19", FIRST)], None,
        NOT_DUE, None, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "level recorded with an unknown model", "2026-12-04", [manual("2026-11-25", None, level=2)], None,
        SKIPPED, SkipReason.ALREADY_DONE, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "automatic follow-up without step counts by level", "2026-12-20", [auto("2026-12-10", None, SECOND)],
        None, SKIPPED, SkipReason.ALREADY_DONE, 2, "2026-12-18", "2027-01-17", None,
    ),
    (
        "minimum gap after a manual follow-up", "2026-12-18", [manual("2026-12-16", FIRST)], None,
        SKIPPED, SkipReason.RECENT_FOLLOWUP, 2, "2026-12-18", "2027-01-17", "2026-12-19",
    ),
    (
        "minimum gap with a model not in the steps", "2026-12-03", [manual("2026-12-02", "Ancien modèle")],
        True, SKIPPED, SkipReason.RECENT_FOLLOWUP, 1, "2026-12-03", "2026-12-08", "2026-12-05",
    ),
    (
        "gap outlasting the window", "2026-12-08", [manual("2026-12-07", "Ancien modèle")], None,
        SKIPPED, SkipReason.RECENT_FOLLOWUP, 1, "2026-12-03", "2026-12-08", "2026-12-10",
    ),
    (
        "gap just over", "2026-12-18", [manual("2026-12-15", FIRST)], True,
        DUE, None, 2, "2026-12-18", "2027-01-17", None,
    ),
    ("no e-mail", "2026-12-03", [], False, SKIPPED, SkipReason.NO_EMAIL, 1, "2026-12-03", "2026-12-08", None),
    ("e-mail known", "2026-12-03", [], True, DUE, None, 1, "2026-12-03", "2026-12-08", None),
    ("no e-mail is not reported when not due", "2026-11-20", [], False,
     NOT_DUE, None, 1, "2026-12-03", "2026-12-08", None),
    (
        "gap reported before no e-mail", "2026-12-18", [manual("2026-12-16", FIRST)], False,
        SKIPPED, SkipReason.RECENT_FOLLOWUP, 2, "2026-12-18", "2027-01-17", "2026-12-19",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("today", "past", "has_email", "kind", "reason", "step", "due_on", "window_end", "retry_on"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decision_table(
    today: str,
    past: list[PastFollowUp],
    has_email: bool | None,
    kind: DecisionKind,
    reason: SkipReason | None,
    step: int | None,
    due_on: str | None,
    window_end: str | None,
    retry_on: str | None,
) -> None:
    decision = decide(make_quote(), past, RULES, D(today), has_email=has_email)
    assert (decision.kind, decision.reason) == (kind, reason), decision.summary
    assert decision.step is not None and decision.step.number == step
    assert decision.due_on == (D(due_on) if due_on else None)
    assert decision.window_end == (D(window_end) if window_end else None)
    assert decision.retry_on == (D(retry_on) if retry_on else None)
    assert decision.quote_id == 7 and decision.quote_ref == "PR2611-0007"
    assert decision.summary and "\n" not in decision.summary


@pytest.mark.parametrize(
    ("changes", "reason", "summary_part"),
    [
        pytest.param({"status": QuoteStatus.DRAFT}, SkipReason.NOT_OPEN, "draft", id="draft"),
        pytest.param({"status": QuoteStatus.SIGNED}, SkipReason.NOT_OPEN, "signed", id="signed"),
        pytest.param({"status": QuoteStatus.REFUSED}, SkipReason.NOT_OPEN, "refused", id="refused"),
        pytest.param({"status": QuoteStatus.BILLED}, SkipReason.NOT_OPEN, "billed", id="billed"),
        pytest.param({"status": QuoteStatus.CANCELLED}, SkipReason.NOT_OPEN, "cancelled", id="cancelled"),
        pytest.param(
            {"status": QuoteStatus.SIGNED, "opt_out": True}, SkipReason.NOT_OPEN, "signed", id="not open first"
        ),
        pytest.param({"opt_out": True}, SkipReason.OPT_OUT, "Ne pas relancer automatiquement", id="opt-out"),
        pytest.param(
            {"opt_out": True, "end_of_validity": None}, SkipReason.OPT_OUT, "Ne pas relancer", id="opt-out first"
        ),
        pytest.param(
            {"end_of_validity": None}, SkipReason.NO_END_OF_VALIDITY, "no end of validity", id="no end of validity"
        ),
    ],
)
def test_quote_level_skips(changes: dict[str, Any], reason: SkipReason, summary_part: str) -> None:
    decision = decide(make_quote(**changes), [], RULES, D("2026-12-03"), has_email=True)
    assert decision.kind is SKIPPED
    assert decision.reason is reason
    assert summary_part in decision.summary
    assert decision.step is None and decision.due_on is None


def test_arithmetic_and_summary_when_not_due() -> None:
    decision = decide(make_quote(), [], RULES, D("2026-11-20"))
    assert decision.summary == "not due yet: step 1 (1ère relance) is due from 2026-12-03"
    assert decision.arithmetic[:2] == [
        "end of validity 2026-12-08, step 1 at -5 days → due from 2026-12-03",
        "end of validity 2026-12-08, step 2 at +10 days → due from 2026-12-18",
    ]
    assert "window until 2026-12-08 (a step before expiry never goes out after the end of validity)" in (
        decision.arithmetic
    )


def test_window_line_names_the_superseding_step() -> None:
    rules = replace(RULES, steps=(Step(1, FIRST, 0), Step(2, SECOND, 10)))
    decision = decide(make_quote(), [], rules, D("2026-12-10"))
    assert decision.kind is DUE and decision.window_end == D("2026-12-17")
    assert "window until 2026-12-17 (step 2 is due from 2026-12-18)" in decision.arithmetic


def test_gap_line_and_summary() -> None:
    past = [manual("2026-12-01", "Ancien modèle")]
    decision = decide(make_quote(), past, RULES, D("2026-12-03"))
    assert "last follow-up 2026-12-01 (manual, Ancien modèle); minimum gap 3 days → not before 2026-12-04" in (
        decision.arithmetic
    )
    assert decision.summary.endswith("step 1 (1ère relance) may go out from 2026-12-04")


def test_gap_outlasting_the_window_says_it_will_not_go_out() -> None:
    decision = decide(make_quote(), [manual("2026-12-07", "Ancien modèle")], RULES, D("2026-12-08"))
    assert "will not go out" in decision.summary


def test_last_step_window_line_and_window_passed_summary() -> None:
    decision = decide(make_quote(), [], RULES, D("2027-01-18"))
    assert "window until 2027-01-17 (last step: due day + 30 days)" in decision.arithmetic
    assert decision.summary == "skipped: step 2 (2nde relance) could go out until 2027-01-17; it is too late now"


def test_already_done_summary_names_the_follow_up() -> None:
    decision = decide(make_quote(), [auto("2026-12-18", 2, SECOND)], RULES, D("2026-12-25"))
    assert decision.summary == (
        "skipped: step 2 (2nde relance) already done (follow-up on 2026-12-18 (automatic, 2nde relance, step 2))"
    )


def test_due_summary() -> None:
    decision = decide(make_quote(), [], RULES, D("2026-12-05"), has_email=True)
    assert decision.summary == "due: step 1 (1ère relance), due since 2026-12-03, may go out until 2026-12-08"


def test_model_used_by_two_steps_goes_out_twice() -> None:
    rules = replace(RULES, steps=(Step(1, FIRST, -5), Step(2, FIRST, 10)))
    decision = decide(make_quote(), [auto("2026-12-05", 1, FIRST)], rules, D("2026-12-20"))
    assert decision.kind is DUE and decision.step == Step(2, FIRST, 10)


def test_window_passed_with_later_step_done_is_already_done() -> None:
    rules = replace(RULES, steps=(Step(1, FIRST, -5), Step(2, FIRST, 10)))
    # Step 1 missed (window ended at expiry); step 2 counted done by a manual follow-up with its model.
    decision = decide(make_quote(), [manual("2026-11-01", FIRST)], rules, D("2026-12-10"))
    assert (decision.kind, decision.reason) == (SKIPPED, SkipReason.ALREADY_DONE)


def test_no_steps_configured() -> None:
    rules = replace(RULES, steps=())
    decision = decide(make_quote(), [], rules, D("2026-12-05"))
    assert decision.kind is NOT_DUE and decision.step is None


def test_rules_from_settings() -> None:
    assert RULES.steps == (Step(1, FIRST, -5), Step(2, SECOND, 10))
    assert RULES.min_gap_days == 3 and RULES.last_step_window_days == 30
    assert dict(RULES.model_levels) == {FIRST: 1, SECOND: 2}
    with pytest.raises(ValueError, match="not defined"):
        rules_from_settings(AutoSettings.model_validate({"steps": [{"model": "x", "offset": 1}]}), [FIRST])
    with pytest.raises(ValueError, match="ordered"):
        AutoRules((Step(1, FIRST, 5), Step(2, SECOND, -5)), 3, 30, {FIRST: 1, SECOND: 2})


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(datetime(2026, 12, 2, 23, 30, tzinfo=UTC), date(2026, 12, 3), id="00:30 Paris in winter"),
        pytest.param(datetime(2026, 12, 2, 22, 59, tzinfo=UTC), date(2026, 12, 2), id="23:59 Paris in winter"),
        pytest.param(datetime(2026, 6, 30, 22, 30, tzinfo=UTC), date(2026, 7, 1), id="00:30 Paris in summer"),
        pytest.param(datetime(2026, 6, 30, 21, 59, tzinfo=UTC), date(2026, 6, 30), id="23:59 Paris in summer"),
    ],
)
def test_local_day(instant: datetime, expected: date) -> None:
    assert local_day(instant, PARIS) == expected


def test_run_at_half_past_midnight_paris_counts_the_new_day() -> None:
    run_at = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)  # 2026-12-03 00:30 in Paris
    assert decide(make_quote(), [], RULES, local_day(run_at, PARIS)).kind is DUE
    assert decide(make_quote(), [], RULES, run_at.date()).kind is NOT_DUE  # the UTC day would be wrong


def test_gap_uses_local_days() -> None:
    # A manual follow-up on 2026-12-15 at 23:30 UTC happened on the 16th in Paris.
    done_on = local_day(datetime(2026, 12, 15, 23, 30, tzinfo=UTC), PARIS)
    decision = decide(make_quote(), [manual(done_on.isoformat(), FIRST)], RULES, D("2026-12-18"))
    assert decision.reason is SkipReason.RECENT_FOLLOWUP and decision.retry_on == D("2026-12-19")


def test_local_day_refuses_naive_instants() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_day(datetime(2026, 12, 3, 0, 30), PARIS)


def test_plan_one_decision_per_quote_and_summary() -> None:
    quotes = [
        make_quote(id=1, ref="PR1"),
        make_quote(id=2, ref="PR2", opt_out=True),
        make_quote(id=3, ref="PR3", end_of_validity=date(2027, 3, 1)),
        make_quote(id=4, ref="PR4"),
        make_quote(id=5, ref="PR5"),
    ]
    past = {5: [PastFollowUp(5, D("2026-12-03"), FIRST, "email", True, 1, "ledger")]}
    decisions = plan(quotes, past, RULES, D("2026-12-04"), has_email={4: False})
    assert [d.quote_id for d in decisions] == [1, 2, 3, 4, 5]
    kinds: list[tuple[DecisionKind, SkipReason | None]] = [(d.kind, d.reason) for d in decisions]
    assert kinds == [
        (DUE, None),
        (SKIPPED, SkipReason.OPT_OUT),
        (NOT_DUE, None),
        (SKIPPED, SkipReason.NO_EMAIL),
        (NOT_DUE, None),
    ]
    counts = summarize(decisions)
    assert counts["total"] == 5
    assert (counts["due"], counts["not_due"], counts["skipped"]) == (1, 2, 2)
    assert (counts["opt_out"], counts["no_email"], counts["window_passed"]) == (1, 1, 0)


def test_decide_again_with_the_email_answer() -> None:
    first: Decision = decide(make_quote(), [], RULES, D("2026-12-04"))
    assert first.kind is DUE
    second = decide(make_quote(), [], RULES, D("2026-12-04"), has_email=False)
    assert second.reason is SkipReason.NO_EMAIL and second.step == first.step
