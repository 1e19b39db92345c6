"""Every `default` the JSON Schemas state is the default the code applies, and the code keeps each default
in one place: the records of runner/spec.py (and project.DEFAULTS for the project file's top level).

A default added to a schema without one in the code (or the other way round) fails here, so the schema's
text, which editors show as the user types, never promises what the runner does not do."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from runner import imports, project, schema, spec
from tests.support.project import copy_project


def _default(record: type, name: str) -> Any:
    found = {f.name: f.default for f in dataclasses.fields(record)}
    return found[name]


TIMEOUT = "$defs/tenant/properties/timeout/properties/"
RETRIES = "$defs/tenant/properties/retries/properties/"
CODE: dict[tuple[str, str], Any] = {
    ("project", "properties/specs"): project.DEFAULTS["specs"],
    ("project", "properties/state"): project.DEFAULTS["state"],
    ("project", "properties/archive"): project.DEFAULTS["archive"],
    ("project", "properties/keep_runs"): project.DEFAULTS["keep_runs"],
    ("project", "$defs/connection/properties/encoding"): _default(spec.Connection, "encoding"),
    ("project", "$defs/connection/properties/delimiter"): _default(spec.Connection, "delimiter"),
    ("project", TIMEOUT + "connect"): _default(spec.Tenant, "connect_timeout"),
    ("project", TIMEOUT + "read"): _default(spec.Tenant, "read_timeout"),
    ("project", RETRIES + "attempts"): _default(spec.Tenant, "retry_attempts"),
    ("project", RETRIES + "max_time"): _default(spec.Tenant, "retry_max_time"),
    ("project", "$defs/notify/properties/on"): list(spec.NOTIFY_ON),  # Notify.on is the set of these
    ("project", "$defs/notify/properties/email/properties/tls"): _default(spec.Email, "tls"),
    ("spec", "properties/import"): _default(spec.Spec, "import_name"),
    ("spec", "properties/import/oneOf/1/properties/mode"): imports.CONTACTS.default_mode,
    ("spec", "properties/mode"): _default(spec.Spec, "mode"),
    ("spec", "properties/checks/properties/duplicates"): _default(spec.Checks, "duplicates"),
    ("spec", "properties/expect/properties/success"): spec.DEFAULT_SUCCESS,
    ("spec", "properties/expect/properties/failed"): spec.DEFAULT_FAILED,
}


def _defaults(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(JSON path, default) of every `default` in a schema."""
    if isinstance(node, dict):
        if "default" in node:
            yield "/".join(path), node["default"]
        for key, value in node.items():
            if key != "default":
                yield from _defaults(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _defaults(value, (*path, str(i)))


def _stated() -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    kinds: tuple[schema.Which, ...] = ("project", "spec")
    for kind in kinds:
        document = json.loads(schema.text(kind))
        found |= {(kind, path): value for path, value in _defaults(document)}
    return found


def test_every_schema_default_has_its_code_default() -> None:
    assert sorted(_stated()) == sorted(CODE)


@pytest.mark.parametrize("where", sorted(CODE), ids="/".join)
def test_the_schema_states_the_codes_default(where: tuple[str, str]) -> None:
    stated, code = _stated()[where], CODE[where]
    if isinstance(code, spec.CountExpectation):
        assert spec.CountExpectation.parse(stated) == code
    else:
        assert stated == code and type(stated) in (type(code), int)


def test_a_project_that_leaves_everything_out_gets_the_defaults(tmp_path: Any) -> None:
    """What the loader builds for a tenant and spec that give no optional setting: the record's defaults."""
    loaded = project.load(copy_project(tmp_path / "project"))
    tenant, staff = loaded.tenants["demo"], loaded.specs["staff"]
    assert (tenant.connect_timeout, tenant.read_timeout, tenant.retry_attempts, tenant.retry_max_time) == (
        spec.CONNECT_TIMEOUT,
        spec.READ_TIMEOUT,
        spec.RETRY_ATTEMPTS,
        spec.RETRY_MAX_TIME,
    )
    assert (staff.import_name, staff.mode, staff.checks.duplicates) == ("userGroups", "full", "error")
    connection = tenant.connections["export"]
    assert (connection.encoding, connection.delimiter) == ("utf-8", ",")
