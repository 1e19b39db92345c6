"""Safe YAML loading that remembers the line and column of every node.

Scalars follow YAML 1.2's core schema, not PyYAML's 1.1 defaults: `yes`, `no`, `on` and `off` stay text,
dates stay text, mapping keys are always text exactly as written. A plain scalar that YAML would turn into
a number that no longer reads as written (`07`, `3.10`, `1e3`, `0x1F`, `1_000`) is kept as its text and
reported, so the user quotes it and every YAML tool agrees on what it means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from runner.errors import Problem, Severity

JsonPath = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_FLOAT = "tag:yaml.org,2002:float"

# Anything that YAML 1.1 or 1.2 may read as a number: if its value does not print back as written,
# the text is ambiguous and must be quoted.
_NUMBERISH = re.compile(
    r"""^[-+]?(
        0[xX][0-9a-fA-F_]+ | 0[oO]?[0-7_]+ | 0[bB][01_]+
      | [0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?
      | \.[0-9_]+([eE][-+]?[0-9]+)?
    )$""",
    re.VERBOSE,
)
_INT_CANONICAL = re.compile(r"^-?(0|[1-9][0-9]*)$")
_FLOAT_PLAIN = re.compile(r"^-?[0-9]+\.[0-9]+$")
_MAX_NODES = 1_000_000  # aliases can expand a small file enormously ("billion laughs")


class _Resolver(BaseResolver):
    """YAML 1.2 core schema: true/false, null, decimal numbers; everything else is text."""


_Resolver.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Resolver.add_implicit_resolver(_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Resolver.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+.")
)
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


class _Composer(Reader, Scanner, Parser, Composer, SafeConstructor, _Resolver):
    """PyYAML's pure-Python composer with our resolver; only `compose` is used."""

    def __init__(self, stream: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        _Resolver.__init__(self)


@dataclass(frozen=True)
class Mark:
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
        """A finding about the node at `path`."""
        mark = self.mark(path, key=key)
        line = mark.line + line_offset
        col = mark.col if not line_offset else 1
        return Problem(
            self.name,
            line,
            col,
            json_path(path),
            message,
            severity,
            rule,
        )

    def template_line(self, path: JsonPath, template_line: int) -> tuple[int, int]:
        """Where line `template_line` (1-based) of the scalar template at `path` is in the file."""
        mark = self.mark(path)
        block = self.styles.get(path) in ("|", ">")
        first = mark.line + 1 if block else mark.line
        if template_line <= 1 and not block:
            return mark.line, mark.col
        return first + template_line - 1, 1


def display_path(path: Path) -> str:
    """`path` relative to the working folder when it lies inside it (as CI annotations need)."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def json_path(path: JsonPath) -> str:
    """`("columns", "username")` as `$.columns.username`; keys that are not names get brackets."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
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
        self._constructor = SafeConstructor()
        self._budget = _MAX_NODES

    def build(self, node: Node, path: JsonPath) -> Any:
        self._budget -= 1
        if self._budget < 0:
            raise _TooLarge
        self.doc.marks[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        if node.style:
            self.doc.styles[path] = node.style
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        self._constructor.flatten_mapping(node)  # merge keys (<<) as YAML defines them
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._report(key_node, path, "a key must be plain text, not a list or mapping")
                continue
            key = str(key_node.value)
            child = (*path, key)
            self._check_key(key_node, child)
            if key in out:
                first = self.doc.key_marks[child]
                self._report(key_node, child, f"duplicate key {key!r} (first at line {first.line})")
                continue
            self.doc.key_marks[child] = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, child)
        return out

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        text = node.value
        if node.style:  # quoted or block scalars are text exactly as written
            return text
        if node.tag == _BOOL:
            return text.lower() == "true"
        if node.tag == _NULL:
            return None
        if node.tag == _FLOAT:
            return float(text.replace(".", "", 1))
        if node.tag == _STR:
            return self._plain(node, path)
        self._report(node, path, f"tag {node.tag} is not used in these files; remove it")
        return text

    def _plain(self, node: ScalarNode, path: JsonPath) -> Any:
        """Plain text: a number that reads back as written is a number; an ambiguous one is flagged."""
        text = node.value
        if not _NUMBERISH.match(text):
            return text
        if _INT_CANONICAL.match(text):
            return int(text)
        if _FLOAT_PLAIN.match(text) and repr(float(text)) == text:
            return float(text)
        self._ambiguous(node, path)
        return text

    def _check_key(self, node: ScalarNode, path: JsonPath) -> None:
        """Keys are always text; one that YAML would read as a different number is flagged."""
        if not node.style and _NUMBERISH.match(node.value) and not _INT_CANONICAL.match(node.value):
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
        mark = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        self.doc.problems.append(
            Problem(self.doc.name, mark.line, mark.col, json_path(path), message, "error", "yaml")
        )


def _as_number(text: str) -> str:
    """The number a YAML 1.1 or 1.2 reader may make of `text`, for the message."""
    clean = text.replace("_", "")
    for base in (0, 10):
        try:
            return str(int(clean, base))
        except ValueError:
            pass
    try:
        return repr(float(clean))
    except ValueError:
        return clean


def loads(text: str, path: Path) -> Document:
    """Load YAML `text` (from `path`, for messages). Syntax errors become problems, not exceptions."""
    doc = Document(path=path, data=None)
    loader = _Composer(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = err.problem or "invalid YAML"
        context = f" ({err.context})" if err.context else ""
        doc.problems.append(
            Problem(doc.name, line, col, "$", f"YAML syntax: {problem}{context}", "error", "yaml")
        )
        return doc
    except yaml.YAMLError as err:
        doc.problems.append(Problem(doc.name, 1, 1, "$", f"YAML: {err}", "error", "yaml"))
        return doc
    finally:
        loader.dispose()
    if node is not None:
        try:
            doc.data = _Builder(doc).build(node, ())
        except (_TooLarge, RecursionError):
            doc.data = None
            doc.problems.append(
                Problem(doc.name, 1, 1, "$", "too large once aliases are expanded", "error", "yaml")
            )
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
        doc = Document(path=path, data=None)
        doc.problems.append(
            Problem(doc.name, line, 1, "$", "not UTF-8: save the file as UTF-8", "error", "yaml")
        )
        return doc
    return loads(text, path)
