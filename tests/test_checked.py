"""A project validated once is not validated again while its files and the runner stay the same; any change
to a file, or a problem found, means validating again; keeping nothing (INFINITI_SYNC_CACHE empty) or a
folder that cannot be written only means validating every time."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from runner import checked, project, validate
from runner.errors import Problem, SpecError
from runner.files import Files
from tests.support.project import copy_project


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the project is validated (the real validation runs each time)."""
    calls: list[int] = []
    real = validate.check

    def check(files: Files) -> list[Problem]:
        calls.append(1)
        return real(files)

    monkeypatch.setattr(validate, "check", check)
    return calls


def test_a_passing_project_is_validated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: list[int]
) -> None:
    monkeypatch.setenv(checked.VARIABLE, os.fspath(tmp_path / "cache"))
    project_file = copy_project(tmp_path / "project")
    first, second = project.load(project_file), project.load(project_file)
    assert len(counted) == 1
    assert first == second
    assert len(list((tmp_path / "cache" / "validated").iterdir())) == 1


def test_any_change_to_a_file_is_validated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: list[int]
) -> None:
    monkeypatch.setenv(checked.VARIABLE, os.fspath(tmp_path / "cache"))
    project_file = copy_project(tmp_path / "project")
    project.load(project_file)
    spec = project_file.parent / "specs" / "staff.yaml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("description:", "descripshun:", 1), encoding="utf-8"
    )
    with pytest.raises(SpecError):
        project.load(project_file)
    with pytest.raises(SpecError):  # a failing project is never noted: it fails every time
        project.load(project_file)
    assert len(counted) == 3


def test_keeping_nothing_validates_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: list[int]
) -> None:
    monkeypatch.setenv(checked.VARIABLE, "")
    project_file = copy_project(tmp_path / "project")
    project.load(project_file)
    project.load(project_file)
    assert len(counted) == 2


def test_a_folder_that_cannot_be_made_validates_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: list[int]
) -> None:
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    monkeypatch.setenv(checked.VARIABLE, os.fspath(tmp_path / "a-file"))
    project_file = copy_project(tmp_path / "project")
    assert project.load(project_file) == project.load(project_file)
    assert len(counted) == 2


def test_the_folder_follows_the_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert checked.folder({checked.VARIABLE: os.fspath(tmp_path)}) == tmp_path / "validated"
    assert checked.folder({checked.VARIABLE: ""}) is None
    monkeypatch.setattr(sys, "platform", "linux")
    assert checked.folder({"XDG_CACHE_HOME": os.fspath(tmp_path)}) == tmp_path / "infiniti-sync" / "validated"
    monkeypatch.setattr(sys, "platform", "win32")
    assert checked.folder({"LOCALAPPDATA": os.fspath(tmp_path)}) == tmp_path / "infiniti-sync" / "validated"
