"""Talking to an Infiniti sandbox from tests: a standard-library HTTP client, and the sandbox as a process.

sandbox = start_sandbox_process(tmp_path / "data")       # `python -m runner sandbox --port 0 --data DIR`
reply = sandbox.client.post_csv(b"username,library-group,system-group\\n")
sandbox.users("demo"); sandbox.inject("demo", Fault(status=503, retry_after=1), count=2)
sandbox.stop()                                            # SIGTERM; returns the exit code

On Windows, where nothing sends SIGTERM to another process (`send_signal(SIGTERM)` there terminates it, exit
1), the sandbox starts in a process group of its own and is stopped with Ctrl-Break, which it catches as
SIGBREAK and takes as SIGTERM.
"""

from __future__ import annotations

import base64
import http.client
import json
import signal
import ssl
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from runner.sandbox import Fault

ADMIN = ("autosync", "change-me")
IMPORT = "/api/import/userGroups"
CONTACTS_IMPORT = "/api/import/userContacts/replaceDeclaredPatronsKeepCustomContacts"
START_TIMEOUT = 30.0
if sys.platform == "win32":
    STOP = signal.CTRL_BREAK_EVENT
    GROUP = subprocess.CREATE_NEW_PROCESS_GROUP  # what Ctrl-Break is sent to
else:
    STOP = signal.SIGTERM
    GROUP = 0


def multipart(
    content: bytes,
    *,
    name: str = "file",
    filename: str = "user-groups.csv",
    before: tuple[tuple[str, str], ...] = (),
) -> tuple[bytes, str]:
    """A multipart/form-data body with `content` as a file part (after plain fields `before`)."""
    boundary = f"----sandbox-test-{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'.encode()
        for field, value in before
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def basic(user: str, password: str) -> str:
    """The Authorization header value for HTTP Basic Auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers (lower-case names) and the raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Client:
    """A standard-library HTTP client for one sandbox, verifying TLS with the sandbox's CA."""

    url: str
    ca_file: Path | None
    timeout: float = 30.0

    def connection(self) -> http.client.HTTPConnection:
        """A new connection to the sandbox."""
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port
        if self.ca_file is None:
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = ADMIN,
    ) -> Reply:
        """Send one request on a new connection and read the whole answer."""
        all_headers = dict(headers or {})
        if auth is not None:
            all_headers.setdefault("Authorization", basic(*auth))
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            connection.close()

    def post_csv(
        self,
        content: bytes | str,
        *,
        tenant: str | None = "demo",
        auth: tuple[str, str] | None = ADMIN,
        name: str = "file",
        filename: str = "user-groups.csv",
        path: str = IMPORT,
    ) -> Reply:
        """POST `content` to an import endpoint (by default userGroups) as the contract says (the CSV as a
        multipart file)."""
        data = content.encode() if isinstance(content, str) else content
        body, content_type = multipart(data, name=name, filename=filename)
        path = path if tenant is None else f"{path}?tenantId={tenant}"
        return self.request("POST", path, body, {"Content-Type": content_type}, auth)

    def users(self, tenant: str = "demo") -> list[dict[str, str]]:
        """What the tenant holds (GET /api/sandbox/users)."""
        reply = self.request("GET", f"/api/sandbox/users?tenantId={tenant}")
        assert reply.status == 200, reply
        users: list[dict[str, str]] = reply.json()
        return users

    def contacts(self, tenant: str = "demo") -> list[dict[str, Any]]:
        """The tenant's contacts (GET /api/sandbox/contacts)."""
        reply = self.request("GET", f"/api/sandbox/contacts?tenantId={tenant}")
        assert reply.status == 200, reply
        contacts: list[dict[str, Any]] = reply.json()
        return contacts

    def inject(self, tenant: str = "demo", **fault: Any) -> Reply:
        """Queue a fault (POST /api/sandbox/faults), e.g. `inject(status=503, retry_after=1, count=2)`."""
        body = json.dumps(fault).encode()
        headers = {"Content-Type": "application/json"}
        return self.request("POST", f"/api/sandbox/faults?tenantId={tenant}", body, headers)

    def clear_faults(self, tenant: str = "demo") -> Reply:
        """Drop the tenant's pending faults (DELETE /api/sandbox/faults)."""
        return self.request("DELETE", f"/api/sandbox/faults?tenantId={tenant}")


@dataclass
class SandboxProcess:
    """`python -m runner sandbox` running as a child process."""

    process: subprocess.Popen[str]
    url: str
    ca_file: Path | None
    banner: list[str] = field(default_factory=list)

    @property
    def client(self) -> Client:
        """A client that trusts this sandbox's CA."""
        return Client(self.url, self.ca_file)

    def users(self, tenant: str = "demo") -> list[dict[str, str]]:
        """What the tenant holds."""
        return self.client.users(tenant)

    def inject(self, tenant: str, fault: Fault, count: int = 1) -> None:
        """Let the next `count` imports of `tenant` misbehave as `fault` says (as `Sandbox.inject`)."""
        reply = self.client.inject(tenant, **fault.to_json(count))
        assert reply.status == 200, reply

    def clear_faults(self, tenant: str) -> None:
        """Drop the pending faults of `tenant`."""
        reply = self.client.clear_faults(tenant)
        assert reply.status == 200, reply

    def stop(self, sig: int = STOP) -> int:
        """Send `sig` (by default SIGTERM, Ctrl-Break on Windows), wait for the exit and return its code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.stdout:
                self.process.stdout.close()


def start_sandbox_process(
    data: Path | None,
    *args: str,
    config: Path | None = None,
    log: IO[str] | None = None,
    cwd: Path | None = None,
) -> SandboxProcess:
    """Start `python -m runner sandbox --port 0 [--data DATA] [--config F] ARGS` and wait until it listens."""
    command = [sys.executable, "-m", "runner", "sandbox", "--port", "0", *args]
    if data is not None:
        command += ["--data", str(data)]
    if config is not None:
        command += ["--config", str(config)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log or subprocess.DEVNULL,
        encoding="utf-8",
        cwd=cwd,
        creationflags=GROUP,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    if not first.startswith("listening on "):
        process.kill()
        process.wait()
        raise RuntimeError(f"the sandbox did not start: {first!r} (exit {process.returncode})")
    url = first.removeprefix("listening on ")
    banner = [first]
    while (line := process.stdout.readline()) and not line.startswith("stop:"):
        banner.append(line.rstrip("\n"))
    tls_dir = data or (cwd or Path.cwd()) / ".infiniti-sync" / "sandbox"
    ca_file = None if "--no-tls" in args else tls_dir / "ca.pem"
    return SandboxProcess(process, url, ca_file, banner)
