"""The ``[auto]`` settings as the rules :mod:`dolirelance.policy` decides on, and the working days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from dolirelance.config import AutoSettings
from dolirelance.policy import AutoRules
from dolirelance.service.runtime import Runtime
from dolirelance.workdays import WorkingCalendar


def auto_rules(rt: Runtime) -> AutoRules:
    return rules_from_settings(rt.settings.auto, rt.model_names())


def rules_from_settings(auto: AutoSettings, model_names: Sequence[str]) -> AutoRules:
    """The ``[auto]`` section as the plain values :mod:`dolirelance.policy` decides on."""
    return AutoRules.build(
        [(step.model, step.offset) for step in auto.steps],
        min_gap_days=auto.min_gap,
        last_step_window_days=auto.last_step_window,
        model_names=model_names,
        calendar=WorkingCalendar.from_names(auto.working_days, auto.holidays),
    )


def working_calendar(rt: Runtime) -> WorkingCalendar:
    """The days automatic follow-ups go out on (``[auto] working_days`` and ``holidays``)."""
    return WorkingCalendar.from_names(rt.settings.auto.working_days, rt.settings.auto.holidays)


def day_off(rt: Runtime, day: date | None = None) -> str | None:
    """Why ``day`` (today by default) is not a working day, or None when it is one.

    Manual and mass follow-ups are not restricted; front ends use this to warn before sending.
    """
    return working_calendar(rt).why_not_working(day or rt.today())
