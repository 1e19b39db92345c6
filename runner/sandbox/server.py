"""The sandbox's HTTP side: one thread per connection, HTTP/1.1, TLS when given a context.

Routes (all answers JSON, `{"success": false, "summary": ...}` for every failure):

    POST   /api/import/userGroups?tenantId=T   the contract's import (faults apply here)
    POST   /api/import/userContacts/MODE       the contacts import (runner/sandbox/contacts.py; faults too)
    GET    /api/sandbox/users?tenantId=T       what the tenant holds (admin credentials)
    GET    /api/sandbox/contacts?tenantId=T    the tenant's contacts, imported and added by hand (admin)
    POST   /api/sandbox/faults?tenantId=T      queue a fault: {"count": 2, "status": 503, "retry_after": 1}
    DELETE /api/sandbox/faults?tenantId=T      clear the tenant's pending faults

A request is handled in this order: its request line and headers are read (400, 414, 431, 505 at once,
the connection closed, when they cannot be), its body is read (413 when over the limit), then the path (404)
and method (405), the tenant (400, 404), a pending fault (import only), the credentials (401), the work.
"""

from __future__ import annotations

import base64
import contextlib
import email.errors
import email.message
import email.parser
import hmac
import http
import http.client
import io
import json
import re
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

from runner import __version__, contract
from runner.errors import SyncError, UsageError
from runner.sandbox.answer import JSON_TYPE, Rejected, Reply, failure, reject
from runner.sandbox.config import Config, TenantConfig
from runner.sandbox.contacts import listing, run_contacts_import
from runner.sandbox.faults import Fault, FaultQueue, parse_fault
from runner.sandbox.store import Store
from runner.sandbox.userimport import run_import

IMPORT_PATH = "/api/import/userGroups"
CONTACTS_IMPORT_PATH = "/api/import/userContacts"  # then /MODE
USERS_PATH = "/api/sandbox/users"
CONTACTS_PATH = "/api/sandbox/contacts"
FAULTS_PATH = "/api/sandbox/faults"
REALM = 'Basic realm="Infiniti", charset="UTF-8"'
SPOOL_IN_MEMORY = 1 << 20
HANDSHAKE_TIMEOUT = 10.0
DRAIN_LIMIT = 64 << 20  # an oversize body up to this much more is read and dropped, so the 413 arrives
MAX_LENGTH_DIGITS = 18  # a longer Content-Length is over any body limit; int() would refuse 4300 digits
MAX_LINE = 65536  # the longest request line or header line (as the standard library's server)
MAX_TRAILERS = 100
MAX_HEADERS = 100  # header lines (as the standard library's server)
_PROTOCOL_ERRORS = {  # the standard library's words for what it refuses, and ours
    (414, None): f"The request line is longer than {MAX_LINE} bytes: shorten the path and query.",
    (431, "Line too long"): f"A header line is longer than {MAX_LINE} bytes.",
    (431, "Too many headers"): "The request has more than 100 header lines.",
}
_HEADER_DEFECTS = (  # a header line the email parser could not read (not multipart defects: no body here)
    email.errors.MissingHeaderBodySeparatorDefect,
    email.errors.FirstHeaderLineIsContinuationDefect,
    email.errors.InvalidHeaderDefect,
)
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a token (RFC 9110)
_VERSION = re.compile(r"HTTP/([0-9])\.[0-9]")

Log = Callable[[str], None]
Body = IO[bytes]


def quiet(_: str) -> None:
    """The default log: say nothing."""


@dataclass
class Service:
    """What the HTTP handler works with: the config, the users, the pending faults."""

    config: Config
    store: Store
    faults: FaultQueue = field(default_factory=FaultQueue)
    log: Log = quiet
    _busy: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    def tenant(self, query: Mapping[str, list[str]]) -> tuple[str, TenantConfig]:
        """The tenant named by `tenantId`, or the only one; Rejected with 400 or 404 otherwise."""
        name = (query.get("tenantId") or [""])[0]
        tenants = self.config.tenants
        if not name and len(tenants) == 1:
            name = next(iter(tenants))
        if not name:
            raise reject(400, "Missing tenantId: this sandbox serves several tenants; add ?tenantId=NAME.")
        if name not in tenants:
            raise reject(404, f"Unknown tenant ({name}).")
        return name, tenants[name]

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Count a request as in progress while the block runs."""
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the requests in progress to finish; False if some did not."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


def authorise(config: TenantConfig, authorization: str | None) -> str:
    """The user name when `authorization` is Basic Auth of an admin user of the tenant; else Rejected 401."""
    credentials = _basic(authorization)
    if credentials is not None:
        name, password = credentials
        user = config.users.get(name)
        if user is not None and user.admin and hmac.compare_digest(user.password.encode(), password.encode()):
            return name
    raise Rejected(failure(401, contract.UNAUTHORISED, {"WWW-Authenticate": REALM}))


def _basic(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon else None


class Handler(BaseHTTPRequestHandler):
    """One connection; each request is answered by `_dispatch`."""

    protocol_version = "HTTP/1.1"
    server_version = f"InfinitiSandbox/{__version__}"
    timeout = 60
    disable_nagle_algorithm = True  # headers and body go out in two writes; do not wait for an ACK between
    server: SandboxServer
    raw_requestline: bytes

    def do_GET(self) -> None:
        """Reply a GET request."""
        self._dispatch()

    def do_POST(self) -> None:
        """Reply a POST request."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Reply a PUT request (405 everywhere)."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Reply a PATCH request (405 everywhere)."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Reply a DELETE request."""
        self._dispatch()

    def do_HEAD(self) -> None:
        """Reply a HEAD request (405 everywhere, without a body)."""
        self._dispatch()

    @property
    def service(self) -> Service:
        """The sandbox this server belongs to."""
        return self.server.service

    # The request line and headers

    def handle_one_request(self) -> None:
        """Serve one request; a connection that does not start like one (a TLS handshake, say) gets 400."""
        try:
            first = self.rfile.peek(1)[:1] if isinstance(self.rfile, io.BufferedReader) else b""
        except TimeoutError as err:
            self.log_error("Request timed out: %r", err)
            self.close_connection = True
            return
        if first and not first.isalpha() and first not in b"\r\n":
            self.requestline = ""
            self._refuse_line(400, _not_http(first, self.server.context is None))
            return
        super().handle_one_request()

    def parse_request(self) -> bool:
        """Read the request line and headers; what cannot be read is refused at once (connection closed)."""
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        problem = _request_line_problem(self.requestline, words) if words else None
        if problem is not None:
            self._refuse_line(*problem)
            return False
        self._take_request_line(words)
        try:
            self.headers = read_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(431, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(431, "Too many headers", str(err))
            return False
        if not self._headers_readable():
            return False
        return self._connection_options()

    def _take_request_line(self, words: list[str]) -> None:
        """The method, path and version of a request line found fine: the connection stays open after
        an HTTP/1.1 request (HTTP/1.0 closes it), and a path starting with // is read as one / (as the
        standard library's server does, against open redirects)."""
        self.command, self.path, self.request_version = words
        self.close_connection = self.request_version < "HTTP/1.1"
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")

    def _connection_options(self) -> bool:
        """Connection: close or keep-alive, and Expect: 100-continue (answered now, or refused); False when
        the request has been answered already."""
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = self.headers.get("Expect", "").lower()
        if expect == "100-continue" and self.request_version >= "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _refuse_line(self, status: int, summary: str) -> None:
        self.command, self.request_version = "", self.protocol_version  # so the answer has a status line
        self.send_error(status, summary)

    def _headers_readable(self) -> bool:
        """True when the headers can be read; else answered with 400 (connection closed)."""
        problem = _header_problem(self.headers)
        if problem is not None:
            self.send_error(400, problem)
        return problem is None

    def _dispatch(self) -> None:
        with self.service.busy():
            try:
                answer = self._route()
            except Rejected as rejected:
                answer = rejected.answer
            except (ConnectionError, TimeoutError) as err:  # the client went away mid-request
                self.close_connection = True
                self.log_message("connection ended: %s", err)
                return
            except SyncError as err:
                answer = failure(500, f"The sandbox could not do this: {err}")
            except Exception as err:  # a bug in the sandbox: answer 500, keep serving
                self.log_message("%s", traceback.format_exc().rstrip())
                answer = failure(500, f"Internal sandbox error: {type(err).__name__}: {err}")
            if answer is not None:
                self._answer(answer)

    def _route(self) -> Reply | None:
        with self._body() as body:
            url = urlsplit(self.path)
            routes = ROUTES.get(_route_of(url.path))
            if routes is None:
                raise reject(404, f"Not found: {url.path}.")
            action = routes.get(self.command)
            if action is None:
                allow = ", ".join(routes)
                raise Rejected(
                    failure(405, f"Method {self.command} is not allowed here; use {allow}.", {"Allow": allow})
                )
            query = parse_qs(url.query, keep_blank_values=True)
            tenant, config = self.service.tenant(query)
            return action(self, tenant, config, body)

    # Bodies

    @contextlib.contextmanager
    def _body(self) -> Iterator[Body]:
        """The request body in a temporary file (on disk beyond 1 MB); Rejected when over the limit."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self._read_chunked(spool)
            else:
                self._read_sized(spool, self._length())
            spool.seek(0)
            yield spool

    def _length(self) -> int:
        return _content_length(self.headers.get("Content-Length", "0")) or 0  # checked with the headers

    def _limit(self) -> int:
        return self.service.config.max_body_bytes

    def _too_large(self) -> Rejected:
        self.close_connection = True
        limit = self._limit()
        return reject(
            413, f"The request is larger than {limit} bytes, the sandbox's limit. No users imported."
        )

    def _read_sized(self, spool: Body, length: int) -> None:
        if length > self._limit():
            if length - self._limit() <= DRAIN_LIMIT:
                self._copy(None, length)
            raise self._too_large()
        self._copy(spool, length)

    def _copy(self, spool: Body | None, length: int) -> None:
        while length > 0:
            data = self.rfile.read(min(length, SPOOL_IN_MEMORY))
            if not data:
                self.close_connection = True
                raise reject(400, "The request body ended before its Content-Length.")
            if spool is not None:
                spool.write(data)
            length -= len(data)

    def _read_chunked(self, spool: Body) -> None:
        total = 0
        while size := self._chunk_size():
            total += size
            keep = total <= self._limit()
            if not keep and total - self._limit() > DRAIN_LIMIT:
                raise self._too_large()
            self._copy(spool if keep else None, size)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise self._malformed_chunks()
        self._skip_trailers()
        if total > self._limit():
            raise self._too_large()

    def _chunk_size(self) -> int:
        line = self.rfile.readline(1024).split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", line):
            raise self._malformed_chunks()
        return int(line, 16)

    def _skip_trailers(self) -> None:
        for _ in range(MAX_TRAILERS):
            line = self.rfile.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return
            if not line or len(line) > MAX_LINE:
                break
        raise self._malformed_chunks()

    def _malformed_chunks(self) -> Rejected:
        self.close_connection = True
        return reject(400, "The chunked request body is malformed (or ended early).")

    def handle_expect_100(self) -> bool:
        """Refuse an oversize body before the client sends it; else say 100 Continue (unreadable headers
        were refused already)."""
        length = _content_length(self.headers.get("Content-Length", ""))
        if length is not None and length > self._limit():
            self.close_connection = True
            self._answer(self._too_large().answer)
            return False
        return super().handle_expect_100()

    # Answers

    def _answer(self, answer: Reply) -> None:
        self._send(answer.status, JSON_TYPE, answer.encoded(), answer.headers)

    def _send(self, status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (bad request line, unsupported method) as JSON, closing the connection."""
        self.close_connection = True
        summary = _PROTOCOL_ERRORS.get((code, message)) or message or http.HTTPStatus(code).phrase
        self._answer(failure(code, summary if summary.endswith(".") else summary + "."))

    def log_message(self, format: str, *args: Any) -> None:
        """Hand the server's log lines to the sandbox's log."""
        self.service.log(f"{self.address_string()} {format % args}")

    # Actions

    def import_user_groups(self, tenant: str, config: TenantConfig, body: Body) -> Reply | None:
        """`POST /api/import/userGroups`: a pending fault, then the credentials, then the import."""
        fault = self.service.faults.take(tenant)
        if fault is not None and self._misbehave(fault):
            return None
        authorise(config, self.headers.get("Authorization"))
        answer = run_import(self.service.store, tenant, config, body, self.headers.get("Content-Type"))
        if isinstance(answer.body, dict):
            self.service.log(f"tenant {tenant}: {answer.body.get('summary')}")
        return answer

    def import_user_contacts(self, tenant: str, config: TenantConfig, body: Body) -> Reply | None:
        """`POST /api/import/userContacts/MODE`: a pending fault, the credentials, the mode, the import."""
        fault = self.service.faults.take(tenant)
        if fault is not None and self._misbehave(fault):
            return None
        authorise(config, self.headers.get("Authorization"))
        mode = unquote(urlsplit(self.path).path[len(CONTACTS_IMPORT_PATH) + 1 :])
        content_type = self.headers.get("Content-Type")
        answer = run_contacts_import(self.service.store, tenant, body, content_type, mode)
        if isinstance(answer.body, dict):
            self.service.log(f"tenant {tenant}: {answer.body.get('summary')}")
        return answer

    def _misbehave(self, fault: Fault) -> bool:
        """Apply `fault`; True when it has answered (or dropped) the request in place of the import."""
        time.sleep(fault.delay)
        if fault.drop:
            self.close_connection = True
            self.log_message("dropped the connection (injected fault)")
            return True
        if fault.status is None:
            return False
        status, content_type, body = fault.response()
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        self._send(status, content_type, body, headers)
        return True

    def list_users(self, tenant: str, config: TenantConfig, body: Body) -> Reply:
        """`GET /api/sandbox/users`: the tenant's users, sorted by username."""
        authorise(config, self.headers.get("Authorization"))
        return Reply(200, self.service.store.users(tenant))

    def list_contacts(self, tenant: str, config: TenantConfig, body: Body) -> Reply:
        """`GET /api/sandbox/contacts`: the tenant's contacts by username, those added by hand marked."""
        authorise(config, self.headers.get("Authorization"))
        return Reply(200, listing(config, self.service.store.contacts(tenant)))

    def add_fault(self, tenant: str, config: TenantConfig, body: Body) -> Reply:
        """`POST /api/sandbox/faults`: queue a fault for the tenant's next import requests."""
        authorise(config, self.headers.get("Authorization"))
        try:
            fault, count = parse_fault(json.loads(body.read() or b"null"))
        except ValueError as err:
            raise reject(400, f"The body is not JSON: {err}.") from err
        except UsageError as err:
            raise reject(400, f"{err.message[:1].upper()}{err.message[1:]}.") from err
        pending = self.service.faults.add(tenant, fault, count)
        return _fault_answer(f"{_faults(count)} queued; {pending} pending.", pending)

    def clear_faults(self, tenant: str, config: TenantConfig, body: Body) -> Reply:
        """`DELETE /api/sandbox/faults`: drop the tenant's pending faults."""
        authorise(config, self.headers.get("Authorization"))
        cleared = self.service.faults.clear(tenant)
        return _fault_answer(f"{_faults(cleared)} cleared; 0 pending.", 0)


def _route_of(path: str) -> str:
    """The key of ROUTES that serves `path`: itself, or the contacts import's for any mode (even none)."""
    if path == CONTACTS_IMPORT_PATH or path.startswith(f"{CONTACTS_IMPORT_PATH}/"):
        return f"{CONTACTS_IMPORT_PATH}/MODE"
    return path


def read_headers(stream: io.BufferedIOBase) -> http.client.HTTPMessage:
    """The request's header lines, up to the blank line, as the standard library's server reads them (at
    most 100 lines, the blank one included, of at most 65,536 bytes each, else LineTooLong or
    HTTPException), parsed as headers only.

    The standard library parses them as a whole message: with a multipart Content-Type (every import), it
    then looks for the parts of the body, which is not there, compiling a regular expression of each
    request's new boundary (uncached) to find none: a third of the sandbox's CPU time per import."""
    lines: list[bytes] = []
    while True:
        line = stream.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.HeaderParser(_class=http.client.HTTPMessage).parsestr(text)


def _request_line_problem(line: str, words: list[str]) -> tuple[int, str] | None:
    """The status and summary refusing request line `line` (split into `words`), or None when it is fine."""
    shown = _shown(line)
    if len(words) == 2:
        return 400, f"The request line has no HTTP version ({shown}): send METHOD PATH HTTP/1.1."
    if len(words) != 3 or not _METHOD.fullmatch(words[0]):
        return 400, f"The request line is not METHOD PATH HTTP/1.1 ({shown})."
    version = _VERSION.fullmatch(words[2])
    if version is None:
        return 400, f"The request line does not end with an HTTP version such as HTTP/1.1 ({shown})."
    if version[1] != "1":
        return 505, f"HTTP version {words[2][5:]} is not supported: the sandbox speaks HTTP/1.1."
    return None


def _header_problem(headers: email.message.Message) -> str | None:
    """What makes `headers` unreadable (a line without a colon, a bad Content-Length), or None."""
    if any(isinstance(defect, _HEADER_DEFECTS) for defect in headers.defects):
        payload = headers.get_payload()
        line = payload.splitlines()[0] if isinstance(payload, str) and payload else ""
        shown = f" ({_shown(line)})" if line else ""
        return f"A header line is not NAME: VALUE{shown}."
    lengths = sorted({value.strip() for value in headers.get_all("Content-Length") or ()})
    if len(lengths) > 1:
        return f"Content-Length is given more than once, with different values ({', '.join(lengths)})."
    if lengths and _content_length(lengths[0]) is None:
        return f"Content-Length ({_shown(lengths[0])}) is not a number of bytes."
    return None


def _content_length(text: str) -> int | None:
    """The bytes a Content-Length value says (digits only; a huge one is over any limit), or None."""
    digits = text.strip()
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_LENGTH_DIGITS else 10**MAX_LENGTH_DIGITS


def _not_http(first: bytes, plain: bool) -> str:
    if first == b"\x16" and plain:  # a TLS handshake record
        return "This is a TLS handshake, but the sandbox serves plain HTTP (--no-tls): use an http:// URL."
    return "The request does not start with an HTTP method: send METHOD PATH HTTP/1.1."


def _shown(text: str, limit: int = 80) -> str:
    """`text` quoted for a message, cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _faults(n: int) -> str:
    return f"{n} fault" if n == 1 else f"{n} faults"


def _fault_answer(summary: str, pending: int) -> Reply:
    return Reply(200, {"success": True, "summary": summary, "pending": pending})


Action = Callable[[Handler, str, TenantConfig, Body], Reply | None]
ROUTES: dict[str, dict[str, Action]] = {
    IMPORT_PATH: {"POST": Handler.import_user_groups},
    f"{CONTACTS_IMPORT_PATH}/MODE": {"POST": Handler.import_user_contacts},
    USERS_PATH: {"GET": Handler.list_users},
    CONTACTS_PATH: {"GET": Handler.list_contacts},
    FAULTS_PATH: {"POST": Handler.add_fault, "DELETE": Handler.clear_faults},
}


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server for `service`, speaking TLS when given a context."""

    daemon_threads = True
    # SO_REUSEADDR lets a restarted sandbox take its port at once on POSIX; on Windows it would let a second
    # server take a port that one is listening on, so there a port in use is refused instead.
    allow_reuse_address = sys.platform != "win32"

    def __init__(self, address: tuple[str, int], service: Service, context: ssl.SSLContext | None):
        self.service = service
        self.context = context
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (slow where DNS is not answered)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Run in the connection's own thread: the TLS handshake, then the requests."""
        if self.context is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(HANDSHAKE_TIMEOUT)
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            self.service.log(f"{client_address[0]} TLS handshake failed: {err}")
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            self.shutdown_request(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed (reset by the client, say) is logged in one line, not a traceback."""
        error = traceback.format_exc(limit=0).strip().splitlines()[-1]
        self.service.log(f"{client_address[0]} connection ended: {error}")
