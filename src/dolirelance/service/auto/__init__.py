"""Automatic follow-ups: the daily run and ``explain``, over the pure decisions of :mod:`dolirelance.policy`.

One concern per module, each importing only those above it:

- ``rules``: the ``[auto]`` settings as the policy's rules, and the working days;
- ``customer_answers``: customers' replies and bounces as the decisions read them;
- ``plan``: planning a run (the candidates, their history, every decision, the cap);
- ``explain``: one quote's decision on a day, and what was read to make it;
- ``report``: the run's report and the one log line of each follow-up;
- ``fresh``: a batch of due quotes read again just before it is sent (:data:`AUTO_BATCH`);
- ``recheck``: a due step decided again from those fresh reads;
- ``send``: one due follow-up claimed, prepared, sent and recorded;
- ``run``: :func:`run_auto`, the run from start to report.
"""

from dolirelance.domain import email_known  # kept importable from here: the run decides with it on bulk reads
from dolirelance.service.auto.explain import Explanation, explain
from dolirelance.service.auto.fresh import AUTO_BATCH
from dolirelance.service.auto.plan import RunPlan, candidate_filter, plan_run
from dolirelance.service.auto.report import AutoReport
from dolirelance.service.auto.rules import auto_rules, day_off, rules_from_settings, working_calendar
from dolirelance.service.auto.run import run_auto

__all__ = [
    "AUTO_BATCH",
    "AutoReport",
    "Explanation",
    "RunPlan",
    "auto_rules",
    "candidate_filter",
    "day_off",
    "email_known",
    "explain",
    "plan_run",
    "rules_from_settings",
    "run_auto",
    "working_calendar",
]
