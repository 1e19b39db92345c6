"""Every check of a project and its specs that needs no source, no network and no secret.

First the JSON Schema pass (per file), then a short table of semantic rules (per spec, then across the
project). Each rule yields problems as values; nothing stops at the first one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from runner import address, bounds, choices, cron, schema, stateurl, zones
from runner.contract import (
    BOOLEAN_FIELDS,
    CONTACTS_MODES,
    SCENARIO_WORDS,
    SCENARIOS_SEEN,
    canonical_field,
    contact_cell_problem,
    is_boolean,
)
from runner.errors import Problem
from runner.files import Files
from runner.imports import GROUPS, IMPORTS, Import
from runner.records import record
from runner.source import PARAM_PATTERN  # `:name` placeholders as SQLAlchemy's text() finds them
from runner.spec import GROUP_COLUMNS
from runner.suggest import did_you_mean
from runner.templates import PARAM_CONTEXT, ROW_CONTEXT, certain_refs, environment, finalize
from runner.yamlfile import Document, JsonPath, json_path

_URL_PASSWORD = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:]*):(?P<pw>[^/@]*)@")
_INT64 = (-(2**63), 2**63 - 1)  # what SQLite, PostgreSQL, MariaDB and SQL Server bind as an integer
# Where `infiniti-sync sandbox`, started in the project's folder, writes its CA (runner/commands/sandbox.py).
SANDBOX_CA = Path(".infiniti-sync", "sandbox", "ca.pem")
_QUERY_PASSWORD = re.compile(r"([?&](?:password|pwd))=[^&]+", re.IGNORECASE)
# A shell's or Windows' variable written as a value (${NAME}, $NAME, %NAME%): nothing expands it. A bare
# $ is taken for one only before a name in capitals ($ecret is a password).
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Z_][A-Z0-9_]*)|%([A-Za-z_]\w*)%")


def check(files: Files) -> list[Problem]:
    """All problems of `files`: loader, schema and semantic, sorted by file and position."""
    problems: list[Problem] = []
    if files.project is not None:
        problems += _check_document(files.project, "project", files)
    for doc in files.tenant_files:
        problems += _check_document(doc, "tenant", files)
    for doc in files.specs:
        problems += _check_document(doc, "spec", files)
    for rule in PROJECT_RULES:
        problems += rule(files)
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.file, p.line, p.col))


def _check_document(doc: Document, which: schema.Which, files: Files) -> list[Problem]:
    if doc.data is None and doc.problems:
        return list(doc.problems)
    if doc.data is None:
        return [
            doc.problem(
                (), f"the file is empty; a {which} file is a mapping of keys to values", rule="schema"
            )
        ]
    if not isinstance(doc.data, dict):
        return [doc.problem((), f"a {which} file must be a mapping of keys to values", rule="schema")]
    found = list(doc.problems)
    replaced = set()
    loaded = {p.path for p in doc.problems}  # "quote it" says more than "must be a number"
    if which != "spec":
        secrets = [p for p in _literal_secrets(doc, which) if p.path not in loaded]
        replaced = {p.path for p in secrets}
        found += secrets
    replaced |= loaded
    found += [p for p in schema.check(doc, which) if p.path not in replaced]
    if which == "spec":
        for rule in SPEC_RULES:
            found += rule(doc, files)
    return found


# --- spec rules -------------------------------------------------------------------------------


def _templates(data: dict[str, Any]) -> Iterator[tuple[JsonPath, str, tuple[str, ...]]]:
    """Each template of a spec: its path, text and the names its context offers."""
    columns = data.get("columns")
    if isinstance(columns, dict):
        for name, value in columns.items():
            if isinstance(value, str):
                yield ("columns", name), value, ROW_CONTEXT
    if isinstance(data.get("where"), str):
        yield ("where",), data["where"], ROW_CONTEXT
    source = data.get("source")
    params = source.get("params") if isinstance(source, dict) else None
    if isinstance(params, dict):
        for name, value in params.items():
            if isinstance(value, str):
                yield ("source", "params", name), value, PARAM_CONTEXT


def _lookup_names(data: dict[str, Any]) -> list[str]:
    lookups = data.get("lookups")
    return list(lookups) if isinstance(lookups, dict) else []


def check_templates(doc: Document, files: Files) -> Iterator[Problem]:
    """Jinja syntax, names outside the context, unknown filters and unknown lookup tables."""
    lookups = _lookup_names(doc.data)
    for path, source, context in _templates(doc.data):
        found = summary(source)
        if found.error is not None:
            where = doc.template_line(path, found.error.lineno)
            yield _at(doc, path, where, f"template syntax: {found.error.message}", "template")
            continue
        problems = [*_names(doc, path, found, context), *_filters(doc, path, found)]
        if "lookups" in context:
            problems += _lookups(doc, path, found, lookups)
        tree = parse(source)
        if not problems and isinstance(tree, nodes.Template) and (error := _compile_problem(tree, source)):
            problems.append(_at(doc, path, doc.mark(path), f"template: {error}", "template"))
        if isinstance(tree, nodes.Template):
            for line, message in dict.fromkeys(bounds.static_problems(tree)):
                where = doc.template_line(path, line)
                problems.append(_at(doc, path, where, f"template: {message}", "bound"))
        yield from problems


def _at(doc: Document, path: JsonPath, where: tuple[int, int], message: str, rule: str) -> Problem:
    """A problem at a line inside a template or query (`where` from Document.template_line)."""
    return Problem(doc.name, where[0], where[1], json_path(path), message, "error", rule)


_NEWLINE = re.compile(r"\r\n|\r|\n")


@lru_cache(maxsize=4096)
def parse(source: str) -> nodes.Template | TemplateSyntaxError:
    """The syntax tree of a template, or its syntax error (parsed once however often it is checked)."""
    if "{" not in source:  # plain text: what Jinja's parser would make of it, without the parser
        lines = _NEWLINE.split(source)
        if lines[-1] == "":  # Jinja drops one trailing newline
            del lines[-1]
        return nodes.Template([nodes.Output([nodes.TemplateData("\n".join(lines))])], lineno=1)
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError as err:
        return err
    except RecursionError:
        return TemplateSyntaxError(_TOO_DEEP, 1)
    return tree if _depth(tree) <= MAX_DEPTH else TemplateSyntaxError(_TOO_DEEP, 1)


# Jinja's code and Python's compiler recurse once or more a level (Python allows 200 nested brackets);
# no template anyone writes comes near this, and every template within it compiles.
MAX_DEPTH = 40
_TOO_DEEP = (
    f"nested too deeply (more than {MAX_DEPTH} levels of operators, filters, brackets and blocks); "
    "split it into simpler parts"
)


def _depth(tree: nodes.Node) -> int:
    """How deep the syntax tree goes, found without recursion (a chain of 20,000 `+` is 20,000 deep)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _compile_problem(tree: nodes.Template, source: str) -> str | None:
    """Why a template with statements ({% ... %}) does not compile, else None.

    Expressions within MAX_DEPTH always compile; statements can break rules only code generation knows
    (a loop variable named `loop`, more nested loops than Python allows).
    """
    if all(isinstance(node, nodes.Output) for node in tree.body):
        return None
    try:
        environment().compile(source)
    except TemplateSyntaxError as err:  # unknown filters and tests are reported by name elsewhere
        return None if err.message and err.message.startswith("No ") else str(err.message)
    except (SyntaxError, RecursionError, MemoryError) as err:
        reason = err.msg if isinstance(err, SyntaxError) else "nested too deeply"
        return f"too complex to compile ({reason}); split it into simpler parts"
    return None


_BUILTIN_NAMES = frozenset({"loop", "caller", "varargs", "kwargs"})


@record
class Summary:
    """What checking needs to know of a template, gathered in one walk over its syntax tree.

    Names are lenient where Jinja's own analysis is exact (a name set anywhere in the template counts
    as set), and much cheaper: no code is generated.
    """

    error: TemplateSyntaxError | None = None
    undeclared: tuple[tuple[str, int], ...] = ()  # (name, line) of names read but never set
    calls: tuple[tuple[str, str, int], ...] = ()  # ("filter" or "test", name, line)
    tables: tuple[tuple[str, int], ...] = ()  # (lookup table, line)


@lru_cache(maxsize=4096)
def summary(source: str) -> Summary:
    """The Summary of template `source`."""
    tree = parse(source)
    if isinstance(tree, TemplateSyntaxError):
        return Summary(error=tree)
    loaded: dict[str, int] = {}
    stored: set[str] = set()
    calls: list[tuple[str, str, int]] = []
    tables: list[tuple[str, int]] = []
    try:
        found = list(tree.find_all(nodes.Node))
    except RecursionError:
        return Summary(error=TemplateSyntaxError(_TOO_DEEP, 1))
    for node in found:
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                loaded.setdefault(node.name, node.lineno)
            else:
                stored.add(node.name)
        elif isinstance(node, nodes.Filter | nodes.Test) and node.name is not None:
            calls.append(("filter" if isinstance(node, nodes.Filter) else "test", node.name, node.lineno))
        elif (table := _lookup_table(node)) is not None:
            tables.append((table, node.lineno))
    hidden = stored | _BUILTIN_NAMES | set(environment().globals)
    undeclared = tuple(sorted((n, line) for n, line in loaded.items() if n not in hidden))
    return Summary(undeclared=undeclared, calls=tuple(calls), tables=tuple(tables))


def _names(doc: Document, path: JsonPath, found: Summary, context: tuple[str, ...]) -> Iterator[Problem]:
    for name, line in found.undeclared:
        if name in context:
            continue
        hint = did_you_mean(name, context)
        message = f"unknown name {name!r}: templates here see {', '.join(context)}"
        if hint:
            message += f"; did you mean {hint!r}?"
        yield _at(doc, path, doc.template_line(path, line), message, "template-name")


def _filters(doc: Document, path: JsonPath, found: Summary) -> Iterator[Problem]:
    env = environment()
    for kind, name, line in found.calls:
        known = env.filters if kind == "filter" else env.tests
        if name in known:
            continue
        hint = did_you_mean(name, known)
        message = f"unknown {kind} {name!r}" + (f"; did you mean {hint!r}?" if hint else "")
        yield _at(doc, path, doc.template_line(path, line), message, "template-filter")


def _lookup_table(node: nodes.Node) -> str | None:
    """The table name of `lookups.NAME` or `lookups['NAME']`, else None."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.attr if node.node.name == "lookups" else None
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "lookups"
        and isinstance(node.arg, nodes.Const)
    ):
        return str(node.arg.value)
    return None


def _lookups(doc: Document, path: JsonPath, found: Summary, known: list[str]) -> Iterator[Problem]:
    for table, line in found.tables:
        if table in known:
            continue
        hint = did_you_mean(table, known)
        message = f"unknown lookup table {table!r}" + (
            f"; did you mean {hint!r}?" if hint else f" (defined: {', '.join(known) or 'none'})"
        )
        yield _at(doc, path, doc.template_line(path, line), message, "lookup")


def _groups(data: dict[str, Any], column: str) -> list[str] | None:
    groups = data.get("groups")
    listed = groups.get(GROUP_COLUMNS[column]) if isinstance(groups, dict) else None
    return [g for g in listed if isinstance(g, str)] if isinstance(listed, list) else None


def _constant(template: str) -> str | None:
    """What a template always prints, if it is only text and constants; else None.

    Nothing is rendered: a template such as `{{ 9 ** 9 ** 9 }}` must not stall validation.
    """
    tree = parse(template)
    if isinstance(tree, TemplateSyntaxError):  # reported by check_templates
        return None
    parts: list[str] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
            elif isinstance(child, nodes.Const) and isinstance(child.value, str | int | float | bool | None):
                parts.append(str(finalize(child.value)))
            else:
                return None
    return "".join(parts)


def check_constants(doc: Document, files: Files) -> Iterator[Problem]:
    """Columns that always print the same text: a group must be listed, a boolean TRUE or FALSE."""
    columns = doc.data.get("columns")
    if not isinstance(columns, dict):
        return
    for column, template in columns.items():
        if not isinstance(template, str):
            continue
        value = _constant(template)
        if column in GROUP_COLUMNS:
            listed = _groups(doc.data, column)
            if listed is None:
                continue
            if value is None:
                yield from _lookup_group_values(doc, column, template, listed)
            elif value not in listed:
                yield doc.problem(("columns", column), _not_listed(value, column, listed), rule="group")
        elif value is not None and _import_of(doc.data) is not GROUPS:
            yield from _contact_constant(doc, column, value)
        elif value is not None and canonical_field(column) in BOOLEAN_FIELDS and not is_boolean(value):
            yield doc.problem(
                ("columns", column),
                f"{column} is always {value!r}; Infiniti's booleans are TRUE or FALSE (write true or false)",
                rule="boolean",
            )


def _import_of(data: dict[str, Any]) -> Import:
    """The import a spec (that passed the schema, or not) posts to: userGroups unless it names another."""
    chosen = data.get("import")
    name = chosen.get("name") if isinstance(chosen, dict) else chosen
    return IMPORTS.get(name, GROUPS) if isinstance(name, str) else GROUPS


def _contact_constant(doc: Document, column: str, value: str) -> Iterator[Problem]:
    """A contacts column that always prints `value`: it must follow the import's rule of that cell; a
    scenario name the public script does not send is a warning (the list of scenarios is not public)."""
    field = _import_of(doc.data).canonical(column)
    problem = None if field is None else contact_cell_problem(field, value)
    if problem is not None:
        said = f"{column} is always {value!r}, which is not {problem.expected}"
        yield doc.problem(("columns", column), said, rule=problem.check)
    elif field == "scenarios" and value and value not in SCENARIO_WORDS:
        unknown = [name for name in value.split(";") if name not in SCENARIOS_SEEN]
        if unknown:
            seen = ", ".join(SCENARIOS_SEEN)
            yield doc.problem(
                ("columns", column),
                f"scenario {unknown[0]!r} is not one Infiniti is known to have ({seen}); "
                "check the name in Infiniti",
                rule="scenarios",
                severity="warning",
            )


def _not_listed(value: str, column: str, listed: list[str]) -> str:
    kind = GROUP_COLUMNS[column]
    hint = did_you_mean(value, listed)
    message = f"{column} is always {value!r}, which is not in groups.{kind}"
    return message + (f"; did you mean {hint!r}?" if hint else f" ({', '.join(listed) or 'empty'})")


def _lookup_group_values(doc: Document, column: str, template: str, listed: list[str]) -> Iterator[Problem]:
    """`{{ lookups.T[...] }}` as a group: every value of T should be a listed group (a warning)."""
    tree = parse(template)
    if isinstance(tree, TemplateSyntaxError):
        return
    body = tree.body
    if not (len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1):
        return
    expr = body[0].nodes[0]
    table = _lookup_table(expr.node) if isinstance(expr, nodes.Getitem) else None
    lookups = doc.data.get("lookups")
    values = lookups.get(table) if table and isinstance(lookups, dict) else None
    if not isinstance(values, dict):
        return
    kind = GROUP_COLUMNS[column]
    for key, value in values.items():
        if isinstance(value, str) and value not in listed:
            yield doc.problem(
                ("lookups", table, key),  # type: ignore[arg-type]
                f"{value!r} is used as {column} but is not in groups.{kind}",
                rule="group",
                severity="warning",
            )


def check_column_names(doc: Document, files: Files) -> Iterator[Problem]:
    """Columns the spec's import does not know are probably typos (a warning)."""
    columns = doc.data.get("columns")
    if not isinstance(columns, dict):
        return
    kind = _import_of(doc.data)
    known = [c for c in kind.columns if c not in columns]
    for name in columns:
        if kind.canonical(name) is None:
            hint = did_you_mean(name, known)
            message = (
                f"column {name!r} is not a user field Infiniti documents"
                if kind is GROUPS
                else f"column {name!r} is not a column of the {kind.name} import"
                + ("" if hint else f" ({', '.join(kind.columns)})")
            )
            message += f"; did you mean {hint!r}?" if hint else ""
            yield doc.problem(("columns", name), message, rule="column", severity="warning", key=True)


def check_params(doc: Document, files: Files) -> Iterator[Problem]:
    """Every :name in the query has a value in params; every param is used; integers fit in 64 bits."""
    source = doc.data.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("query"), str):
        return
    query = source["query"]
    params: dict[str, Any] = source["params"] if isinstance(source.get("params"), dict) else {}
    used: dict[str, int] = {}
    for match in PARAM_PATTERN.finditer(query):
        used.setdefault(match[1], match.start())
    for name, start in used.items():
        if name not in params:
            line = query.count("\n", 0, start) + 1
            col = start - (query.rfind("\n", 0, start) + 1)
            where = doc.template_line(("source", "query"), line, col)
            hint = did_you_mean(name, [p for p in params if p not in used])
            message = f"the query uses :{name}, which source.params does not define"
            message += f"; did you mean {hint!r}?" if hint else ""
            yield _at(doc, ("source", "query"), where, message, "params")
    for name, value in params.items():
        if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
            yield doc.problem(
                ("source", "params", name),
                f"{value} does not fit in 64 bits, the largest integer a database or CSV query takes; "
                f'quote it ("{value}") if it is text',
                rule="params",
            )
        if name not in used:
            yield doc.problem(
                ("source", "params", name),
                f"param {name!r} is not used in the query (write :{name} where it belongs)",
                rule="params",
                severity="warning",
                key=True,
            )


def check_expect(doc: Document, files: Files) -> Iterator[Problem]:
    """`expect.failures.allow` must be a valid regular expression."""
    expect = doc.data.get("expect")
    failures = expect.get("failures") if isinstance(expect, dict) else None
    allow = failures.get("allow") if isinstance(failures, dict) else None
    if isinstance(allow, str):
        try:
            re.compile(allow)
        except re.error as err:
            yield doc.problem(
                ("expect", "failures", "allow"),
                f"not a valid regular expression: {err}",
                rule="regex",
            )


def check_import(doc: Document, files: Files) -> Iterator[Problem]:
    """A contacts mode nobody has seen is sent as written (a warning: the list of modes is not public);
    groups mean nothing to an import whose lines name none (a warning)."""
    chosen = doc.data.get("import")
    mode = chosen.get("mode") if isinstance(chosen, dict) else None
    if isinstance(mode, str) and mode not in CONTACTS_MODES and mode.isascii() and mode.isalnum():
        hint = did_you_mean(mode, list(CONTACTS_MODES))
        message = (
            f"contacts mode {mode!r} is not one seen in use; it is sent as written, "
            f"POST /api/import/userContacts/{mode}"
        )
        message += f"; did you mean {hint!r}?" if hint else f" (the one known: {', '.join(CONTACTS_MODES)})"
        yield doc.problem(("import", "mode"), message, rule="import", severity="warning")
    kind = _import_of(doc.data)
    if kind is not GROUPS and "groups" in doc.data:
        yield doc.problem(
            ("groups",),
            f"groups are not used by {kind.name}: its lines name no group; remove them",
            rule="import",
            severity="warning",
            key=True,
        )


def check_choices(doc: Document, files: Files) -> Iterator[Problem]:
    """Each `<CHOOSE: ...>` left in the spec (runner/choices.py): a choice still to be made."""
    for choice in choices.found(doc.data):
        message = f"a choice to make: {choice.what}; write it in place of the <CHOOSE: ...> marker"
        if choice.key:
            yield doc.problem(choice.path, message, rule="choice", key=True)
        else:
            where = doc.template_line(choice.path, choice.line, choice.col)
            yield _at(doc, choice.path, where, message, "choice")


SpecRule = Callable[[Document, Files], Iterator[Problem]]
SPEC_RULES: tuple[SpecRule, ...] = (
    check_choices,
    check_templates,
    check_import,
    check_constants,
    check_column_names,
    check_params,
    check_expect,
)


# --- project rules ----------------------------------------------------------------------------


# a tenant's Infiniti address, a password, a database URL, a notification's URL (a webhook, a ping)
SecretKind = Literal["address", "password", "url", "hook"]


def _secret_paths(data: dict[str, Any]) -> Iterator[tuple[JsonPath, Any, SecretKind]]:
    """The values of a project file that may hold a secret, with their paths and kinds."""
    if "state" in data:
        yield ("state",), data["state"], "url"
    metrics = data.get("metrics")
    if isinstance(metrics, dict) and "pushgateway" in metrics:
        yield ("metrics", "pushgateway"), metrics["pushgateway"], "url"
    yield from _notify_secret_paths(data, ())
    tenants = data.get("tenants")
    for name, tenant in tenants.items() if isinstance(tenants, dict) else []:
        yield from _tenant_secret_paths(tenant, ("tenants", name))


def _notify_secret_paths(owner: dict[str, Any], at: JsonPath) -> Iterator[tuple[JsonPath, Any, SecretKind]]:
    """The values of the `notify` of a project or tenant (at `at`) that may hold a secret."""
    notify = owner.get("notify")
    if not isinstance(notify, dict):
        return
    for kind in ("webhook", "ping"):
        if isinstance(notify.get(kind), dict) and "url" in notify[kind]:
            yield (*at, "notify", kind, "url"), notify[kind]["url"], "hook"
    if isinstance(notify.get("email"), dict) and "password" in notify["email"]:
        yield (*at, "notify", "email", "password"), notify["email"]["password"], "password"


def _tenant_secret_paths(tenant: Any, at: JsonPath) -> Iterator[tuple[JsonPath, Any, SecretKind]]:
    """The values of a tenant's entry (at `at`) that may hold a secret, with their paths and kinds."""
    if not isinstance(tenant, dict):
        return
    if "url" in tenant:
        yield (*at, "url"), tenant["url"], "address"
    if "password" in tenant:
        yield (*at, "password"), tenant["password"], "password"
    connections = tenant.get("connections")
    for cname, conn in connections.items() if isinstance(connections, dict) else []:
        if isinstance(conn, dict) and "url" in conn:
            yield (*at, "connections", cname, "url"), conn["url"], "url"
    yield from _notify_secret_paths(tenant, at)


def _literal_secrets(doc: Document, which: schema.Which) -> Iterator[Problem]:
    """Passwords written into a project or tenant file, as a value or inside a URL."""
    values = _secret_paths(doc.data) if which == "project" else _tenant_secret_paths(doc.data, ())
    for path, value, kind in values:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        if isinstance(value, str) and (variable := _VARIABLE.fullmatch(value.strip())):
            name = next(v for v in variable.groups() if v)
            yield doc.problem(
                path,
                f"{value.strip()} is not expanded (infiniti-sync expands no variables in its files); write "
                f"{{env: {name}}} to read environment variable {name}, or {{file: PATH}} or "
                "{keyring: SERVICE/USERNAME}",
                rule="secret",
            )
        elif kind == "address":
            if found := _tenant_user_info(str(value)):
                shown, address = found
                yield doc.problem(
                    path,
                    f"the url holds user information ({shown}); write the address alone ({address}), "
                    "the user in username: and the password as {env: VARIABLE}, {file: PATH} or "
                    "{keyring: SERVICE/USERNAME}",
                    rule="secret",
                )
        elif kind == "hook":
            if found := _tenant_user_info(str(value)):
                yield doc.problem(
                    path,
                    f"the url holds user information ({found[0]}); write the whole URL as "
                    "{env: VARIABLE}, {file: PATH} or {keyring: SERVICE/USERNAME} instead",
                    rule="secret",
                )
        elif kind == "password":
            yield doc.problem(
                path,
                "the password is written in the file; keep it out of the repository and write "
                "{env: VARIABLE}, {file: PATH} or {keyring: SERVICE/USERNAME} instead",
                rule="secret",
            )
        elif masked := _masked_url(str(value)):
            yield doc.problem(
                path,
                f"the URL {masked} holds a password; write the whole URL as {{env: VARIABLE}}, "
                "{file: PATH} or {keyring: SERVICE/USERNAME} instead",
                rule="secret",
            )


def _masked_url(url: str) -> str | None:
    """`url` with its password shown as ***, if it holds one (user:password@ or ?password=)."""
    match = _URL_PASSWORD.match(url)
    if match and match["pw"]:
        return f"{match['scheme']}{match['user']}:***@{url[match.end() :]}"
    if _QUERY_PASSWORD.search(url):
        return _QUERY_PASSWORD.sub(lambda m: f"{m[1]}=***", url)
    return None


def _tenant_user_info(url: str) -> tuple[str, str] | None:
    """The user information of a tenant url as it may be shown (`user:***@`) and the url without it, if it
    has any: everything between :// and the last @ (a password may hold / or @)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    info, _, address = rest.rpartition("@")
    user, colon, _ = info.partition(":")
    return (f"{user}:***@" if colon else f"{user}@"), f"{scheme}://{address}"


def _spec_connection(doc: Document) -> str | None:
    source = doc.data.get("source") if isinstance(doc.data, dict) else None
    value = source.get("connection") if isinstance(source, dict) else None
    return value if isinstance(value, str) else None


def _connections(tenant: Any) -> dict[str, Any]:
    connections = tenant.get("connections") if isinstance(tenant, dict) else None
    return connections if isinstance(connections, dict) else {}


def _defined_connections(files: Files) -> set[str]:
    return {name for tenant in files.tenants().values() for name in _connections(tenant)}


def _listed_specs(files: Files) -> Iterator[tuple[str, dict[str, Any], int, str]]:
    """(tenant name, tenant, position, spec name) of every spec name the tenants list."""
    for tname, tenant in files.tenants().items():
        if isinstance(tenant, dict) and isinstance(tenant.get("specs"), list):
            for i, item in enumerate(tenant["specs"]):
                sname = item.get("name") if isinstance(item, dict) else item  # {name: S, schedule: C}
                if isinstance(sname, str):
                    yield tname, tenant, i, sname


def check_tenant_specs(files: Files) -> Iterator[Problem]:
    """Tenants name specs that exist."""
    if files.project is None:
        return
    specs = [files.spec_name(d) for d in files.specs]  # a spec that fails to load still exists
    for tname, _, i, sname in _listed_specs(files):
        if sname not in specs:
            hint = did_you_mean(sname, specs)
            message = f"no spec named {sname!r}" + (
                f"; did you mean {hint!r}?" if hint else f" (specs: {_listing(specs)})"
            )
            yield files.tenant_problem(tname, ("specs", i), message, rule="reference")


def check_tenant_connections(files: Files) -> Iterator[Problem]:
    """Tenants define the connections the specs they run read.

    A connection no tenant defines is reported once, in the spec (check_spec_connections).
    """
    if files.project is None:
        return
    specs = {files.spec_name(d): d for d in files.specs}
    defined = _defined_connections(files)
    for tname, tenant, i, sname in _listed_specs(files):
        if sname not in specs or not isinstance(tenant.get("connections", {}), dict):
            continue
        wanted, connections = _spec_connection(specs[sname]), _connections(tenant)
        if wanted is not None and wanted in defined and wanted not in connections:
            yield files.tenant_problem(
                tname,
                ("specs", i),
                f"spec {sname!r} reads connection {wanted!r}, which tenant {tname!r} does not "
                f"define (it defines: {_listing(connections)})",
                rule="reference",
            )


def _keys_read(doc: Document, of: str = "vars") -> dict[str, JsonPath]:
    """The keys of `of` (the tenant's vars, `tenant`) a spec's templates certainly read (first level), with
    where each is read first."""
    if not isinstance(doc.data, dict):
        return {}
    read: dict[str, JsonPath] = {}
    for path, source, _ in _templates(doc.data):
        tree = parse(source)
        if isinstance(tree, nodes.Template):
            for name in certain_refs(tree, of):
                read.setdefault(name, path)
    return read


def check_tenant_vars(files: Files) -> Iterator[Problem]:
    """Tenants define the vars the specs they run read (unless a template gives them a default)."""
    if files.project is None:
        return
    specs = {files.spec_name(d): d for d in files.specs}
    reads: dict[str, dict[str, JsonPath]] = {}  # each spec's, found once however many tenants run it
    for tname, tenant, i, sname in _listed_specs(files):
        vars_ = tenant.get("vars", {})
        if sname not in specs or not isinstance(vars_, dict):
            continue
        if sname not in reads:
            reads[sname] = _keys_read(specs[sname])
        for name, path in reads[sname].items():
            if name not in vars_:
                yield files.tenant_problem(
                    tname,
                    ("specs", i),
                    f"spec {sname!r} reads vars.{name} (in {json_path(path)}), which tenant {tname!r} does "
                    f"not define (its vars: {_listing(vars_) if vars_ else 'none'})",
                    rule="reference",
                )


def check_tenant_url_read(files: Files) -> Iterator[Problem]:
    """A spec's templates read tenant.url only for tenants whose url is written in the file: one read from a
    secret is known only when a run starts."""
    if files.project is None:
        return
    specs = {files.spec_name(d): d for d in files.specs}
    for tname, tenant, i, sname in _listed_specs(files):
        secret = sname in specs and isinstance(tenant.get("url"), dict)
        if secret and (path := _keys_read(specs[sname], "tenant").get("url")) is not None:
            yield files.tenant_problem(
                tname,
                ("specs", i),
                f"spec {sname!r} reads tenant.url (in {json_path(path)}), which tenant {tname!r} reads "
                "from a secret when a run starts; templates see tenant.url only when the file gives it "
                "(use a var instead)",
                rule="reference",
            )


def _listing(names: Iterable[str], most: int = 10) -> str:
    """`a, b, c` (at most `most` names, then how many more), or none."""
    names = list(names)
    if not names:
        return "none"
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _tenants_readable(files: Files) -> bool:
    """Whether every tenant's connections could be read (else no connection can be called undefined)."""
    data = files.project.data if files.project is not None else None
    tenants = data.get("tenants") if isinstance(data, dict) else None
    return isinstance(tenants, dict | str) and all(
        isinstance(t, dict) and isinstance(t.get("connections", {}), dict) for t in files.tenants().values()
    )


def _spec_lists_readable(files: Files) -> bool:
    """Whether every tenant's `specs` is a list of names (or of {name: ...}): what it lists is known."""
    for tenant in files.tenants().values():
        items = tenant.get("specs") if isinstance(tenant, dict) else None
        if not isinstance(items, list):
            return False
        if not all(isinstance(i.get("name") if isinstance(i, dict) else i, str) for i in items):
            return False
    return True


def check_spec_connections(files: Files) -> Iterator[Problem]:
    """A spec's connection must be defined by at least one tenant of the project."""
    if not _tenants_readable(files):
        return
    defined = _defined_connections(files)
    for doc in files.specs:
        wanted = _spec_connection(doc)
        if wanted is not None and wanted not in defined:
            hint = did_you_mean(wanted, defined)
            message = f"no tenant defines connection {wanted!r}" + (
                f"; did you mean {hint!r}?" if hint else f" (defined: {_listing(sorted(defined))})"
            )
            yield doc.problem(("source", "connection"), message, rule="reference")


def check_duplicate_specs(files: Files) -> Iterator[Problem]:
    """Two spec files must not have the same name; each of them says so."""
    named: dict[str, list[Document]] = {}
    for doc in files.specs:
        named.setdefault(files.spec_name(doc), []).append(doc)
    for name, docs in named.items():
        for doc in docs if len(docs) > 1 else ():
            others = ", ".join(d.name for d in docs if d is not doc)
            path = ("name",) if isinstance(doc.data, dict) and "name" in doc.data else ()
            yield doc.problem(path, f"another spec is named {name!r}: {others}", rule="duplicate-spec")


def check_specs_folder(files: Files) -> Iterator[Problem]:
    """The specs folder the project file names exists."""
    if files.project is None or not isinstance(files.project.data, dict):
        return
    folder = files.project.data.get("specs", "specs")
    if isinstance(folder, str) and folder and not (files.project.path.parent / folder).is_dir():
        path = ("specs",) if "specs" in files.project.data else ()
        message = f"the specs folder {folder!r} does not exist next to this file"
        yield files.project.problem(path, message, rule="reference")


def _schedules(files: Files) -> Iterator[tuple[str, JsonPath, Any]]:
    """Where each schedule is written (a tenant's, a spec's within a tenant): tenant, path in the tenant's
    entry, value."""
    for name, tenant in files.tenants().items():
        if not isinstance(tenant, dict):
            continue
        if "schedule" in tenant:
            yield name, ("schedule",), tenant["schedule"]
        specs = tenant.get("specs")
        for i, item in enumerate(specs if isinstance(specs, list) else []):
            if isinstance(item, dict) and "schedule" in item:
                yield name, ("specs", i, "schedule"), item["schedule"]


def check_schedules(files: Files) -> Iterator[Problem]:
    """Each schedule (a tenant's, a spec's within a tenant) is a valid cron expression with slots."""
    for name, path, schedule in _schedules(files):
        if isinstance(schedule, str) and (error := cron.problem(schedule)):
            yield files.tenant_problem(name, path, error, rule="schedule")


def check_timezones(files: Files) -> Iterator[Problem]:
    """The project's and each tenant's timezone is a zone this host knows by that name."""
    data = files.project.data if files.project is not None else None
    if not isinstance(data, dict):
        return
    zone = data.get("timezone")
    if files.project is not None and isinstance(zone, str) and zone and (error := zones.problem(zone)):
        yield files.project.problem(("timezone",), error, rule="timezone")
    for name, tenant in files.tenants().items():
        value = tenant.get("timezone") if isinstance(tenant, dict) else None
        if isinstance(value, str) and value and (error := zones.problem(value)):
            yield files.tenant_problem(name, ("timezone",), error, rule="timezone")


def check_spec_listed_once(files: Files) -> Iterator[Problem]:
    """A tenant lists each spec once: by name, or as {name: ..., schedule: ...} (two equal items are the
    schema's uniqueItems problem already)."""
    seen: dict[tuple[str, str], int] = {}
    for tname, tenant, i, sname in _listed_specs(files):
        first = seen.setdefault((tname, sname), i)
        if first != i and tenant["specs"][first] != tenant["specs"][i]:
            yield files.tenant_problem(
                tname,
                ("specs", i),
                f"spec {sname!r} is listed twice for tenant {tname!r} (first as specs[{first}]); "
                "list it once",
                rule="duplicate-spec",
            )


def _connection_values(files: Files, key: str) -> Iterator[tuple[str, str, Any]]:
    """(tenant, connection, value) of each connection that gives `key`."""
    for tname, tenant in files.tenants().items():
        for cname, connection in _connections(tenant).items():
            if isinstance(connection, dict) and key in connection:
                yield tname, cname, connection[key]


def check_encodings(files: Files) -> Iterator[Problem]:
    """A CSV connection's `encoding` is one Python reads text in, on every system."""
    for tname, cname, name in _connection_values(files, "encoding"):
        if isinstance(name, str) and name and (found := encoding_problem(name)):
            yield files.tenant_problem(tname, ("connections", cname, "encoding"), found, rule="encoding")


_COMMON_ENCODINGS = "utf-8, utf-16, cp1252 or iso-8859-1"
# Names that other programs use, Python does not know (or knows on Windows only), and what they mean.
_WINDOWS_ONLY = frozenset({"ansi", "mbcs", "dbcs", "oem"})  # whatever the Windows machine reading it uses
_ENCODING_ADVICE = {
    **dict.fromkeys(
        ("ansi", "mbcs", "dbcs"),
        "write the code page the file was saved in, for example cp1252 (Western Europe), cp1250 (Central "
        "Europe) or cp1251 (Cyrillic)",
    ),
    "oem": "write the code page the file was saved in, for example cp850 or cp437",
    "unicode": 'Windows\' "Unicode" is UTF-16: write utf-16 (utf-16-le if the file has no byte order mark)',
    **dict.fromkeys(("utf8bom", "utf8withbom"), "write utf-8: a byte order mark is accepted"),
}


def _squeezed(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


def encoding_problem(name: str) -> str | None:
    """Why CSV files cannot be read in encoding `name` (with the nearest names Python knows), or None."""
    import codecs

    advice = _ENCODING_ADVICE.get(_squeezed(name))
    try:
        codec = codecs.lookup(name)
    except LookupError:
        codec = None
    if advice is None and codec is not None:
        if codec._is_text_encoding:  # how open() itself tells a text encoding from base64 and the like
            return None
        return f"{name!r} is not a text encoding; CSV files are text, for example {_COMMON_ENCODINGS}"
    if advice is None:
        names = _text_encodings()
        hint = did_you_mean(_squeezed(name), names)
        advice = f"did you mean {names[hint]!r}?" if hint else f"for example {_COMMON_ENCODINGS}"
    if _squeezed(name) in _WINDOWS_ONLY:  # the same words on every system, Windows (which reads it) too
        windows = "is Windows' name for each machine's own code page, read on Windows only"
        return f"encoding {name!r} {windows}; {advice}"
    return f"unknown encoding {name!r}; {advice}"


@lru_cache(maxsize=1)
def _text_encodings() -> dict[str, str]:
    """The names of every text encoding Python knows, squeezed (no case, - or _) -> as written in a file."""
    import codecs
    from encodings.aliases import aliases

    found: dict[str, str] = {}
    for written in sorted({*aliases, *aliases.values()}):
        try:
            text = codecs.lookup(written)._is_text_encoding
        except LookupError:  # an alias of a codec this system lacks (mbcs off Windows)
            continue
        if text and _squeezed(written) not in _ENCODING_ADVICE:
            found.setdefault(_squeezed(written), written.replace("_", "-"))
    return found


def check_ca_bundles(files: Files) -> Iterator[Problem]:
    """Each `ca_bundle` (a tenant's, a notify's) is a file on this machine (a warning: the machine that runs
    the sync may hold it where this one does not); the sandbox's CA is written when the sandbox starts."""
    if files.project is None:
        return
    root = files.project.path.parent
    for doc, path, value in _ca_bundles(files):
        bundle = root / value if isinstance(value, str) and value else None
        if bundle is None or bundle.is_file() or bundle == root / SANDBOX_CA:
            continue
        state = "is not a file" if bundle.exists() else "does not exist"
        message = (
            f"ca_bundle {value!r} {state} on this machine (relative paths are relative to the project "
            "file's folder); a run here would stop before connecting"
        )
        yield doc.problem(path, message, rule="ca-bundle", severity="warning")


def _ca_bundles(files: Files) -> Iterator[tuple[Document, JsonPath, Any]]:
    """Where each ca_bundle is written: the file, its path there and its value."""
    for name, tenant in files.tenants().items():
        if isinstance(tenant, dict) and "ca_bundle" in tenant:
            doc, prefix = files.tenant_at(name)
            yield doc, (*prefix, "ca_bundle"), tenant["ca_bundle"]
    for doc, at, notify in _notifies(files):
        if "ca_bundle" in notify:
            yield doc, (*at, "ca_bundle"), notify["ca_bundle"]


def check_unlisted_specs(files: Files) -> Iterator[Problem]:
    """A spec that no tenant lists is never run (a warning naming where to list it); not while a tenant lists
    a spec that does not exist (that error is the one to fix first, often a misspelt name)."""
    if files.project is None or not _tenants_readable(files) or not _spec_lists_readable(files):
        return
    specs = [files.spec_name(d) for d in files.specs]
    listed = {sname for _, _, _, sname in _listed_specs(files)}
    tenants = list(files.tenants())
    if not tenants or not listed <= set(specs):  # a list naming a spec that is not there is wrong already
        return
    for doc, name in zip(files.specs, specs, strict=True):
        if name in listed:
            continue
        path = ("name",) if isinstance(doc.data, dict) and "name" in doc.data else ()
        message = (
            f"no tenant runs spec {name!r}: add {name} to the specs: of a tenant that should run it "
            f"(tenants: {_listing(tenants)})"
        )
        yield doc.problem(path, message, rule="unlisted-spec", severity="warning")


def check_tenant_urls(files: Files) -> Iterator[Problem]:
    """Credentials travel only over TLS, except to a sandbox on this machine."""
    for name, tenant in files.tenants().items():
        url = tenant.get("url") if isinstance(tenant, dict) else None
        if isinstance(url, str) and address.clear_text(url):
            yield files.tenant_problem(name, ("url",), address.CLEAR_TEXT, rule="url")


def _notifies(files: Files) -> Iterator[tuple[Document, JsonPath, dict[str, Any]]]:
    """Each `notify` of the project and its tenants: the file holding it, its path there, and its value."""
    project = files.project
    if (
        project is not None
        and isinstance(project.data, dict)
        and isinstance(project.data.get("notify"), dict)
    ):
        yield project, ("notify",), project.data["notify"]
    for name, tenant in files.tenants().items():
        if isinstance(tenant, dict) and isinstance(tenant.get("notify"), dict):
            doc, prefix = files.tenant_at(name)
            yield doc, (*prefix, "notify"), tenant["notify"]


def _notify_problems(notify: dict[str, Any]) -> Iterator[tuple[JsonPath, str]]:
    """What is wrong with a `notify` the schema cannot say: clear text off this machine, two kinds of TLS."""
    for kind in ("webhook", "ping"):
        url = notify[kind].get("url") if isinstance(notify.get(kind), dict) else None
        if isinstance(url, str) and url.startswith("http://") and not address.LOOPBACK.match(url):
            yield (kind, "url"), "use https://: http:// is accepted only for a receiver on this machine"
    email = notify.get("email")
    if not isinstance(email, dict):
        return
    if email.get("tls") is True and email.get("starttls") is True:
        yield ("email", "starttls"), "give tls: true (implicit TLS) or starttls: true, not both"
    elif email.get("tls") is not True and email.get("starttls") is False:
        if "username" in email:
            yield (
                ("email", "starttls"),
                "starttls: false would send the password in clear text; use STARTTLS or tls: true",
            )
        elif not address.LOOPBACK.match(f"smtp://{email.get('host')}"):
            yield (
                ("email", "starttls"),
                "starttls: false (no TLS) is accepted only for a relay on this machine "
                "(127.0.0.1, localhost); use STARTTLS or tls: true",
            )


def check_notify(files: Files) -> Iterator[Problem]:
    """Notifications cross the network over TLS (except to this machine), in one kind of TLS."""
    for doc, at, notify in _notifies(files):
        for path, message in _notify_problems(notify):
            yield doc.problem((*at, *path), message, rule="notify")


def check_state(files: Files) -> Iterator[Problem]:
    """A `state` written in the file is a SQLite file path or a PostgreSQL URL, not a URL gone wrong."""
    data = files.project.data if files.project is not None else None
    value = data.get("state") if isinstance(data, dict) else None
    if isinstance(value, str) and (found := stateurl.problem(value)):
        assert files.project is not None
        yield files.project.problem(("state",), found, rule="state")


def check_tenants_folder(files: Files) -> Iterator[Problem]:
    """A tenants folder exists and holds tenant files, each named as a tenant may be, no two alike (not even
    in case only: they would be one file on Windows and macOS)."""
    if files.project is None or not files.tenants_folder:
        return
    folder = files.project.data["tenants"]
    if not (files.project.path.parent / folder).is_dir():
        message = f"the tenants folder {folder!r} does not exist next to this file"
        yield files.project.problem(
            ("tenants",), message + "; create it, one NAME.yaml per tenant", rule="reference"
        )
        return
    if not files.tenant_files:
        message = f"the tenants folder {folder!r} holds no tenant file; write one NAME.yaml per tenant in it"
        yield files.project.problem(("tenants",), message, rule="reference")
    named: dict[str, list[Document]] = {}
    for doc in files.tenant_files:
        named.setdefault(doc.path.stem.casefold(), []).append(doc)
        if (problem := schema.tenant_name_problem(doc.path.stem)) is not None:
            yield doc.problem(
                (), f"{doc.path.stem!r} is not a valid tenant name: {problem}; rename the file", rule="schema"
            )
    for docs in named.values():
        for doc in docs if len(docs) > 1 else ():
            others = ", ".join(d.name for d in docs if d is not doc)
            message = f"another tenant file has the name {doc.path.stem!r} (case aside): {others}; keep one"
            yield doc.problem((), message, rule="duplicate-tenant")


ProjectRule = Callable[[Files], Iterator[Problem]]
PROJECT_RULES: tuple[ProjectRule, ...] = (
    check_tenant_vars,
    check_tenant_url_read,
    check_tenant_specs,
    check_tenant_connections,
    check_spec_connections,
    check_duplicate_specs,
    check_specs_folder,
    check_tenants_folder,
    check_spec_listed_once,
    check_schedules,
    check_timezones,
    check_tenant_urls,
    check_encodings,
    check_ca_bundles,
    check_unlisted_specs,
    check_state,
    check_notify,
)
