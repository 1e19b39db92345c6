"""What a process of this machine is doing, read from Linux's /proc (tests that need it are marked
`with_proc` and skip elsewhere), how a process ended with `Popen.kill()` exits, and a killer of the first
process descended from this one seen talking to a port (a worker of `run --jobs N` while it sends)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

with_proc = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="reads what a process does from Linux's /proc"
)
# Popen.kill() is SIGKILL on POSIX (the exit code is minus the signal) and TerminateProcess(handle, 1) on
# Windows: either way the process gets no chance to clean up.
if sys.platform == "win32":
    KILLED = 1
else:
    KILLED = -signal.SIGKILL


def connected(pid: int, port: int) -> bool:
    """Whether process `pid` has a TCP connection open to `port` on this host (Linux /proc)."""
    try:
        sockets = {socket_of(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        tables = [
            Path(f"/proc/{pid}/net/{t}").read_text(encoding="utf-8").splitlines()[1:] for t in ("tcp", "tcp6")
        ]
    except FileNotFoundError:  # the process has ended
        return False
    for line in (line for table in tables for line in table):
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port and inode in sockets:
            return True
    return False


def socket_of(fd: Path) -> str | None:
    """The inode of the socket open at `fd`, if it is one."""
    try:
        target = os.readlink(fd)
    except OSError:
        return None
    return target[len("socket:[") : -1] if target.startswith("socket:[") else None


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="utf-8")
            except OSError:  # ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """The processes descended from `pid`: its children, theirs, and so on."""
    found, parents = [], [pid]
    while parents:
        below = [child for parent in parents for child in children(parent)]
        found += below
        parents = below
    return found


class Killer:
    """A thread that kills (SIGKILL) the first process descended from this one seen connected to `port`
    (a child, or a child's child: `run --jobs N` forks its workers from a fork server), within a minute;
    `killed` lists it once it has. Start it, run what makes the children, then `join()`."""

    def __init__(self, port: int):
        self.port = port
        self.killed: list[int] = []
        self.thread = threading.Thread(target=self._kill_the_first)

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join()

    def _kill_the_first(self) -> None:
        deadline = time.monotonic() + 60
        while not self.killed and time.monotonic() < deadline:
            for pid in descendants(os.getpid()):
                if connected(pid, self.port):
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
                    return
            time.sleep(0.02)
