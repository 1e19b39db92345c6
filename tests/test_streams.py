"""Output on consoles that cannot show every character (runner/streams.py): UTF-8 where the console allows
it, otherwise replacement characters, never a UnicodeEncodeError, in child processes with the encoding a
Windows console (cp1252), a C locale or a Windows log file gives them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import copy_project

ROOT = Path(__file__).resolve().parents[1]
NAME = "Tūī"  # ū and ī are in no Windows code page of Western Europe (cp1252)


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path) -> Path:
    """The example project with the first student given the name Tūī."""
    project_file = copy_project(tmp_path / "project")
    export = project_file.parent / "sms-export" / "students.csv"
    header, first, *rest = export.read_text(encoding="utf-8").splitlines()
    assert header.split(",")[:2] == ["student_code", "given_name"]
    code, _, *others = first.split(",")
    export.write_text("\n".join([header, ",".join([code, NAME, *others]), *rest]) + "\n", encoding="utf-8")
    return project_file.parent


def child(project: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """`python -m runner ARGS --project PROJECT` with `env` over an environment without encoding settings."""
    base = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONIOENCODING", "PYTHONUTF8", "LC_ALL", "LANG"}
    }
    pythonpath = os.pathsep.join(p for p in (os.fspath(ROOT), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "runner", *args, "--project", os.fspath(project)],
        env={**base, **env, "PYTHONPATH": pythonpath},
        capture_output=True,
        check=False,
        timeout=120,
    )


LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the C locale without UTF-8 mode is ASCII on Linux"
)
CONSOLES = [
    pytest.param({"PYTHONIOENCODING": "cp1252"}, "cp1252", "T??", id="cp1252"),
    pytest.param({"LC_ALL": "C", "PYTHONUTF8": "0"}, "ascii", "T??", id="ascii", marks=LINUX_ONLY),
    # the C locale reads as UTF-8 (PEP 538 and 540); on Windows a pipe gets UTF-8 from runner/streams.py
    pytest.param({"LC_ALL": "C", "LANG": "C"}, "utf-8", NAME, id="c-locale"),
]


@pytest.mark.parametrize(("env", "encoding", "shown"), CONSOLES)
def test_a_text_report_with_characters_the_console_lacks(
    project: Path, env: dict[str, str], encoding: str, shown: str
) -> None:
    done = child(project, ["plan", "--tenant", "demo", "--spec", "students"], env)
    assert (done.returncode, done.stderr) == (0, b"")
    lines = done.stdout.decode(encoding).splitlines()
    row = next(line for line in lines if line.strip().startswith("s1001 "))
    assert row.split()[5:7] == [shown, "Ngata"]  # username, two groups, e-mail (cut short), given, family


@pytest.mark.parametrize(("env", "encoding", "shown"), CONSOLES)
def test_a_json_report_with_characters_the_console_lacks(
    project: Path, env: dict[str, str], encoding: str, shown: str
) -> None:
    done = child(project, ["plan", "--tenant", "demo", "--spec", "students", "--format", "json"], env)
    assert (done.returncode, done.stderr) == (0, b"")
    report = json.loads(done.stdout.decode(encoding))
    assert report["plans"][0]["preview"][0]["givenName"] == shown


def test_an_error_message_with_characters_the_console_lacks(project: Path) -> None:
    """Standard error keeps Python's backslash escapes: the message still says which character."""
    done = child(project, ["plan", "--tenant", NAME], {"PYTHONIOENCODING": "cp1252"})
    assert (done.returncode, done.stdout, done.stderr.decode("cp1252")) == (
        2,
        b"",
        "error: no tenant named 'T\\u016b\\u012b'\n  hint: tenants: demo\n",
    )


@pytest.mark.skipif(sys.platform != "win32", reason="a Windows pipe or file gets the ANSI code page")
def test_a_windows_log_file_gets_utf8(project: Path) -> None:
    done = child(project, ["plan", "--tenant", "demo", "--spec", "students", "--format", "json"], {})
    assert done.returncode == 0
    assert json.loads(done.stdout.decode("utf-8"))["plans"][0]["preview"][0]["givenName"] == NAME
