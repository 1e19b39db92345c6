"""The pre-commit hook (.pre-commit-hooks.yaml) and the pre-commit and GitHub Actions examples of the
documentation (docs/guides/validating.md).

pre-commit runs the hook's `entry` with the changed files that match `files` (searched, relative to the top
of the repository, where it runs); these tests call `main` with exactly those arguments.
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cli import main
from runner.console import Console

ROOT = Path(__file__).parent.parent
BASE = Path(__file__).parent / "validate_cases" / "_base"
# What a school's spec repository holds, besides the project (pre-commit sees every changed file).
OTHER_FILES = {
    ".pre-commit-config.yaml": "repos: []\n",
    ".github/workflows/validate.yaml": "on: [push]\njobs: {}\n",
    "README.md": "# our specs\n",
    "notes/specs.txt": "not yaml\n",
}


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert [h["id"] for h in hooks] == ["infiniti-sync-validate"]
    found: dict[str, Any] = hooks[0]
    return found


def passed(changed: list[str]) -> list[str]:
    """The files pre-commit would pass to the hook, of `changed`."""
    return [name for name in changed if re.search(hook()["files"], name)]


def run_hook(changed: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = [*shlex.split(hook()["entry"])[1:], *passed(changed)]
    code = main(argv, Console(out=out, err=err))
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A school's spec repository: the base project and other files; the working folder is its top."""
    shutil.copytree(BASE, tmp_path / "repo")
    for name, text in OTHER_FILES.items():
        (tmp_path / "repo" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "repo")
    return tmp_path / "repo"


def test_the_hook_runs_the_installed_command() -> None:
    found = hook()
    assert found["language"] == "python"
    assert found["entry"] == "infiniti-sync validate"
    assert found["pass_filenames"] is True
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    assert scripts["infiniti-sync"] == "runner.cli:main"


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("infiniti-sync.yaml", True),
        ("infiniti-sync.yml", True),
        ("specs/students.yaml", True),
        ("specs/year-levels/junior.yml", True),
        ("schools/north/infiniti-sync.yaml", True),
        ("schools/north/specs/staff.yaml", True),
        (".pre-commit-config.yaml", False),
        (".github/workflows/validate.yaml", False),
        ("docker-compose.yaml", False),
        ("specs/README.md", False),
        ("my-infiniti-sync.yaml", False),
        ("sms-export/students.csv", False),
    ],
)
def test_the_hook_is_given_the_project_file_and_specs_only(name: str, matches: bool) -> None:
    assert bool(re.search(hook()["files"], name)) is matches


def test_a_clean_commit_passes(repository: Path) -> None:
    changed = ["infiniti-sync.yaml", "specs/students.yaml", *OTHER_FILES]
    assert passed(changed) == ["infiniti-sync.yaml", "specs/students.yaml"]
    assert run_hook(changed) == (0, "3 files valid\n")


def test_a_broken_spec_fails_the_commit(repository: Path) -> None:
    spec = repository / "specs" / "staff.yaml"
    spec.write_text(spec.read_text("utf-8").replace("connection: sms", "connection: hr"), encoding="utf-8")
    assert run_hook(["specs/staff.yaml", ".pre-commit-config.yaml"]) == (
        2,
        "specs/staff.yaml:4:15: $.source.connection: no tenant defines connection 'hr' "
        "(defined: export, sms)\n"
        "1 error, 0 warnings in 1 file\n",
    )


def test_a_changed_project_file_checks_every_spec(repository: Path) -> None:
    spec = repository / "specs" / "staff.yaml"
    spec.write_text(spec.read_text("utf-8").replace("connection: sms", "connection: hr"), encoding="utf-8")
    code, output = run_hook(["infiniti-sync.yaml", "specs/students.yaml", "README.md"])
    assert (code, output.splitlines()[-1]) == (2, "1 error, 0 warnings in 3 files")


def test_only_other_files_changed_runs_nothing(repository: Path) -> None:
    """pre-commit skips a hook that no file matches; `validate` alone would check the whole project."""
    assert passed(list(OTHER_FILES)) == []


def guide_blocks() -> list[Any]:
    """The YAML examples of the guide to validating specs."""
    text = (ROOT / "docs" / "guides" / "validating.md").read_text("utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]


def test_the_guide_shows_the_pre_commit_configuration() -> None:
    [config] = [b for b in guide_blocks() if "repos" in b]
    [repo] = config["repos"]
    assert [h["id"] for h in repo["hooks"]] == [hook()["id"]]
    assert repo["rev"].startswith("v")


def test_the_guide_shows_a_github_workflow_with_annotations() -> None:
    [workflow] = [b for b in guide_blocks() if "jobs" in b]
    commands = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    assert "infiniti-sync validate --format github --strict" in commands
