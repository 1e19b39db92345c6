"""Fault injection: the next imports misbehave, in order; set from Python, over HTTP or in the config."""

from __future__ import annotations

import http.client
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.sandbox import Fault, Sandbox, parse_config
from runner.sandbox.faults import MAX_COUNT, FaultQueue, parse_fault
from tests.support.sandbox import Client

CSV = "username,library-group,system-group\ns001,Year 7,Students\n"
CREATED = {"success": True, "summary": "1 user processed. 1 user created. 0 users updated. 0 users failed."}
UPDATED = {"success": True, "summary": "1 user processed. 0 users created. 1 user updated. 0 users failed."}
UNAVAILABLE = {"success": False, "summary": "Service Unavailable (a fault injected into the sandbox)."}


def test_status_faults_answer_the_next_requests_then_stop(sandbox: Sandbox, sandbox_client: Client) -> None:
    assert sandbox.inject("demo", Fault(status=503, retry_after=1), count=2) == 2
    for _ in range(2):
        reply = sandbox_client.post_csv(CSV)
        assert (reply.status, reply.json(), reply.headers["retry-after"]) == (503, UNAVAILABLE, "1")
    assert sandbox_client.users() == []  # a faulted request imports nothing
    assert sandbox_client.post_csv(CSV).json() == CREATED
    assert sandbox.pending_faults("demo") == 0


def test_faults_apply_in_order(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject("demo", Fault(status=502))
    sandbox.inject("demo", Fault(status=504))
    statuses = [sandbox_client.post_csv(CSV).status for _ in range(3)]
    assert statuses == [502, 504, 200]


def test_an_html_body(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject("demo", Fault(status=502, body="<html>Bad gateway</html>", content_type="text/html"))
    reply = sandbox_client.post_csv(CSV)
    assert (reply.status, reply.body, reply.headers["content-type"]) == (
        502,
        b"<html>Bad gateway</html>",
        "text/html",
    )
    assert "retry-after" not in reply.headers


def test_a_200_with_a_login_page(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject(
        "demo", Fault(status=200, body="<html>Sign in</html>", content_type="text/html; charset=utf-8")
    )
    reply = sandbox_client.post_csv(CSV)
    assert (reply.status, reply.body) == (200, b"<html>Sign in</html>")
    assert sandbox_client.users() == []


def test_a_delay_then_the_import_as_usual(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject("demo", Fault(delay=0.4))
    started = time.monotonic()
    reply = sandbox_client.post_csv(CSV)
    assert time.monotonic() - started >= 0.4
    assert (reply.status, reply.json()) == (200, CREATED)


def test_a_delay_longer_than_the_clients_timeout(sandbox: Sandbox) -> None:
    sandbox.inject("demo", Fault(delay=1.0, status=503))
    client = Client(sandbox.url, sandbox.ca_file, timeout=0.2)
    with pytest.raises(TimeoutError):
        client.post_csv(CSV)


def test_a_dropped_connection(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject("demo", Fault(drop=True))
    with pytest.raises(http.client.RemoteDisconnected):
        sandbox_client.post_csv(CSV)
    assert sandbox_client.users() == []
    assert sandbox_client.post_csv(CSV).json() == CREATED


def test_faults_come_before_the_credentials(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject("demo", Fault(status=503))
    assert sandbox_client.post_csv(CSV, auth=("autosync", "wrong")).status == 503
    assert sandbox_client.post_csv(CSV, auth=("autosync", "wrong")).status == 401


def test_faults_touch_only_the_import(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject("demo", Fault(status=503))
    assert sandbox_client.users() == []
    assert sandbox.pending_faults("demo") == 1


def test_clear_from_python(sandbox: Sandbox, sandbox_client: Client) -> None:
    sandbox.inject("demo", Fault(status=503), count=3)
    assert sandbox.clear_faults("demo") == 3
    assert sandbox_client.post_csv(CSV).json() == CREATED


# Over HTTP


def test_queue_and_clear_over_http(sandbox_client: Client) -> None:
    reply = sandbox_client.inject(count=2, status=503, retry_after=1)
    assert (reply.status, reply.json()) == (
        200,
        {"success": True, "summary": "2 faults queued; 2 pending.", "pending": 2},
    )
    reply = sandbox_client.inject(count=1, delay=0.1)
    assert reply.json() == {"success": True, "summary": "1 fault queued; 3 pending.", "pending": 3}
    assert sandbox_client.post_csv(CSV).status == 503
    reply = sandbox_client.clear_faults()
    assert (reply.status, reply.json()) == (
        200,
        {"success": True, "summary": "2 faults cleared; 0 pending.", "pending": 0},
    )
    assert sandbox_client.post_csv(CSV).json() == CREATED


def test_every_fault_kind_over_http(sandbox_client: Client) -> None:
    assert (
        sandbox_client.inject(
            count=1, status=502, body="<html>Bad gateway</html>", content_type="text/html"
        ).status
        == 200
    )
    assert sandbox_client.inject(count=1, drop=True).status == 200
    assert sandbox_client.inject(count=1, delay=0.2).status == 200
    reply = sandbox_client.post_csv(CSV)
    assert (reply.status, reply.body, reply.headers["content-type"]) == (
        502,
        b"<html>Bad gateway</html>",
        "text/html",
    )
    with pytest.raises(http.client.RemoteDisconnected):
        sandbox_client.post_csv(CSV)
    started = time.monotonic()
    assert sandbox_client.post_csv(CSV).json() == CREATED
    assert time.monotonic() - started >= 0.2
    assert sandbox_client.post_csv(CSV).json() == UPDATED


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        (
            b'{"count": 1, "status": 503',
            "The body is not JSON: Expecting ',' delimiter: line 1 column 27 (char 26).",
        ),
        (b"[503]", 'Invalid fault: expected an object such as {"count": 1, "status": 503}.'),
        (b'{"count": 1}', "Invalid fault: a fault needs a status, a delay or drop."),
        (b'{"count": 0, "status": 503}', "Invalid fault: count must be a whole number from 1 to 1000."),
        (b'{"count": 1001, "status": 503}', "Invalid fault: count must be a whole number from 1 to 1000."),
        (
            b'{"count": 100000000, "status": 503}',
            "Invalid fault: count must be a whole number from 1 to 1000.",
        ),
        (b'{"count": "2", "status": 503}', "Invalid fault: count must be a whole number from 1 to 1000."),
        (b'{"status": "503"}', "Invalid fault: status must be a whole number."),
        (b'{"status": 99}', "Invalid fault: status 99 is not between 200 and 599."),
        (
            b'{"drop": true, "status": 503}',
            "Invalid fault: drop closes the connection without an answer: it takes no status or body.",
        ),
        (b'{"retry_after": 5}', "Invalid fault: body, content_type and retry_after need a status."),
        (b'{"delay": -1}', "Invalid fault: delay -1.0 is not between 0 and 600 seconds."),
        (b'{"drop": 1}', "Invalid fault: drop must be true or false."),
        (
            b'{"stauts": 503}',
            "Invalid fault: unknown key 'stauts' "
            "(known: count, status, retry_after, delay, drop, body, content_type).",
        ),
    ],
)
def test_an_invalid_fault_gets_400(body: bytes, summary: str, sandbox_client: Client) -> None:
    reply = sandbox_client.request("POST", "/api/sandbox/faults?tenantId=demo", body)
    assert (reply.status, reply.json()) == (400, {"success": False, "summary": summary})


def test_the_fault_endpoints_need_an_admin(sandbox_client: Client) -> None:
    unauthorised = {"success": False, "summary": "Unauthorised. Check credentials."}
    reply = sandbox_client.request(
        "POST", "/api/sandbox/faults", b'{"status": 503}', auth=("librarian", "change-me-too")
    )
    assert (reply.status, reply.json()) == (401, unauthorised)
    reply = sandbox_client.request("DELETE", "/api/sandbox/faults", auth=None)
    assert (reply.status, reply.json()) == (401, unauthorised)


# From Python and from the config


@pytest.mark.parametrize(
    ("fault", "count"),
    [
        (Fault(status=503, retry_after=1), 2),
        (Fault(status=503, retry_after=0), 1),
        (Fault(status=502, body="<html>Bad gateway</html>", content_type="text/html"), 1),
        (Fault(delay=2.5), 1),
        (Fault(drop=True, delay=0.5), 3),
    ],
)
def test_a_fault_as_json_and_back(fault: Fault, count: int) -> None:
    assert parse_fault(fault.to_json(count)) == (fault, count)


def test_an_invalid_fault_from_python() -> None:
    with pytest.raises(UsageError, match=r"^invalid fault: drop closes the connection"):
        Fault(drop=True, status=503)


def test_a_count_over_the_maximum_from_python(sandbox: Sandbox) -> None:
    with pytest.raises(UsageError, match=r"^invalid fault: count must be a whole number from 1 to 1000$"):
        sandbox.inject("demo", Fault(status=503), count=MAX_COUNT + 1)
    assert sandbox.pending_faults("demo") == 0


def test_the_most_faults_are_queued_over_http_and_served(sandbox: Sandbox, sandbox_client: Client) -> None:
    reply = sandbox_client.inject(count=MAX_COUNT, status=503)
    summary = f"{MAX_COUNT} faults queued; {MAX_COUNT} pending."
    assert (reply.status, reply.json()["summary"]) == (200, summary)
    assert sandbox_client.post_csv(CSV).status == 503
    assert sandbox.pending_faults("demo") == MAX_COUNT - 1
    assert sandbox_client.clear_faults().json()["summary"] == f"{MAX_COUNT - 1} faults cleared; 0 pending."


def test_a_queued_fault_takes_the_same_memory_whatever_its_count() -> None:
    def grown_by(count: int) -> int:
        queue = FaultQueue()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            queue.add("demo", Fault(status=503), count)
            return tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

    assert grown_by(MAX_COUNT) < grown_by(2) + 512  # a copy per request would be 8 bytes each, 8 KB here


def test_counted_faults_are_taken_one_request_at_a_time_in_order() -> None:
    queue = FaultQueue()
    first, second = Fault(status=502), Fault(drop=True)
    assert (queue.add("demo", first, 2), queue.add("demo", second, 3), queue.add("north", first)) == (2, 5, 1)
    taken = []
    while (fault := queue.take("demo")) is not None:
        taken.append((fault, queue.pending("demo")))
    assert taken == [(first, 4), (first, 3), (second, 2), (second, 1), (second, 0)]
    assert queue.clear("north") == 1


def test_an_unknown_tenant_from_python(sandbox: Sandbox) -> None:
    with pytest.raises(UsageError, match=r"^the sandbox has no tenant 'nowhere'$"):
        sandbox.inject("nowhere", Fault(status=503))


@pytest.fixture
def configured_faults(sandbox_tls_dir: Path) -> Iterator[Client]:
    config = parse_config(
        """
tenants:
  demo:
    users: {autosync: {password: change-me, admin: true}}
    library_groups: [Year 7]
    system_groups: [Students]
    faults:
      - {count: 2, status: 429, retry_after: 3}
      - {drop: true}
"""
    )
    with Sandbox(config, tls_dir=sandbox_tls_dir) as sb:
        yield Client(sb.url, sb.ca_file)


def test_faults_from_the_config(configured_faults: Client) -> None:
    for _ in range(2):
        reply = configured_faults.post_csv(CSV)
        summary = "Too Many Requests (a fault injected into the sandbox)."
        assert (reply.status, reply.json(), reply.headers["retry-after"]) == (
            429,
            {"success": False, "summary": summary},
            "3",
        )
    with pytest.raises(http.client.RemoteDisconnected):
        configured_faults.post_csv(CSV)
    assert configured_faults.post_csv(CSV).json() == CREATED
