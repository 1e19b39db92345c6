"""The request the client sends, byte for byte, and its retry timing, against a local HTTP server that
records what it receives (the sandbox checks the contract; this server shows the wire)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import socket
import ssl
import threading
import tracemalloc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3

from runner import __version__
from runner.client import MAX_ANSWER, SEND_CHUNK, Client, Endpoint, tls_context
from runner.errors import InfinitiError, Where
from runner.sandbox.tls import ensure, server_context
from tests.support.loopback import RawServer

WHERE = Where(tenant="stmarys", spec="students")
CSV = b"username,library-group,system-group\r\ns001,Year 7,Students\r\n"
OK = b'{"success": true, "summary": "1 user processed. 1 user created. 0 users updated. 0 users failed."}'


@dataclass
class FakeTime:
    """A clock that only sleeps move, from 10:00:00Z on 1 January 1970 (also the wall clock)."""

    now: float = 36_000.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@dataclass
class Recorded:
    """One request as the server received it (the body as its size and SHA-256, or whole when small)."""

    method: str
    target: str
    headers: dict[str, str]
    size: int
    sha256: str
    body: bytes


@dataclass
class Recorder:
    """What the server answers (in order; the last one repeats) and what it has received."""

    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    received: list[Recorded] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        digest, kept, left = hashlib.sha256(), bytearray(), length
        while left:
            chunk = self.rfile.read(min(left, 65536))
            digest.update(chunk)
            if len(kept) < 4096:
                kept += chunk
            left -= len(chunk)
        recorder = self.server.recorder
        recorder.received.append(
            Recorded(self.command, self.path, dict(self.headers), length, digest.hexdigest(), bytes(kept))
        )
        answers = recorder.answers
        status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    recorder: Recorder


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    """A recording HTTP server on a free loopback port, answering 200 with OK unless told otherwise."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.recorder = Recorder(answers=[(200, {}, OK)])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.recorder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    manager = urllib3.PoolManager()
    yield manager
    manager.clear()


def _endpoint(url: str, **settings: object) -> Endpoint:
    return Endpoint(url=url, username="autosync", password="s3cret:pw", tenant_id="st marys", **settings)  # type: ignore[arg-type]


def test_the_request_on_the_wire(
    server: tuple[str, Recorder], pool: urllib3.PoolManager, tmp_path: Path
) -> None:
    url, recorder = server
    (tmp_path / "sent.csv").write_bytes(CSV)
    response = Client(pool).post(_endpoint(url), "userGroups", tmp_path / "sent.csv", where=WHERE)
    assert (response.status, response.body, response.attempts, response.notes) == (200, OK, 1, ())
    [request] = recorder.received
    assert (request.method, request.target) == ("POST", "/api/import/userGroups?tenantId=st+marys")
    boundary = request.headers["Content-Type"].removeprefix("multipart/form-data; boundary=")
    assert boundary.startswith("infiniti-sync-")
    assert {k: v for k, v in request.headers.items() if k != "Content-Type"} == {
        "Host": url.removeprefix("http://"),
        "Accept-Encoding": "identity",
        "Authorization": "Basic " + base64.b64encode(b"autosync:s3cret:pw").decode(),
        "User-Agent": f"infiniti-sync/{__version__}",
        "Accept": "application/json",
        "Content-Length": str(request.size),
    }
    assert request.body == (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="sent.csv"\r\n'
        "Content-Type: text/csv; charset=utf-8\r\n\r\n".encode()
        + CSV
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_a_large_file_is_streamed_from_disk(
    server: tuple[str, Recorder], pool: urllib3.PoolManager, tmp_path: Path
) -> None:
    url, recorder = server
    path = tmp_path / "big.csv"
    line = b"s000000,Year 7,Students,someone.with.a.long.address@students.example.edu\r\n"
    with path.open("wb") as handle:
        handle.write(b"username,library-group,system-group,emailAddress\r\n")
        for _ in range(300_000):  # about 22 MB
            handle.write(line)
    tracemalloc.start()
    try:
        Client(pool).post(_endpoint(url), "userGroups", path, where=WHERE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [request] = recorder.received
    assert request.size > path.stat().st_size > 20_000_000
    assert peak < 2_000_000  # the file never sits in memory


def test_the_body_goes_out_in_blocks_of_send_chunk(
    server: tuple[str, Recorder], pool: urllib3.PoolManager, tmp_path: Path
) -> None:
    # 64 KiB a read and a send, not urllib3's 16 KiB: a quarter of the Python calls for each megabyte.
    path = tmp_path / "sent.csv"
    path.write_bytes(CSV + b"s002,Year 8,Students\r\n" * 50_000)  # about 1.1 MB
    told: list[tuple[int, int]] = []
    Client(pool).post(
        _endpoint(server[0]), "userGroups", path, where=WHERE, sent=lambda d, n: told.append((d, n))
    )
    length = told[0][1]
    assert told[-1] == (length, length) and length > path.stat().st_size
    # a read per block, a short one at the end of each part (head, file, tail), the one that finds the end
    assert len(told) <= length // SEND_CHUNK + 5


def test_backoff_doubles_with_full_jitter_and_retry_after_wins(
    server: tuple[str, Recorder], pool: urllib3.PoolManager, tmp_path: Path
) -> None:
    url, recorder = server
    recorder.answers[:] = [
        (503, {}, b"{}"),
        (502, {}, b"{}"),
        (504, {}, b"{}"),
        (429, {"Retry-After": "7"}, b"{}"),
    ]
    recorder.answers.append((200, {}, OK))
    (tmp_path / "sent.csv").write_bytes(CSV)
    fake = FakeTime()
    client = Client(
        pool, sleep=fake.sleep, clock=fake.clock, wall=fake.clock, jitter=lambda: 0.5, backoff=1.0
    )
    response = client.post(_endpoint(url, retry_attempts=4), "userGroups", tmp_path / "sent.csv", where=WHERE)
    assert (response.status, response.attempts) == (200, 5)
    assert fake.slept == [0.5, 1.0, 2.0, 7.0]
    assert response.notes == (
        "attempt 1 at 10:00:00Z: HTTP 503; retrying in 0.5 s",
        "attempt 2 at 10:00:00Z: HTTP 502; retrying in 1.0 s",
        "attempt 3 at 10:00:01Z: HTTP 504; retrying in 2.0 s",
        "attempt 4 at 10:00:03Z: HTTP 429; retrying in 7.0 s",
    )


def test_retries_stop_at_max_time(
    server: tuple[str, Recorder], pool: urllib3.PoolManager, tmp_path: Path
) -> None:
    url, recorder = server
    recorder.answers[:] = [(503, {"Retry-After": "30"}, b'{"success": false, "summary": "Busy."}')]
    (tmp_path / "sent.csv").write_bytes(CSV)
    now = [100.0]
    client = Client(pool, sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    endpoint = _endpoint(url, retry_attempts=10, retry_max_time=75)
    response = client.post(endpoint, "userGroups", tmp_path / "sent.csv", where=WHERE)
    assert (response.status, response.attempts, now[0]) == (503, 3, 160.0)
    assert (
        response.gave_up
        == "gave up after 3 attempts: a retry in 30.0 s (Retry-After) would pass retries.max_time (75 s)"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 500, 501])
def test_other_statuses_are_not_retried(
    status: int, server: tuple[str, Recorder], pool: urllib3.PoolManager, tmp_path: Path
) -> None:
    url, recorder = server
    recorder.answers[:] = [(status, {}, b"{}"), (200, {}, OK)]
    (tmp_path / "sent.csv").write_bytes(CSV)
    response = Client(pool, sleep=_never).post(
        _endpoint(url), "userGroups", tmp_path / "sent.csv", where=WHERE
    )
    assert (response.status, response.attempts, len(recorder.received)) == (status, 1, 1)


def _never(seconds: float) -> None:
    pytest.fail(f"slept {seconds} s before a retry that must not happen")


def test_the_password_stays_out_of_the_endpoints_repr() -> None:
    assert "s3cret" not in repr(_endpoint("https://stmarys.example"))


def test_an_unreachable_host_names_the_setting_to_check(pool: urllib3.PoolManager, tmp_path: Path) -> None:
    (tmp_path / "sent.csv").write_bytes(CSV)
    endpoint = _endpoint("https://no-such-host.invalid", retry_attempts=0)
    with pytest.raises(InfinitiError) as caught:
        Client(pool).post(endpoint, "userGroups", tmp_path / "sent.csv", where=WHERE)
    assert str(caught.value) == (
        "tenant stmarys, spec students: Infiniti at https://no-such-host.invalid: cannot find the host "
        "'no-such-host.invalid' (DNS) (no retries: retries.attempts is 0)\n"
        "  hint: check the tenant's url, and that this machine can reach it (firewall, proxy)"
    )


def test_a_server_that_never_answers_the_tls_handshake(pool: urllib3.PoolManager, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        (tmp_path / "sent.csv").write_bytes(CSV)
        endpoint = _endpoint(url, connect_timeout=0.3, read_timeout=60, retry_attempts=0)
        with pytest.raises(InfinitiError) as caught:
            Client(pool).post(endpoint, "userGroups", tmp_path / "sent.csv", where=WHERE)
    assert caught.value.message == (
        f"Infiniti at {url}: no TLS handshake within timeout.connect, 0.3 s "
        "(no retries: retries.attempts is 0)"
    )


# Answers no well-behaved server gives, from a raw server on a loopback port: each attempt is bounded by
# its deadline and the answer by MAX_ANSWER, and an answer cut off is an error, never a success.

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
QUICK: dict[str, Any] = {
    "connect_timeout": 0.1,
    "read_timeout": 0.3,
    "retry_attempts": 0,
}  # an attempt: 0.4 s at most
FOREVER = 10.0  # seconds a misbehaving server keeps going: far past the bounds the tests set


def _trickle_headers(server: RawServer, conn: socket.socket) -> None:
    """Header bytes every 20 ms, each within timeout.read, and no end to the headers for FOREVER."""
    padding = (b"X-Pad: %d\r\n" % n for n in itertools.count())
    pieces = (bytes([byte]) for line in itertools.chain([HEAD], padding) for byte in line)
    server.trickle(conn, itertools.islice(pieces, int(FOREVER / 0.02)), pause=0.02)


def _endless_body(server: RawServer, conn: socket.socket) -> None:
    """HTTP 200 without a length, then a body that stops only at twice MAX_ANSWER, or when a send fails
    because the client hung up (not when the test leaves the server: under load the client may have
    closed before this thread noticed, and the test counts that close)."""
    server.send(conn, HEAD + b"\r\n")
    block = b'{"x": "' + b"x" * 65_000 + b'"}\n'
    while server.sent < 2 * MAX_ANSWER:
        server.send(conn, block)


def _post(
    url: str, tmp_path: Path, *, client: Mapping[str, Any] | None = None, **settings: Any
) -> InfinitiError:
    """The InfinitiError of posting to `url` with a Client of `client` settings and Endpoint `settings`."""
    (tmp_path / "sent.csv").write_bytes(CSV)
    manager = urllib3.PoolManager()
    try:
        with pytest.raises(InfinitiError) as caught:
            Client(manager, **(client or {})).post(
                _endpoint(url, **settings), "userGroups", tmp_path / "sent.csv", where=WHERE
            )
    finally:
        manager.clear()
    return caught.value


@pytest.fixture(params=["http", "https"])
def tls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ssl.SSLContext | None, dict[str, Any]]:
    """No TLS, or the sandbox's certificate: the server's context and the Endpoint's ca_bundle."""
    if request.param == "http":
        return None, {}
    files = ensure(tmp_path / "tls")
    return server_context(files), {"ca_bundle": files.ca_file}


def test_headers_trickled_a_byte_at_a_time_end_the_attempt_at_its_deadline(
    tls: tuple[ssl.SSLContext | None, dict[str, Any]], tmp_path: Path
) -> None:
    context, settings = tls
    with RawServer(_trickle_headers, context) as server:
        err = _post(server.url, tmp_path, **QUICK, **settings)
    assert str(err) == (
        f"tenant stmarys, spec students: Infiniti at {server.url}: no complete answer within "
        "timeout.connect + timeout.read, 0.4 s (no retries: retries.attempts is 0)\n"
        "  hint: the answer came too slowly: raise the tenant's timeout.read if Infiniti needs longer to "
        "import; otherwise check any proxy or firewall on the way to Infiniti"
    )
    assert (err.exit_code, server.requests) == (3, 1)


def test_retries_max_time_bounds_the_whole_exchange(tmp_path: Path) -> None:
    """Attempt 1 ends at its own deadline (0.4 s); attempt 2 has only what is left of max_time (1 s)."""
    client = {"jitter": lambda: 0.0}
    settings = {**QUICK, "retry_attempts": 10, "retry_max_time": 1.0}
    with RawServer(_trickle_headers) as server:
        err = _post(server.url, tmp_path, client=client, **settings)
    assert err.message.startswith(
        f"Infiniti at {server.url}: no complete answer within retries.max_time, 1 s "
    )
    assert err.message.endswith(" attempts: no time left for a retry)")
    assert err.hint is not None and err.hint.startswith("retries.max_time bounds the whole exchange")
    assert 2 <= server.requests < 10


def test_an_endless_body_stops_at_max_answer(tmp_path: Path) -> None:
    with RawServer(_endless_body) as server:
        err = _post(server.url, tmp_path, **{**QUICK, "read_timeout": 30})
    assert str(err) == (
        f"tenant stmarys, spec students: Infiniti at {server.url}: the answer (HTTP 200) is larger than "
        "64 MB, the most infiniti-sync reads; it stopped reading there\n"
        "  hint: an import's answer is a few MB at most: check that the tenant's url is Infiniti's (a proxy "
        "or another server may be answering), or set batch_size for smaller answers"
    )
    assert (err.exit_code, server.requests, server.closed_by_client) == (3, 1, 1)
    assert server.sent < 2 * MAX_ANSWER  # the client hung up; the server did not run out


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (HEAD[:20], "the connection closed before the answer's headers ended"),
        (HEAD[:9], "the connection closed before the answer's headers ended"),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD,
            "the connection closed before the answer's headers ended",
        ),
        (
            HEAD + b"Content-Length: 100\r\n\r\n" + OK[:30],
            "the answer was cut off: 30 of its 100 bytes arrived",
        ),
        (
            HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1e\r\n" + OK[:30] + b"\r\n",
            "the answer was cut off: its chunked body stopped after 30 bytes, before the last chunk",
        ),
    ],
    ids=["mid-headers", "mid-status-line", "after-100-continue", "short-of-content-length", "chunked"],
)
def test_an_answer_cut_off_is_an_error_and_retried(
    answer: bytes, reason: str, tls: tuple[ssl.SSLContext | None, dict[str, Any]], tmp_path: Path
) -> None:
    context, settings = tls
    with RawServer(lambda server, conn: server.send(conn, answer), context) as server:
        err = _post(
            server.url, tmp_path, client={"sleep": _no_wait}, **{**QUICK, **settings, "retry_attempts": 1}
        )
    assert str(err) == (
        f"tenant stmarys, spec students: Infiniti at {server.url}: {reason} "
        "(gave up after 2 attempts: retries.attempts is 1)\n"
        "  hint: if it keeps happening, check the tenant's url and any proxy or firewall on the way to "
        "Infiniti"
    )
    assert (err.exit_code, server.requests) == (3, 2)


def _no_wait(seconds: float) -> None:
    pass


def test_the_error_carries_a_note_per_attempt(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    fake = FakeTime()
    client = {"sleep": fake.sleep, "clock": fake.clock, "wall": fake.clock, "jitter": lambda: 0.75}
    err = _post(url, tmp_path, client=client, retry_attempts=2)
    assert (
        err.message
        == f"Infiniti at {url}: connection refused (gave up after 3 attempts: retries.attempts is 2)"
    )
    assert err.notes == (
        "attempt 1 at 10:00:00Z: connection refused; retrying in 0.8 s",
        "attempt 2 at 10:00:00Z: connection refused; retrying in 1.5 s",
        "attempt 3 at 10:00:02Z: connection refused; gave up after 3 attempts: retries.attempts is 2",
    )


def test_a_server_that_does_not_speak_http(tmp_path: Path) -> None:
    with RawServer(lambda server, conn: server.send(conn, b"SSH-2.0-OpenSSH_9.6\r\n")) as server:
        err = _post(server.url, tmp_path, **QUICK)
    assert str(err) == (
        f"tenant stmarys, spec students: Infiniti at {server.url}: the answer is not HTTP: it began "
        "'SSH-2.0-OpenSSH_9.6' (no retries: retries.attempts is 0)\n"
        "  hint: check the tenant's url, and that this machine can reach it (firewall, proxy)"
    )


def test_one_tls_context_per_ca_bundle(tmp_path: Path) -> None:
    """A thousand tenants with one CA bundle share one verifying context; a bundle rewritten on disk gets a
    new one; the system's CAs are one context too."""
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ensure(tmp_path / "tls").ca_file.read_bytes())
    first = tls_context(bundle)
    assert tls_context(bundle) is first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    os.utime(bundle, ns=(1, 1))
    assert tls_context(bundle) is not first
    assert tls_context(None) is tls_context(None)
