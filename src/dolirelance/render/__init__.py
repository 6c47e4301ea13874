"""The one renderer: every model text (e-mail and letter) goes through here.

Jinja2 lives only in this package. Templates run in a sandbox with ``StrictUndefined``; every
model and every language variant is compiled once, up front, and checked against the variable
catalogue so that a typo is reported with the model, the field, the line and a suggestion
before anything is sent. Dates and amounts are formatted with babel in the text's language.

One concern per module: ``context`` (the follow-up and its variables), ``samples`` (the sample
and hostile follow-ups), ``catalogue`` (the variable names), ``dolibarr_keys`` (``__KEYS__``),
``sandbox`` (the bounded Jinja environment and its limits), ``source`` (where a text comes from,
for errors), ``email_html`` (layout and logo) and ``renderer`` (the Renderer).
"""

from __future__ import annotations

from dolirelance.render.catalogue import catalogue
from dolirelance.render.context import FollowUpContext, RenderedFollowUp, civility_label, language_of, variables
from dolirelance.render.dolibarr_keys import DOLIBARR_ALIASES
from dolirelance.render.renderer import TEXT_FIELDS, Renderer
from dolirelance.render.samples import ADDRESSEE_KINDS, hostile_context, sample_context, sample_contexts
from dolirelance.render.sandbox import DEFAULT_LIMITS, RenderLimits

__all__ = [
    "ADDRESSEE_KINDS",
    "DEFAULT_LIMITS",
    "DOLIBARR_ALIASES",
    "TEXT_FIELDS",
    "FollowUpContext",
    "RenderLimits",
    "RenderedFollowUp",
    "Renderer",
    "catalogue",
    "civility_label",
    "hostile_context",
    "language_of",
    "sample_context",
    "sample_contexts",
    "variables",
]
