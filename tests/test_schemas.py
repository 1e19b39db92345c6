"""The shipped JSON Schemas: valid 2020-12 schemas, fully described, installed, printed as shipped;
the example project validates against them, and with `validate`, without a single warning."""

from __future__ import annotations

import io
import json
import shutil
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from runner import schema
from runner.cli import main
from runner.console import Console
from runner.yamlfile import load

WHICH: list[schema.Which] = ["spec", "project", "tenant"]
EXAMPLE = resources.files("runner").joinpath("example")


def shipped(which: schema.Which) -> dict[str, Any]:
    text = resources.files("runner").joinpath("schemas", schema.FILES[which]).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def properties(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every property schema in `node` (recursively, $defs and alternatives included), with its place."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from properties(item, f"{where}/{i}")
    elif isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{where}/properties/{name}", sub
        if isinstance(node.get("additionalProperties"), dict):  # the schema of keys chosen by the user
            yield f"{where}/additionalProperties", node["additionalProperties"]
        for key, sub in node.items():
            yield from properties(sub, f"{where}/{key}")


@pytest.mark.parametrize("which", WHICH)
def test_the_schema_is_a_valid_2020_12_schema(which: schema.Which) -> None:
    document = shipped(which)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("which", WHICH)
def test_every_property_has_a_description(which: schema.Which) -> None:
    document = shipped(which)
    found = list(properties(document))
    assert len(found) >= 20  # the walk does reach the properties
    # a bare {"$ref": ...} is described by the definition it points to (all of which are checked below)
    missing = [w for w, sub in found if not str(sub.get("description", "")).strip() and "$ref" not in sub]
    assert missing == []
    assert document["description"]
    assert all(d.get("description") for d in document["$defs"].values())


@pytest.mark.parametrize("which", WHICH)
def test_the_installed_package_holds_the_schema(which: schema.Which) -> None:
    """Read through importlib.resources, as an installed runner reads it (no path into the source tree)."""
    text = resources.files("runner").joinpath("schemas", schema.FILES[which]).read_text(encoding="utf-8")
    assert schema.text(which) == text
    assert json.loads(text)["$id"] == f"urn:infiniti-sync:{schema.FILES[which]}"


@pytest.mark.parametrize("which", WHICH)
def test_the_package_data_ships_the_schema(which: schema.Which) -> None:
    """A wheel holds what pyproject.toml's package-data names (an editable install would hide a gap)."""
    config = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["runner"]
    assert any(fnmatch(f"schemas/{schema.FILES[which]}", pattern) for pattern in patterns)


@pytest.mark.parametrize("which", WHICH)
def test_schema_command_prints_exactly_the_shipped_file(which: schema.Which) -> None:
    out = io.StringIO()
    assert main(["schema", which], Console(out=out, err=io.StringIO())) == 0
    assert out.getvalue() == schema.text(which)


def test_the_tenant_schema_is_the_project_schemas_tenant() -> None:
    """tenant.schema.json is made from the project schema; after a change to a tenant's keys, write it again:
    python3 -c 'from runner.schema import tenant_schema; print(tenant_schema(), end="")' \
        > runner/schemas/tenant.schema.json"""
    assert schema.text("tenant") == schema.tenant_schema()
    project = shipped("project")
    assert shipped("tenant")["properties"] == project["$defs"]["tenant"]["properties"]


def test_schema_command_prints_the_spec_schema_by_default() -> None:
    out = io.StringIO()
    assert main(["schema"], Console(out=out, err=io.StringIO())) == 0
    assert out.getvalue() == schema.text("spec")


def test_the_validator_checks_what_the_shipped_schema_says() -> None:
    """The validator inlines $defs for speed; it must accept and reject exactly as the file does."""
    for which in WHICH:
        raw = Draft202012Validator(shipped(which))
        fast = schema.validator(which)
        for instance in samples(which):
            assert sorted(e.message for e in raw.iter_errors(instance)) == sorted(
                e.message for e in fast.iter_errors(instance)
            )


def samples(which: schema.Which) -> list[Any]:
    tenant = {"url": "https://x", "username": "a", "password": {"env": "P"}, "specs": ["s"]}
    if which == "project":
        return [
            {"version": 1, "tenants": {"t": tenant}},
            {"version": 1, "state": {"file": ""}, "tenants": {"t": {**tenant, "password": {"env": "1"}}}},
            {"version": 1, "tenants": {"t": {**tenant, "connections": {"c": {"url": "x", "files": "y"}}}}},
            {"version": 1, "tenants": {"t": {**tenant, "timeout": {"connect": 0}}}},
        ]
    columns = {"username": "u", "library-group": "l", "system-group": "s"}
    base = {"version": 1, "source": {"connection": "c", "query": "q"}, "columns": columns}
    return [
        {**base, "groups": {"library": [], "system": []}},
        {**base, "groups": {"library": [], "system": []}, "checks": {"max_change": "5 %"}},
        {**base, "groups": {}, "expect": {"created": {"min": -1}, "failed": "x"}},
    ]


@pytest.mark.parametrize("spec", sorted(p.name for p in EXAMPLE.joinpath("specs").iterdir()))
def test_every_shipped_spec_is_valid_against_the_schema(spec: str) -> None:
    with resources.as_file(EXAMPLE.joinpath("specs", spec)) as path:
        doc = load(path)
    assert doc.problems == []
    assert list(schema.validator("spec").iter_errors(doc.data)) == []


def test_the_shipped_project_file_is_valid_against_the_schema() -> None:
    with resources.as_file(EXAMPLE.joinpath("infiniti-sync.yaml")) as path:
        doc = load(path)
    assert list(schema.validator("project").iter_errors(doc.data)) == []


def test_the_example_project_validates_without_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with resources.as_file(EXAMPLE) as folder:
        shutil.copytree(folder, tmp_path / "example")
    monkeypatch.chdir(tmp_path / "example")
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "--strict"], Console(out=out, err=err)) == 0
    assert (out.getvalue(), err.getvalue()) == ("4 files valid\n", "")
