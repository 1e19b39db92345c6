"""The JSON Schemas of the two file formats, and schema findings as located problems."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match, relevance

from runner.errors import Problem
from runner.suggest import did_you_mean
from runner.yamlfile import Document, JsonPath

Which = Literal["spec", "project"]
FILES: dict[Which, str] = {"spec": "sync-spec.schema.json", "project": "project.schema.json"}
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def text(which: Which) -> str:
    """The schema file as shipped (what `infiniti-sync schema` prints)."""
    return resources.files("runner").joinpath("schemas", FILES[which]).read_text(encoding="utf-8")


@cache
def validator(which: Which) -> Draft202012Validator:
    """A compiled validator of the schema (built once per process)."""
    return Draft202012Validator(json.loads(text(which)))


def check(doc: Document, which: Which) -> list[Problem]:
    """Every schema violation in `doc`, located at its node."""
    problems: list[Problem] = []
    for error in sorted(validator(which).iter_errors(doc.data), key=relevance):
        problems.extend(_problems(doc, error))
    return problems


def _problems(doc: Document, error: ValidationError) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        yield from _unknown_keys(doc, error, path)
    elif error.validator in ("oneOf", "anyOf") and error.context:
        deepest = best_match(error.context)
        if deepest.validator in ("required", "not") and _is_connection(path):
            yield doc.problem(path, "a connection needs exactly one of url or files", rule="schema")
        else:
            yield from _problems(doc, deepest)
    else:
        yield doc.problem(path, _message(error, path), rule="schema")


def _is_connection(path: JsonPath) -> bool:
    return len(path) == 4 and path[0] == "tenants" and path[2] == "connections"


def _unknown_keys(doc: Document, error: ValidationError, path: JsonPath) -> Iterator[Problem]:
    subschema = error.schema if isinstance(error.schema, Mapping) else {}
    known = list(subschema.get("properties", {}))
    instance = cast(dict[str, Any], error.instance)
    for key in instance:
        if key in known:
            continue
        hint = did_you_mean(key, known)
        message = f"unknown key {key!r}" + (f"; did you mean {hint!r}?" if hint else "")
        if not hint and known:
            message += f" (expected one of: {', '.join(known)})"
        yield doc.problem((*path, key), message, rule="unknown-key", key=True)


def _message(error: ValidationError, path: JsonPath) -> str:
    kind, value = error.validator, cast(Any, error.validator_value)
    if kind == "required":
        missing = [k for k in value if k not in cast(dict[str, Any], error.instance)]
        if path == ("columns",):
            return (
                f"missing required column {missing[0]!r}: Infiniti needs username, "
                "library-group and system-group"
            )
        return f"missing required key {missing[0]!r}"
    if kind == "type":
        wanted = value if isinstance(value, list) else [value]
        names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        message = f"must be {names}, not {_describe(error.instance)}"
        if "boolean" in wanted and isinstance(error.instance, str):
            message += "; write true or false"
        return message
    if kind == "const":
        return f"must be {json.dumps(value)}, not {_describe(error.instance)}"
    if kind == "enum":
        hint = did_you_mean(str(error.instance), [str(v) for v in value])
        text_ = f"must be one of {', '.join(map(str, value))}, not {_describe(error.instance)}"
        return text_ + (f"; did you mean {hint!r}?" if hint else "")
    if kind == "minProperties" and value == 1:
        return "must not be empty"
    return str(error.message)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "empty"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
