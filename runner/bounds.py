"""What one template may do, so that no template can hang a scheduled run or exhaust its memory.

    MAX_TEXT      10,000      characters (or items) of any text or list a template makes
    MAX_CELL      1,000,000   characters of a cell, and of any value a call or filter returns (a source's
                              long value copied as it is: a 200 KB note goes through, 10**9 never does)
    MAX_RANGE     10,000      numbers in one range()
    MAX_DIGITS    4,300       digits of a number a template makes (Python prints no longer one)
    MAX_WORK      1,000,000   steps of work of one template for one row: a loop turn, a call, an
                              operator, and one a character printed or made by a call
    MAX_SPEC_WORK 100,000,000 steps of work of all the templates of one spec, for all its rows

A template that goes beyond one of the first four fails the row it renders (or the params) with
TemplateLimit, which says which bound and what it would have taken; a spec whose templates go beyond
MAX_SPEC_WORK stops with a spec error. Work is counted, not timed, so the same project does the same
thing on every machine.

The checks run before the operation that would be too large: `'a' * 10**9` is refused, never built.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError

from runner.numbers import number

MAX_TEXT = 10_000
MAX_CELL = 1_000_000
MAX_RANGE = 10_000
MAX_DIGITS = 4_300
MAX_WORK = 1_000_000
MAX_SPEC_WORK = 100_000_000
_MAX_BITS = int(MAX_DIGITS * math.log2(10))
SIZED = frozenset({str, list, tuple, dict, set, frozenset, bytes, range})
SEE = "(see docs/guides/templates.md)"


class TemplateLimit(SecurityError):
    """A template went beyond one of the bounds: the row it renders fails with this message."""


class Work:
    """The steps of work one render may still take."""

    __slots__ = ("left",)

    def __init__(self, limit: int = MAX_WORK):
        self.left = limit

    def spend(self, steps: int) -> None:
        """Take `steps`; beyond the limit the render fails."""
        self.left -= steps
        if self.left < 0:
            raise TemplateLimit(
                f"the template takes more than {number(MAX_WORK)} steps of work for one row (loop turns, "
                f"calls, characters made); simplify its loops {SEE}"
            )

    def spent(self, limit: int = MAX_WORK) -> int:
        """How many steps were taken, of `limit`."""
        return limit - self.left


CURRENT: ContextVar[Work | None] = ContextVar("template_work", default=None)


def spend(steps: int) -> None:
    """Take `steps` from the render in progress (nothing happens outside a render: at compile time)."""
    work = CURRENT.get()
    if work is not None:
        work.spend(steps)


def size(value: Any) -> int:
    """The length of a text, list or other collection; 0 for anything else."""
    return len(value) if value.__class__ in SIZED else 0


def most_text(length: int, what: str) -> None:
    """Refuse to make text or a list of `length`."""
    if length > MAX_TEXT:
        raise TemplateLimit(
            f"{what} would make {number(length)} characters (or items); a template makes at most "
            f"{number(MAX_TEXT)} {SEE}"
        )


def checked(value: Any, what: str) -> Any:
    """`value`, if it is not text or a list longer than MAX_CELL."""
    if isinstance(value, str) or (value.__class__ in SIZED and value.__class__ is not range):
        length = len(value)
        if length > MAX_CELL:
            raise TemplateLimit(
                f"{what} returned {number(length)} characters (or items); a value holds at most "
                f"{number(MAX_CELL)} {SEE}"
            )
    return value


def _most_bits(bits: int, what: str) -> None:
    if bits > _MAX_BITS:
        raise TemplateLimit(f"{what} would make a number of more than {number(MAX_DIGITS)} digits {SEE}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bool too: True * 'x' is 'x'


def bounded_range(*args: Any) -> range:
    """range(), at most MAX_RANGE numbers."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(
            f"range() of {number(len(numbers))} numbers; a range holds at most {number(MAX_RANGE)} {SEE}"
        )
    spend(len(numbers))
    return numbers


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `left operator right` when its result would be beyond the bounds."""
    what = f"{operator!r}"
    if operator == "*":
        if _is_int(left) and _is_int(right):
            _most_bits(left.bit_length() + right.bit_length(), what)
        elif _is_int(right) and size(left):
            most_text(len(left) * max(right, 0), what)
        elif _is_int(left) and size(right):
            most_text(len(right) * max(left, 0), what)
    elif operator == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            _most_bits(left.bit_length() * right, what)
    elif operator == "+":
        if left.__class__ in SIZED and right.__class__ in SIZED:
            most_text(len(left) + len(right), what)
    elif operator == "%" and isinstance(left, str):
        check_percent(left, right)


# printf-style conversions: %(name)-08.3f, %*d ...
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _most_width(digits: str) -> None:
    if len(digits) > len(str(MAX_TEXT)) or int(digits) > MAX_TEXT:
        shown = digits if len(digits) <= 20 else digits[:20] + "..."
        raise TemplateLimit(f"a width or precision of {shown} is more than {number(MAX_TEXT)} {SEE}")


def check_percent(text: str, args: Any) -> None:
    """Refuse a `text % args` whose widths or precisions would make text beyond MAX_TEXT."""
    values = args if isinstance(args, tuple) else (args,)
    for match in _PERCENT.finditer(text):
        for part in match.groups():
            if part == "*":
                for value in values:
                    if _is_int(value):
                        most_text(value, f"a width of {number(value)}")
            elif part:
                _most_width(part)


def check_format_spec(spec: str) -> None:
    """Refuse a str.format field whose width or precision is beyond MAX_TEXT ('{:>999999}')."""
    for digits in _DIGITS.findall(spec):
        _most_width(digits)


def steps(iterable: Iterable[Any], per_turn: int = 1) -> Iterator[Any]:
    """The items of a loop, `per_turn` steps of work each (1, and the text written inside the loop)."""
    work = CURRENT.get()
    if work is None:
        yield from iterable
        return
    for item in iterable:
        work.spend(per_turn)
        yield item


def concat(*values: Any) -> str:
    """`a ~ b ~ c`, at most MAX_TEXT long."""
    text = "".join([str(v) for v in values])
    most_text(len(text), "'~'")
    spend(len(text))
    return text


# --- methods and filters whose arguments say how large their result is --------------------------


def _width(owner: Any, width: Any = 0, *rest: Any, **kwargs: Any) -> None:
    if _is_int(width):
        most_text(width, f"a width of {number(width)}")


def _expandtabs(owner: Any, tabsize: Any = 8, *rest: Any, **kwargs: Any) -> None:
    if _is_int(tabsize) and isinstance(owner, str | bytes):
        most_text(len(owner) * max(tabsize, 1), "expandtabs()")


def _replace(owner: Any, old: Any = "", new: Any = "", count: Any = -1, *rest: Any, **kwargs: Any) -> None:
    text, old, new = str(owner), str(old), str(new)
    found = len(text) + 1 if old == "" else text.count(old)
    if _is_int(count) and count >= 0:
        found = min(found, count)
    most_text(len(text) + found * (len(new) - len(old)), "replace()")


def _join(separator: Any, items: Any = (), *rest: Any, **kwargs: Any) -> None:
    if items.__class__ in (list, tuple, str):
        texts = sum(len(item) for item in items if item.__class__ is str)
        most_text(texts + len(str(separator)) * max(len(items) - 1, 0), "join()")


METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "ljust": _width,
    "rjust": _width,
    "center": _width,
    "zfill": _width,
    "to_bytes": _width,
    "expandtabs": _expandtabs,
    "replace": _replace,
    "join": _join,
}


def _filter_join(value: Any, d: Any = "", *rest: Any, **kwargs: Any) -> None:
    _join(d, value)


def _filter_indent(value: Any, width: Any = 4, *rest: Any, **kwargs: Any) -> None:
    lines = str(value).count("\n") + 1
    indent = width if _is_int(width) else len(str(width))
    most_text(len(str(value)) + lines * max(indent, 0), "indent()")


def _filter_count(value: Any, count: Any = 1, *rest: Any, **kwargs: Any) -> None:
    if _is_int(count):
        most_text(count, f"{number(count)} parts")


def _filter_format(value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent(str(value), kwargs or args)


def _filter_tojson(value: Any, indent: Any = None, *rest: Any, **kwargs: Any) -> None:
    if _is_int(indent):
        most_text(indent, f"an indent of {number(indent)}")


FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "zpad": _width,
    "center": _width,
    "indent": _filter_indent,
    "replace": _replace,
    "join": _filter_join,
    "batch": _filter_count,
    "slice": _filter_count,
    "format": _filter_format,
    "tojson": _filter_tojson,
}


# --- what validate can see without rendering --------------------------------------------------

_NOT_STATIC = object()
_BINOPS: dict[type[nodes.BinExpr], tuple[str, Callable[[Any, Any], Any]]] = {
    nodes.Mul: ("*", operator.mul),
    nodes.Pow: ("**", operator.pow),
    nodes.Add: ("+", operator.add),
    nodes.Mod: ("%", operator.mod),
    nodes.Sub: ("-", operator.sub),
    nodes.FloorDiv: ("//", operator.floordiv),
}
_WIDTH_FILTERS = frozenset({"zpad", "center", "batch", "slice", "tojson"})
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "to_bytes"})


def _static(node: nodes.Node) -> Any:
    """The value of an expression of constants only (`10 ** 9`, `'a' * 3`), worked out within the
    bounds (TemplateLimit when beyond them); _NOT_STATIC for anything else."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Neg | nodes.Pos):
        value = _static(node.node)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value if isinstance(node, nodes.Neg) else value
        return _NOT_STATIC
    op = _BINOPS.get(type(node))  # type: ignore[arg-type]
    if op is None or not isinstance(node, nodes.BinExpr):
        return _NOT_STATIC
    left, right = _static(node.left), _static(node.right)
    if left is _NOT_STATIC or right is _NOT_STATIC:
        return _NOT_STATIC
    check_binop(op[0], left, right)
    try:
        return op[1](left, right)
    except Exception:  # 1 // 0, 'a' - 1: an error per row, not a bound
        return _NOT_STATIC


def _static_args(call: nodes.Call | nodes.Filter) -> list[Any] | None:
    values = [_static(arg) for arg in call.args]
    return None if any(v is _NOT_STATIC for v in values) or call.kwargs or call.dyn_args else values


def _range_size(node: nodes.Node) -> int | None:
    """How many numbers `range(...)` of constants holds (TemplateLimit beyond MAX_RANGE)."""
    if not (isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range"):
        return None
    args = _static_args(node)
    if args is None or not all(_is_int(a) for a in args):
        return None
    try:
        numbers = range(*args)
    except (TypeError, ValueError):
        return None
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(
            f"range() of {number(len(numbers))} numbers; a range holds at most {number(MAX_RANGE)} {SEE}"
        )
    return len(numbers)


def _check_node(node: nodes.Node) -> None:
    """Raise TemplateLimit if `node` is certainly beyond a bound, whatever the row."""
    if isinstance(node, nodes.BinExpr):
        _static(node)
    elif isinstance(node, nodes.Call):
        _range_size(node)
        target = node.node
        if isinstance(target, nodes.Getattr) and target.attr in _WIDTH_METHODS:
            args = _static_args(node)
            if args:
                _width("", *args)
    elif isinstance(node, nodes.Filter) and node.name in _WIDTH_FILTERS:
        args = _static_args(node)
        if args:
            FILTER_CHECKS[node.name]("", *args)


def _loop_turns(loop: nodes.For) -> int:
    """How often a loop over a constant range, list or text turns (1 when it cannot be known)."""
    size = _range_size(loop.iter)
    if size is not None:
        return size
    value = _static(loop.iter)
    return len(value) if isinstance(value, str) else 1


def static_problems(tree: nodes.Template) -> Iterator[tuple[int, str]]:
    """(line, message) for what a template certainly does beyond the bounds, seen without rendering it:
    a constant too large (`'a' * 10**9`, `zpad(10**9)`, `range(100000)`) or nested constant loops that
    turn more than MAX_WORK times."""
    for node in tree.find_all(nodes.Node):
        try:
            _check_node(node)
        except TemplateLimit as err:
            yield node.lineno, str(err.message)
    yield from _nested_loops(tree, 1)


def _nested_loops(node: nodes.Node, turns: int) -> Iterator[tuple[int, str]]:
    for child in node.iter_child_nodes():
        inner = turns
        if isinstance(child, nodes.For):
            try:
                inner = turns * _loop_turns(child)
            except TemplateLimit:  # reported above
                inner = turns
            if inner > MAX_WORK >= turns:
                yield (
                    child.lineno,
                    (
                        f"these nested loops turn {number(inner)} times for each row; a template takes at "
                        f"most {number(MAX_WORK)} steps of work for one row {SEE}"
                    ),
                )
        yield from _nested_loops(child, inner)
