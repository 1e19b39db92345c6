"""The Windows test mode (tests/support/windows.py): a Python process started with it cannot import
`fcntl`, has no `os.fork` or `os.pwrite`, and keeps no file mode; in the mode, this process and every child
it starts (as `python -m runner` and the workers of `run --jobs` are started) are so."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import windows

PROBE = """
import os, sys
try:
    import fcntl
except ModuleNotFoundError as err:
    print(err)
print(hasattr(os, "fork"), hasattr(os, "pwrite"))
os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600))
os.chmod(sys.argv[1], 0o400)
print(oct(os.stat(sys.argv[1]).st_mode & 0o200))
"""
WITHOUT = "No module named 'fcntl'\nFalse False\n0o200\n"  # what a process in the mode prints


def _probe(path: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, os.fspath(path)],
        env=env,
        capture_output=True,
        encoding="utf-8",
        check=True,
    )
    return done.stdout


def test_a_process_started_in_the_mode_lacks_what_windows_lacks(tmp_path: Path) -> None:
    env = {**os.environ, windows.VARIABLE: "1", "PYTHONPATH": os.fspath(windows.SITE)}
    assert _probe(tmp_path / "file", env) == WITHOUT


needs_mode = pytest.mark.skipif(
    not windows.AS_WINDOWS, reason=f"only in the Windows test mode ({windows.VARIABLE}=1)"
)


@needs_mode
def test_in_the_mode_every_child_lacks_it(tmp_path: Path) -> None:
    assert _probe(tmp_path / "file", dict(os.environ)) == WITHOUT  # inherited: nothing set for it


def _lacks() -> tuple[bool, bool]:
    try:
        import fcntl  # noqa: F401
    except ModuleNotFoundError:
        return (hasattr(os, "fork"), hasattr(os, "pwrite"))
    return (True, True)


@needs_mode
def test_in_the_mode_this_process_and_spawned_workers_lack_it() -> None:
    assert _lacks() == (False, False)
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # as runner.workers starts its workers
        assert pool.apply(_lacks) == (False, False)


def test_paths_under_a_root_are_compared_with_slashes_as_on_windows() -> None:
    root = "C:\\Users\\ci\\out"
    demo = json.dumps({"out": root + "\\demo"})
    text = f"wrote {root}\\demo\\staff.csv; {demo}; {root}: done"
    assert windows.slashed(text, [root], sep="\\") == (
        f'wrote {root}/demo/staff.csv; {{"out": "{root}/demo"}}; {root}: done'
    )
    assert windows.slashed(text, [root], sep="/") == text
