"""PATH arguments of `validate` in layouts the case folders cannot express (paths outside the working
folder, symbolic links, no project anywhere). The common ones are cases in tests/validate_cases/."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from runner.cli import main
from runner.console import Console

BASE = Path(__file__).parent / "validate_cases" / "_base"


def run(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", *args], Console(out=out, err=err))
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(BASE, tmp_path / "project")
    return tmp_path / "project"


def break_staff(project: Path) -> None:
    spec = project / "specs" / "staff.yaml"
    text = spec.read_text("utf-8").replace("  system: [Staff]", "  system: Staff")
    spec.write_text(text, encoding="utf-8")


def test_no_project_anywhere_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run() == (
        2,
        f"error: no infiniti-sync.yaml in {tmp_path} or any folder above it\n"
        "  hint: run in your specs repository, or pass --project PATH\n",
    )


def test_a_folder_with_neither_project_nor_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    assert run("empty") == (2, "error: no infiniti-sync.yaml and no spec files in empty\n")


def test_the_project_option_names_the_project(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_staff(project)
    monkeypatch.chdir(tmp_path)
    assert run("--project", "project") == (
        2,
        "project/specs/staff.yaml:14:11: $.groups.system: must be a list, not 'Staff'\n"
        "1 error, 0 warnings in 3 files\n",
    )
    assert run("--project", "elsewhere") == (2, "error: project file elsewhere does not exist\n")


def test_files_outside_the_working_folder_are_named_in_full(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_staff(project)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    spec = project / "specs" / "staff.yaml"
    assert run(str(spec)) == (
        2,
        f"{spec}:14:11: $.groups.system: must be a list, not 'Staff'\n1 error, 0 warnings in 1 file\n",
    )


def test_a_project_file_of_another_name_is_known_by_its_tenants(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "infiniti-sync.yaml").rename(project / "school.yaml")
    monkeypatch.chdir(project)
    assert run("school.yaml") == (0, "3 files valid\n")


def test_a_file_named_twice_is_checked_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    break_staff(project)
    monkeypatch.chdir(project)
    code, output = run("specs/staff.yaml", "./specs/staff.yaml", "specs")
    assert (code, output.count("must be a list"), output.splitlines()[-1]) == (
        2,
        1,
        "1 error, 0 warnings in 2 files",
    )


def test_a_spec_reached_through_a_symbolic_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project whose specs/ is a link to a folder elsewhere (a layout some schools keep; this repository
    itself holds no links, tests/test_repository.py)."""
    shutil.copytree(BASE / "specs", tmp_path / "runner" / "example" / "specs")
    shutil.copyfile(BASE / "infiniti-sync.yaml", tmp_path / "infiniti-sync.yaml")
    try:
        (tmp_path / "specs").symlink_to(tmp_path / "runner" / "example" / "specs", target_is_directory=True)
    except OSError as err:  # Windows without the privilege (or developer mode) to create links
        pytest.skip(f"cannot create a symbolic link here: {err}")
    break_staff(tmp_path / "runner" / "example")
    monkeypatch.chdir(tmp_path)
    problem = (
        "staff.yaml:14:11: $.groups.system: must be a list, not 'Staff'\n1 error, 0 warnings in 1 file\n"
    )
    # named as given, whichever way the path goes
    assert run("runner/example/specs/staff.yaml") == (2, f"runner/example/specs/{problem}")
    assert run("specs/staff.yaml") == (2, f"specs/{problem}")
