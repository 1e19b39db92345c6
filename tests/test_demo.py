"""`infiniti-sync demo`: the example project against an in-process sandbox over verified TLS, needing
nothing but the install, leaving nothing behind."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import schema
from runner.commands.demo import NEXT_STEPS
from tests.support.project import invoke

FIRST_LINES = [
    "demo/students: ok: 29 read; 29 sent; 29 created, 0 updated, 0 failed; expectations met",
    "demo/staff: ok: 6 read; 6 sent; 6 created, 0 updated, 0 failed; expectations met",
    "demo/guardians: ok: 48 read; 48 sent; 48 created, 0 updated, 0 failed; expectations met",
    "",
    "The sandbox now holds 35 users:",
    "  username  library-group  system-group  givenName    surname       emailAddress",
    "  s1001     Year 7         Students      Aroha        Ngata         aroha.ngata@students.ex…",
]
SANDBOX_PASSWORD = "change-me"


def test_demo_as_a_subprocess(tmp_path: Path) -> None:
    temp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFINITI_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "runner", "demo"],
        cwd=cwd,
        env={**env, "TMPDIR": os.fspath(temp)},
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:7] == FIRST_LINES
    assert (
        "  t208      Staff          Staff         Kavya        Iyer          kavya.iyer@example.edu" in lines
    )
    # the contacts: a blank line, what they count, a header, the first 6 and the 1 added by hand
    assert "  s1003     phone  guardian  Nguyễn Văn Hùng  (B) 09 555 0142           yes" in lines
    assert len(lines) == 5 + 1 + 35 + 1 + 2 + 7 + 1 + len(NEXT_STEPS.splitlines())
    assert done.stdout.endswith("\n\n" + NEXT_STEPS + "\n")
    sep = re.escape(os.sep)  # the CA's path in full, as the system writes it
    assert re.fullmatch(
        rf"sandbox listening on https://127\.0\.0\.1:\d+ \(CA .*{sep}infiniti-sync-demo-[^{sep}]+{sep}"
        rf"\.infiniti-sync{sep}sandbox{sep}ca\.pem\)\n",
        done.stderr,
    )
    assert os.listdir(temp) == []  # the project copy, state, archive and TLS files are gone
    assert os.listdir(cwd) == []
    basic = base64.b64encode(f"autosync:{SANDBOX_PASSWORD}".encode()).decode()
    assert SANDBOX_PASSWORD not in done.stdout + done.stderr
    assert basic not in done.stdout + done.stderr
    assert elapsed < 15  # a few seconds; generous for a slow CI machine


def test_demo_keeps_the_project_when_asked(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    kept = tmp_path / "my-specs"
    done = invoke(tmp_path, ["demo", "--keep", os.fspath(kept)])
    assert done.code == 0
    assert done.out.endswith(f"\n\nThe demo project is in {kept}.\n{NEXT_STEPS}\n")
    assert sorted(p.name for p in kept.iterdir()) == [
        ".gitignore",
        ".infiniti-sync",
        "infiniti-sync.yaml",
        "schemas",
        "sms-export",
        "specs",
    ]
    for path in [kept / "infiniti-sync.yaml", *(kept / "specs").glob("*.yaml")]:  # the editor's schemas
        first = path.read_text(encoding="utf-8").splitlines()[0]
        named = path.parent / first.removeprefix("# yaml-language-server: $schema=")
        shipped = schema.text("project" if path.name == "infiniti-sync.yaml" else "spec")
        assert named.read_text(encoding="utf-8") == shipped
    runs = kept / ".infiniti-sync" / "runs" / "demo"
    assert sorted(p.name for p in runs.iterdir()) == ["guardians", "staff", "students"]
    again = invoke(tmp_path, ["demo", "--keep", os.fspath(kept)])
    assert (again.code, again.out) == (2, "")
    assert again.err == f"error: {kept} is not empty; give a new folder to keep the demo project in\n"
    capfd.readouterr()
