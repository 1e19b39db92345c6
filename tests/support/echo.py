"""A stand-in for a proxy or firewall in front of Infiniti whose error page echoes the request's headers.

    with EchoServer([Echo.HTML_403, Echo.JSON_SUMMARY]) as echo:   # one answer per request, in order
        point_at(project_file, echo.url)                            # http://127.0.0.1:PORT (loopback only)
        ...
        echo.seen                                                   # the Authorization header of each request

It listens on 127.0.0.1 only, reads each request whole (headers and body), and answers with a page that
writes the request's headers back, and the decoded Basic credentials with them, as such pages do.
"""

from __future__ import annotations

import base64
import enum
import json
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class Echo(enum.Enum):
    """How one request is answered."""

    HTML_403 = "an HTML error page (HTTP 403) listing the request headers"
    JSON_SUMMARY = "an Infiniti-shaped JSON answer (HTTP 200, success false) whose summary echoes them"


class EchoServer:
    """An HTTP server on a loopback port answering each request with the next of `answers` (the last one
    again when they run out)."""

    def __init__(self, answers: list[Echo]) -> None:
        self.answers = list(answers)
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next(self, authorization: str) -> Echo:
        with self._lock:
            self.seen.append(authorization)
            return self.answers[min(len(self.seen), len(self.answers)) - 1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                authorization = self.headers.get("Authorization", "")
                status, content_type, body = _page(
                    server._next(authorization), self.requestline, self.headers
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def _credentials(authorization: str) -> str:
    """What a Basic Authorization value decodes to (user:password)."""
    token = authorization.removeprefix("Basic ").strip()
    return base64.b64decode(token).decode("utf-8", errors="replace") if token else ""


def _page(answer: Echo, requestline: str, headers: Message) -> tuple[int, str, bytes]:
    """The status, content type and body of `answer` for a request with `headers` (Authorization first)."""
    items = sorted(headers.items(), key=lambda item: item[0].lower() != "authorization")
    authorization = headers.get("Authorization", "")
    lines = [f"{name}: {value}" for name, value in items]
    if answer is Echo.HTML_403:
        page = (
            "<html><head><title>403 Forbidden</title></head><body><h1>Request blocked</h1>"
            f"<p>{requestline}</p><pre>{chr(10).join(lines)}</pre>"
            f"<p>Signed in as {_credentials(authorization)}</p></body></html>"
        )
        return 403, "text/html; charset=utf-8", page.encode("utf-8")
    summary = f"Rejected by the gateway: {'; '.join(lines)} (credentials {_credentials(authorization)})"
    return 200, "application/json", json.dumps({"success": False, "summary": summary}).encode("ascii")
