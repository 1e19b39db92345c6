"""The JSON Schemas of the two file formats, and schema findings as located problems.

jsonschema's own messages are written for programmers (`[] should be non-empty`); each finding here is
reworded for the person editing the file, located at the node (or key) it is about, and alternatives
(`oneOf`, `anyOf`) are narrowed to the one the user most likely meant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from runner.errors import Problem
from runner.numbers import plural
from runner.suggest import did_you_mean
from runner.yamlfile import Document, JsonPath

Which = Literal["spec", "project", "tenant"]
FILES: dict[Which, str] = {
    "spec": "sync-spec.schema.json",
    "project": "project.schema.json",
    "tenant": "tenant.schema.json",  # made by tenant_schema() from the project schema's tenant
}
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}
_KIND_KEYWORDS = ("type", "const", "enum")  # an alternative that fails these is not what the user meant
_TYPES = Draft202012Validator.TYPE_CHECKER


def text(which: Which) -> str:
    """The schema file as shipped (what `infiniti-sync schema` prints)."""
    return resources.files("runner").joinpath("schemas", FILES[which]).read_text(encoding="utf-8")


def tenant_schema() -> str:
    """The JSON Schema of one tenant file (`tenants: FOLDER`), as tenant.schema.json ships it: the project
    schema's `$defs/tenant`, with the definitions it refers to, so that the two never disagree."""
    project = json.loads(text("project"))
    defs = {name: value for name, value in project["$defs"].items() if name not in ("tenant", "tenant_name")}
    tenant = project["$defs"]["tenant"]
    document = {
        "$schema": project["$schema"],
        "$id": f"urn:infiniti-sync:{FILES['tenant']}",
        "title": "infiniti-sync tenant file",
        "description": "One tenant of a project whose tenants: names a folder; the file's name is the "
        "tenant's name. " + tenant["description"],
        **{key: value for key, value in tenant.items() if key != "description"},
        "$defs": defs,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def tenant_name_problem(name: str) -> str | None:
    """Why `name` cannot be a tenant's name (the schema's own words), or None when it can."""
    pattern, said = _tenant_name_rule()
    return None if pattern.fullmatch(name) else said[0].lower() + said[1:].rstrip(".")


@cache
def _tenant_name_rule() -> tuple[re.Pattern[str], str]:
    rule = json.loads(text("project"))["$defs"]["tenant_name"]
    return re.compile(rule["pattern"]), rule["patternErrorMessage"]


@cache
def validator(which: Which) -> Draft202012Validator:
    """A validator of the schema, built once per process.

    Its `$ref`s to `$defs` are replaced by what they point at: the schemas have no recursion, and
    following references is most of jsonschema's work otherwise.
    """
    schema = json.loads(text(which))
    return Draft202012Validator(_inline(schema, schema.get("$defs", {})))


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    """`node` with each local `{"$ref": "#/$defs/NAME", ...}` replaced by that definition and siblings."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _inline(value, defs) for key, value in node.items() if key != "$defs"}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
        del out["$ref"]
        out = {**_inline(defs[ref[8:]], defs), **out}
    return out


def check(doc: Document, which: Which) -> list[Problem]:
    """Every schema violation in `doc`, located at its node; at one node, the best match first."""
    errors = sorted(validator(which).iter_errors(doc.data), key=relevance, reverse=True)
    findings = _Findings(doc)
    findings.add_all(errors)
    return list(dict.fromkeys(findings.problems))


@dataclass
class _Findings:
    """The problems of one document, and the keys its unknown keys were probably meant to be."""

    doc: Document
    problems: list[Problem] = field(default_factory=list)
    meant: set[tuple[JsonPath, str]] = field(default_factory=set)

    def add_all(self, errors: list[ValidationError]) -> None:
        """Unknown keys first (they say which key was probably meant), then the rest."""
        for error in errors:
            if error.validator == "additionalProperties":
                self.unknown_keys(error)
        for error in errors:
            if error.validator != "additionalProperties":
                self.add(error)

    def unknown_keys(self, error: ValidationError) -> None:
        path: JsonPath = tuple(error.absolute_path)
        known = list(cast(Mapping[str, Any], error.schema).get("properties", {}))
        self._unknown(path, cast(dict[str, Any], error.instance), known)

    def _unknown(self, path: JsonPath, instance: dict[str, Any], known: list[str]) -> None:
        for key in instance:
            if key in known:
                continue
            hint = did_you_mean(key, known)
            message = f"unknown key {key!r}" + (f"; did you mean {hint!r}?" if hint else "")
            if hint:
                self.meant.add((path, hint))
            elif known:
                message += f" (expected one of: {', '.join(known)})"
            self.problems.append(self.doc.problem((*path, key), message, rule="unknown-key", key=True))

    def add(self, error: ValidationError) -> None:
        path: JsonPath = tuple(error.absolute_path)
        if error.validator in ("oneOf", "anyOf"):
            self._alternatives(error, path)
        elif error.validator == "required":
            self._required(error, path)
        elif error.validator == "uniqueItems":
            self._repeated(cast(list[Any], error.instance), path)
        elif "propertyNames" in error.relative_schema_path:
            key = str(error.instance)
            message = f"{key!r} is not valid: {_pattern_message(error)}"
            self.problems.append(self.doc.problem((*path, key), message, rule="schema", key=True))
        else:
            self.problems.append(self.doc.problem(path, _message(error), rule="schema"))

    def _required(self, error: ValidationError, path: JsonPath) -> None:
        instance = cast(dict[str, Any], error.instance)
        for key in cast(list[str], error.validator_value):
            if key in instance or (path, key) in self.meant:
                continue  # an unknown key close to it already says what to do
            if path == ("columns",):
                needed = cast(list[str], error.validator_value)
                text_ = f"missing required column {key!r}: Infiniti needs {_and(needed)}"
            else:
                text_ = f"missing required key {key!r}"
            self.problems.append(self.doc.problem(path, text_, rule="schema", key=bool(path)))

    def _repeated(self, items: list[Any], path: JsonPath) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                message = f"{_describe(item)} is already listed above; list it once"
                self.problems.append(self.doc.problem((*path, i), message, rule="schema"))
            seen.add(key)

    def _alternatives(self, error: ValidationError, path: JsonPath) -> None:
        """A value that fits none (or, for oneOf, more than one) of the allowed forms."""
        schema = cast(Mapping[str, Any], error.schema)
        if "type" in schema and not _is_type(error.instance, schema["type"]):
            return  # the type error at this node says it better
        options = cast(list[Mapping[str, Any]], error.validator_value)
        branches = _branches(error, len(options))
        if all(_wrong_kind(b) for b in branches):
            self.problems.append(self.doc.problem(path, _kinds(options, error.instance), rule="schema"))
            return
        keys = _exclusive_keys(options)
        if keys and isinstance(error.instance, dict):
            self._exclusive(error, path, keys, branches, schema)
            return
        candidates = [b for b in branches if b and not _wrong_kind(b)]
        if not candidates:  # oneOf: more than one alternative fits
            message = f"must be {_either([_kind(o) for o in options])}; it fits more than one"
            self.problems.append(self.doc.problem(path, message, rule="schema"))
        elif all(e.validator == "required" and not e.relative_path for b in candidates for e in b):
            missing = [k for b in candidates for e in b for k in cast(list[str], e.validator_value)]
            message = f"needs {' or '.join(dict.fromkeys(missing))}"
            self.problems.append(self.doc.problem(path, message, rule="schema", key=bool(path)))
        else:
            closest: list[ValidationError] = min(candidates, key=_depth)
            self.add_all(sorted(closest, key=relevance, reverse=True))

    def _exclusive(
        self,
        error: ValidationError,
        path: JsonPath,
        keys: list[str],
        branches: list[list[ValidationError]],
        schema: Mapping[str, Any],
    ) -> None:
        """Alternatives told apart by one key each: {env: ...} or {file: ...}; url or files."""
        instance = cast(dict[str, Any], error.instance)
        present = [k for k in keys if k in instance]
        if len(present) > 1:
            listed = " or ".join(keys) if len(keys) == 2 else f"{', '.join(keys[:-1])} or {keys[-1]}"
            both = "both" if len(present) == 2 and len(keys) == 2 else " and ".join(present)
            message = f"needs exactly one of {listed}, not {both}"
            self.problems.append(self.doc.problem(path, message, rule="schema"))
        elif not present:
            self._none_of(error, path, keys, schema)
        else:
            for sub in branches[keys.index(present[0])]:
                if sub.validator == "not":
                    self.problems.append(self.doc.problem(path, _conflict(sub, present[0]), rule="schema"))
                elif sub.validator == "additionalProperties":
                    self.unknown_keys(sub)
                else:
                    self.add(sub)

    def _none_of(
        self, error: ValidationError, path: JsonPath, keys: list[str], schema: Mapping[str, Any]
    ) -> None:
        """No alternative's key is there: a misspelt one, or none at all."""
        known = list(schema.get("properties", {}))
        for option in cast(list[Mapping[str, Any]], error.validator_value):
            known += [k for k in option.get("properties", {}) if k not in known]
        before = len(self.problems)
        self._unknown(path, cast(dict[str, Any], error.instance), known)
        if len(self.problems) == before:
            either = " or ".join(keys)
            message = f"needs {either}, or both" if error.validator == "anyOf" else f"needs one of {either}"
            self.problems.append(self.doc.problem(path, message, rule="schema", key=bool(path)))


def _branches(error: ValidationError, count: int) -> list[list[ValidationError]]:
    """The errors of each alternative, in the schema's order (empty for one that fits)."""
    out: list[list[ValidationError]] = [[] for _ in range(count)]
    for sub in error.context or ():
        out[cast(int, sub.relative_schema_path[0])].append(sub)
    return out


def _wrong_kind(errors: list[ValidationError]) -> bool:
    """Whether an alternative fails because the value is of another kind altogether."""
    return any(not e.relative_path and _kind_error(e) for e in errors)


def _kind_error(error: ValidationError) -> bool:
    if error.validator in _KIND_KEYWORDS:
        return True
    if error.validator not in ("oneOf", "anyOf"):
        return False
    branches = _branches(error, len(cast(list[Any], error.validator_value)))
    return all(_wrong_kind(b) for b in branches)


def _depth(errors: list[ValidationError]) -> tuple[int, int]:
    """Deeper failures mean more of the value fits; fewer failures mean a closer fit."""
    return (-min(len(e.relative_path) for e in errors), len(errors))


def _exclusive_keys(options: list[Mapping[str, Any]]) -> list[str]:
    """The one required key of each alternative, when every alternative requires exactly one."""
    keys = [option.get("required", []) for option in options]
    return [k[0] for k in keys] if all(len(k) == 1 for k in keys) else []


def _conflict(error: ValidationError, key: str) -> str:
    forbidden = cast(Mapping[str, Any], error.validator_value)
    options = forbidden.get("anyOf", [forbidden])
    instance = cast(dict[str, Any], error.instance)
    clash = [k for option in options for k in option.get("required", []) if k in instance]
    return f"{' and '.join(clash)} cannot be used with {key}"


def _kinds(options: list[Mapping[str, Any]], instance: Any) -> str:
    """`must be a count or a percentage such as 25%, not 2.5`."""
    message = f"must be {_either([_kind(o) for o in options])}, not {_describe(instance)}"
    words = [str(o["const"]) for o in options if isinstance(o.get("const"), str)]
    hint = did_you_mean(instance, words) if isinstance(instance, str) else None
    return message + (f"; did you mean {hint!r}?" if hint else "")


def _kind(option: Mapping[str, Any]) -> str:
    if "description" in option:
        return str(option["description"])
    if "const" in option:
        return json.dumps(option["const"])
    wanted = option.get("type", "a value")
    types = [str(t) for t in (wanted if isinstance(wanted, list) else [wanted])]
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _is_type(instance: Any, wanted: str | list[str]) -> bool:
    return any(_TYPES.is_type(instance, t) for t in (wanted if isinstance(wanted, list) else [wanted]))


def _pattern_message(error: ValidationError) -> str:
    """The schema's own words for a pattern (`patternErrorMessage`, as VS Code reads it)."""
    said = cast(Mapping[str, Any], error.schema).get("patternErrorMessage")
    if not isinstance(said, str):
        return f"it must match {error.validator_value}"
    return said[0].lower() + said[1:].rstrip(".")


def _message(error: ValidationError) -> str:
    """A schema error in the words of the file's author."""
    kind, value, instance = error.validator, cast(Any, error.validator_value), error.instance
    if kind == "type":
        return _type_message(value, instance)
    if kind == "const":
        return f"must be {json.dumps(value)}, not {_describe(instance)}"
    if kind == "enum":
        hint = did_you_mean(str(instance), [str(v) for v in value])
        text_ = f"must be one of {', '.join(map(str, value))}, not {_describe(instance)}"
        return text_ + (f"; did you mean {hint!r}?" if hint else "")
    if kind == "pattern":
        return f"{_describe(instance)} is not valid: {_pattern_message(error)}"
    if kind in ("minLength", "minItems", "minProperties") and value == 1:
        return "must not be empty"
    if kind == "minLength":
        return f"must be at least {value} characters long"
    if kind == "maxLength":
        return f"must be at most {plural(value, 'character')} long, not {_describe(instance)}"
    if kind == "minimum":
        return f"must be at least {value}, not {_describe(instance)}"
    if kind == "maximum":
        return f"must be at most {value}, not {_describe(instance)}"
    if kind == "exclusiveMinimum":
        return f"must be more than {value}, not {_describe(instance)}"
    if kind == "dependentRequired":
        given = cast(dict[str, Any], instance)
        key, missing = next(
            (k, lost) for k, v in value.items() if k in given and (lost := [n for n in v if n not in given])
        )
        return f"{key} needs {' and '.join(missing)} as well: give both, or neither"
    return str(error.message)


def _type_message(value: str | list[str], instance: Any) -> str:
    wanted = value if isinstance(value, list) else [value]
    names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
    text_ = f"must be {names}, not {_describe(instance)}"
    if "boolean" in wanted and isinstance(instance, str):
        return text_ + "; write true or false"
    if {"integer", "number"} & set(wanted) and isinstance(instance, str) and _is_number(instance):
        return text_ + "; write it without quotes"
    if "string" in wanted and isinstance(instance, bool | int | float):
        return text_ + "; put it in quotes if it is meant as text"
    return text_


def _is_number(text_: str) -> bool:
    try:
        float(text_)
    except ValueError:
        return False
    return True


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
