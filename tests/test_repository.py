"""This repository as a Windows checkout sees it: no symbolic links, and still a project from its root.

A default Windows checkout turns a symbolic link into a small text file holding the target's path, so the
repository holds none: the top-level infiniti-sync.yaml is a real project file, the example's own with its
paths pointing into runner/example/, and every `$schema=` comment names a real file.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from runner.yamlfile import load

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "runner" / "example"
SCHEMA_COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")
# The keys of the top-level project file that differ from the example's: its paths into runner/example/.
MOVED = {
    ("specs",): "runner/example/specs",
    ("tenants", "demo", "connections", "export", "files"): "runner/example/sms-export",
}


def _git_files() -> list[str]:
    """`git ls-files -s` of this repository; skips the test when this is not a git checkout."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    inside = subprocess.run(
        [git, "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, encoding="utf-8", check=False
    )
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != ROOT:
        pytest.skip(f"{ROOT} is not a git checkout (an unpacked source archive)")
    done = subprocess.run(
        [git, "ls-files", "-s"], cwd=ROOT, capture_output=True, encoding="utf-8", check=True
    )
    return done.stdout.splitlines()


def test_git_tracks_no_symbolic_link() -> None:
    links = [line.split("\t", 1)[1] for line in _git_files() if line.startswith("120000 ")]
    assert links == []


def _replaced(data: dict[str, Any], moved: dict[tuple[str, ...], str]) -> dict[str, Any]:
    """`data` with the value at each path of `moved` replaced."""
    for path, value in moved.items():
        *parents, last = path
        inner = data
        for key in parents:
            inner = inner[key]
        inner[last] = value
    return data


def test_the_top_level_project_is_the_example_with_its_paths_into_runner_example() -> None:
    top = load(ROOT / "infiniti-sync.yaml")
    example = load(EXAMPLE / "infiniti-sync.yaml")
    assert (top.problems, example.problems) == ([], [])
    assert _replaced(example.data, MOVED) == top.data
    for value in MOVED.values():
        assert (ROOT / value).is_dir()


@pytest.mark.parametrize(
    "path",
    ["infiniti-sync.yaml", "runner/example/infiniti-sync.yaml", "runner/example/specs/staff.yaml"],
)
def test_every_schema_comment_names_a_real_schema(path: str) -> None:
    """VS Code's YAML extension finds the schema: in a clone and in an installed package alike."""
    first = (ROOT / path).read_text(encoding="utf-8").splitlines()[0]
    match = SCHEMA_COMMENT.match(first)
    assert match is not None
    target = ((ROOT / path).parent / match[1]).resolve()
    which = "project" if path.endswith("infiniti-sync.yaml") else "sync-spec"
    assert target == ROOT / "runner" / "schemas" / f"{which}.schema.json"


def test_every_spec_of_the_example_names_the_spec_schema() -> None:
    comments = {p.read_text(encoding="utf-8").splitlines()[0] for p in (EXAMPLE / "specs").glob("*.yaml")}
    assert comments == {"# yaml-language-server: $schema=../../schemas/sync-spec.schema.json"}


def test_the_package_data_ships_every_file_of_the_example() -> None:
    """A wheel holds what pyproject.toml's package-data names; `demo` copies the example out of it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["runner"]
    files = [p.relative_to(ROOT / "runner").as_posix() for p in EXAMPLE.rglob("*") if p.is_file()]
    assert files
    assert [f for f in files if not any(fnmatch.fnmatchcase(f, pattern) for pattern in patterns)] == []


def test_a_clone_validates_from_its_root() -> None:
    env = {**os.environ, "PYTHONPATH": os.fspath(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "runner", "validate", "--strict"],
        cwd=ROOT, env=env, capture_output=True, encoding="utf-8", check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "4 files valid\n", "")


def test_the_workflow_runs_every_platform_and_python_and_skips_databases_only_without_servers() -> None:
    """.github/workflows/tests.yml: Linux with its database services and CI=true, macOS and Windows with
    CI=false (GitHub sets CI=true everywhere, which would make the database tests fail there)."""
    workflow = load(ROOT / ".github" / "workflows" / "tests.yml").data
    linux, other = workflow["jobs"]["linux"], workflow["jobs"]["other"]
    runs = {(linux["runs-on"], p) for p in linux["strategy"]["matrix"]["python"]} | {
        (os_, p) for os_ in other["strategy"]["matrix"]["os"] for p in other["strategy"]["matrix"]["python"]
    }
    platforms = ("ubuntu-latest", "macos-latest", "windows-latest")
    assert runs == {(os_, p) for os_ in platforms for p in ("3.11", "3.13")}
    assert sorted(linux["services"]) == ["mariadb", "postgres"]
    pytest_steps = [s for s in other["steps"] if s.get("run") == "python -m pytest"]
    assert [s["env"] for s in pytest_steps] == [{"CI": "false"}]
    assert [s["run"] for s in linux["steps"] if "run" in s][1:] == [
        "python -m pytest",
        'python -m pytest -m "not postgres and not mariadb"',
        "python -m ruff check .",
        "python -m ruff format --check .",
        "python -m mypy",
        "python -m mkdocs build --strict",  # the documentation site, warnings as errors (tests/test_docs.py)
    ]
    assert linux["steps"][2]["run"].endswith('python -m pip install -e ".[test,docs]"\n')  # after Chromium
    [as_windows] = [s for s in linux["steps"] if s.get("env") == {"INFINITI_SYNC_TEST_AS_WINDOWS": "1"}]
    assert as_windows["run"] == 'python -m pytest -m "not postgres and not mariadb"'  # as .ci/run does
