"""Rendering: a spec's templates compiled once into one Python function that turns a source row into the
cells of an import line, in a single pass.

Most templates are simple (`{{ row.code | lower }}`, `{{ lookups.year_group[row.year] }}`, a constant). Those
are translated from Jinja's own syntax tree into Python expressions that call Jinja's own filters and its
sandboxed attribute and item access, so they mean exactly what Jinja would make of them, without Jinja's
per-render overhead. Constant columns are folded at compile time. A template the translator does not know
(a loop, a method call, arithmetic) is rendered by Jinja itself, in its sandbox, for that column only.
A test holds the two paths to the same output on generated templates and rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import TemplateError, UndefinedError
from jinja2.nodes import EvalContext
from jinja2.utils import _PassArg

from runner import bounds, generated
from runner.errors import QueryError, SyncError, Where
from runner.numbers import number
from runner.records import record
from runner.source import QUERY_RETURNS
from runner.spec import Spec
from runner.templates import (
    BoundedTemplate,
    LookupTable,
    RowView,
    SpecUndefined,
    Values,
    certain_refs,
    environment,
    finalize,
)

_SKIP = frozenset({"", "false", "0", "none", "no"})
_COMPARE = {
    "eq": "==",
    "ne": "!=",
    "gt": ">",
    "gteq": ">=",
    "lt": "<",
    "lteq": "<=",
    "in": "in",
    "notin": "not in",
}

RowFunction = Callable[[Sequence[Any]], "tuple[str, ...] | None"]


class RowError(Exception):
    """A row that could not be rendered: which column (or `where`) and why."""

    def __init__(self, column: str, cause: BaseException):
        self.column = column
        self.reason = _reason(cause)
        super().__init__(f"{column}: {self.reason}")


class TranslationError(Exception):
    """The compiled function failed on a row that Jinja renders: a bug in the translator, never the spec's.

    Not a SyncError on purpose: it is an internal error (exit 4), not a row to leave out.
    """

    def __init__(self, column: str, cause: BaseException):
        self.column = column
        super().__init__(
            f"the compiled template of {column} failed ({_reason(cause)}) on a row that Jinja renders; "
            "this is a bug in infiniti-sync's template compiler (runner/render.py), not in the spec"
        )


def _reason(err: BaseException) -> str:
    if isinstance(err, UndefinedError | TemplateError):
        return str(err.message or err)
    return f"{type(err).__name__}: {err}"


def cell(value: Any) -> str:
    """A printed value as cell text, exactly as Jinja prints it with our finalize."""
    value = finalize(value)
    return value if value.__class__ is str else str(value)


def skip(text: str) -> bool:
    """Whether a rendered `where` means "leave this row out"."""
    return text.strip().lower() in _SKIP


@record
class Context:
    """What the templates of one tenant's run see, besides the row."""

    vars: Mapping[str, Any]
    tenant: Mapping[str, Any]
    lookups: Mapping[str, LookupTable]

    @classmethod
    def of(cls, spec: Spec, vars: Mapping[str, Any], tenant: Mapping[str, Any]) -> Context:
        """The context of `spec` run for a tenant with these vars."""
        lookups = {name: LookupTable(name, table) for name, table in spec.lookups.items()}
        return cls(vars=Values("vars", vars), tenant=Values("tenant", tenant), lookups=lookups)


_NOT_STATIC = object()
_MISS = object()  # what a lookup table's get gives for a key it does not have
_STR_METHODS = {"lower": "lower", "upper": "upper", "trim": "strip"}


class _Unsupported(Exception):
    """The translator does not handle this node: Jinja renders the template."""


class _Translator:
    """Jinja expression nodes to Python source; constants go to a shared list."""

    def __init__(self, columns: Sequence[str], context: Context, constants: list[Any], *, text: bool = False):
        self.index = {name: i for i, name in enumerate(columns)}
        self.context = context
        self.constants = constants
        self.env = environment()
        self.temps = 0
        # expressions known to give text, when every row value is text (Rows.text, a CSV file's): a
        # test of their type would always pass, so they go without
        self.text = text
        self.texts: set[str] = set()

    def temp(self) -> str:
        """A fresh name for an intermediate value of the generated function."""
        self.temps += 1
        return f"_t{self.temps}"

    def const(self, value: Any) -> str:
        self.constants.append(value)
        return f"_k{len(self.constants) - 1}"  # a global of the generated function: one fast lookup

    def output(self, template: nodes.Template) -> str:
        if len(template.body) != 1 or not isinstance(template.body[0], nodes.Output):
            if not template.body:
                return "''"
            raise _Unsupported
        parts = []
        for child in template.body[0].nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(repr(child.data))
            else:
                parts.append(self.cell(child))
        return " + ".join(parts) if parts else "''"

    def cell(self, node: nodes.Expr) -> str:
        if isinstance(node, nodes.Const):
            return repr(cell(node.value))
        expr = self.expr(node)
        if expr in self.texts:  # cell() of text is the text
            return expr
        temp = self.temp()
        return f"({temp} if ({temp} := {expr}).__class__ is str else _cell({temp}))"

    def expr(self, node: nodes.Node) -> str:
        static = self._static(node)
        if static is not _NOT_STATIC:
            return self.const(static)  # vars, tenant and lookups do not change during a run
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise _Unsupported
        return str(method(node))

    def _static(self, node: nodes.Node) -> Any:
        """The value of `vars.x`, `tenant['y']`, `lookups.T`... worked out once, as Jinja would."""
        if isinstance(node, nodes.Name):
            if node.name in ("vars", "tenant", "lookups"):
                return getattr(self.context, node.name)
            return _NOT_STATIC
        if isinstance(node, nodes.Getattr):
            base = self._static(node.node)
            return _NOT_STATIC if base is _NOT_STATIC else self.env.getattr(base, node.attr)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            base = self._static(node.node)
            return _NOT_STATIC if base is _NOT_STATIC else self.env.getitem(base, node.arg.value)
        return _NOT_STATIC

    def visit_Const(self, node: nodes.Const) -> str:
        value = node.value
        return repr(value) if isinstance(value, str | int | float | bool | type(None)) else self.const(value)

    def visit_Name(self, node: nodes.Name) -> str:
        if node.name in ("vars", "tenant", "lookups"):
            return self.const(getattr(self.context, node.name))
        raise _Unsupported  # `row` on its own, or a name the template sets itself

    def _row_column(self, name: Any) -> str:
        if isinstance(name, str) and not name.startswith("_") and name in self.index:
            value = f"_r[{self.index[name]}]"
            if self.text:
                self.texts.add(value)
            return value
        if isinstance(name, str) and name.startswith("_"):
            raise _Unsupported  # the sandbox refuses such attributes; let it say so
        return self.const(SpecUndefined(obj=RowView({}, ()), name=str(name)))

    def visit_Getattr(self, node: nodes.Getattr) -> str:
        if isinstance(node.node, nodes.Name) and node.node.name == "row":
            return self._row_column(node.attr)
        return f"_ga({self.expr(node.node)}, {node.attr!r})"

    def visit_Getitem(self, node: nodes.Getitem) -> str:
        if (
            isinstance(node.node, nodes.Name)
            and node.node.name == "row"
            and isinstance(node.arg, nodes.Const)
        ):
            if node.arg.value.__class__ is not str or node.arg.value.startswith("_"):
                raise _Unsupported
            return self._row_column(node.arg.value)
        if isinstance(node.arg, nodes.Slice):
            raise _Unsupported
        target = self.expr(node.node)
        if isinstance(node.node, nodes.Getattr) and self._is_lookup(node.node):
            key = self.expr(node.arg)
            if key in self.texts:  # text is hashable: the table's own get finds a key that is there
                temp = self.temp()
                found = f"({temp} := {target}.get({key}, _miss))"
                return f"({temp} if {found} is not _miss else _lk({target}, {key}))"
            return f"_lk({target}, {key})"
        return f"_gi({target}, {self.expr(node.arg)})"

    def _is_lookup(self, node: nodes.Getattr) -> bool:
        return (
            isinstance(node.node, nodes.Name)
            and node.node.name == "lookups"
            and node.attr in self.context.lookups
        )

    def visit_Filter(self, node: nodes.Filter) -> str:
        func = self.env.filters.get(node.name)
        if func is None or node.node is None or node.dyn_args or node.dyn_kwargs:
            raise _Unsupported
        method = _STR_METHODS.get(node.name)
        if method is not None and not node.args and not node.kwargs:
            # Jinja's lower/upper/trim are soft_str(value).lower() and so on: on text, the method itself
            temp, value, other = self.temp(), self.expr(node.node), self.const(func)
            if value in self.texts:
                self.texts.add(text := f"{value}.{method}()")
                return text
            return f"({temp}.{method}() if ({temp} := {value}).__class__ is str else {other}({temp}))"
        pass_arg = _PassArg.from_obj(func)
        first = {_PassArg.eval_context: "_ec, ", _PassArg.environment: "_env, ", None: ""}.get(pass_arg)
        if first is None:
            raise _Unsupported  # filters that need the whole render context
        args = [self.expr(node.node), *(self.expr(a) for a in node.args)]
        args += [f"{kw.key}={self.expr(kw.value)}" for kw in node.kwargs]
        return f"{self.const(func)}({first}{', '.join(args)})"

    def visit_Test(self, node: nodes.Test) -> str:
        func = self.env.tests.get(node.name)
        if func is None or node.dyn_args or node.dyn_kwargs or _PassArg.from_obj(func) is not None:  # type: ignore[type-var]
            raise _Unsupported
        args = [self.expr(node.node), *(self.expr(a) for a in node.args)]
        args += [f"{kw.key}={self.expr(kw.value)}" for kw in node.kwargs]
        return f"{self.const(func)}({', '.join(args)})"

    def visit_Concat(self, node: nodes.Concat) -> str:
        return "_cat((" + "".join(self.expr(n) + ", " for n in node.nodes) + "))"

    def visit_CondExpr(self, node: nodes.CondExpr) -> str:
        if node.expr2 is None:
            raise _Unsupported
        return f"({self.expr(node.expr1)} if {self.expr(node.test)} else {self.expr(node.expr2)})"

    def visit_Compare(self, node: nodes.Compare) -> str:
        parts = [self.expr(node.expr)]
        for op in node.ops:
            parts.append(f"{_COMPARE[op.op]} {self.expr(op.expr)}")
        return "(" + " ".join(parts) + ")"

    def visit_And(self, node: nodes.And) -> str:
        return f"({self.expr(node.left)} and {self.expr(node.right)})"

    def visit_Or(self, node: nodes.Or) -> str:
        return f"({self.expr(node.left)} or {self.expr(node.right)})"

    def visit_Not(self, node: nodes.Not) -> str:
        return f"(not {self.expr(node.node)})"

    def visit_List(self, node: nodes.List) -> str:
        return "[" + "".join(self.expr(n) + ", " for n in node.items) + "]"

    def visit_Tuple(self, node: nodes.Tuple) -> str:
        return "(" + "".join(self.expr(n) + ", " for n in node.items) + ")"


def _cat(values: tuple[Any, ...]) -> str:
    text = "".join([str(v) for v in values])
    if len(text) > bounds.MAX_TEXT:
        bounds.most_text(len(text), "'~'")  # as Jinja's `~` does (runner.bounds.concat)
    return text


def _lookup(table: LookupTable, key: Any) -> Any:
    try:
        return table[key]
    except (KeyError, TypeError):
        return environment().getitem(table, key)


class Renderer:
    """One spec's templates, compiled for the columns of one query result."""

    def __init__(
        self,
        spec: Spec,
        columns: Sequence[str],
        context: Context,
        *,
        where: Where | None = None,
        work: int = bounds.MAX_SPEC_WORK,
        origin: str = QUERY_RETURNS,
        text: bool = False,
    ):
        self.header = spec.header
        self.text = text  # every value of every row is text (runner.source.Rows.text)
        self.columns = tuple(columns)
        self.origin = origin  # where the columns come from, in messages (runner.source.Rows)
        self.context = context
        self.where = where or Where(spec=spec.name)
        self.work_left = work  # what Jinja may still do for all rows (bounds.MAX_SPEC_WORK)
        self._work = work
        self.translated = 0
        self.constant_cells: dict[int, str] = {}
        self.source = ""
        self._folded: str | None = None
        self._translated: dict[str, str] = {}  # column (or "where") -> template, for failures
        self._truth: dict[str, Callable[[Sequence[Any]], str]] = {}
        self._check_columns(spec, self.where)
        self.row: RowFunction = self._compile(spec)

    def _check_columns(self, spec: Spec, where: Where) -> None:
        known = set(self.columns)
        templates = [("where", spec.where)] if spec.where else []
        for name, text in [*templates, *spec.columns]:
            missing = sorted(set(certain_refs(_tree(text))) - known)
            if missing:
                raise QueryError(
                    f"the template of {name} reads row.{missing[0]}, but {self.origin} no such column",
                    where=where,
                    hint=f"{self.origin}: {', '.join(self.columns) or 'no columns'}",
                )

    def _compile(self, spec: Spec) -> RowFunction:
        constants: list[Any] = []
        fallbacks: list[Callable[[Sequence[Any]], str]] = []
        translator = _Translator(self.columns, self.context, constants, text=self.text)
        lines = ["def render(_r):", "    _c = 'where'", "    try:"]
        inline = ["_c = 'where'"]
        if spec.where:
            source = self._source(spec.where, translator, fallbacks, "where")
            lines.append(f"        if _skip({source}): return None")
            inline += [f"if _skip({source}):", "    c = None", "else:"]
        indent = "    " if spec.where else ""
        cells = []
        for i, (name, text) in enumerate(spec.columns):
            source = self._source(text, translator, fallbacks, name)
            if self._folded is not None:
                self.constant_cells[i] = self._folded
                cells.append(source)
                continue
            lines.append(f"        _c = {name!r}")
            lines.append(f"        _v{i} = {source}")
            inline += [f"{indent}_c = {name!r}", f"{indent}_v{i} = {source}"]
            cells.append(f"_v{i}")
        cells_tuple = "(" + "".join(c + ", " for c in cells) + ")"
        lines.append(f"        return {cells_tuple}")
        inline.append(f"{indent}c = {cells_tuple}")
        lines += ["    except Exception as _e:", "        raise _failure(_r, _c, _e) from _e"]
        namespace: dict[str, Any] = {
            **{f"_k{i}": value for i, value in enumerate(constants)},
            "_fb": fallbacks,
            "_cell": cell,
            "_cat": _cat,
            "_lk": _lookup,
            "_ga": environment().getattr,
            "_gi": environment().getitem,
            "_ec": EvalContext(environment()),
            "_env": environment(),
            "_skip": skip,
            "_failure": self._failure,
            "_miss": _MISS,
        }
        self.source = "\n".join(lines)
        # the body of `render` for a loop compiled around it (runner.plan): it reads the row `_r`, sets
        # `c` to the cells (None: where leaves the row out), each cell it computes (inline_cells) also
        # in `_v{i}`, and, should it fail, `_c` to the column; the loop hands such a failure to
        # `_failure`, as `render` does
        self.inline: tuple[list[str], dict[str, Any]] = (inline, dict(namespace))
        self.inline_cells = frozenset(i for i in range(len(spec.columns)) if i not in self.constant_cells)
        exec(generated.code(self.source, f"<spec {spec.name}>"), namespace)  # noqa: S102
        return namespace["render"]  # type: ignore[no-any-return]

    def _failure(self, values: Sequence[Any], column: str, err: BaseException) -> RowError:
        """The RowError of a row the compiled function could not render (only failing rows come here).

        A translated template is rendered once more by Jinja, the truth: if Jinja fails too, the row is
        bad, for Jinja's reason; if Jinja renders it, the translator is wrong, and TranslationError says so
        rather than leaving good rows out of the file as if they had failed their pre-checks.
        """
        if isinstance(err, SyncError):  # the spec's templates did more work than a spec may
            raise err
        template = self._translated.get(column)
        if template is None:  # Jinja rendered it already
            return RowError(column, err)
        truth = self._truth.get(column)
        if truth is None:
            truth = self._truth[column] = self._jinja(_template(template))
        try:
            truth(values)
        except Exception as jinja_err:
            return RowError(column, jinja_err)
        raise TranslationError(column, err) from err

    def _source(
        self,
        text: str,
        translator: _Translator,
        fallbacks: list[Callable[[Sequence[Any]], str]],
        column: str,
    ) -> str:
        """Python source computing the cell text of template `text` (of `column`, or where)."""
        tree = _tree(text)
        self._folded = None
        if not any(True for _ in tree.find_all(nodes.Name)):
            try:
                self._folded = _template(text).render()  # a constant: worked out once
                return repr(self._folded)
            except Exception:  # noqa: S110 - it fails per row instead, with the row named
                pass
        try:
            source = translator.output(tree)
            self.translated += 1
            self._translated[column] = text
            return source
        except _Unsupported:
            fallbacks.append(self._jinja(_template(text)))
            return f"_fb[{len(fallbacks) - 1}](_r)"

    def _jinja(self, template: Template) -> Callable[[Sequence[Any]], str]:
        assert isinstance(template, BoundedTemplate)
        index = {name: i for i, name in enumerate(self.columns)}
        context = self.context

        def render(values: Sequence[Any]) -> str:
            work = bounds.Work()
            try:
                return template.render_with(
                    work,
                    row=RowView(index, values),
                    vars=context.vars,
                    tenant=context.tenant,
                    lookups=context.lookups,
                )
            finally:
                self._spend(work.spent())

        return render

    def _spend(self, steps: int) -> None:
        """Count the work of one Jinja render against the spec's; beyond it, the spec stops."""
        self.work_left -= steps
        if self.work_left < 0:
            raise QueryError(
                f"the templates took more than {number(self._work)} steps of work (loop turns, calls, "
                "characters made) over the rows read so far; a spec's templates take at most that for all "
                "rows, so that no run can go on for hours",
                where=self.where,
                hint="simplify the templates with loops (see docs/guides/templates.md)",
            )


def render_params(params: Mapping[str, Any], context: Context, *, where: Where) -> dict[str, Any]:
    """The query's parameter values: text is a template seeing vars and tenant; others stay as they are."""
    values = {}
    for name, value in params.items():
        if not isinstance(value, str):
            values[name] = value
            continue
        try:
            text = _template(value).render(vars=context.vars, tenant=context.tenant)
            values[name] = bounds.checked(text, "the template")
        except Exception as err:
            raise QueryError(f"source.params.{name}: {_reason(err)}", where=where) from err
    return values


# Compiled once per process, whatever the tenant: a spec's templates are the same text for every tenant of
# `run --all` (vars, tenant and lookups are arguments of the render, or constants of the generated function's
# namespace, never part of its source), so the thousandth tenant reuses the first one's work.


@lru_cache(maxsize=4096)
def _tree(text: str) -> nodes.Template:
    """The syntax tree of a template (read, never changed, by the translator and the column check)."""
    return environment().parse(text)


@lru_cache(maxsize=4096)
def _template(text: str) -> Template:
    """A template compiled by Jinja; each render takes its own values and counts its own work."""
    return environment().from_string(text)


def compilations() -> int:
    """How many templates Jinja and generated functions Python have compiled in this process (each text
    once, however many tenants and jobs use it)."""
    return sum(f.cache_info().misses for f in (_tree, _template)) + generated.compilations()


def forget_compiled() -> None:
    """Compile every template again from now on (the tests' fresh start: as a new process)."""
    for f in (_tree, _template):
        f.cache_clear()
    generated.forget()
