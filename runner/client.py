"""Talking to Infiniti: one POST of an import file, with the contract's authentication, verified TLS,
timeouts, and retries that are safe because the import is an upsert keyed by username.

    POST {url}/api/import/{import}?tenantId={tenant_id}
    Authorization: Basic ...              (in a header, never in the URL)
    Content-Type: multipart/form-data     (the CSV as the first and only file part)

The body streams from the file on disk; it is never built in memory. The urllib3 PoolManager is passed in,
one per process, so tests talk to a real sandbox on a loopback port.
"""

from __future__ import annotations

import base64
import email.utils
import io
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from runner import __version__
from runner.errors import InfinitiError, Where

if TYPE_CHECKING:
    import urllib3

USER_AGENT = f"infiniti-sync/{__version__}"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
EXCERPT = 300


@dataclass(frozen=True)
class Endpoint:
    """Where and how to post one tenant's imports."""

    url: str
    username: str
    password: str
    tenant_id: str | None = None
    ca_bundle: Path | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    retry_attempts: int = 4
    retry_max_time: float = 300.0

    def address(self, import_name: str) -> str:
        """The import's URL, with the tenant as a query parameter when there is one."""
        query = f"?{urlencode({'tenantId': self.tenant_id})}" if self.tenant_id else ""
        return f"{self.url}/api/import/{quote(import_name)}{query}"


@dataclass(frozen=True)
class Response:
    """Infiniti's HTTP answer to one import request."""

    status: int
    body: bytes
    content_type: str
    attempts: int
    seconds: float
    notes: tuple[str, ...] = ()


class MultipartFile(io.RawIOBase):
    """A multipart/form-data body with one file part, read from disk as it is sent."""

    def __init__(self, path: Path, field_name: str = "file", filename: str | None = None):
        super().__init__()
        self.boundary = f"infiniti-sync-{uuid.uuid4().hex}"
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
        while self._parts:
            count = self._parts[0].readinto(buffer)
            if count:
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
    """Posts import files to Infiniti through a shared urllib3 PoolManager."""

    pool: urllib3.PoolManager
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    backoff: float = 1.0
    backoff_cap: float = 60.0
    jitter: Callable[[], float] = field(default=random.random)

    def post(self, endpoint: Endpoint, import_name: str, path: Path, *, where: Where) -> Response:
        """POST the file at `path`, retrying what is safe to retry; InfinitiError when it cannot be done."""
        started = self.clock()
        notes: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                status, body, content_type, retry_after = self._once(endpoint, import_name, path)
            except _Retryable as err:
                delay = self._delay(endpoint, attempt, started, None)
                if delay is None:
                    tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                    raise InfinitiError(
                        f"{endpoint.url}: {err} (gave up after {tries})",
                        where=where,
                    ) from err.__cause__
                notes.append(f"attempt {attempt}: {err}; retrying in {delay:.1f}s")
                self.sleep(delay)
                continue
            if status in RETRY_STATUSES:
                delay = self._delay(endpoint, attempt, started, retry_after)
                if delay is not None:
                    notes.append(f"attempt {attempt}: HTTP {status}; retrying in {delay:.1f}s")
                    self.sleep(delay)
                    continue
            seconds = self.clock() - started
            return Response(status, body, content_type, attempt, seconds, tuple(notes))

    def _delay(
        self, endpoint: Endpoint, attempt: int, started: float, retry_after: float | None
    ) -> float | None:
        """How long to wait before the next attempt, or None when the retry budget is spent."""
        if attempt > endpoint.retry_attempts:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            delay = self.jitter() * min(self.backoff_cap, self.backoff * 2 ** (attempt - 1))
        if self.clock() - started + delay > endpoint.retry_max_time:
            return None
        return delay

    def _once(self, endpoint: Endpoint, import_name: str, path: Path) -> tuple[int, bytes, str, float | None]:
        import urllib3
        from urllib3.exceptions import HTTPError, SSLError

        body = MultipartFile(path)
        credentials = f"{endpoint.username}:{endpoint.password}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Content-Type": body.content_type,
            "Content-Length": str(body.length),
        }
        url = endpoint.address(import_name)
        pool_kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        if endpoint.ca_bundle is not None:
            pool_kwargs["ca_certs"] = os.fspath(endpoint.ca_bundle)
        try:
            pool = self.pool.connection_from_url(url, pool_kwargs=pool_kwargs)
            response = pool.urlopen(
                "POST",
                url,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=endpoint.connect_timeout, read=endpoint.read_timeout),
                preload_content=True,
                assert_same_host=False,
            )
        except SSLError as err:
            raise InfinitiError(
                f"{endpoint.url}: TLS verification failed: {_reason(err)}",
                hint="if Infiniti's certificate comes from a private CA, give its PEM file as the "
                "tenant's ca_bundle (verification cannot be turned off)",
            ) from err
        except HTTPError as err:
            raise _Retryable(_reason(err)) from err
        finally:
            body.close()
        retry_after = _retry_after(response.headers.get("Retry-After"))
        return response.status, response.data, response.headers.get("Content-Type", ""), retry_after


class _Retryable(Exception):
    """A failure before any answer arrived (connection refused, reset, timed out)."""


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
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
