"""The lock kind of a SQLite store: a small SQLite file per tenant and spec in the `locks` folder beside
the store, held in an exclusive transaction.

SQLite locks a file with the platform's own file lock from inside its C code (POSIX fcntl locks, Windows
LockFileEx), so this one mechanism runs on Linux, macOS and Windows, with or without Python's `fcntl`, and
the operating system lets go of the lock when its holder dies, however it dies. A lock is taken with
`BEGIN EXCLUSIVE` on a connection of its own, which SQLite refuses at once while another connection holds
it (one of another process, or of this one: two threads or two openings of the store exclude each other
too), and is let go by closing that connection. Nothing is ever written in a lock file, and nothing else
opens one: on POSIX, closing any descriptor of a file drops the locks its process holds on it.

A locked SQLite file cannot be read, so the holder writes its name (JSON, see runner.state.locks.holder)
in a side file, `TENANT--SPEC.holder`, just after taking the lock, and empties it before letting go. A run
that finds the lock taken reads the name there. The name is written in place, not renamed over the old
one (Windows refuses that while someone reads the file), so a reader that finds it empty or half written
reads again; a name left by a runner killed with the lock (a process of this host that no longer runs,
runner.state.processes) is not believed. `schema.lock.sqlite` in the same folder keeps two runners from
creating a new store at once.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from runner.csvfile import private_open
from runner.errors import StateError, Where
from runner.records import record
from runner.state.locks import UNKNOWN, describe, held, holder, holder_of, hostname
from runner.state.processes import runs

SUFFIX = ".lock.sqlite"  # not `.lock`: the flock files of older runners hold their holders' names
_RETRY = 0.1  # seconds between tries of a lock that another holds
_HOLDER_TRIES = 20  # reading who holds a lock: the holder writes its name just after taking it
_HOLD_HINT = "check that this user may write in the folder; a lock file no run holds may be deleted"


@record
class FileLocks:
    """The lock files of the SQLite store shown as `display`, in `folder`."""

    folder: Path
    display: str

    def take(self, tenant: str, spec: str, deadline: float, where: Where) -> FileLock:
        """Take the lock file of this tenant and spec, trying until `deadline`."""
        name = f"{_safe(tenant)}--{_safe(spec)}"
        path, side = self.folder / f"{name}{SUFFIX}", self.folder / f"{name}.holder"
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            connection = _hold(path, deadline)
            if connection is None:
                raise held(where, _file_holder(side))
        except (OSError, sqlite3.Error) as err:
            why = f"lock file {path}: cannot take it: {_reason(err)}"
            raise StateError(why, where=where, hint=_HOLD_HINT) from err
        try:
            _write_name(side, json.dumps(holder()))
        except OSError as err:
            connection.close()
            raise StateError(f"lock file {side}: cannot write: {err.strerror}", where=where) from err
        return FileLock(connection, side, where)

    @contextlib.contextmanager
    def schema(self) -> Iterator[None]:
        """Around creating the schema: SQLite commits each CREATE TABLE on its own, so two runners
        starting on a new store at once would both try to create it. Waits as long as it takes."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            connection = _hold(self.folder / f"schema{SUFFIX}", None)
        except (OSError, sqlite3.Error) as err:
            raise StateError(f"state store {self.display}: cannot create its lock: {_reason(err)}") from err
        assert connection is not None  # with no deadline, it waits until it holds the lock
        try:
            yield
        finally:
            connection.close()  # closing ends the transaction, which frees the lock


@record
class FileLock:
    """A lock file taken: `connection` holds it, `side` names its holder."""

    connection: sqlite3.Connection
    side: Path
    where: Where

    def release(self) -> None:
        """Empty the holder's name and let go of the lock; the connection is closed in any case (which
        frees the lock)."""
        try:
            _write_name(self.side, "")  # before letting go: the next holder's name is never emptied
        except OSError as err:
            why = f"lock file {self.side}: cannot empty: {err.strerror}"
            raise StateError(why, where=self.where) from err
        finally:
            self.connection.close()


def _hold(path: Path, deadline: float | None) -> sqlite3.Connection | None:
    """A connection holding the lock of the SQLite file `path`, or None when another holds it still at
    `deadline` (None: wait as long as it takes)."""
    while (connection := _try_hold(path)) is None:
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(_RETRY)
    return connection


def _try_hold(path: Path) -> sqlite3.Connection | None:
    """A connection holding the lock of `path` if nobody holds it, else None, at once (timeout 0)."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=OFF")  # nothing is written: no journal file either
        connection.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as err:
        connection.close()
        if err.sqlite_errorcode == sqlite3.SQLITE_BUSY:
            return None
        raise
    except BaseException:
        connection.close()
        raise
    return connection


def _write_name(path: Path, text: str) -> None:
    """Write a holder's name (or nothing) in one write, in place."""
    with private_open(path) as handle:
        handle.write(text)


def _file_holder(path: Path) -> str:
    """Who holds a lock, as its holder wrote it. The holder writes just after taking the lock, and
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
    if data["host"] != hostname() or not isinstance(data["pid"], int):
        return False
    return not runs(data["pid"])


def _reason(err: OSError | sqlite3.Error) -> str:
    return (err.strerror if isinstance(err, OSError) else None) or str(err)


# Any character but a letter, a digit, "_", "." or "-" (re's \w is str.isalnum() and "_"); one
# substitution, not a Python loop over the characters, at each of a thousand tenants' locks.
_UNSAFE = re.compile(r"[^\w.-]")


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name)
