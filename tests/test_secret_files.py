"""Secret files: the first line, as a Windows editor saves it too (a byte order mark, CRLF), read up to a
small limit so that a path such as /dev/zero or a huge file is refused (exit 2, naming the file) instead of
filling the memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.secrets import resolve
from runner.spec import Secret
from tests.support.project import copy_project
from tests.support.windows import posix_only

LIMIT = 64 * 1024  # as docs/guides/project-file.md documents it


CONTENTS = [  # how editors save a one-line secret; each gives the same value
    b"s3cret-value\n",
    b"s3cret-value",
    b"s3cret-value\r\nsecond line\r\n",  # Windows line ends
    b"\xef\xbb\xbfs3cret-value\r\n",  # Notepad's UTF-8, with its byte order mark
    b"\xef\xbb\xbfs3cret-value",
    b"s3cret-value\rold Mac line end",
]


def test_a_secret_file_gives_its_first_line_without_bom_or_line_end(tmp_path: Path) -> None:
    values = []
    for number, content in enumerate(CONTENTS):
        path = tmp_path / f"secret-{number}"
        path.write_bytes(content)
        values.append(resolve(Secret(file=path), {}, what="tenant north: password"))
    assert values == ["s3cret-value"] * len(CONTENTS)


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * 1024 * 1024])
def test_a_secret_file_larger_than_the_limit_is_refused_naming_it(tmp_path: Path, size: int) -> None:
    fits = tmp_path / "secret"
    fits.write_bytes(b"k" * (LIMIT - 1) + b"\n")
    assert resolve(Secret(file=fits), {}, what="state") == "k" * (LIMIT - 1)
    path = tmp_path / "big-secret"
    path.write_bytes(b"k" * size)  # no line end: the old reader kept reading to the end
    with pytest.raises(UsageError) as raised:
        resolve(Secret(file=path), {}, what="tenant north: password")
    assert str(raised.value) == (
        f"tenant north: password: secret file {path} is larger than 64 KiB\n"
        "  hint: a secret file holds the secret alone, on its first line"
    )
    assert raised.value.exit_code == 2


@posix_only("/dev/zero, and a process capped with the resource module")
def test_run_with_the_password_in_dev_zero_exits_2_naming_it(tmp_path: Path) -> None:
    """End to end, in a process whose memory is capped (so that the old unbounded read fails fast)."""
    root = tmp_path / "project"
    project_file = copy_project(root)
    text = project_file.read_text(encoding="utf-8")
    text = re.sub(r"password: \{env: INFINITI_DEMO_PASSWORD\}", "password: {file: /dev/zero}", text)
    project_file.write_text(text, encoding="utf-8")
    cap = (  # 2 GiB of address space where the system lets a process limit it (macOS may not)
        "import contextlib, resource, runpy, sys\n"
        "with contextlib.suppress(ValueError, OSError):\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "sys.argv = ['infiniti-sync', *sys.argv[1:]]\n"
        "runpy.run_module('runner', run_name='__main__')\n"
    )
    command = [sys.executable, "-c", cap, "run", "--tenant", "demo", "--spec", "staff"]
    done = subprocess.run(
        [*command, "--project", os.fspath(root)],
        check=False,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        cwd=root,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    said = "tenant demo: password (infiniti-sync.yaml:15): secret file /dev/zero is larger than 64 KiB"
    assert said in done.stdout + done.stderr
