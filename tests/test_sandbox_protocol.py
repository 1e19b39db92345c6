"""Malformed requests over raw sockets: each gets a prompt 4xx or 5xx and the connection closed, no traceback.

Promptness: the client's socket timeout (CLIENT_TIMEOUT) is far below the sandbox's idle timeout
(`Handler.timeout`, 60 s), so a connection the sandbox held would fail the test with TimeoutError
instead of delivering an answer; and every exchange reads until the sandbox closes the connection.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.sandbox import Sandbox, demo_config
from runner.sandbox.server import Handler, read_headers
from tests.support.sandbox import ADMIN, basic, start_sandbox_process

CLIENT_TIMEOUT = 5.0
AUTH = f"Authorization: {basic(*ADMIN)}\r\n".encode()
USERS = b"GET /api/sandbox/users?tenantId=demo HTTP/1.1\r\nHost: sandbox\r\n"
FAULTS = b"POST /api/sandbox/faults?tenantId=demo HTTP/1.1\r\nHost: sandbox\r\n" + AUTH
IMPORT = (
    b"POST /api/import/userGroups?tenantId=demo HTTP/1.1\r\nHost: sandbox\r\n"
    b"Content-Type: multipart/form-data; boundary=b0undary\r\n"
)
TLS_CLIENT_HELLO = bytes.fromhex("16030100c4010000c00303") + bytes(32)  # how a TLS handshake starts


@dataclass(frozen=True)
class Answer:
    """What came back on a raw connection before the sandbox closed it."""

    status_line: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON."""
        return json.loads(self.body)


def send(
    port: int, data: bytes, *, half_close: bool = False, context: ssl.SSLContext | None = None
) -> Answer:
    """Send `data` on a new connection to 127.0.0.1:`port` and read everything until the sandbox closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as raw:
        sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
        with sock:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return Answer(status_line, headers, body)


@pytest.fixture
def logs() -> list[str]:
    """What the sandbox logged."""
    return []


@pytest.fixture
def plain(logs: list[str]) -> Iterator[Sandbox]:
    """A sandbox speaking plain HTTP (raw bytes on the wire), logging into `logs`."""
    assert Handler.timeout >= 10 * CLIENT_TIMEOUT  # what makes a held connection fail the tests
    with Sandbox(demo_config(), tls=False, log=logs.append) as sandbox:
        yield sandbox


LONG = b"a" * 70_000
CASES: dict[str, tuple[bytes, str, str]] = {
    "a request line without a version": (
        b"GET /\r\n",
        "400 Bad Request",
        "The request line has no HTTP version ('GET /'): send METHOD PATH HTTP/1.1.",
    ),
    "a request line without a version, then a blank line": (
        b"GET /api/sandbox/users\r\n\r\n",
        "400 Bad Request",
        "The request line has no HTTP version ('GET /api/sandbox/users'): send METHOD PATH HTTP/1.1.",
    ),
    "a request line of four words": (
        b"GET / HTTP/1.1 more\r\n\r\n",
        "400 Bad Request",
        "The request line is not METHOD PATH HTTP/1.1 ('GET / HTTP/1.1 more').",
    ),
    "a request line with an unknown protocol": (
        b"GET / HTTX/1.1\r\n\r\n",
        "400 Bad Request",
        "The request line does not end with an HTTP version such as HTTP/1.1 ('GET / HTTX/1.1').",
    ),
    "HTTP/2.0": (
        b"GET / HTTP/2.0\r\n\r\n",
        "505 HTTP Version Not Supported",
        "HTTP version 2.0 is not supported: the sandbox speaks HTTP/1.1.",
    ),
    "an over-long request line": (
        b"GET /" + LONG + b" HTTP/1.1\r\n\r\n",
        "414 Request-URI Too Long",
        "The request line is longer than 65536 bytes: shorten the path and query.",
    ),
    "an over-long header": (
        USERS + b"X-Long: " + LONG + b"\r\n\r\n",
        "431 Request Header Fields Too Large",
        "A header line is longer than 65536 bytes.",
    ),
    "too many headers": (
        USERS + b"X-Many: 1\r\n" * 101 + b"\r\n",
        "431 Request Header Fields Too Large",
        "The request has more than 100 header lines.",
    ),
    "a header without a colon": (
        USERS + b"NoColonHere\r\n" + AUTH + b"\r\n",
        "400 Bad Request",
        "A header line is not NAME: VALUE ('NoColonHere').",
    ),
    "a header without a colon in an import's headers (multipart: read as headers only)": (
        IMPORT + b"NoColonHere\r\n" + AUTH + b"\r\n",
        "400 Bad Request",
        "A header line is not NAME: VALUE ('NoColonHere').",
    ),
    "a header name with a space before the colon": (
        USERS + b"Accept : */*\r\n" + AUTH + b"\r\n",
        "400 Bad Request",
        "A header line is not NAME: VALUE ('Accept : */*').",
    ),
    "a non-numeric Content-Length": (
        FAULTS + b"Content-Length: ten\r\n\r\n",
        "400 Bad Request",
        "Content-Length ('ten') is not a number of bytes.",
    ),
    "a negative Content-Length": (
        FAULTS + b"Content-Length: -5\r\n\r\n",
        "400 Bad Request",
        "Content-Length ('-5') is not a number of bytes.",
    ),
    "a Content-Length in superscript digits": (
        FAULTS + b"Content-Length: \xb2\r\n\r\n",
        "400 Bad Request",
        "Content-Length ('\u00b2') is not a number of bytes.",
    ),
    "a Content-Length of 5000 digits": (
        FAULTS + b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n",
        "413 Request Entity Too Large",
        "The request is larger than 52428800 bytes, the sandbox's limit. No users imported.",
    ),
    "two different Content-Lengths": (
        FAULTS + b"Content-Length: 2\r\nContent-Length: 15\r\n\r\n" + b'{"status": 503}',
        "400 Bad Request",
        "Content-Length is given more than once, with different values (15, 2).",
    ),
    "a negative chunk size": (
        FAULTS + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n0\r\n\r\n",
        "400 Bad Request",
        "The chunked request body is malformed (or ended early).",
    ),
    "a chunk longer than its size": (
        FAULTS + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabcde\r\n0\r\n\r\n",
        "400 Bad Request",
        "The chunked request body is malformed (or ended early).",
    ),
    "a TLS handshake on the plain-HTTP port": (
        TLS_CLIENT_HELLO,
        "400 Bad Request",
        "This is a TLS handshake, but the sandbox serves plain HTTP (--no-tls): use an http:// URL.",
    ),
    "binary bytes": (
        b"\x00\x01\x02\x03",
        "400 Bad Request",
        "The request does not start with an HTTP method: send METHOD PATH HTTP/1.1.",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_request_is_answered_at_once_and_closed(
    case: str, plain: Sandbox, logs: list[str]
) -> None:
    data, status, summary = CASES[case]
    answer = send(plain.port, data)
    assert answer.status_line == f"HTTP/1.1 {status}"
    assert answer.headers["connection"] == "close"
    assert answer.json() == {"success": False, "summary": summary}
    assert not [line for line in logs if "Traceback" in line]
    assert plain.pending_faults("demo") == 0


def test_a_request_line_without_a_version_over_tls(sandbox: Sandbox) -> None:
    assert sandbox.ca_file is not None
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    answer = send(sandbox.port, b"GET /\r\n", context=context)
    assert answer.status_line == "HTTP/1.1 400 Bad Request"
    summary = "The request line has no HTTP version ('GET /'): send METHOD PATH HTTP/1.1."
    assert answer.json() == {"success": False, "summary": summary}


def test_malformed_requests_leave_no_traceback_on_the_processs_stderr(tmp_path: Path) -> None:
    with (tmp_path / "stderr.log").open("w", encoding="utf-8") as log:
        sandbox = start_sandbox_process(None, "--no-tls", log=log, cwd=tmp_path)
        try:
            port = int(sandbox.url.rsplit(":", 1)[1])
            statuses = [send(port, data).status_line for data, _, _ in CASES.values()]
            short = send(port, FAULTS + b"Content-Length: 100\r\n\r\n{", half_close=True)
            with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
                sock.sendall(FAULTS + b"Content-Length: 100\r\n\r\n{")  # then gone without reading
            assert send(port, USERS + AUTH + b"Connection: close\r\n\r\n").status_line == "HTTP/1.1 200 OK"
        finally:
            assert sandbox.stop() == 0
    assert statuses == [f"HTTP/1.1 {status}" for _, status, _ in CASES.values()]
    summary = "The request body ended before its Content-Length."
    assert (short.status_line, short.json()) == (
        "HTTP/1.1 400 Bad Request",
        {"success": False, "summary": summary},
    )
    stderr = (tmp_path / "stderr.log").read_text(encoding="utf-8")
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert stderr.endswith("sandbox stopped\n")


def test_an_imports_headers_are_read_as_headers_only_and_the_body_is_left_unread() -> None:
    """The standard library parses headers as a whole message, and a multipart Content-Type sends it
    looking for the parts of a body it was not given (StartBoundaryNotFoundDefect...); read_headers stops
    at the blank line, and the body stays in the stream for the handler."""
    head = b"Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: 4\r\n\r\n"
    stream = io.BufferedReader(io.BytesIO(head + b"body"))
    headers = read_headers(stream)
    assert headers.defects == []
    assert headers.get_content_type() == "multipart/form-data"
    assert headers["Content-Length"] == "4"
    assert stream.read() == b"body"


def test_read_headers_keeps_the_standard_librarys_limits() -> None:
    """At most 100 header lines of at most 65,536 bytes, as the standard library's server reads them."""
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        read_headers(io.BufferedReader(io.BytesIO(b"X-Many: 1\r\n" * 101 + b"\r\n")))
    with pytest.raises(http.client.LineTooLong):
        read_headers(io.BufferedReader(io.BytesIO(b"X-Long: " + LONG + b"\r\n\r\n")))
    # the blank line counts, as in http.client: 99 header lines are the most that pass
    many = io.BufferedReader(io.BytesIO(b"X-Many: 1\r\n" * 99 + b"\r\n"))
    assert len(read_headers(many).get_all("X-Many") or []) == 99
    standard = http.client.parse_headers(io.BytesIO(b"X-Many: 1\r\n" * 99 + b"\r\n"))
    assert len(standard.get_all("X-Many") or []) == 99
