"""The variable catalogue: every dotted name a model may use, and finding the first unknown part of a path."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import nodes

from dolirelance.render.context import FollowUpContext, variables
from dolirelance.render.samples import sample_context

# Names Jinja itself provides inside templates.
JINJA_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super"})


def catalogue(ctx: FollowUpContext | None = None) -> list[str]:
    """Every variable name, dotted (``quote.ref``), in catalogue order."""
    names: list[str] = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            names.append(prefix)

    walk("", variables(ctx or sample_context(date(2026, 11, 28)), "fr"))
    return names


def dotted_path(node: nodes.Node) -> tuple[str, ...] | None:
    """``quote.amounts.excl_tax`` → ("quote", "amounts", "excl_tax"); None when not a plain path."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if not isinstance(node.arg.value, str):
                return None
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            if node.ctx != "load":
                return None
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def first_unknown(tree: Mapping[str, Any], dotted: tuple[str, ...]) -> str | None:
    level: Any = tree
    for depth, part in enumerate(dotted):
        if not isinstance(level, Mapping):
            return None  # below a leaf: a method or attribute of a value (quote.ref.upper)
        if part not in level:
            return ".".join(dotted[: depth + 1])
        level = level[part]
    return None


@lru_cache(maxsize=1)
def catalogue_tree() -> Mapping[str, Any]:
    return variables(sample_context(date(2026, 11, 28)), "fr")
