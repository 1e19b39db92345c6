"""The Windows test mode, in every Python process started with this folder on its path (tests/support/
windows.py puts it on PYTHONPATH when INFINITI_SYNC_TEST_AS_WINDOWS=1): what Windows lacks is taken away
before any other module is imported, so that code relying on it fails here as it would there.

Gone: the POSIX-only modules (`fcntl`, `termios`, `tty`, `pty`, `pwd`, `grp`, `resource`), the calls
Windows has no counterpart of (`os.fork`, `os.forkpty`, `os.pwrite`, `os.pread` and their vector forms), and
the meaning of file modes: `os.chmod` does nothing, `os.mkdir` ignores its mode, and `os.open` gives a new
file its default mode (read-only when the mode asked lacks the owner's write bit, as Windows does).

Standalone on purpose (no import of the project): a child process may not have the repository on its path.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

VARIABLE = "INFINITI_SYNC_TEST_AS_WINDOWS"
MODULES = frozenset({"fcntl", "termios", "tty", "pty", "pwd", "grp", "resource"})
CALLS = ("fork", "forkpty", "pwrite", "pread", "pwritev", "preadv")


class _Missing(importlib.abc.MetaPathFinder):
    """Finds the modules Windows lacks before anyone else does, and says they do not exist."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname in MODULES:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _chmod(*_args: Any, **_kwargs: Any) -> None:
    """Windows keeps no POSIX mode: nothing to set."""


def apply() -> None:
    """Take away from this process what Windows lacks (once)."""
    if any(type(finder).__name__ == _Missing.__name__ for finder in sys.meta_path):  # run twice
        return
    sys.meta_path.insert(0, _Missing())
    for name in MODULES:
        sys.modules.pop(name, None)
    for name in CALLS:
        if hasattr(os, name):
            delattr(os, name)
    mkdir, open_ = os.mkdir, os.open

    def _mkdir(path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        mkdir(path, dir_fd=dir_fd)

    def _open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        return open_(path, flags, 0o666 if mode & 0o200 else 0o444, dir_fd=dir_fd)

    os.chmod = os.fchmod = _chmod
    os.mkdir, os.open = _mkdir, _open


if os.environ.get(VARIABLE) == "1":
    apply()
