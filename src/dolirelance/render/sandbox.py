"""The bounded Jinja sandbox: StrictUndefined, no mutation, and size, loop and time limits.

A model is bounded by construction, whatever its text and whatever the data.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment


@dataclass(frozen=True)
class RenderLimits:
    """The bounds of one rendering (one field of one model); exceeding one is a TemplateError."""

    max_output_chars: int = 100_000  # ~30 letter pages; a real letter is 2-5 k
    max_value_size: int = 100_000  # characters (or items) of any value a template makes
    max_int_digits: int = 100  # no letter needs a number beyond 10**100
    max_loop_iterations: int = 10_000  # all loops of one rendering together
    max_seconds: float = 2.0  # a real model renders in about a millisecond


DEFAULT_LIMITS = RenderLimits()


# Every value a template produces (operators, ``~``, filters, calls, output) is measured before or
# as it is made: its *size* counts characters of strings and items of containers (shared items
# counted each time they appear, as printing would). Operations whose result can be far larger
# than their inputs (``*``, ``**``, ``join``, ``replace``, widths, format specs) are estimated
# *before* they run, so nothing huge is ever allocated. Loops count their iterations and every
# step checks the deadline, so a template cannot spin forever.


class LimitExceeded(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Budget:
    limits: RenderLimits
    deadline: float
    iterations: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"the rendering took longer than {self.limits.max_seconds:g} s and was stopped"
            )


BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("dolirelance_render_budget", default=None)


def _budget() -> Budget:
    budget = BUDGET.get()
    if budget is None:  # Jinja folding constants at compile time: one expression, default limits
        budget = Budget(DEFAULT_LIMITS, time.monotonic() + DEFAULT_LIMITS.max_seconds)
    return budget


def _size(value: object, cap: int) -> int:
    """Characters/items in ``value`` (shared parts counted each time); stops counting past ``cap``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 1 + len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 1 + len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 8 + 1
        else:
            total += 1
        if total > cap:
            return total
    return total


def _check_size(value: object, what: str) -> None:
    limits = _budget().limits
    if _size(value, limits.max_value_size) > limits.max_value_size:
        raise LimitExceeded(f"{what} would be longer than {limits.max_value_size:,} characters or items")


def _check_int(value: int, what: str) -> None:
    limit = _budget().limits.max_int_digits
    if value.bit_length() > limit * 3.33:  # digits ≈ bits × log10(2)
        raise LimitExceeded(f"{what} would have more than {limit} digits")


def _estimated_int_bits(operator: str, left: int, right: int) -> int:
    if operator == "*":
        return left.bit_length() + right.bit_length()
    if operator == "**":
        return max(left.bit_length() - 1, 1) * max(right, 0) if abs(left) > 1 else 1
    return max(left.bit_length(), right.bit_length()) + 1


_PRINTF_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")


def _check_format(fmt: object) -> None:
    """Refuse widths and precisions beyond the size limit in ``%`` and ``{:}`` format strings."""
    if not isinstance(fmt, str):
        return
    limit = _budget().limits.max_value_size
    numbers: list[str] = []
    for match in _PRINTF_WIDTH.finditer(fmt):
        numbers.extend(group for group in match.groups() if group)
    for match in _FORMAT_SPEC.finditer(fmt):
        numbers.extend(re.findall(r"\d+|\*|\{", match.group(1)))
    if re.search(r"\{[^{}]*:[^{}]*\{", fmt):
        numbers.append("{")  # a width taken from an argument: cannot be checked up front
    for number in numbers:
        if not number.isdigit() or len(number) > 9 or int(number) > limit:
            raise LimitExceeded(f"a format width or precision ({number}) is beyond {limit:,}")


def _estimate_growth(name: str, target: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Upper bound of the size of ``target.name(*args)`` (or filter ``name``) for the operations that grow."""
    limit = _budget().limits.max_value_size
    text = target if isinstance(target, str) else ""
    params = list(args) + list(kwargs.values())
    if name in ("center", "ljust", "rjust", "zfill"):
        width = next((p for p in params if isinstance(p, int)), 0)
        return max(len(text), int(width))
    if name == "expandtabs":
        size = next((p for p in params if isinstance(p, int)), 8)
        return len(text) + text.count("\t") * max(int(size), 0)
    if name == "indent":
        width = params[0] if params else 4
        pad = len(width) if isinstance(width, str) else max(int(width), 0) if isinstance(width, int) else 4
        return len(text) + (text.count("\n") + 1) * pad
    if name == "wordwrap":
        # a line ends before a word that does not fit, or inside a word longer than the width
        width = args[0] if args and type(args[0]) is int else kwargs.get("width", 79)
        wrap = kwargs.get("wrapstring") or next((p for p in args if isinstance(p, str)), "\n")
        lines = len(text.split()) + len(text) // max(int(width), 1) + 1
        return len(text) + lines * len(wrap)
    if name == "join":
        # str.join(items) on a separator, or the join filter: value = items, first arg = separator
        items, sep = (args[0] if args else (), text) if isinstance(target, str) else (target, _first_str(params))
        count = len(items) if isinstance(items, (list, tuple, set, frozenset, dict, str)) else limit
        return _size(items, limit) + count * len(sep)
    if name == "replace":
        if len(params) >= 2 and isinstance(params[0], str) and isinstance(params[1], str):
            occurrences = (len(text) + 1) if params[0] == "" else text.count(params[0])
            return len(text) + occurrences * len(params[1])
        return len(text)
    if name == "translate":
        table = params[0] if params and isinstance(params[0], Mapping) else {}
        longest = max((_size(value, limit) for value in table.values()), default=1)
        return len(text) * max(longest, 1)
    return 0


def _materialized(value: Any) -> Any:
    """A lazy iterable (``map``, ``select``...) as a list, so its size can be known; bounded as it is read.

    The size is counted item by item as :func:`_size` would count the whole list, so that a
    sequence of large items (``range(n)|map("center", w)``) stops at the limit, not after it is built.
    """
    if isinstance(value, (str, bytes, Mapping, list, tuple, set, frozenset)) or not isinstance(value, Iterable):
        return value
    budget = _budget()
    limit = budget.limits.max_value_size
    items: list[Any] = []
    total = 1  # the list itself, as _size counts it
    for item in value:
        budget.tick()
        total += 1 + _size(item, limit - total + 1)
        if total > limit:
            raise LimitExceeded(f"a sequence would be longer than {limit:,} characters or items")
        items.append(item)
    return items


def _first_str(params: Iterable[Any]) -> str:
    return next((p for p in params if isinstance(p, str)), "")


# Filters that read a whole (possibly lazy) sequence into a list or a text: the sequence is read
# through _materialized, bounded while it is built, not measured once built.
_CONSUMING_FILTERS = frozenset({"list", "join", "sort", "reverse", "unique", "slice", "batch", "groupby"})


def _bounded_filter(name: str, filter_function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(filter_function)  # keeps Jinja's pass_context/pass_eval_context marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        # the value comes first, after a context / eval context / environment when the filter asks for one
        passed = sum(1 for a in args[:1] if isinstance(a, (Context, EvalContext, ImmutableSandboxedEnvironment)))
        if name in _CONSUMING_FILTERS and len(args) > passed:
            args = (*args[:passed], _materialized(args[passed]), *args[passed + 1 :])
        values = list(args[passed:])
        value, params = (values[0] if values else None), tuple(values[1:])
        _check_size(values + list(kwargs.values()), f"the input of filter {name!r}")
        if name == "format":
            _check_format(value)
        if _estimate_growth(name, value, params, kwargs) > budget.limits.max_value_size:
            raise LimitExceeded(
                f"filter {name!r} would make a text longer than {budget.limits.max_value_size:,} characters"
            )
        result = filter_function(*args, **kwargs)
        _check_size(result, f"the result of filter {name!r}")
        return result

    return bounded


@pass_eval_context
def _bounded_concat(eval_ctx: EvalContext, *parts: Any) -> str:
    """The ``~`` operator, measured before joining."""
    _budget().tick()
    _check_size(list(parts), "a text joined with ~")
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


def _bounded_iter(iterable: Any) -> Iterator[Any]:
    """What every ``{% for %}`` loops over: each iteration counted and timed."""
    budget = _budget()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > budget.limits.max_loop_iterations:
            raise LimitExceeded(
                f"the loops ran more than {budget.limits.max_loop_iterations:,} times in all and were stopped"
            )
        budget.tick()
        yield item


_CONCAT_NAME = "__dolirelance_concat"
_ITER_NAME = "__dolirelance_iter"


def bound_loops_and_concat(ast: nodes.Template) -> None:
    """Route every ``for`` and every ``~`` of a parsed template through the bounded helpers."""
    for loop in ast.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name(_ITER_NAME, "load"), [loop.iter], [], None, None, lineno=loop.lineno)
    # children before parents, so a ``~`` inside a ``~`` is replaced before its parent copies it
    for parent in reversed(list(ast.find_all(nodes.Node))):
        for field_name in parent.fields:
            child = getattr(parent, field_name, None)
            if isinstance(child, nodes.Concat):
                setattr(parent, field_name, _concat_call(child))
            elif isinstance(child, list):
                setattr(
                    parent,
                    field_name,
                    [_concat_call(item) if isinstance(item, nodes.Concat) else item for item in child],
                )


def _concat_call(node: nodes.Concat) -> nodes.Call:
    return nodes.Call(nodes.Name(_CONCAT_NAME, "load"), list(node.nodes), [], None, None, lineno=node.lineno)


class _BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (no private attributes, no mutation of lists and dicts) plus size and time bounds."""

    intercepted_binops = frozenset({"+", "*", "**", "%", "//"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=autoescape,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            finalize=_finalize,
        )
        del self.globals["lipsum"]  # generates text of any length on request
        self.globals[_CONCAT_NAME] = _bounded_concat
        self.globals[_ITER_NAME] = _bounded_iter
        self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().tick()
        limit = _budget().limits.max_value_size
        both_ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
        if both_ints:
            digits = _budget().limits.max_int_digits
            if _estimated_int_bits(operator, left, right) > digits * 3.33 + 8:
                raise LimitExceeded(f"the result of {operator} would have more than {digits} digits")
        elif operator == "*":
            count = right if isinstance(right, int) else left if isinstance(left, int) else 1
            other = left if isinstance(right, int) else right
            if isinstance(count, int) and _size(other, limit) * max(count, 0) > limit:
                raise LimitExceeded(f"the result of * would be longer than {limit:,} characters or items")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
            _check_size(right, "the values of %")
        elif operator == "+":
            _check_size([left, right], "the result of +")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, int) and not isinstance(result, bool):
            _check_int(result, f"the result of {operator}")
        else:
            _check_size(result, f"the result of {operator}")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format(value.__self__)  # str.format reached as an attribute: check its widths now

        @functools.wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_size([list(args), list(kwargs.values())], "the values of format()")
            result = wrapped(*args, **kwargs)
            _check_size(result, "the result of format()")
            return result

        return bounded

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is _bounded_concat or __obj is _bounded_iter:  # they measure their own work
            return __context.call(__obj, *args, **kwargs)
        budget = _budget()
        budget.tick()
        _check_size([list(args), list(kwargs.values())], "the arguments of a call")
        name = getattr(__obj, "__name__", "")
        target = getattr(__obj, "__self__", None)
        if name == "join" and isinstance(target, str) and args:
            args = (_materialized(args[0]), *args[1:])
        if name in ("format", "format_map") and isinstance(target, str):
            _check_format(target)
        if isinstance(target, str) and _estimate_growth(name, target, args, kwargs) > budget.limits.max_value_size:
            raise LimitExceeded(
                f"{name}() would make a text longer than {budget.limits.max_value_size:,} characters"
            )
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, int) and not isinstance(result, bool):
            _check_int(result, f"the result of {name or 'a call'}()")
        else:
            _check_size(result, f"the result of {name or 'a call'}()")
        return result


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` printed: measured before it becomes text."""
    _budget().tick()
    _check_size(value, "a printed value")
    return value


def bounded_environment(*, autoescape: bool) -> _BoundedEnvironment:
    return _BoundedEnvironment(autoescape=autoescape)
