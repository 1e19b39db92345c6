"""What a process of this machine is doing, read from Linux's /proc (tests that need it skip elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path


def connected(pid: int, port: int) -> bool:
    """Whether process `pid` has a TCP connection open to `port` on this host (Linux /proc)."""
    try:
        sockets = {socket_of(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        tables = [Path(f"/proc/{pid}/net/{t}").read_text().splitlines()[1:] for t in ("tcp", "tcp6")]
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
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
