"""`infiniti-sync validate` on every case folder under tests/validate_cases/ (see its README.md).

A case is a folder of files laid over a copy of `_base/`, the exact output expected, and optionally the
command line options; adding a case adds files, not code.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from runner.cli import main
from runner.commands.sandbox import DEFAULT_TLS_DIR
from runner.console import Console
from runner.sandbox.tls import CA_FILE
from runner.validate import SANDBOX_CA

CASES = Path(__file__).parent / "validate_cases"
BASE = CASES / "_base"
# Files of a case folder that describe the case rather than being laid over the base project.
META = {"expected.txt", "args.txt", "exit.txt", "delete.txt", "README.md"}
UPDATE = "INFINITI_SYNC_UPDATE_CASES"  # set to 1 to (re)write expected.txt; review the diff


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def build(case: Path, target: Path) -> None:
    """The base project with the case's files laid over it and its deletions made."""
    shutil.copytree(BASE, target)
    for source in sorted(case.rglob("*")):
        relative = source.relative_to(case)
        if source.is_file() and str(relative) not in META:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / relative)
    for line in _lines(case / "delete.txt"):
        doomed = target / line
        if doomed.is_dir():
            shutil.rmtree(doomed)
        else:
            doomed.unlink()


def _lines(path: Path) -> list[str]:
    """The lines of an optional file, without blank lines and # comments."""
    if not path.exists():
        return []
    stripped = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in stripped if line]


def expected_exit(case: Path, output: str) -> int:
    """exit.txt if the case has one, else what the output says: 2 when it reports any error."""
    given = _lines(case / "exit.txt")
    if given:
        return int(given[0])
    errors = (
        re.search(r"^[1-9][0-9]* errors?, ", output, re.MULTILINE)
        or re.search(r"^::error ", output, re.MULTILINE)
        or re.search(r'^  "valid": false,$', output, re.MULTILINE)
        or re.search(r"^error: ", output, re.MULTILINE)
    )
    return 2 if errors else 0


def run(args: list[str]) -> tuple[int, str]:
    """`infiniti-sync validate ARGS` in the working folder: exit code, standard output then error."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", *args], Console(out=out, err=err))
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("name", case_names())
def test_case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES / name
    project = tmp_path / "project"
    build(case, project)
    monkeypatch.chdir(project)
    args = [arg for line in _lines(case / "args.txt") for arg in shlex.split(line)]
    code, output = run(args)
    if os.environ.get(UPDATE) == "1":
        (case / "expected.txt").write_text(output, encoding="utf-8")
    expected = (case / "expected.txt").read_text(encoding="utf-8")
    assert output == expected
    assert code == expected_exit(case, expected)


def test_the_base_project_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(BASE, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    assert run([]) == (0, "3 files valid\n")


def test_there_are_enough_cases() -> None:
    """The issue asks for at least 30 invalid cases, and valid ones too."""
    valid = [n for n in case_names() if n.startswith("valid-")]
    assert len(case_names()) - len(valid) >= 30
    assert len(valid) >= 5


def test_every_case_says_what_it_expects() -> None:
    for name in case_names():
        assert (CASES / name / "expected.txt").is_file(), f"{name} has no expected.txt"
        unknown = [
            str(p.relative_to(CASES / name))
            for p in (CASES / name).rglob("*")
            if p.is_file() and p.suffix not in (".yaml", ".yml", ".txt", ".md", ".csv", ".pem")
        ]
        assert not unknown, f"{name} holds files a case does not use: {unknown}"


def test_the_sandbox_ca_validate_lets_be_missing_is_where_the_sandbox_writes_it() -> None:
    """valid-ca-bundle-of-the-sandbox: `infiniti-sync sandbox` started in the project's folder writes its CA
    at validate.SANDBOX_CA."""
    assert SANDBOX_CA == DEFAULT_TLS_DIR / CA_FILE
