"""The documentation site's reference pages, made from the code's own sources of truth so they cannot drift:
the commands and options from the argument parser (runner/cli.py), the exit codes from runner/errors.py,
the project file, tenant file and spec from their JSON Schemas' descriptions (runner/schemas/), and the
template filters from their docstrings (runner/templates.py).

docs/hooks.py adds these pages to the site when MkDocs builds it; nothing generated is committed.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from runner import errors, schema
from runner.errors import SyncError

PROGRAM = "infiniti-sync"
# The pages, by their path under docs/, and the schema each schema page documents.
SCHEMA_PAGES: dict[str, schema.Which] = {
    "reference/project-file.md": "project",
    "reference/tenant-file.md": "tenant",
    "reference/spec.md": "spec",
}
_SCHEMA_TITLES: dict[schema.Which, str] = {
    "project": "The project file",
    "tenant": "A tenant file",
    "spec": "A sync spec",
}
_COMMAND = "infiniti-sync schema"
# The guide that shows a command at work, where one does (under docs/).
GUIDES = {
    "validate": ("Validating specs", "guides/validating.md"),
    "test": ("Planning and testing", "guides/planning.md#infiniti-sync-test"),
    "plan": ("Planning and testing", "guides/planning.md#infiniti-sync-plan"),
    "run": ("Running a sync", "guides/running.md"),
    "due": ("Scheduling", "guides/scheduling.md#what-is-due"),
    "approve": ("Approving a held run", "guides/monitoring.md#approving-a-held-run"),
    "history": ("State", "guides/state.md#history"),
    "report": ("A run-history page", "guides/report-page.md"),
    "sandbox": ("The Infiniti sandbox", "guides/sandbox.md"),
    "demo": ("The demo", "getting-started/demo.md"),
    "init": ("A project from an export", "getting-started/init.md"),
    "schema": ("A sync spec", "getting-started/first-sync.md#a-sync-spec"),
    "schedule": ("Scheduling", "guides/scheduling.md#configuration-for-the-scheduler"),
}
_TENANT = "#/$defs/tenant"  # the project file's tenant, documented as a tenant file
# A secret is documented once, at the end of each page (these are a schema's words, not passwords).
_SECRET = "#/$defs/secret"  # noqa: S105
_SECRET_KINDS = "{env: NAME}, {file: PATH} or {keyring: SERVICE/USERNAME}"  # noqa: S105
_ONCE = (_TENANT, _SECRET)
_GENERATED = "<!-- Made by runner/docsgen.py from {source} when the site is built: edit that, not this. -->"


def pages() -> dict[str, str]:
    """Every generated page: its path under docs/ -> its Markdown."""
    from runner.cli import build_parser

    generated = {
        "reference/commands.md": commands(build_parser()),
        "reference/exit-codes.md": exit_codes(),
        "reference/filters.md": filters(),
    }
    return generated | {path: schema_page(which) for path, which in SCHEMA_PAGES.items()}


# Commands, from the argument parser.


def commands(parser: argparse.ArgumentParser) -> str:
    """Every command of `parser` with its options, and the global options every command takes."""
    own = _options(parser)
    global_dests = {action.dest for action in own}
    lines = [
        "# Commands and options",
        "",
        _GENERATED.format(source="the argument parser (runner/cli.py)"),
        "",
        f"{parser.description or ''} Every command takes the [global options](#global-options), before or "
        "after its name; its exit codes are the [same for every command](exit-codes.md). "
        "[The command line](../guides/command-line.md) shows how they are used.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    subcommands = _subcommands(parser)
    lines += [
        f"| [`{command}`](#{command}) | {_cell(sub.description or '')} |"
        for command, sub in subcommands.items()
    ]
    lines += ["", "## Global options", "", *_table(own), ""]
    for name, sub in subcommands.items():
        options = [action for action in _options(sub) if action.dest not in global_dests]
        lines += [
            f"## {name}",
            "",
            _sentence(sub.description or "") + _guide(name),
            "",
            "```text",
            _usage(sub),
            "```",
            "",
        ]
        lines += [*_table(options), ""] if options else ["It takes only the global options.", ""]
    return "\n".join(lines)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's arguments, without --help and the subcommands."""
    skipped = (argparse._HelpAction, argparse._SubParsersAction)
    return [action for action in parser._actions if not isinstance(action, skipped)]


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage line as `--help` shows it, at a fixed width (the terminal's would vary by machine)."""
    formatter = argparse.HelpFormatter(parser.prog, width=100)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _table(actions: list[argparse.Action]) -> list[str]:
    rows = ["| option | what it does | default |", "|---|---|---|"]
    for action in actions:
        names = ", ".join(f"`{name}`" for name in action.option_strings) or "(positional)"
        argument = _argument(action)
        option = f"{names} `{argument}`" if argument else names
        required = "required; " if action.required and action.option_strings else ""
        rows.append(f"| {option} | {_cell(required + _help(action))} | {_default(action)} |")
    return rows


def _argument(action: argparse.Action) -> str:
    """What follows the option (or the positional argument itself): FILE, {a,b}, [PATH ...]."""
    if action.nargs == 0:
        return ""
    if action.metavar is not None:
        name = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.choices is not None:
        name = "{" + ",".join(str(choice) for choice in action.choices) + "}"
    else:
        name = action.dest.upper() if action.option_strings else action.dest
    if action.nargs == "?":
        return f"[{name}]"
    if action.nargs == "*":
        return f"[{name} ...]"
    if action.nargs == "+":
        return f"{name} [{name} ...]"
    return name


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        text %= {**vars(action), "prog": PROGRAM}
    if action.choices is not None and action.metavar is not None:
        text += "; one of " + ", ".join(f"`{choice}`" for choice in action.choices)
    elif action.choices is not None and not text:
        text = "one of " + ", ".join(f"`{choice}`" for choice in action.choices)
    return text


def _default(action: argparse.Action) -> str:
    value = action.default
    if value is None or value is False or value in ([], argparse.SUPPRESS):
        return ""
    return f"`{value}`"


def _guide(command: str) -> str:
    if command not in GUIDES:
        return ""
    title, path = GUIDES[command]
    return f" Guide: [{title}](../{path})."


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:].rstrip(".") + "."


def _cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table (a `|` in a code span stays as it is there)."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(part if part.startswith("`") else part.replace("|", "\\|") for part in parts)


# Exit codes, from the error classes.


def exit_codes() -> str:
    """The exit codes, and which error gives which."""
    lines = [
        "# Exit codes",
        "",
        _GENERATED.format(source="runner/errors.py"),
        "",
        "The same for every command:",
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| {code} | {_cell(meaning)} |" for code, meaning in errors.EXIT_CODES.items()),
        "",
        "## Errors",
        "",
        "An error that stops a command is one of these; its message says where and what to do. "
        + _cell((errors.__doc__ or "").strip().split("\n\n")[-1]),  # the docstring's last paragraph
        "",
        "| error | exit | what it means |",
        "|---|---|---|",
    ]
    for depth, cls in _error_classes(SyncError):
        name = "&nbsp;&nbsp;&nbsp;&nbsp;" * depth + f"`{cls.__name__}`"
        code = "" if cls is SyncError else str(cls.exit_code)
        lines.append(f"| {name} | {code} | {_cell(inspect.getdoc(cls) or '')} |")
    return "\n".join([*lines, ""])


def _error_classes(cls: type[SyncError], depth: int = 0) -> Iterator[tuple[int, type[SyncError]]]:
    yield depth, cls
    for sub in cls.__subclasses__():
        yield from _error_classes(sub, depth + 1)


# Template filters, from their docstrings.


def filters() -> str:
    """The page of the filters infiniti-sync adds to Jinja's."""
    lines = [
        "# Template filters",
        "",
        _GENERATED.format(source="the filters' docstrings (runner/templates.py)"),
        "",
        "The filters infiniti-sync adds to Jinja's own; how templates use them, and which of Jinja's filters "
        "matter most: [Templates](../guides/templates.md).",
        "",
        filter_table(),
    ]
    return "\n".join(lines)


def filter_table() -> str:
    """Each filter with its arguments, what it does and its example, from its signature and docstring."""
    from runner.templates import FILTERS

    lines = ["| filter | what it does | example |", "|---|---|---|"]
    for name, func in FILTERS.items():
        parameters = list(inspect.signature(func).parameters.values())[1:]  # the first is the value filtered
        arguments = ", ".join(str(p.replace(annotation=inspect.Parameter.empty)) for p in parameters)
        call = f"{name}({arguments})" if arguments else name
        said, _, example = (inspect.getdoc(func) or "").partition("\n\nExample: ")
        lines.append(f"| `{call}` | {_cell(said)} | {_cell(example)} |")
    return "\n".join([*lines, ""])


# Markers a hand-written page holds where generated text goes (docs/hooks.py replaces them).
MARKERS = {"<!-- generated: filters -->": filter_table}


def fill(markdown: str) -> str:
    """`markdown` with each marker replaced by what it stands for."""
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


# The file formats, from their JSON Schemas' descriptions.


def schema_page(which: schema.Which) -> str:
    """Every key of one file format, with its description, kinds of value, default and whether required."""
    document = json.loads(schema.text(which))
    defs = document.get("$defs", {})
    name = schema.FILES[which]
    lines = [
        f"# {_SCHEMA_TITLES[which]}",
        "",
        _GENERATED.format(source=f"runner/schemas/{name}"),
        "",
        document.get("description", ""),
        "",
        f"The JSON Schema itself: `{_COMMAND} {which} > schemas/{name}` "
        f"(or `runner/schemas/{name}` in the repository). A key is written here with its place in the "
        "file: `NAME` stands for a name you choose, `[]` for an item of a list.",
        "",
    ]
    for path, node, required in _keys(document, defs, ()):
        level = "##" if len(path) == 1 else "###"
        lines += [f"{level} `{'.'.join(path)}`", "", *_describe(node, defs, required), ""]
    lines += _by_import(document, defs)
    if "secret" in defs:
        lines += _secrets(defs)
    return "\n".join(lines)


def _by_import(document: Mapping[str, Any], defs: Mapping[str, Any]) -> list[str]:
    """The columns a file may map by its import: the schema's top-level if/then/else (a spec's)."""
    if "if" not in document:
        return []
    condition = [node.get("description", "") for node in document["if"].get("properties", {}).values()]
    lines: list[str] = []
    otherwise = "Any other spec: import is userGroups (the default)."
    for title, branch in ((" ".join(condition), document["then"]), (otherwise, document["else"])):
        lines += [f"## {title}", ""]
        for path, node, required in _keys(branch, defs, ()):
            lines += [f"### `{'.'.join(path)}`", "", *_describe(node, defs, required), ""]
    return lines


Entry = tuple[tuple[str, ...], Mapping[str, Any], bool | None]


def _keys(node: Mapping[str, Any], defs: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[Entry]:
    """Each key below `node`, depth first: its path, its schema and whether it is required (None: a name of
    one's choosing). A tenant and a secret are described once, not at every place they may go."""
    node = _resolved(node, defs)
    if node.get("$ref") in _ONCE:
        return
    required = set(node.get("required", ()))
    for key, child in node.get("properties", {}).items():
        yield (*path, key), child, key in required
        yield from _keys(child, defs, (*path, key))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and (extra.get("$ref") == _TENANT or _has_keys(extra, defs)):
        yield (*path, "NAME"), extra, None
        yield from _keys(extra, defs, (*path, "NAME"))
    items = node.get("items")
    if isinstance(items, dict):
        yield from _keys(items, defs, (*path[:-1], path[-1] + "[]") if path else ("[]",))
    for alternative in [*node.get("oneOf", ()), *node.get("anyOf", ())]:
        yield from _keys(alternative, defs, path)


def _has_keys(node: Mapping[str, Any], defs: Mapping[str, Any]) -> bool:
    return any(True for _ in _keys(node, defs, ("x",)))


def _resolved(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """`node` with a local `$ref` replaced by its definition (the node's own keys win), but for those
    described once."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/") or ref in _ONCE:
        return node
    target = defs[ref.removeprefix("#/$defs/")]
    return {**_resolved(target, defs), **{key: value for key, value in node.items() if key != "$ref"}}


def _describe(node: Mapping[str, Any], defs: Mapping[str, Any], required: bool | None) -> list[str]:
    if node.get("$ref") == _TENANT:
        name = defs.get("tenant_name", {})
        said = [defs["tenant"].get("description"), name.get("description"), name.get("patternErrorMessage")]
        return [" ".join([*filter(None, said), "Its keys are those of [a tenant file](tenant-file.md)."])]
    resolved = _resolved(node, defs)
    facts = [] if required is None else [f"**{'Required' if required else 'Optional'}.**"]
    facts.append(f"**Value:** {_kinds(resolved, defs)}.")
    if "default" in resolved:
        facts.append(f"**Default:** `{json.dumps(resolved['default'], ensure_ascii=False)}`.")
    if "patternErrorMessage" in resolved:
        facts.append(str(resolved["patternErrorMessage"]))
    return [str(resolved.get("description", "")), "", " ".join(facts)]


def _kinds(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    """What a value may be, in words: the alternatives' own descriptions where the schema gives them."""
    alternatives = node.get("oneOf", ()) or node.get("anyOf", ())
    if alternatives:
        return "; or ".join(_alternative(alt, defs) for alt in alternatives)
    if node.get("$ref") == _SECRET:
        return _alternative({**defs["secret"], "$ref": _SECRET, "description": _SECRET_KINDS}, defs)
    return _kind(node)


def _alternative(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    said = node.get("description") or _kind(_resolved(node, defs))
    return f"{said} ([a secret](#secrets))" if node.get("$ref") == _SECRET else str(said)


def _secrets(defs: Mapping[str, Any]) -> list[str]:
    """The section on secrets, which many keys refer to."""
    secret = defs["secret"]
    lines = ["## Secrets", "", str(secret.get("description", "")), ""]
    for form in secret.get("oneOf", ()):
        for key, node in form.get("properties", {}).items():
            lines += [f"### `{key}`", "", f"Written `{form.get('description', key)}`.", ""]
            lines += [*_describe(node, defs, None), ""]
    return lines


def _kind(node: Mapping[str, Any]) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in node["enum"])
    kinds = node.get("type")
    names = [kinds] if isinstance(kinds, str) else list(kinds or [])
    return " or ".join(schema._TYPE_NAMES.get(kind, kind) for kind in names) or "any value"
