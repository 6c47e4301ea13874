"""The bounded renderer: time per follow-up for the example models, and how fast hostile models stop.

Prints the time to render every text of each example model (usual and longest sample data), then,
for each template that used to hang or eat gigabytes, the time until its TemplateError and the
peak memory. Run: .venv/bin/python bench/render_limits.py
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import date
from pathlib import Path

from dolirelance import starter
from dolirelance.config import ModelSettings, Settings, load_config
from dolirelance.errors import TemplateError
from dolirelance.render import Renderer, hostile_context, sample_context

DEFAULTS = Path(starter.__file__).parent / "defaults"
TODAY = date(2026, 11, 28)
HOSTILE = {
    "ref * 300000000": "{{ quote.ref * 300000000 }}",
    "nested range(100000)": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "9**(9**9)": "{{ 9**(9**9) }}",
    "2**(10**8)": "{{ 2**(10**8) }}",
    "doubling with ~": (
        "{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}"
    ),
    "center(10**9)": "{{ 'x'|center(1000000000) }}",
    "replace blow-up": "{{ ('a' * 1000)|replace('a', 'b' * 1000) }}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
}


def one_model(settings: Settings, text: str) -> Settings:
    model = {"name": "M", "email_subject": "S", "email_text": text, "letter_subject": "L", "letter_text": "L"}
    return settings.model_copy(update={"models": [ModelSettings.model_validate(model)]})


def main() -> None:
    settings = load_config(DEFAULTS / "dolirelance.toml")
    renderer = Renderer(settings)
    for label, ctx in (("usual sample", sample_context(TODAY)), ("longest data", hostile_context(TODAY))):
        for name in renderer.model_names:
            rounds = 200
            start = time.perf_counter()
            for _ in range(rounds):
                renderer.render(name, ctx)
            per = (time.perf_counter() - start) / rounds * 1000
            print(f"{name:<14} {label:<13} {per:6.2f} ms per follow-up (all texts)")
    print()
    for label, text in HOSTILE.items():
        hostile = Renderer(one_model(settings, text))
        tracemalloc.start()
        start = time.perf_counter()
        try:
            hostile.render("M", sample_context(TODAY))
            outcome = "rendered"
        except TemplateError as exc:
            outcome = exc.message.split(": ", 1)[-1][:60]
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{label:<22} stopped in {elapsed * 1000:7.1f} ms, peak {peak / 1e6:5.1f} MB: {outcome}")


if __name__ == "__main__":
    main()
