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

from runner.yamlfile import JsonPath

PATTERN = re.compile(r"<CHOOSE: ([^<>]*)>")


def marker(what: str) -> str:
    """The marker of a choice: `what` says what to choose, and from what."""
    text = " ".join(what.replace("<", "(").replace(">", ")").split())
    return f"<CHOOSE: {text}>"


def found(data: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, bool, int, str]]:
    """Each choice in `data` (a loaded YAML document): the path of its text, whether the text is a key,
    the line inside the text (1-based) and what to choose."""
    if isinstance(data, str):
        for match in PATTERN.finditer(data):
            yield path, False, data.count("\n", 0, match.start()) + 1, match[1]
    elif isinstance(data, dict):
        for key, value in data.items():
            for _, _, line, what in found(str(key)):
                yield (*path, key), True, line, what
            yield from found(value, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from found(item, (*path, i))
