"""The lock kind of a SQLite store: a lock file per tenant and spec in the `locks` folder beside the store.

The lock is flock's, released by the kernel when the process dies; its holder writes its name (JSON, see
runner.state.locks.holder) into the file just after taking it, and empties it when letting go. A run that
finds the lock taken reads the name there; a name left by a runner killed with the lock (a process of this
host that no longer runs) is not believed. `schema.lock` in the same folder keeps two runners from creating
a new store at once.

What is POSIX here is kept in the five functions at the end (flock, a write at offset 0, whether a process
runs): a Windows kind would replace those and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import StateError, Where
from runner.state.locks import UNKNOWN, describe, held, holder, holder_of

_HOLDER_TRIES = 20  # reading who holds a lock file: the holder writes its name just after taking it


@dataclass(frozen=True)
class FileLocks:
    """The lock files of the SQLite store shown as `display`, in `folder`."""

    folder: Path
    display: str

    def take(self, tenant: str, spec: str, deadline: float, where: Where) -> FileLock:
        """Take the lock file of this tenant and spec, trying until `deadline`."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"{_safe(tenant)}--{_safe(spec)}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    raise held(where, _file_holder(path))
                time.sleep(0.1)
            os.ftruncate(fd, 0)
            _write_at_start(fd, json.dumps(holder()).encode())
        except BaseException:
            os.close(fd)
            raise
        return FileLock(fd, path, where)

    @contextlib.contextmanager
    def schema(self) -> Iterator[None]:
        """Around creating the schema: SQLite commits each CREATE TABLE on its own, so two runners
        starting on a new store at once would both try to create it. Waits as long as it takes."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.folder / "schema.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise StateError(f"state store {self.display}: cannot create its lock: {err.strerror}") from err
        try:
            _flock(fd)
            yield
        finally:
            os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class FileLock:
    """A lock file taken: `fd` holds the lock."""

    fd: int
    path: Path
    where: Where

    def release(self) -> None:
        """Empty the file and let go of the lock; the file is closed in any case (which frees it too)."""
        try:
            try:
                os.ftruncate(self.fd, 0)
                _unflock(self.fd)
            except OSError as err:  # closing the file releases the lock all the same
                why = f"lock file {self.path}: cannot release: {err.strerror}"
                raise StateError(why, where=self.where) from err
        finally:
            os.close(self.fd)


def _file_holder(path: Path) -> str:
    """Who holds a lock file, as its holder wrote it. The holder writes just after taking the lock, and
    a runner killed with the lock leaves its name behind: wait a moment for a live holder's name."""
    for _ in range(_HOLDER_TRIES):
        info = ""
        with contextlib.suppress(OSError):
            info = path.read_text(encoding="utf-8")
        data = holder_of(info)
        if data is not None and not _dead(data):
            return describe(data)
        time.sleep(0.05)
    return UNKNOWN


def _dead(data: Mapping[str, Any]) -> bool:
    """Whether the holder named is a process of this host that no longer runs."""
    if data["host"] != socket.gethostname() or not isinstance(data["pid"], int):
        return False
    return not _runs(data["pid"])


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


# --- the POSIX parts ----------------------------------------------------------------------------


def _try_flock(fd: int) -> bool:
    """Take the lock of the open file `fd` if nobody holds it."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _flock(fd: int) -> None:
    """Take the lock of the open file `fd`, waiting for it."""
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)


def _unflock(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _write_at_start(fd: int, data: bytes) -> None:
    os.pwrite(fd, data, 0)


def _runs(pid: int) -> bool:
    """Whether process `pid` of this host runs (one that cannot be asked is taken to run). POSIX only:
    on Windows os.kill(pid, 0) would end the process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
