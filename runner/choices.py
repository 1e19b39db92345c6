"""Choices left to make in a spec: `<CHOOSE: what to choose>` written where a value is still to be chosen.

`infiniti-sync init` writes them where it cannot tell from an export what a spec needs (which column holds
the username, which rows are staff); `validate` reports each one, at its line, until it is replaced, so a
project with a choice left never plans or runs. The marker is plain text: in a query it is an SQL syntax
error and in a template literal text, and a spec never needs to hold it otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from runner.records import record
from runner.yamlfile import JsonPath

PATTERN = re.compile(r"<CHOOSE: ([^<>]*)>")


def marker(what: str) -> str:
    """The marker of a choice: `what` says what to choose, and from what."""
    text = " ".join(what.replace("<", "(").replace(">", ")").split())
    return f"<CHOOSE: {text}>"


@record
class Choice:
    """A choice in a loaded YAML document: at `path` (its key when `key`), line `line` (1-based) of the text
    there, `col` characters after that line's indentation (as Document.template_line counts), and what to
    choose."""

    path: JsonPath
    key: bool
    line: int
    col: int
    what: str


def found(data: Any, path: JsonPath = ()) -> Iterator[Choice]:
    """Each choice in `data` (a loaded YAML document), in the order of the document."""
    if isinstance(data, str):
        for match in PATTERN.finditer(data):
            start = data.rfind("\n", 0, match.start()) + 1
            before = data[start : match.start()]
            indent = len(before) - len(before.lstrip(" "))
            yield Choice(path, False, data.count("\n", 0, start) + 1, len(before) - indent, match[1])
    elif isinstance(data, dict):
        for key, value in data.items():
            for choice in found(str(key)):
                yield Choice((*path, key), True, choice.line, choice.col, choice.what)
            yield from found(value, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from found(item, (*path, i))
