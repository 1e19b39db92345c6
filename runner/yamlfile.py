"""Safe YAML loading that remembers the line and column of every node.

Scalars follow YAML 1.2's core schema, not PyYAML's 1.1 defaults: `yes`, `no`, `on` and `off` stay text,
dates stay text, mapping keys are always text exactly as written. A plain scalar that YAML would turn into
a number that no longer reads as written (`07`, `3.10`, `1e3`, `0x1F`, `1_000`, `1:30`) is kept as its text
and reported, so the user quotes it and every YAML tool agrees on what it means.

Merge keys (`<<: *defaults`) work as YAML defines them: keys written in the mapping win over merged ones,
and the first merged mapping wins over later ones. Aliases may not expand a file beyond `MAX_NODES` nodes
("billion laughs") and may not refer to a node that contains them. An integer has at most `MAX_DIGITS` digits.

PyYAML's C parser (libyaml) composes the nodes when it is installed, for speed; when a file has a syntax
error, the pure-Python parser reads it again so that the message is the same wherever the runner is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from runner.errors import Problem, Severity
from runner.numbers import number

JsonPath = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
_NUMBER = "tag:infiniti-sync:number"  # a plain scalar that some YAML reader takes for a number

# Anything that YAML 1.1 or 1.2 may read as a number: if its value does not print back as written,
# the text is ambiguous and must be quoted.
_NUMBERISH = re.compile(
    r"""^(?=[^0-9]*[0-9])[-+]?(
        0[xX][0-9a-fA-F_]+ | 0[oO]?[0-7_]+ | 0[bB][01_]+
      | [0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?
      | \.[0-9_]+([eE][-+]?[0-9]+)?
      | [0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?
    )$""",
    re.VERBOSE,
)
_INT_CANONICAL = re.compile(r"^-?(0|[1-9][0-9]*)$")
_FLOAT_PLAIN = re.compile(r"^-?[0-9]+\.[0-9]+$")
# Characters YAML does not allow in a file (control characters other than tab and line breaks, surrogates,
# U+FFFE and U+FFFF), named one by one: the same set written as the complement of what YAML allows took
# 4 ms to compile, on every start.
_NON_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
MAX_NODES = 100_000  # far more than any project or spec file needs; aliases cannot expand beyond it
# Python reads no longer integer from text (sys.get_int_max_str_digits); none of these files needs one.
MAX_DIGITS = 4300
# Clearer words for the syntax errors people make most; other errors keep PyYAML's wording.
_REWORDED = {
    "mapping values are not allowed here": "': ' is not allowed here; quote a value that contains ': '",
    "found character '\\t' that cannot start any token": "a tab here; indent with spaces, not tabs",
    "but found another document": "a second document starts here; a file holds one document",
    "found duplicate anchor": "this &anchor is already defined above; give each anchor its own name",
}


_WORDS = {
    **dict.fromkeys(["true", "True", "TRUE", "false", "False", "FALSE"], _BOOL),
    **dict.fromkeys(["~", "null", "Null", "NULL", ""], _NULL),
    **{f"{sign}.{inf}": _FLOAT for sign in ("", "-", "+") for inf in ("inf", "Inf", "INF")},
    **dict.fromkeys([".nan", ".NaN", ".NAN"], _FLOAT),
    "<<": _MERGE,
}


class _Resolver(BaseResolver):
    """YAML 1.2 core schema: true/false, null, decimal numbers; everything else is text.

    Written out rather than as PyYAML's table of expressions: it runs once per scalar of every file.
    """

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted, or a block scalar
                return _STR
            tag = _WORDS.get(value)
            if tag is not None:
                return tag
            return _NUMBER if value[:1] in _NUMBER_STARTS and _NUMBERISH.match(value) else _STR
        return "tag:yaml.org,2002:seq" if kind is SequenceNode else "tag:yaml.org,2002:map"


_NUMBER_STARTS = frozenset("0123456789+-.")


class _PyComposer(Reader, Scanner, Parser, Composer, _Resolver):
    """PyYAML's pure-Python parser and composer with our resolver."""

    def __init__(self, stream: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)


try:
    from yaml._yaml import CParser

    class _CComposer(CParser, _Resolver):
        """libyaml's parser and composer with our resolver."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            _Resolver.__init__(self)

    COMPOSERS: dict[str, type[Any]] = {"libyaml": _CComposer, "python": _PyComposer}
except ImportError:  # PyYAML built without libyaml
    COMPOSERS = {"python": _PyComposer}


class Mark(NamedTuple):
    """A 1-based line and column in a file."""

    line: int
    col: int


@dataclass
class Document:
    """A loaded YAML file: its data (JSON-like) and where each of its nodes was written."""

    path: Path
    data: Any
    marks: dict[JsonPath, Mark] = field(default_factory=dict)
    key_marks: dict[JsonPath, Mark] = field(default_factory=dict)
    styles: dict[JsonPath, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    text: str = ""

    @property
    def name(self) -> str:
        """The file's path for messages: relative to the working folder when inside it."""
        return display_path(self.path)

    def mark(self, path: JsonPath, *, key: bool = False) -> Mark:
        """Where the node at `path` was written (its key when `key`), or its nearest ancestor."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, Mark(1, 1))

    def problem(
        self,
        path: JsonPath,
        message: str,
        *,
        rule: str,
        severity: Severity = "error",
        key: bool = False,
        line_offset: int = 0,
    ) -> Problem:
        """A finding about the node at `path` (at its key when `key`; `line_offset` lines below it)."""
        mark = self.mark(path, key=key)
        col = mark.col if not line_offset else 1
        return Problem(self.name, mark.line + line_offset, col, json_path(path), message, severity, rule)

    def template_line(self, path: JsonPath, template_line: int, template_col: int = 0) -> tuple[int, int]:
        """Where line `template_line` (1-based) of the text at `path` is in the file.

        Only a literal block (`|`) keeps its lines as written; for other scalars the node's own place is
        the best there is. `template_col` (0-based) is added to the column inside a literal block.
        """
        mark = self.mark(path)
        style = self.styles.get(path)
        if style not in ("|", ">"):
            return mark.line, mark.col
        line = mark.line + (max(template_line, 1) if style == "|" else 1)
        text = self._line(line)
        indent = len(text) - len(text.lstrip(" "))
        return line, indent + 1 + (template_col if style == "|" else 0)

    def _line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


def display_path(path: Path) -> str:
    """`path` for messages: relative to the working folder when it lies inside it, written with `/` on
    every system (as git writes paths, and as GitHub's annotations need them); elsewhere, in full as the
    system writes it (`C:\\Users\\...` on Windows)."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def json_path(path: JsonPath) -> str:
    """`("columns", "username")` as `$.columns.username`; keys that are not names get brackets."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + repr(part) + "]"
    return out


class _TooLarge(Exception):
    """The document expands to more nodes than any project or spec file needs."""


class _Builder:
    """Turns a composed node tree into plain data, recording marks and loader problems."""

    def __init__(self, doc: Document):
        self.doc = doc
        self._budget = MAX_NODES
        self._open: set[int] = set()  # ids of the collections being built, to catch recursive aliases

    def build(self, node: Node, path: JsonPath) -> Any:
        self._spend()
        self.doc.marks[path] = _mark(node)
        if isinstance(node, ScalarNode):
            if node.style:
                self.doc.styles[path] = node.style
            return self._scalar(node, path)
        if id(node) in self._open:
            self._report(node, path, "an alias here refers to a node that contains it; data cannot loop")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _spend(self) -> None:
        self._budget -= 1
        if self._budget < 0:
            raise _TooLarge

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        """Keys written here first, then merged ones they do not override, in PyYAML's order."""
        written: dict[str, tuple[ScalarNode, Node]] = {}
        merged: dict[str, tuple[ScalarNode, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE and isinstance(key_node, ScalarNode) and not key_node.style:
                for key, pair in self._merged(value_node, path):
                    merged.setdefault(key, pair)
            elif not isinstance(key_node, ScalarNode):
                self._report(key_node, path, "a key must be plain text, not a list or mapping")
            elif key_node.value in written:
                first = _mark(written[key_node.value][0]).line
                message = f"duplicate key {key_node.value!r} (first at line {first})"
                self._report(key_node, (*path, key_node.value), message)
            else:
                self._check_key(key_node, (*path, key_node.value))
                written[key_node.value] = (key_node, value_node)
        out: dict[str, Any] = {}
        for key in dict.fromkeys([*merged, *written]):
            key_node, value_node = written.get(key) or merged[key]
            child = (*path, key)
            self.doc.key_marks[child] = _mark(key_node)
            out[key] = self.build(value_node, child)
        return out

    def _merged(self, value: Node, path: JsonPath) -> list[tuple[str, tuple[ScalarNode, Node]]]:
        """The pairs `<<: value` brings in, in order of precedence (first wins)."""
        sources = value.value if isinstance(value, SequenceNode) else [value]
        pairs: list[tuple[str, tuple[ScalarNode, Node]]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self._report(source, path, "<< merges a mapping or a list of mappings (such as *defaults)")
            elif id(source) in self._open:
                self._report(source, path, "<< here merges a mapping that contains it")
            else:
                self._open.add(id(source))
                try:
                    pairs += self._own_pairs(source, path)
                finally:
                    self._open.discard(id(source))
        return pairs

    def _own_pairs(self, node: MappingNode, path: JsonPath) -> list[tuple[str, tuple[ScalarNode, Node]]]:
        """A merged mapping's pairs: its own keys, then what it merges itself."""
        own: list[tuple[str, tuple[ScalarNode, Node]]] = []
        nested: list[tuple[str, tuple[ScalarNode, Node]]] = []
        for key_node, value_node in node.value:
            self._spend()
            if key_node.tag == _MERGE and isinstance(key_node, ScalarNode) and not key_node.style:
                nested += self._merged(value_node, path)
            elif isinstance(key_node, ScalarNode):  # other problems are reported where it is written
                own.append((key_node.value, (key_node, value_node)))
        return own + nested

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        text = node.value
        if node.style or node.tag in (_STR, _MERGE):  # quoted, block or !!str: text exactly as written
            return text
        if node.tag == _BOOL:
            return text.lower() == "true"
        if node.tag == _NULL:
            return None
        if node.tag == _FLOAT:
            return float(text.replace(".", "", 1))
        if node.tag == _NUMBER:
            return self._number(node, path)
        if node.tag in ("!env", "!file"):
            self._report(node, path, f"write {{{node.tag[1:]}: {text}}} instead of {node.tag} {text}")
        else:
            self._report(node, path, f"tag {node.tag} is not used in these files; remove it")
        return text

    def _number(self, node: ScalarNode, path: JsonPath) -> Any:
        """A number that reads back as written is a number; an ambiguous one is flagged and kept as text."""
        text = node.value
        if _INT_CANONICAL.match(text):
            digits = len(text.lstrip("-"))
            if digits <= MAX_DIGITS:
                return int(text)
            self._report(
                node,
                path,
                f"a number of {number(digits)} digits is longer than a number can be here "
                f"({number(MAX_DIGITS)} digits at most); quote it if it is text",
            )
            return text
        if _FLOAT_PLAIN.match(text) and repr(float(text)) == text:
            return float(text)
        self._ambiguous(node, path)
        return text

    def _check_key(self, node: ScalarNode, path: JsonPath) -> None:
        """Keys are always text; one that YAML would read as a different number is flagged."""
        if node.tag == _NUMBER and not node.style and not _INT_CANONICAL.match(node.value):
            self._ambiguous(node, path)

    def _ambiguous(self, node: ScalarNode, path: JsonPath) -> None:
        text = node.value
        self._report(
            node,
            path,
            f"{text} is ambiguous: YAML may read it as the number {_as_number(text)}; "
            f'quote it ("{text}") to keep it as written',
        )

    def _report(self, node: Node, path: JsonPath, message: str) -> None:
        mark = _mark(node)
        self.doc.problems.append(
            Problem(self.doc.name, mark.line, mark.col, json_path(path), message, "error", "yaml")
        )


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _as_number(text: str) -> str:
    """The number a YAML 1.1 or 1.2 reader may make of `text`, for the message."""
    clean = text.replace("_", "")
    if ":" in clean:  # YAML 1.1's base 60: 1:30 is 90
        sign = -1 if clean.startswith("-") else 1
        total = 0.0
        for part in clean.lstrip("+-").split(":"):
            total = total * 60 + float(part)
        return f"{sign * total:g}"
    for base in (0, 10):
        try:
            return str(int(clean, base))
        except ValueError:
            pass
    try:
        return repr(float(clean))
    except ValueError:
        return clean


def _syntax_problem(doc: Document, err: yaml.MarkedYAMLError) -> Problem:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = err.problem or "invalid YAML"
    context = f" ({err.context})" if err.context else ""
    said = f"{problem}{context}"
    message = next((new for old, new in _REWORDED.items() if old in said), said)
    return Problem(doc.name, line, col, "$", f"YAML syntax: {message}", "error", "yaml")


def _compose(doc: Document, backend: str | None) -> Node | None:
    """The document's node tree; a syntax error becomes a problem and None."""
    name = backend or next(iter(COMPOSERS))
    found = _try_compose(COMPOSERS[name], doc.text)
    if isinstance(found, Node) or found is None:
        return found
    if _too_deep(found):
        found = RecursionError()
    elif name != "python":  # word the error as the pure-Python parser does, wherever the runner runs
        again = _try_compose(_PyComposer, doc.text)
        found = again if isinstance(again, Exception) else found
    if isinstance(found, yaml.MarkedYAMLError):
        doc.problems.append(_syntax_problem(doc, found))
    elif isinstance(found, RecursionError):
        doc.problems.append(Problem(doc.name, 1, 1, "$", "nested too deeply", "error", "yaml"))
    else:
        doc.problems.append(Problem(doc.name, 1, 1, "$", f"YAML: {found}", "error", "yaml"))
    return None


def _too_deep(error: Exception) -> bool:
    """libyaml stops at 1000 levels of nesting; the pure-Python parser would take seconds to say so."""
    return isinstance(error, yaml.MarkedYAMLError) and "maximum nesting depth" in (error.problem or "")


def _try_compose(composer: type[Any], text: str) -> Node | Exception | None:
    loader = composer(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    except (yaml.YAMLError, RecursionError) as err:
        return err
    finally:
        loader.dispose()


def _control_character(doc: Document) -> Problem | None:
    found = _NON_PRINTABLE.search(doc.text)
    if found is None:
        return None
    before = doc.text[: found.start()]
    line = before.count("\n") + 1
    col = found.start() - (before.rfind("\n") + 1) + 1
    message = f"character U+{ord(found.group()):04X} is not allowed in YAML; remove it"
    return Problem(doc.name, line, col, "$", message, "error", "yaml")


def loads(text: str, path: Path, *, backend: str | None = None) -> Document:
    """Load YAML `text` (from `path`, for messages). Syntax errors become problems, not exceptions.

    `backend` ("libyaml" or "python") picks a parser; by default the fastest one installed.
    """
    doc = Document(path=path, data=None, text=text)
    if problem := _control_character(doc):
        doc.problems.append(problem)
        return doc
    node = _compose(doc, backend)
    if node is None:
        return doc
    try:
        doc.data = _Builder(doc).build(node, ())
    except _TooLarge:
        doc.data = None
        message = f"too large: aliases expand it beyond {MAX_NODES} values"
        doc.problems.append(Problem(doc.name, 1, 1, "$", message, "error", "yaml"))
    except RecursionError:
        doc.data = None
        doc.problems.append(Problem(doc.name, 1, 1, "$", "nested too deeply", "error", "yaml"))
    return doc


def load(path: Path) -> Document:
    """Load the YAML file at `path`; unreadable files become a problem too."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        doc = Document(path=path, data=None)
        reason = err.strerror or str(err)
        doc.problems.append(Problem(doc.name, 1, 1, "$", f"cannot read: {reason}", "error", "yaml"))
        return doc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = len(raw[: err.start].rsplit(b"\n", 1)[-1].decode("utf-8", "replace")) + 1
        doc = Document(path=path, data=None)
        message = f"not UTF-8 (byte 0x{raw[err.start]:02X}): save the file as UTF-8"
        doc.problems.append(Problem(doc.name, line, col, "$", message, "error", "yaml"))
        return doc
    return loads(text, path)
