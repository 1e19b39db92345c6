"""Fault injection: the next import requests of a tenant misbehave, in order, for the runner's failure tests.

A fault is applied after the request has been read and before credentials are checked, as a proxy or
load balancer in front of Infiniti would: it waits `delay` seconds, then either closes the connection
without answering (`drop`), answers with `status` (and `body`, `content_type`, `Retry-After`), or, with
only a delay, lets the import go ahead as usual.
"""

from __future__ import annotations

import http
import json
import threading
from collections import deque
from collections.abc import Mapping

from runner.errors import UsageError
from runner.records import record

MAX_COUNT = 1000  # requests one fault is queued for; the queue keeps the count, not a copy per request
MAX_DELAY = 600.0
_KEYS = ("count", "status", "retry_after", "delay", "drop", "body", "content_type")


@record
class Fault:
    """How one import request misbehaves. Invalid combinations raise UsageError."""

    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    drop: bool = False
    body: str | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise UsageError(f"invalid fault: {problem}")

    def to_json(self, count: int = 1) -> dict[str, object]:
        """The JSON body of `POST /api/sandbox/faults` that queues this fault `count` times."""
        data: dict[str, object] = {"count": count}
        for key in _KEYS[1:]:
            value = getattr(self, key)
            if value is not None and value is not False and not (key == "delay" and value == 0.0):
                data[key] = value  # retry_after 0 (retry at once) is a value, not an absence
        return data

    def response(self) -> tuple[int, str, bytes]:
        """The status, content type and body this fault answers with (when it has a status)."""
        status = self.status or 500
        if self.body is not None:
            return status, self.content_type or "text/plain; charset=utf-8", self.body.encode()
        phrase = _phrase(status)
        payload = {"success": False, "summary": f"{phrase} (a fault injected into the sandbox)."}
        return status, self.content_type or "application/json", json.dumps(payload).encode()


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _problem(fault: Fault) -> str | None:
    """What is wrong with `fault`, or None."""
    if fault.status is not None and not 200 <= fault.status <= 599:
        return f"status {fault.status} is not between 200 and 599"
    if not 0 <= fault.delay <= MAX_DELAY:
        return f"delay {fault.delay} is not between 0 and {MAX_DELAY:g} seconds"
    if fault.retry_after is not None and fault.retry_after < 0:
        return "retry_after must not be negative"
    if fault.drop and (fault.status is not None or fault.body is not None):
        return "drop closes the connection without an answer: it takes no status or body"
    if fault.status is None and (fault.body, fault.content_type, fault.retry_after) != (None, None, None):
        return "body, content_type and retry_after need a status"
    if fault.status is None and not fault.drop and not fault.delay:
        return "a fault needs a status, a delay or drop"
    return None


def _typed(data: Mapping[str, object], key: str, kinds: tuple[type, ...], what: str) -> object:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
        raise UsageError(f"invalid fault: {key} must be {what}")
    return value


def parse_fault(data: object) -> tuple[Fault, int]:
    """A fault and its count from JSON-like `data`, e.g. `{"count": 2, "status": 503, "retry_after": 1}`."""
    if not isinstance(data, Mapping):
        raise UsageError('invalid fault: expected an object such as {"count": 1, "status": 503}')
    unknown = sorted(str(key) for key in data if key not in _KEYS)
    if unknown:
        raise UsageError(f"invalid fault: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
    count = parse_count(1 if data.get("count") is None else data["count"])
    delay = _typed(data, "delay", (int, float), "a number of seconds")
    fault = Fault(
        status=_int_or_none(_typed(data, "status", (int,), "a whole number")),
        retry_after=_int_or_none(_typed(data, "retry_after", (int,), "a whole number of seconds")),
        delay=float(delay) if isinstance(delay, int | float) else 0.0,
        drop=bool(_typed(data, "drop", (bool,), "true or false")),
        body=_str_or_none(_typed(data, "body", (str,), "text")),
        content_type=_str_or_none(_typed(data, "content_type", (str,), "text")),
    )
    return fault, count


def parse_count(value: object) -> int:
    """How many requests a fault is for: a whole number from 1 to MAX_COUNT; else UsageError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise UsageError(f"invalid fault: count must be a whole number from 1 to {MAX_COUNT}")
    return value


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


class FaultQueue:
    """The pending faults of every tenant, each kept once with its remaining count; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[tuple[Fault, int]]] = {}

    def add(self, tenant: str, fault: Fault, count: int = 1) -> int:
        """Queue `fault` for the next `count` import requests of `tenant`; return how many are pending."""
        count = parse_count(count)
        with self._lock:
            queue = self._pending.setdefault(tenant, deque())
            queue.append((fault, count))
            return _total(queue)

    def take(self, tenant: str) -> Fault | None:
        """The fault for this import request of `tenant`, if one is pending."""
        with self._lock:
            queue = self._pending.get(tenant)
            if not queue:
                return None
            fault, count = queue.popleft()
            if count > 1:
                queue.appendleft((fault, count - 1))
            return fault

    def clear(self, tenant: str) -> int:
        """Drop the pending faults of `tenant`; return how many there were."""
        with self._lock:
            return _total(self._pending.pop(tenant, deque()))

    def pending(self, tenant: str) -> int:
        """How many faults of `tenant` are waiting."""
        with self._lock:
            return _total(self._pending.get(tenant, deque()))


def _total(queue: deque[tuple[Fault, int]]) -> int:
    return sum(count for _, count in queue)
