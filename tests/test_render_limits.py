"""The renderer is bounded: output, values, numbers, loops and time; every excess names model, field, line."""

from __future__ import annotations

import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dolirelance import starter
from dolirelance.config import ModelSettings, Settings, load_config
from dolirelance.errors import TemplateError
from dolirelance.render import Renderer, RenderLimits, hostile_context, sample_context

DEFAULTS = Path(starter.__file__).parent / "defaults"
TODAY = date(2026, 11, 28)
CTX = sample_context(TODAY)


@pytest.fixture(scope="module")
def example_settings() -> Settings:
    return load_config(DEFAULTS / "dolirelance.toml")


def one_model(settings: Settings, email_text: str, **texts: Any) -> Settings:
    model = {"name": "M", "email_subject": "S", "email_text": email_text, "letter_subject": "L", "letter_text": "L"}
    model.update(texts)
    return settings.model_copy(update={"models": [ModelSettings.model_validate(model)]})


def render_error(settings: Settings, text: str, limits: RenderLimits | None = None) -> str:
    renderer = Renderer(one_model(settings, text), limits=limits or RenderLimits())
    with pytest.raises(TemplateError) as caught:
        renderer.render("M", CTX)
    return str(caught.value)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ quote.ref * 300000000 }}", "result of * would be longer than 100,000"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "loops ran more than 10,000 times",
        ),
        ("{{ 9**(9**9) }}", "more than 100 digits"),
        ("{{ 2**(10**8) }}", "more than 100 digits"),
        ("{{ 'x'|center(1000000000) }}", "filter 'center' would make a text longer"),
        ("{{ 'x'.ljust(1000000000) }}", "ljust() would make a text longer"),
        ("{{ 'x'|indent(1000000000) }}", "filter 'indent'"),
        ("{{ '%0999999999d' % 1 }}", "format width or precision (999999999)"),
        ("{{ '{:>999999999}'.format(1) }}", "format width or precision (999999999)"),
        ("{{ '{0:{1}}'.format(1, 10**9) }}", "format width or precision"),
        ("{{ '%s'|format('x') ~ ('a' * 1000)|replace('a', 'b' * 1000) }}", "filter 'replace'"),
        ("{{ ('a' * 1000).replace('a', 'b' * 1000) }}", "replace() would make a text longer"),
        ("{{ (('x',) * 1000)|join('y' * 1000) }}", "filter 'join'"),
        (
            "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
            "joined with ~ would be longer",
        ),
        (
            "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}"
            "{{ ns.x }}",
            "printed value would be longer",
        ),
        ("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
        ("{% set l = [1] %}{% set _ = l.extend(l) %}", "unsafe"),
        ("{{ lipsum(100000) }}", "unknown variable lipsum"),
    ],
)
def test_hostile_templates_stop_with_a_template_error(
    example_settings: Settings, template: str, expected: str
) -> None:
    """Each of these used to hang, eat gigabytes or crash; now it is a TemplateError naming the place."""
    message = render_error(example_settings, "Bonjour\n" + template)
    assert "model 'M', email_text, line 2" in message
    assert expected in message


@pytest.mark.parametrize("consumer", ["list", "join", "sort", "unique", "reverse"])
def test_a_lazy_sequence_is_bounded_while_a_filter_reads_it(example_settings: Settings, consumer: str) -> None:
    """100,000 texts of 99,999 characters (10 GB) stop at the size limit: at most a few MB are ever built."""
    template = "Bonjour\n{{ range(100000)|map('center', 99999)|" + consumer + "|length }}"
    tracemalloc.start()
    try:
        message = render_error(example_settings, template)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "model 'M', email_text, line 2" in message
    assert "would be longer than 100,000 characters or items" in message
    assert peak < 20_000_000, f"{peak:,} bytes allocated before the limit stopped it"


def test_output_size_per_field(example_settings: Settings) -> None:
    """Many small values still stop at the output limit of the field."""
    limits = RenderLimits(max_output_chars=1_000)
    message = render_error(example_settings, "{% for i in range(500) %}{{ quote.ref }}{% endfor %}", limits)
    assert "longer than 1,000 characters" in message


def test_time_limit_per_rendering(example_settings: Settings) -> None:
    """The deadline is checked at each step: a zero time limit stops any loop at its first turn."""
    limits = RenderLimits(max_seconds=0)
    message = render_error(example_settings, "a\n{% for i in range(3) %}{{ i }}{% endfor %}", limits)
    assert "model 'M', email_text, line 2: the rendering took longer than 0 s" in message


def test_ordinary_templates_still_work(example_settings: Settings) -> None:
    """Arithmetic, formats, loops, ~ and filters of ordinary size are unchanged."""
    text = (
        "{{ quote.ref ~ ' / ' ~ customer.name }}\n"
        "{% for line in customer.address_lines %}{{ line }}|{% endfor %}\n"
        "{{ '%.2f' % 3.14159 }} {{ '{:,}'.format(1234567) }} {{ 10 * 10 }} {{ 2 ** 10 }} {{ 'ab' * 3 }}\n"
        "{{ customer.name|upper|center(30)|trim }} {{ ['a', 'b']|join(', ') }}\n"
        "{{ customer.address_lines|map('upper')|join(', ') }} / {{ '-'.join(customer.address_lines|select) }}"
    )
    out = Renderer(one_model(example_settings, text)).render("M", CTX).email_text
    assert out == (
        "PR2611-0001 / Boulangerie Martin\n"
        "3 place Bellecour|Bâtiment B|69002 Lyon|"  # trim_blocks eats the newline after endfor
        "3.14 1,234,567 100 1024 ababab\n"
        "BOULANGERIE MARTIN a, b\n"
        "3 PLACE BELLECOUR, BÂTIMENT B, 69002 LYON / 3 place Bellecour-Bâtiment B-69002 Lyon\n"
    )


def test_check_renders_with_hostile_sample_data(example_settings: Settings) -> None:
    """A model fine on the usual sample but too big on the longest data Dolibarr may send fails the check."""
    assert Renderer(example_settings).check(CTX) == []  # the shipped models pass with long data too
    settings = one_model(example_settings, "{{ quote.note_public }}{{ quote.note_public }}")
    errors = Renderer(settings).check(CTX)
    assert len(errors) == 1
    assert "model 'M', email_text" in str(errors[0])
    assert "longest names, notes and amounts" in str(errors[0])
    hostile = hostile_context(TODAY)
    assert len(hostile.quote.note_public) == 65_535
    # ordinary filters on the longest note stay within the limits: estimates are not too eager
    wrapped = one_model(example_settings, "{{ quote.note_public|wordwrap(60)|indent(2) }}")
    assert Renderer(wrapped).check(CTX) == []


SMALL = RenderLimits(max_output_chars=5_000, max_value_size=5_000, max_int_digits=50, max_loop_iterations=500)
_atoms = st.sampled_from(
    ["quote.ref", "customer.name", "quote.note_public", "'ab'", "7", "123456789", "quote.amounts.incl_tax", "[1, 2]"]
)
_numbers = st.sampled_from(["2", "10", "99", "1000", "100000", "10**6", "9**9"])


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return draw(_atoms)
    inner = draw(_expressions(depth + 1))
    kind = draw(st.sampled_from(["*", "**", "+", "~", "%", "center", "replace", "join", "indent", "format"]))
    number = draw(_numbers)
    if kind in ("*", "**", "+", "~", "%"):
        return f"({inner} {kind} {number if kind != '~' else draw(_expressions(depth + 1))})"
    if kind == "replace":
        return f"({inner}|string|replace('a', 'x' * {number}))"
    if kind == "join":
        return f"(({inner},) * {number})|join({draw(_atoms)}|string)"
    if kind == "format":
        return f"('%{number}s'|format({inner}))"
    return f"({inner}|string|{kind}({number}))"


@st.composite
def _templates(draw: st.DrawFn) -> str:
    body = "{{ " + draw(_expressions()) + " }}"
    for _ in range(draw(st.integers(0, 3))):
        body = f"{{% for i in range({draw(_numbers)}) %}}{body}{{% endfor %}}"
    return body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=_templates())
def test_any_template_renders_within_limits_or_fails_cleanly(example_settings: Settings, template: str) -> None:
    """Whatever the combination of operators, filters and loops: bounded text, or a TemplateError."""
    renderer = Renderer(one_model(example_settings, template), limits=SMALL)
    for ctx in (CTX, hostile_context(TODAY)):
        try:
            out = renderer.render("M", ctx)
        except TemplateError as exc:
            assert "model 'M', email_text" in str(exc)
        else:
            assert len(out.email_text) <= SMALL.max_output_chars + 1
