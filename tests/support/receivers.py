"""Real receivers of notifications on loopback ports, started by the tests: a webhook (HTTP, or HTTPS with
the sandbox's certificate) that records every request, and an SMTP server (aiosmtpd, STARTTLS optional)
that keeps every message.

    with Webhook.start() as hook:            # hook.url, hook.requests: [Received(method, path, ...), ...]
    with Mailbox.start(tls=files) as box:    # box.port, box.messages: [email.message.Message, ...]
"""

from __future__ import annotations

import email
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runner.sandbox.tls import TlsFiles, server_context


@dataclass(frozen=True)
class Received:
    """One request a receiver was sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Webhook:
    """An HTTP server thread that answers every POST or PUT with `status` and records it: a webhook, or a
    Pushgateway's stand-in."""

    server: ThreadingHTTPServer
    scheme: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200

    @classmethod
    @contextmanager
    def start(cls, tls: TlsFiles | None = None, status: int = 200) -> Iterator[Webhook]:
        """A receiver on 127.0.0.1 (HTTPS with the sandbox's certificate when `tls` is given)."""
        hook: Webhook

        class Handler(BaseHTTPRequestHandler):
            def _keep(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.requests.append(Received(self.command, self.path, dict(self.headers.items()), body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _keep

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            server.socket = server_context(tls).wrap_socket(server.socket, server_side=True)
        hook = cls(server, "https" if tls else "http", status=status)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield hook
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    @property
    def url(self) -> str:
        """The receiver's base address."""
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        """The path of each request, in order."""
        return [r.path for r in self.requests]


def dead_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it is sent."""

    port: int
    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    @contextmanager
    def start(
        cls, tls: TlsFiles | None = None, login: tuple[str, str] | None = None, *, implicit: bool = False
    ) -> Iterator[Mailbox]:
        """A server that requires STARTTLS when `tls` is given (TLS from the first byte with `implicit`),
        and the `login` (user, password) if any."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        box = cls(dead_port())

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                box.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            assert isinstance(data, LoginPassword)
            pair = (data.login.decode(), data.password.decode())
            box.logins.append(pair)
            return AuthResult(success=pair == login)

        context: ssl.SSLContext | None = server_context(tls) if tls is not None else None
        controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=box.port,
            tls_context=None if implicit else context,
            require_starttls=context is not None and not implicit,
            ssl_context=context if implicit else None,
            authenticator=authenticator if login else None,
            auth_required=login is not None,
            auth_require_tls=True,
        )
        controller.start()
        try:
            yield box
        finally:
            controller.stop()
