"""The Jinja environment every template runs in, and the filters schools need.

Templates run in Jinja's sandbox with strict undefined: a template can read its context (`row`, `vars`,
`tenant`, `lookups`) and call the filters below, nothing else, and a missing name is an error, never an
empty cell. What a template prints is finalised once: true/false become TRUE/FALSE (Infiniti's booleans)
and a missing value (SQL NULL) becomes an empty cell.

The environment also keeps every template within runner/bounds.py: loops, calls, operators and filters
count their work and refuse results that would be too large, so a template cannot hang a run.
"""

from __future__ import annotations

import functools
import re
import types
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from runner import bounds

ROW_CONTEXT = ("row", "vars", "tenant", "lookups")
PARAM_CONTEXT = ("vars", "tenant")


def finalize(value: Any) -> Any:
    """How a printed value becomes cell text: booleans as TRUE/FALSE, None as nothing."""
    if value is None:
        return ""
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def zpad(value: Any, width: int = 2) -> str:
    """Zero-pad to `width` characters; text keeps its leading zeros.

    Example: `row.year | zpad(2)`: `7` → `07`.
    """
    return _text(value).zfill(width)


# Latin letters that are not a base letter plus a mark, so decomposing them does not reach ASCII.
_LATIN = str.maketrans(
    {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "\u0131": "i", "ß": "ss"}
    | {"æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th"}
)


def ascii_fold(value: Any) -> str:
    """Drop accents and macrons (Latin letters such as đ, ø, ł and ß too); other scripts stay.

    Example: `row.given | ascii`: `Tāne` → `Tane`, `Nguyễn` → `Nguyen`, `Đặng` → `Dang`.
    """
    decomposed = unicodedata.normalize("NFKD", _text(value).translate(_LATIN))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)  # Hangul, decomposed above, is composed again


def slug(value: Any, separator: str = "-") -> str:
    """Lower-case ASCII words (accents dropped as by `ascii`) joined by `separator`.

    Example: `row.form | slug`: `Year 7 (Blue)` → `year-7-blue`.
    """
    words = re.findall(r"[a-z0-9]+", ascii_fold(value).lower())
    return separator.join(words)


def tf(value: Any) -> str:
    """Infiniti's boolean text: `TRUE` for a true value, `FALSE` otherwise; text is false when it is `""`,
    `0`, `false`, `f`, `no`, `n` or `off` (in any case, spaces around it ignored).

    Example: `row.is_staff | tf`: `yes` → `TRUE`, `off` → `FALSE`.
    """
    if isinstance(value, str):
        value = value.strip().lower() not in ("", "0", "false", "f", "no", "n", "off")
    return "TRUE" if value else "FALSE"


def re_sub(value: Any, pattern: str, replacement: str = "") -> str:
    """Replace every match of a regular expression (Python's `re`) with `replacement`.

    Example: `row.phone | re_sub('[^0-9]')`: `+64 21 555` → `6421555`.
    """
    return re.sub(pattern, replacement, _text(value))


def nonempty(value: Any, fallback: Any) -> Any:
    """The value, unless it is empty (or only spaces) or NULL: then `fallback`.

    Example: `row.preferred | nonempty(row.given)`: the given name when no preferred one is set.
    """
    return fallback if value is None or _text(value).strip() == "" else value


FILTERS: dict[str, Callable[..., Any]] = {
    "zpad": zpad,
    "ascii": ascii_fold,
    "slug": slug,
    "tf": tf,
    "re_sub": re_sub,
    "nonempty": nonempty,
}


class RowView:
    """What templates see as `row`: the source row's columns by name (`row.code`, `row['First Name']`)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: Sequence[Any]):
        self._index = index
        self._values = values

    def __getattr__(self, name: str) -> Any:
        position = self._index.get(name)
        if position is None:
            raise AttributeError(name)
        return self._values[position]

    def __getitem__(self, name: str) -> Any:
        position = self._index.get(name) if isinstance(name, str) else None
        if position is None:
            raise KeyError(name)
        return self._values[position]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __repr__(self) -> str:
        return "row(" + ", ".join(f"{k}={self._values[i]!r}" for k, i in self._index.items()) + ")"


class LookupTable(dict[Any, Any]):
    """A spec's lookup table. Keys are text; a number from a database finds the key "7" too."""

    def __init__(self, name: str, items: Mapping[str, Any]):
        super().__init__(items)
        self._name = name  # not `name`: templates read attributes before keys (`tenant.name`)

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, str | bool) or key is None:
            raise KeyError(key)
        return self[str(key)]

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        return not isinstance(key, str | bool) and key is not None and dict.__contains__(self, str(key))


class Values(dict[str, Any]):
    """`vars` or `tenant` as templates see them: a name that is not there is named in the error."""

    def __init__(self, name: str, items: Mapping[str, Any]):
        super().__init__(items)
        self._name = name  # not `name`: templates read attributes before keys (`tenant.name`)


class SpecUndefined(StrictUndefined):
    """Strict undefined whose message names the missing column or lookup key."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint:  # the sandbox's "access to attribute ... is unsafe"
            return self._undefined_hint
        if isinstance(obj, RowView):
            return f"row has no column {name!r}"
        if isinstance(obj, LookupTable):
            return f"lookup {obj._name!r} has no key {name!r}"
        if isinstance(obj, Values):
            return f"{obj._name} has no {name!r} (it has: {', '.join(obj) or 'nothing'})"
        return str(super()._undefined_message)


# Jinja's text filters print SQL NULL as "None"; here it stays an empty cell, as it does unfiltered.
_TEXT_FILTERS = (
    "capitalize",
    "center",
    "indent",
    "lower",
    "replace",
    "string",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
    "wordwrap",
)


def _null_is_empty(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` with a None value read as "" (the value comes after the environment, if passed)."""
    at = 0 if _PassArg.from_obj(func) is None else 1

    @functools.wraps(func)
    def text_filter(*args: Any, **kwargs: Any) -> Any:
        if len(args) > at and args[at] is None:
            args = (*args[:at], "", *args[at + 1 :])
        return func(*args, **kwargs)

    return text_filter


def _printed(value: Any) -> Any:
    """finalize, counting the characters printed as work."""
    value = finalize(value)
    if value.__class__ is str:
        bounds.spend(len(value))
    return value


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` with its arguments checked first (bounds.FILTER_CHECKS, when it has one) and its text
    result bounded: the same function on Jinja's path and on the translated one."""
    at = 0 if _PassArg.from_obj(func) is None else 1
    check = bounds.FILTER_CHECKS.get(name)

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if check is not None:
            check(*args[at:], **kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, str) and len(result) > bounds.MAX_TEXT:
            bounds.most_text(len(result), f"the filter {name}")
        return result

    return bounded


def _call(name: str, *args: nodes.Node) -> nodes.Call:
    """`runner.bounds.NAME(args)` as a Jinja node (ImportedName is how Jinja's own extensions call Python)."""
    return nodes.Call(nodes.ImportedName(f"runner.bounds.{name}"), list(args), [], None, None)


def _literal_text(body: list[nodes.Node]) -> int:
    """Characters of text written in `body` itself (inner loops count theirs on each of their turns)."""
    total, stack = 0, list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.TemplateData):
            total += len(node.data)
        elif not isinstance(node, nodes.For | nodes.Macro | nodes.CallBlock):
            stack.extend(node.iter_child_nodes())
    return total


class _Counted(NodeTransformer):
    """Every loop counts its turns, and `~` is bounded (Jinja joins it in code no hook reaches)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)  # in place
        per_turn = 1 + _literal_text(node.body)  # the text written in the loop is printed every turn
        node.iter = _call("steps", node.iter, nodes.Const(per_turn))
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("concat", *node.nodes)


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, on the tree with loops counted."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        super().visit_Template(_Counted().visit(node), frame)


class BoundedTemplate(Template):
    """A template whose every render counts its work (a fresh MAX_WORK each, unless given one)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.render_with(bounds.Work(), *args, **kwargs)

    def render_with(self, work: bounds.Work, *args: Any, **kwargs: Any) -> str:
        """Render, spending from `work`."""
        token = bounds.CURRENT.set(work)
        try:
            return super().render(*args, **kwargs)
        finally:
            bounds.CURRENT.reset(token)


class _BoundedFormatter(SandboxedFormatter):
    """Jinja's sandboxed str.format, with each field's width and precision bounded once it is known."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        bounds.check_format_spec(format_spec)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    """The same for Markup.format (text from `safe` or `tojson`)."""


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, where `table[key]` on a lookup table or a row never falls back to an attribute, and
    where operators, calls and str.format stay within runner/bounds.py.

    Jinja tries `obj.key` when `obj[key]` fails, so a lookup key such as "items" or "name" that is missing
    from the table would print a method or the table's name instead of failing as a missing key.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})  # also keeps Jinja from working them out early
    code_generator_class = _CodeGenerator
    template_class = BoundedTemplate

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, LookupTable | RowView | Values):
            try:
                return obj[argument]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """`left operator right` for *, **, + and %, refused when the result would be beyond the bounds."""
        bounds.check_binop(operator, left, right)
        result = self.binop_table[operator](left, right)
        bounds.spend(1 + bounds.size(result))
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes (methods, macros, range): counted, with sizing arguments and the
        result bounded."""
        if __obj is bounds.steps or __obj is bounds.concat:  # they count their own work
            return __obj(*args)  # (without the _loop_vars Jinja passes inside loops)
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType) and owner.__class__ in (str, bytes, int):
            check = bounds.METHOD_CHECKS.get(__obj.__name__)
            if check is not None:
                check(owner, *args, **kwargs)
        bounds.spend(1 + sum(bounds.size(a) for a in args))
        result = super().call(__context, __obj, *args, **kwargs)
        bounds.checked(result, f"{getattr(__obj, '__name__', 'a call')}()")
        bounds.spend(bounds.size(result) if result.__class__ is not range else 0)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed str.format, with widths and precisions bounded."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__
        formatter = (
            _BoundedEscapeFormatter(self, escape=text.escape)
            if isinstance(text, Markup)
            else _BoundedFormatter(self)
        )
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if not is_map:
                return type(text)(formatter.vformat(text, args, kwargs))
            if kwargs or len(args) != 1:
                return wrapped(*args, **kwargs)  # Jinja's own TypeError
            return type(text)(formatter.vformat(text, (), args[0]))

        return bounded


_GUARDED_FILTERS = frozenset({"default", "d"})
_GUARDED_TESTS = frozenset({"defined", "undefined"})


def certain_refs(tree: nodes.Template, name: str = "row") -> Iterator[str]:
    """The keys of `name` (`row.code`, `vars['campus']`) a template reads where a missing one is
    certainly an error.

    A key tested with `is defined` or given a `default` anywhere in the template may be missing:
    `row.nick if row.nick is defined else row.given` reads it only where it exists.
    """
    guarded_nodes: set[int] = set()
    for check in tree.find_all((nodes.Filter, nodes.Test)):
        names = _GUARDED_FILTERS if isinstance(check, nodes.Filter) else _GUARDED_TESTS
        if check.name in names and check.node is not None:
            guarded_nodes |= {id(n) for n in check.node.find_all(nodes.Node)} | {id(check.node)}
    refs = [(key, id(access) in guarded_nodes) for key, access in _accesses(tree, name)]
    guarded = {key for key, is_guarded in refs if is_guarded}
    yield from dict.fromkeys(key for key, _ in refs if key not in guarded)


def _accesses(tree: nodes.Template, name: str) -> Iterator[tuple[str, nodes.Node]]:
    """Each `NAME.KEY` and `NAME['KEY']` of a template, with its node."""
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(access, nodes.Getattr | nodes.Getitem)
        target = access.node
        if not (isinstance(target, nodes.Name) and target.name == name):
            continue
        if isinstance(access, nodes.Getattr):
            yield access.attr, access
        elif isinstance(access.arg, nodes.Const) and isinstance(access.arg.value, str):
            yield access.arg.value, access


@cache
def environment() -> ImmutableSandboxedEnvironment:
    """The one sandboxed, strict environment of the process (templates are compiled once each)."""
    env = _Environment(
        undefined=SpecUndefined,
        autoescape=False,
        finalize=_printed,
        keep_trailing_newline=False,
        cache_size=-1,
    )
    env.filters.update({name: _null_is_empty(env.filters[name]) for name in _TEXT_FILTERS})
    env.filters.update(FILTERS)
    for name, func in env.filters.items():
        env.filters[name] = _bounded_filter(name, func)
    env.globals["range"] = bounds.bounded_range
    del env.globals["lipsum"]  # paragraphs of lorem ipsum, as many as asked for: no cell needs them
    return env
