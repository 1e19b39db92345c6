"""The request the client sends, byte for byte, and its retry timing, against a local HTTP server that
records what it receives (the sandbox checks the contract; this server shows the wire)."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3

from runner import __version__
from runner.client import Client, Endpoint
from runner.errors import InfinitiError, Where

WHERE = Where(tenant="stmarys", spec="students")
CSV = b"username,library-group,system-group\r\ns001,Year 7,Students\r\n"
OK = b'{"success": true, "summary": "1 user processed. 1 user created. 0 users updated. 0 users failed."}'


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
    sleeps: list[float] = []
    client = Client(pool, sleep=sleeps.append, jitter=lambda: 0.5, backoff=1.0)
    response = client.post(_endpoint(url, retry_attempts=4), "userGroups", tmp_path / "sent.csv", where=WHERE)
    assert (response.status, response.attempts) == (200, 5)
    assert sleeps == [0.5, 1.0, 2.0, 7.0]
    assert response.notes == (
        "attempt 1: HTTP 503; retrying in 0.5s",
        "attempt 2: HTTP 502; retrying in 1.0s",
        "attempt 3: HTTP 504; retrying in 2.0s",
        "attempt 4: HTTP 429; retrying in 7.0s",
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
