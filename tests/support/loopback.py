"""A raw HTTP (or HTTPS) server on 127.0.0.1 for the answers no well-behaved server gives: it reads each
request whole, then hands the connection to an `answer` function that writes whatever bytes it likes
(headers trickled a byte at a time, a body that never ends, a connection closed half-way)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

Answer = Callable[["RawServer", socket.socket], None]


class RawServer:
    """Serves connections one at a time until closed; counts requests and the answer bytes sent."""

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None):
        self._answer = answer
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests = 0
        self.sent = 0
        self.closed_by_client = 0

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    @property
    def stopping(self) -> bool:
        """True once the test is done with the server."""
        return self._stop.is_set()

    def send(self, conn: socket.socket, data: bytes) -> None:
        """Send `data`, counting it."""
        conn.sendall(data)
        self.sent += len(data)

    def trickle(self, conn: socket.socket, data: Iterable[bytes], pause: float) -> None:
        """Send the pieces of `data` one by one, `pause` seconds apart, until the client goes away."""
        for piece in data:
            if self.stopping:
                return
            self.send(conn, piece)
            time.sleep(pause)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(10)
                try:
                    self._exchange(self._tls.wrap_socket(conn, server_side=True) if self._tls else conn)
                except OSError:  # the client closed its end: what a bounded client does
                    self.closed_by_client += 1

    def _exchange(self, conn: socket.socket) -> None:
        with conn:
            _read_request(conn)
            self.requests += 1
            self._answer(self, conn)


def _read_request(conn: socket.socket) -> None:
    """Read one request, headers and Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length and (chunk := conn.recv(65536)):
        body += chunk
