"""`infiniti-sync plan` on the projects under tests/plan_cases/: one folder per case, no code per case.

A case folder is a project (infiniti-sync.yaml, specs/, its CSV export or SQL scripts) plus:

    case.yaml        project: PATH          the project, when it is not the case folder itself
                     args: [...]            options after `plan --out OUT` (default none)
                     env: {NAME: value}     environment for the run ({tmp} is a scratch folder)
                     sqlite: {FILE: SCRIPT} SQLite files made in {tmp} from SQL scripts of the case
                     exit: N                the exit code
    expected/stdout.txt, expected/stderr.txt   exact output ({out}: the --out folder, {case}: this folder,
                                               {tmp}: the scratch folder, {project}: the project
                                               folder); a missing file means empty
    expected/out/    every file plan must leave in --out, compared byte for byte; absent: none at all

Set INFINITI_SYNC_UPDATE_GOLDEN=1 to write what plan produced into expected/ (then read the diff).
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from runner.cli import main
from runner.console import Console
from tests.support.windows import slashed

CASES = Path(__file__).parent / "plan_cases"
UPDATE = os.environ.get("INFINITI_SYNC_UPDATE_GOLDEN") == "1"


def _files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _expected(path: Path, places: dict[str, str]) -> str:
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


def _unplace(text: str, places: dict[str, str]) -> str:
    for name, value in sorted(places.items(), key=lambda p: -len(p[1])):
        text = text.replace(value, "{" + name + "}")
    return text


def _update(case: Path, stdout: str, stderr: str, out: Path, places: dict[str, str]) -> None:
    expected = case / "expected"
    shutil.rmtree(expected, ignore_errors=True)
    expected.mkdir()
    for name, text in (("stdout.txt", stdout), ("stderr.txt", stderr)):
        if text:
            (expected / name).write_text(_unplace(text, places), encoding="utf-8")
    if _files(out):
        shutil.copytree(out, expected / "out")


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_plan_case(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES / case
    config = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8")) or {}
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    project = Path(os.path.normpath(folder / config.get("project", ".")))
    places = {"out": str(out), "case": str(folder), "tmp": str(scratch), "project": str(project)}
    for name, script in config.get("sqlite", {}).items():
        with sqlite3.connect(scratch / name) as db:
            db.executescript((folder / script).read_text(encoding="utf-8"))
        db.close()
    for name, value in config.get("env", {}).items():
        monkeypatch.setenv(name, _expected_text(value, places))
    stdout_io, stderr_io = io.StringIO(), io.StringIO()
    args = ["--project", str(project), "plan", "--out", str(out), *config.get("args", [])]
    code = main(args, Console(out=stdout_io, err=stderr_io))
    stdout, stderr = (slashed(s.getvalue(), places.values()) for s in (stdout_io, stderr_io))
    if UPDATE:
        _update(folder, stdout, stderr, out, places)
    assert (code, stdout, stderr) == (
        config["exit"],
        _expected(folder / "expected" / "stdout.txt", places),
        _expected(folder / "expected" / "stderr.txt", places),
    )
    assert _files(out) == _files(folder / "expected" / "out")


def _expected_text(value: str, places: dict[str, str]) -> str:
    for name, place in places.items():
        value = value.replace("{" + name + "}", place)
    return value
