"""A deadline for one HTTP attempt over urllib3, and a watch on the end of its answer's headers.

urllib3's timeouts bound each socket wait, not an attempt: a server that sends a byte a second never trips
them. Here every wait of the current attempt (connect, each send, each receive) is cut to the time the
attempt has left, so the attempt ends by its deadline whatever the server does; no thread, no signal.

    with Attempt(seconds=310).running() as attempt:   # the attempt of this thread
        pool.urlopen(...)                               # on a pool whose ConnectionCls is watched()
        attempt.expired                                 # True when the deadline cut a wait short
        attempt.head_ended                              # the blank line that ends the headers arrived

A connection made by `watched(scheme)` wraps its socket in a `DeadlineSocket`, which looks up the attempt
of the current thread (a context variable) at each wait; with none running it only passes calls through.
A connection may be reused by a later attempt: it then obeys that one.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import socket

    from urllib3.connection import HTTPConnection

T = TypeVar("T")
_LINE_KEPT = 16  # bytes kept of each header line: enough for a status line's code


@dataclass
class HeadWatch:
    """Reads the start of an answer line by line until the blank line that ends its headers (after a
    100 Continue's, as http.client does), so that headers cut off by a closed connection are never taken
    for whole."""

    ended: bool = False
    _status: bytes | None = None
    _line: bytearray = field(default_factory=bytearray)
    _length: int = 0

    def feed(self, data: bytes) -> None:
        """Take the next bytes received."""
        start = 0
        while not self.ended:
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            self._line += data[start:end][: _LINE_KEPT - len(self._line)]
            self._length += end - start
            if newline < 0:
                return
            self._end_line()
            start = newline + 1

    def _end_line(self) -> None:
        line, blank = bytes(self._line), self._length == 0 or (self._length == 1 and self._line == b"\r")
        self._line.clear()
        self._length = 0
        if self._status is None:
            self._status = line
        elif blank:  # http.client skips a 100 Continue, and takes any other status as the answer's
            interim = self._status.split(b" ")[1:2] == [b"100"]
            self._status, self.ended = None, not interim


@dataclass
class Attempt:
    """One attempt's deadline on the monotonic clock, and what its waits and answer have shown."""

    seconds: float
    deadline: float = 0.0
    expired: bool = False
    received: int = 0
    head: HeadWatch = field(default_factory=HeadWatch)

    @contextmanager
    def running(self) -> Iterator[Attempt]:
        """Make this the attempt of the current thread, its deadline `seconds` from now."""
        self.deadline = time.monotonic() + self.seconds
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    @property
    def head_ended(self) -> bool:
        """True when the blank line that ends the answer's headers has arrived."""
        return self.head.ended

    def timeout(self, wanted: float | None) -> tuple[float, bool]:
        """The timeout for the next wait: `wanted` (None: no limit) cut to the time left, and whether it
        was cut. TimeoutError once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("the attempt's deadline has passed")
        if wanted is None or left < wanted:
            return left, True
        return wanted, False

    def saw(self, data: memoryview) -> None:
        """Count bytes received, and watch for the end of the headers."""
        self.received += len(data)
        if not self.head.ended:
            self.head.feed(bytes(data))


_CURRENT: ContextVar[Attempt | None] = ContextVar("infiniti_sync_attempt", default=None)


class DeadlineSocket:
    """A connected socket whose every wait ends by the deadline of the thread's current attempt.

    `close()` while a reader made by `makefile()` is open waits for the reader to close, as a socket does
    (http.client closes the connection's socket while the answer's body is still being read)."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._timeout = sock.gettimeout()
        self._readers = 0
        self._closing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout
        self._sock.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._timeout

    def sendall(self, data: Any) -> None:
        self._wait(self._sock.sendall, data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        view = memoryview(buffer)
        count: int = self._wait(self._sock.recv_into, view[:nbytes] if nbytes else view)
        attempt = _CURRENT.get()
        if attempt is not None:
            attempt.saw(view[:count])
        return count

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: Any) -> io.BufferedReader:
        """A buffered reader of the socket (http.client reads answers through one)."""
        if mode != "rb":
            raise ValueError(f"DeadlineSocket.makefile reads only, not {mode!r}")
        self._readers += 1
        size = buffering if buffering and buffering > 0 else io.DEFAULT_BUFFER_SIZE
        return io.BufferedReader(_Reader(self), size)

    def close(self) -> None:
        self._closing = True
        if not self._readers:
            self._sock.close()

    def release(self) -> None:
        """A reader closed: close the socket if it was closed meanwhile."""
        self._readers -= 1
        if self._closing and not self._readers:
            self._sock.close()

    def _wait(self, call: Callable[..., T], *args: Any) -> T:
        attempt = _CURRENT.get()
        if attempt is None:
            return call(*args)
        timeout, cut = attempt.timeout(self._timeout)
        self._sock.settimeout(timeout)
        try:
            return call(*args)
        except TimeoutError:
            attempt.expired = attempt.expired or cut
            raise


class _Reader(io.RawIOBase):
    """The raw reader under `DeadlineSocket.makefile()`."""

    def __init__(self, sock: DeadlineSocket):
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._sock.release()


def watched(scheme: str) -> type[HTTPConnection]:
    """The urllib3 connection class for `scheme` whose sockets obey the current attempt's deadline."""
    return _HTTPS if scheme == "https" else _HTTP


def _connect(conn: HTTPConnection, connect: Callable[[], None]) -> None:
    """Connect within the time the current attempt has left, then watch the socket."""
    from urllib3.util.timeout import Timeout

    attempt = _CURRENT.get()
    if attempt is not None:
        wanted = Timeout.resolve_default_timeout(conn.timeout)
        conn.timeout, cut = attempt.timeout(wanted)
        try:
            connect()
        except Exception:
            attempt.expired = attempt.expired or (cut and time.monotonic() >= attempt.deadline)
            raise
    else:
        connect()
    assert conn.sock is not None
    conn.sock = DeadlineSocket(conn.sock)


def _classes() -> tuple[type[HTTPConnection], type[HTTPConnection]]:
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class WatchedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            _connect(self, super().connect)

    class WatchedHTTPSConnection(HTTPSConnection):
        def connect(self) -> None:
            _connect(self, super().connect)

    return WatchedHTTPConnection, WatchedHTTPSConnection


_HTTP, _HTTPS = _classes()
