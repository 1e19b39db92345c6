"""`~` in a secret file's path is the home folder of the account that runs the sync (`{file: ~/...}`), on
every platform (%USERPROFILE% on Windows); the project's other paths are relative to the project file."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import project
from runner.secrets import resolve
from tests.support.project import copy_project


def test_a_secret_file_under_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    (home / ".infiniti-sync").mkdir(parents=True)
    (home / ".infiniti-sync" / "demo").write_text("from-home\r\n", encoding="utf-8")
    project_file = copy_project(tmp_path / "project")
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(
        text.replace("{env: INFINITI_DEMO_PASSWORD}", "{file: ~/.infiniti-sync/demo}"), encoding="utf-8"
    )
    tenant = project.load(project_file).tenants["demo"]
    assert tenant.password.file == home / ".infiniti-sync" / "demo"
    assert resolve(tenant.password, {}, what="tenant demo: password") == "from-home"
    assert tenant.connections["export"].files == tmp_path / "project" / "sms-export"
