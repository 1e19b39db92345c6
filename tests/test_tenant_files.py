"""`tenants: FOLDER`: one YAML file per tenant, named after it. The project it makes is the project the same
tenants make in the mapping; the validation cache sees every tenant file, and keeps a pass with warnings;
the tenant file's own schema checks a file as `validate` does; names that clash in case only are refused
(they are one file on Windows and macOS).
Problems in tenant files, with their lines, are cases in tests/validate_cases/tenants-*."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from runner import checked, project, schema, validate
from runner.errors import SpecError
from runner.yamlfile import load
from tests.support.project import Site, copy_project


def as_folder(project_file: Path, folder: str = "tenants") -> None:
    """Move each tenant of the project file's mapping into a file of its own in `folder`."""
    text = project_file.read_text(encoding="utf-8")
    head, _, mapping = text.partition("tenants:\n")
    (project_file.parent / folder).mkdir(parents=True, exist_ok=True)
    name: str | None = None
    lines: list[str] = []
    for line in [*mapping.splitlines(), "end:"]:
        if not line.startswith(" "):  # the mapping ends
            break
        if not line.startswith("    "):  # a tenant's key
            if name is not None:
                (project_file.parent / folder / f"{name}.yaml").write_text(
                    "\n".join(lines) + "\n", encoding="utf-8"
                )
            name, lines = line.strip().rstrip(":"), []
        else:
            lines.append(line[4:])
    if name is not None:
        (project_file.parent / folder / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    project_file.write_text(f"{head}tenants: {folder}\n", encoding="utf-8")


def test_a_folder_of_tenant_files_is_the_project_its_mapping_is(tmp_path: Path) -> None:
    project_file = copy_project(tmp_path / "project")
    first = project.load(project_file)
    as_folder(project_file)
    assert (
        (tmp_path / "project" / "tenants" / "demo.yaml")
        .read_text(encoding="utf-8")
        .startswith("url: https://127.0.0.1:8443")
    )
    second = project.load(project_file)
    assert second.tenants == first.tenants  # paths in tenant files are relative to the project file's folder
    assert second.specs == first.specs


def test_a_tenants_folder_inside_the_specs_folder_holds_no_spec(tmp_path: Path) -> None:
    project_file = copy_project(tmp_path / "project")
    as_folder(project_file, "specs/tenants")
    loaded = project.load(project_file)
    assert list(loaded.tenants) == ["demo"]
    assert sorted(loaded.specs) == ["guardians", "staff", "students"]


def test_the_validation_cache_sees_every_tenant_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(checked.VARIABLE, os.fspath(tmp_path / "cache"))
    project_file = copy_project(tmp_path / "project")
    as_folder(project_file)
    before = checked.key(project.read(project_file))
    project.load(project_file)  # passes, and is remembered
    tenant = project_file.parent / "tenants" / "demo.yaml"
    text = tenant.read_text(encoding="utf-8")
    (project_file.parent / "tenants" / "north.yaml").write_text(text, encoding="utf-8")
    assert checked.key(project.read(project_file)) != before  # a new tenant file
    (project_file.parent / "tenants" / "north.yaml").unlink()
    assert checked.key(project.read(project_file)) == before
    broken = text.replace("specs: [students, staff, guardians]", "specs: [stafff]")
    tenant.write_text(broken, encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        project.load(project_file)  # a changed tenant file is validated again
    [problem] = raised.value.problems
    assert (Path(problem.file).name, problem.path) == ("demo.yaml", "$.specs[0]")
    (project_file.parent / "tenants" / "notes.md").write_text("not a tenant", encoding="utf-8")
    tenant.write_text(text, encoding="utf-8")
    assert checked.key(project.read(project_file)) == before  # other files are not the project's


def test_a_project_passing_with_warnings_is_validated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant's missing ca_bundle is a warning; a run of one tenant of 5,000 must not validate them all
    again because of it (loading never shows warnings). A strict load still validates and refuses."""
    monkeypatch.setenv(checked.VARIABLE, os.fspath(tmp_path / "cache"))
    project_file = copy_project(tmp_path / "project")
    as_folder(project_file)
    tenant = project_file.parent / "tenants" / "demo.yaml"
    text = tenant.read_text(encoding="utf-8")
    tenant.write_text(text.replace(".infiniti-sync/sandbox/ca.pem", "missing-ca.pem"), encoding="utf-8")
    files = project.read(project_file)
    problems = validate.check(files)
    assert {p.severity for p in problems} == {"warning"} and "ca_bundle" in problems[0].message
    assert not checked.passed(files)
    project.load(project_file)
    assert checked.passed(files)  # the next load builds the project without validating it
    with pytest.raises(SpecError):
        project.load(project_file, strict=True)


def test_the_tenant_schema_checks_a_tenant_file_as_validate_does(tmp_path: Path) -> None:
    project_file = copy_project(tmp_path / "project")
    as_folder(project_file)
    validator = Draft202012Validator(json.loads(schema.text("tenant")))
    tenant = project_file.parent / "tenants" / "demo.yaml"
    assert list(validator.iter_errors(load(tenant).data)) == []
    tenant.write_text(tenant.read_text(encoding="utf-8").replace("specs:", "spec:"), encoding="utf-8")
    assert [e.validator for e in validator.iter_errors(load(tenant).data)] == [
        "additionalProperties",
        "required",
    ]
    assert [p.path for p in schema.check(load(tenant), "tenant")] == ["$.spec"]


def _case_sensitive(folder: Path) -> bool:
    (folder / "probe").write_text("", encoding="utf-8")
    sensitive = not (folder / "PROBE").exists()
    (folder / "probe").unlink()
    return sensitive


def test_tenant_files_named_alike_but_for_case_are_refused(tmp_path: Path) -> None:
    project_file = copy_project(tmp_path / "project")
    as_folder(project_file)
    if not _case_sensitive(tmp_path):
        pytest.skip("this file system cannot hold two names that differ in case only")
    tenants = project_file.parent / "tenants"
    (tenants / "Demo.YML").write_text((tenants / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        project.load(project_file)
    assert [str(p) for p in raised.value.problems] == [
        f"{tenants / 'Demo.YML'}:1:1: $: another tenant file has the name 'Demo' (case aside): "
        f"{tenants / 'demo.yaml'}; keep one",
        f"{tenants / 'demo.yaml'}:1:1: $: another tenant file has the name 'demo' (case aside): "
        f"{tenants / 'Demo.YML'}; keep one",
    ]


def test_a_quiet_run_over_tenant_files_says_nothing(tmp_path: Path) -> None:
    site = Site.start(tmp_path / "project")
    try:
        as_folder(site.project_file)
        done = site.invoke(["run", "--all", "-q"])
        assert (done.code, done.out, done.err) == (0, "", "")
        assert len(site.sandbox.users("demo")) == 35
    finally:
        site.stop()
