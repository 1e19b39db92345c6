"""Talking to Infiniti: one POST of an import file, with the contract's authentication, verified TLS,
timeouts, and retries that are safe because the import is an upsert keyed by username.

    POST {url}/api/import/{import}?tenantId={tenant_id}     (userGroups, or userContacts/MODE)
    Authorization: Basic ...              (in a header, never in the URL)
    Content-Type: multipart/form-data     (the CSV as the first and only file part)

The body streams from the file on disk; it is never built in memory. The urllib3 PoolManager is passed in,
one per process, so tests talk to a real sandbox on a loopback port.
"""

from __future__ import annotations

import base64
import io
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from runner import __version__
from runner.errors import InfinitiError, UsageError, Where
from runner.numbers import number, plural
from runner.records import record
from runner.spec import CONNECT_TIMEOUT, READ_TIMEOUT, RETRY_ATTEMPTS, RETRY_MAX_TIME

if TYPE_CHECKING:
    import urllib3

    from runner.deadline import Attempt

USER_AGENT = f"infiniti-sync/{__version__}"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
EXCERPT = 300
MAX_ANSWER = 64 * 2**20  # bytes: an answer for 100,000 rows is a few MB; reading stops past this
READ_CHUNK = 64 * 2**10
# Bytes of the body read and sent at a time (urllib3's default is 16 KiB): a 6 MB file of 100,000 rows goes
# out in 90 reads and sends, not 370, 3 ms less of the send's 13 to 15 ms of CPU.
SEND_CHUNK = 64 * 2**10


@record
class Endpoint:
    """Where and how to post one tenant's imports."""

    url: str
    username: str
    password: str = field(repr=False)
    tenant_id: str | None = None
    ca_bundle: Path | None = None
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    retry_attempts: int = RETRY_ATTEMPTS
    retry_max_time: float = RETRY_MAX_TIME

    def address(self, import_name: str) -> str:
        """The import's URL, with the tenant as a query parameter when there is one."""
        query = f"?{urlencode({'tenantId': self.tenant_id})}" if self.tenant_id else ""
        return f"{self.url}/api/import/{quote(import_name)}{query}"


@record
class Response:
    """Infiniti's HTTP answer to one import request."""

    status: int
    body: bytes
    content_type: str
    attempts: int
    seconds: float
    notes: tuple[str, ...] = ()
    gave_up: str | None = None
    location: str | None = None


Sent = Callable[[int, int], None]
"""Told, as a request's body goes out, the bytes of it sent so far and its length (equal once it is sent
whole, when the answer is awaited)."""


class MultipartFile(io.RawIOBase):
    """A multipart/form-data body with one file part, read from disk as it is sent; `sent` is told how
    far it has gone each time the next part is asked for (what was read before has been sent)."""

    def __init__(
        self, path: Path, field_name: str = "file", filename: str | None = None, sent: Sent | None = None
    ):
        super().__init__()
        self._sent, self._done = sent, 0
        self.boundary = f"infiniti-sync-{os.urandom(16).hex()}"
        name = (filename or path.name).replace('"', "")
        head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field_name}"; filename="{name}"\r\n'
            "Content-Type: text/csv; charset=utf-8\r\n\r\n"
        ).encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(head) + path.stat().st_size + len(tail)
        self._parts: list[Any] = [io.BytesIO(head), path.open("rb"), io.BytesIO(tail)]

    @property
    def content_type(self) -> str:
        """The request's Content-Type header."""
        return f"multipart/form-data; boundary={self.boundary}"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the parts in order (what http.client calls while sending)."""
        if self._sent is not None:
            self._sent(self._done, self.length)
        while self._parts:
            count = self._parts[0].readinto(buffer)
            if count:
                self._done += count
                return int(count)
            self._parts.pop(0).close()
        return 0

    def close(self) -> None:
        for part in self._parts:
            part.close()
        self._parts = []
        super().close()


@dataclass
class Client:
    """Posts import files to Infiniti through a shared urllib3 PoolManager.

    The client sets the ConnectionCls of the pools it uses (runner.deadline.watched), so that each attempt
    ends by its deadline: give it a PoolManager of its own."""

    pool: urllib3.PoolManager
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    backoff: float = 1.0
    backoff_cap: float = 60.0
    jitter: Callable[[], float] = field(default=random.random)
    wall: Callable[[], float] = time.time

    def post(
        self, endpoint: Endpoint, import_name: str, path: Path, *, where: Where, sent: Sent | None = None
    ) -> Response:
        """POST the file at `path`, retrying what is safe to retry; InfinitiError when it cannot be done.

        An answer with a retryable status that outlasts the retry budget is returned (`gave_up` says why),
        so that the caller reports what Infiniti said. Each attempt (when it started, what happened, how
        long the wait before the next) is a note, in the Response or in the InfinitiError's `notes`.
        `sent` is told how far the body of each attempt has gone.
        """
        context = tls_context(endpoint.ca_bundle, where)
        started = self.clock()
        notes: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            at = f"attempt {attempt} at {time.strftime('%H:%M:%SZ', time.gmtime(self.wall()))}"
            try:
                status, body, headers = self._once(
                    endpoint, import_name, path, context, self._budget(endpoint, started), sent=sent
                )
            except _Retryable as err:
                if err.spent:
                    delay, why = None, "no time left for a retry"
                else:
                    delay, why = self._delay(endpoint, attempt, started, None)
                if delay is None:
                    notes.append(f"{at}: {err}; {_gave_up(attempt, why)}")
                    raise InfinitiError(
                        f"Infiniti at {endpoint.url}: {err} ({_gave_up(attempt, why)})",
                        where=where,
                        hint=err.hint,
                        notes=notes,
                    ) from err.__cause__
                notes.append(f"{at}: {err}; retrying in {delay:.1f} s")
                self.sleep(delay)
                continue
            except InfinitiError as err:
                notes.append(f"{at}: {err.message.removeprefix(f'Infiniti at {endpoint.url}: ')}")
                err.notes = tuple(notes)
                err.at(where)
                raise
            gave_up = None
            if status in RETRY_STATUSES:
                delay, why = self._delay(endpoint, attempt, started, _retry_after(headers.get("Retry-After")))
                if delay is not None:
                    notes.append(f"{at}: HTTP {status}; retrying in {delay:.1f} s")
                    self.sleep(delay)
                    continue
                gave_up = _gave_up(attempt, why)
                notes.append(f"{at}: HTTP {status}; {gave_up}")
            seconds = self.clock() - started
            return Response(
                status,
                body,
                headers.get("Content-Type", ""),
                attempt,
                seconds,
                tuple(notes),
                gave_up=gave_up,
                location=headers.get("Location"),
            )

    def _budget(self, endpoint: Endpoint, started: float) -> _Budget:
        """The time the next attempt may take: timeout.connect + timeout.read, or what is left of
        retries.max_time when that is less."""
        own = endpoint.connect_timeout + endpoint.read_timeout
        left = endpoint.retry_max_time - (self.clock() - started)
        return _Budget(own) if own <= left else _Budget(max(left, 0.0), whole_exchange=True)

    def _delay(
        self, endpoint: Endpoint, attempt: int, started: float, retry_after: float | None
    ) -> tuple[float | None, str]:
        """How long to wait before the next attempt; None (and why) when the retry budget is spent."""
        if attempt > endpoint.retry_attempts:
            return None, f"retries.attempts is {endpoint.retry_attempts}"
        if retry_after is not None:
            delay = retry_after
        else:
            delay = self.jitter() * min(self.backoff_cap, self.backoff * 2 ** (attempt - 1))
        if self.clock() - started + delay > endpoint.retry_max_time:
            asked = " (Retry-After)" if retry_after is not None else ""
            return None, (
                f"a retry in {delay:.1f} s{asked} would pass retries.max_time ({endpoint.retry_max_time:g} s)"
            )
        return delay, ""

    def _once(
        self,
        endpoint: Endpoint,
        import_name: str,
        path: Path,
        context: ssl.SSLContext,
        budget: _Budget,
        *,
        sent: Sent | None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """One attempt, ended by its budget: the status, the whole body and the headers of the answer."""
        from runner.deadline import Attempt

        body = MultipartFile(path, sent=sent)
        try:
            with Attempt(budget.seconds).running() as attempt:
                response = self._request(endpoint, import_name, body, attempt, budget, context=context)
                try:
                    return (
                        response.status,
                        _read_answer(response, attempt, endpoint, budget),
                        response.headers,
                    )
                finally:
                    response.release_conn()
        finally:
            body.close()

    def _request(
        self,
        endpoint: Endpoint,
        import_name: str,
        body: MultipartFile,
        attempt: Attempt,
        budget: _Budget,
        *,
        context: ssl.SSLContext,
    ) -> urllib3.BaseHTTPResponse:
        """Send the request; the answer once its headers have arrived whole."""
        import urllib3
        from urllib3.exceptions import HTTPError, SSLError

        from runner.deadline import watched

        credentials = f"{endpoint.username}:{endpoint.password}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Content-Type": body.content_type,
            "Content-Length": str(body.length),
        }
        url = endpoint.address(import_name)
        pool_kwargs: dict[str, Any] = {
            "cert_reqs": "CERT_REQUIRED",
            "ssl_context": context,
            "blocksize": SEND_CHUNK,
        }
        try:
            pool = self.pool.connection_from_url(url, pool_kwargs=pool_kwargs)
            pool.ConnectionCls = watched(pool.scheme)
            response = pool.urlopen(
                "POST",
                urllib3.util.parse_url(url).request_uri,  # origin-form: what a server (not a proxy) takes
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=endpoint.connect_timeout, read=endpoint.read_timeout),
                preload_content=False,
            )
        except HTTPError as err:
            if attempt.expired:
                raise budget.ran_out(endpoint) from err
            if isinstance(err, SSLError):
                raise _tls_error(endpoint, err) from err
            raise _Retryable(*_network_reason(err, endpoint)) from err
        if not attempt.head_ended:  # http.client takes headers cut off by the connection closing as whole
            _discard(response)
            raise _Retryable("the connection closed before the answer's headers ended", CLOSED_HINT)
        return response


@record
class _Budget:
    """The time one attempt may take, and whether retries.max_time (the whole exchange's) set it."""

    seconds: float
    whole_exchange: bool = False

    def ran_out(self, endpoint: Endpoint) -> _Retryable:
        """The failure of an attempt that its deadline stopped."""
        if self.whole_exchange:
            return _Retryable(
                f"no complete answer within retries.max_time, {endpoint.retry_max_time:g} s in all",
                "retries.max_time bounds the whole exchange, retries included: raise it if Infiniti needs "
                "longer; otherwise check any proxy or firewall on the way to Infiniti",
                spent=True,
            )
        return _Retryable(
            "no complete answer within timeout.connect + timeout.read, "
            f"{endpoint.connect_timeout + endpoint.read_timeout:g} s",
            "the answer came too slowly: raise the tenant's timeout.read if Infiniti needs longer to import; "
            "otherwise check any proxy or firewall on the way to Infiniti",
        )


def _read_answer(
    response: urllib3.BaseHTTPResponse, attempt: Attempt, endpoint: Endpoint, budget: _Budget
) -> bytes:
    """The whole body of the answer, at most MAX_ANSWER bytes; a body cut off is an error, never an answer."""
    from urllib3.exceptions import HTTPError

    data = bytearray()
    try:
        while chunk := response.read(READ_CHUNK):
            data += chunk
            if len(data) > MAX_ANSWER:
                _discard(response)
                raise InfinitiError(
                    f"Infiniti at {endpoint.url}: the answer (HTTP {response.status}) is larger than "
                    f"{MAX_ANSWER // 2**20} MB, the most infiniti-sync reads; it stopped reading there",
                    hint="an import's answer is a few MB at most: check that the tenant's url is Infiniti's "
                    "(a proxy or another server may be answering), or set batch_size for smaller answers",
                    status=response.status,
                )
    except HTTPError as err:
        if attempt.expired:
            raise budget.ran_out(endpoint) from err
        raise _Retryable(_cut_off(response, len(data), err, endpoint), CLOSED_HINT) from err
    return bytes(data)


def _cut_off(response: urllib3.BaseHTTPResponse, kept: int, err: Exception, endpoint: Endpoint) -> str:
    """What stopped the answer's body before its end (`kept` bytes of it read), in words."""
    from http.client import IncompleteRead

    from urllib3.exceptions import ReadTimeoutError

    inner = err.args[1] if len(err.args) > 1 else None
    partial = inner.partial if isinstance(inner, IncompleteRead) and isinstance(inner.partial, bytes) else b""
    got = max(response.tell(), kept + len(partial))
    if isinstance(err, ReadTimeoutError):
        return (
            f"the answer stopped after {number(got)} bytes: nothing more within timeout.read, "
            f"{endpoint.read_timeout:g} s"
        )
    length = response.headers.get("Content-Length", "")
    if length.isdigit():
        return f"the answer was cut off: {number(got)} of its {number(int(length))} bytes arrived"
    if "chunked" in response.headers.get("Transfer-Encoding", "").lower():
        stopped = f"its chunked body stopped after {number(got)} bytes"
        return f"the answer was cut off: {stopped}, before the last chunk"
    return f"the answer was cut off after {number(got)} bytes: {_reason(err)}"


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close an answer left unread, and its connection (never reused), and give the pool its place back."""
    response.close()
    response.release_conn()


_CONTEXTS: dict[tuple[str | None, int | None], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def tls_context(path: Path | None, where: Where | None = None) -> ssl.SSLContext:
    """The verifying TLS context for a tenant's `ca_bundle` (None: the system's CAs), made once per bundle
    (and per change to its file) in a process, so that a thousand tenants share it and each request does
    not read the bundle again. UsageError when the bundle cannot be used: missing, unreadable, or holding
    no certificate."""
    hint = "give the PEM file of the CA that signed Infiniti's certificate (for the sandbox: its ca.pem)"
    try:
        key = (None, None) if path is None else (os.fspath(path), path.stat().st_mtime_ns)
        with _CONTEXTS_LOCK:
            if key not in _CONTEXTS:
                _CONTEXTS[key] = _new_context(path)
            return _CONTEXTS[key]
    except FileNotFoundError as err:
        raise UsageError(f"ca_bundle {path} does not exist", where=where, hint=hint) from err
    except ssl.SSLError as err:
        raise UsageError(f"ca_bundle {path} holds no PEM certificate", where=where, hint=hint) from err
    except OSError as err:
        raise UsageError(f"ca_bundle {path} cannot be read: {err.strerror}", where=where, hint=hint) from err


def _new_context(path: Path | None) -> ssl.SSLContext:
    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    if path is None:
        context.load_default_certs()
    else:
        context.load_verify_locations(cafile=os.fspath(path))
    return context


class _Retryable(Exception):
    """A failure before a whole answer arrived (connection refused, reset, timed out, cut off); `spent`
    when retries.max_time has run out, so that no retry can follow."""

    def __init__(self, reason: str, hint: str | None, *, spent: bool = False):
        super().__init__(reason)
        self.hint = hint
        self.spent = spent


def _gave_up(attempts: int, why: str) -> str:
    if why == "retries.attempts is 0":
        return "no retries: retries.attempts is 0"
    return f"gave up after {plural(attempts, 'attempt')}: {why}"


REACH_HINT = "check the tenant's url, and that this machine can reach it (firewall, proxy)"
CLOSED_HINT = "if it keeps happening, check the tenant's url and any proxy or firewall on the way to Infiniti"


def _network_reason(err: Exception, endpoint: Endpoint) -> tuple[str, str | None]:
    """What went wrong on the network, in words, and what to do about it."""
    from http.client import BadStatusLine

    from urllib3.exceptions import (
        ConnectTimeoutError,
        NameResolutionError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
    )

    if isinstance(err, ReadTimeoutError) and _timeout_of(err) not in (None, endpoint.read_timeout):
        # urllib3 words a TLS handshake that outlasts the connect timeout as a read timeout
        return f"no TLS handshake within timeout.connect, {endpoint.connect_timeout:g} s", REACH_HINT
    if isinstance(err, ReadTimeoutError):
        return (
            f"no answer within timeout.read, {endpoint.read_timeout:g} s",
            "Infiniti may still be importing: raise the tenant's timeout.read, or set batch_size to send "
            "smaller requests",
        )
    if isinstance(err, NameResolutionError):
        return f"cannot find the host {err.conn.host!r} (DNS)", REACH_HINT
    if isinstance(err, NewConnectionError):
        cause = err.__cause__ or err.__context__
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", REACH_HINT
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect: {cause.strerror}", REACH_HINT
        return f"cannot connect: {_reason(err)}", REACH_HINT
    if isinstance(err, ConnectTimeoutError):
        return f"no connection within timeout.connect, {endpoint.connect_timeout:g} s", REACH_HINT
    if isinstance(err, ProtocolError):  # closed or reset: over TLS, which one a client sees is chance
        inner = err.args[1] if len(err.args) > 1 else None
        if isinstance(inner, ConnectionError):  # reset, aborted, RemoteDisconnected
            return "the connection was closed without an answer", CLOSED_HINT
        line = str(inner.args[0]) if isinstance(inner, BadStatusLine) and inner.args else None
        if line is not None and not line.endswith("\n"):
            return "the connection closed before the answer's headers ended", CLOSED_HINT
        if line is not None:
            return f"the answer is not HTTP: it began {line.strip()[:EXCERPT]!r}", REACH_HINT
    return _reason(err), None


def _timeout_of(err: Exception) -> float | None:
    """The timeout a urllib3 timeout error says was in force ("... (read timeout=0.5)")."""
    found = re.search(r"timeout=([0-9.]+)\)", str(err))
    return float(found.group(1)) if found else None


def _tls_error(endpoint: Endpoint, err: Exception) -> InfinitiError:
    reason = re.sub(r"\s*\(_ssl\.c:\d+\)", "", _reason(err))
    reason = re.sub(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\] ", "", reason)
    if "wrong version number" in reason.lower() or "record layer failure" in reason.lower():
        return InfinitiError(
            f"Infiniti at {endpoint.url}: TLS failed: the server does not speak TLS there ({reason})",
            hint="check the url's scheme and port; a certificate from a private CA goes in ca_bundle",
        )
    if endpoint.ca_bundle is not None:
        hint = (
            f"the tenant's ca_bundle ({endpoint.ca_bundle}) does not hold the CA that signed this "
            "certificate: give the right CA's PEM file (verification cannot be turned off)"
        )
    else:
        hint = (
            "if Infiniti's certificate comes from a private CA (the sandbox's does), give that CA's PEM "
            "file as the tenant's ca_bundle (verification cannot be turned off)"
        )
    return InfinitiError(f"Infiniti at {endpoint.url}: TLS verification failed: {reason}", hint=hint)


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    if reason is None and isinstance(err, Exception) and len(err.args) == 1:
        reason = err.args[0]
    text = str(reason if reason is not None else err)
    text = re.sub(r"^HTTPS?Connection(Pool)?\([^)]*\): ", "", text.replace("\n", " ").strip())
    return text.replace("Failed to establish a new connection: ", "cannot connect: ")


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, given as seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # an HTTP date: rare, and `plan` (which imports this module) sends nothing

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def excerpt(body: bytes) -> str:
    """The start of an answer body, as readable text on one line."""
    text = body.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
