"""The Infiniti sandbox: a local server that follows Concord's autoSync userGroups contract to the letter,
and serves the patron contacts import as far as public sources show it (runner/sandbox/contacts.py).

    from runner.sandbox import Sandbox, demo_config, Fault
    with Sandbox(demo_config(), port=0, tls_dir=tmp_path) as sb:   # serves in a background thread
        sb.url                      # "https://127.0.0.1:54321"
        sb.ca_file                  # the CA to trust (None without TLS)
        sb.users("demo")            # what the tenant holds, as GET /api/sandbox/users returns it
        sb.contacts("demo")         # its contacts, as GET /api/sandbox/contacts returns them
        sb.inject("demo", Fault(status=503, retry_after=1), count=2)

`infiniti-sync sandbox` serves the same from the command line.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from runner.errors import UsageError
from runner.sandbox.config import Config, TenantConfig, User, demo_config, load_config, parse_config
from runner.sandbox.contacts import listing
from runner.sandbox.faults import Fault
from runner.sandbox.server import IMPORT_PATH, Log, SandboxServer, Service, quiet
from runner.sandbox.store import Store
from runner.sandbox.tls import TlsFiles, ensure, server_context

__all__ = [
    "DB_FILE",
    "IMPORT_PATH",
    "Config",
    "Fault",
    "Sandbox",
    "TenantConfig",
    "User",
    "demo_config",
    "load_config",
    "parse_config",
]

DB_FILE = "sandbox.db"
STOP_GRACE = 5.0


class Sandbox:
    """A running sandbox: listening from construction, serving in a background thread once started.

    `data_dir` keeps the users in `data_dir/sandbox.db` (else they live in memory) and is the default
    TLS folder. Without `tls_dir` or `data_dir`, TLS files go to a temporary folder removed on stop.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        tls_dir: Path | None = None,
        data_dir: Path | None = None,
        log: Log = quiet,
    ):
        self.config = config or demo_config()
        self._temporary: Path | None = None
        self.tls_files: TlsFiles | None = self._tls(tls, tls_dir or data_dir)
        self._store = Store(data_dir / DB_FILE if data_dir else None)
        self._service = Service(self.config, self._store, log=log)
        for tenant, body in self.config.tenants.items():
            for fault, count in body.faults:
                self._service.faults.add(tenant, fault, count)
        self._server = self._bind(host, port)
        self._thread: threading.Thread | None = None

    def _tls(self, tls: bool, folder: Path | None) -> TlsFiles | None:
        if not tls:
            return None
        if folder is None:
            self._temporary = folder = Path(tempfile.mkdtemp(prefix="infiniti-sandbox-"))
        return ensure(folder)

    def _bind(self, host: str, port: int) -> SandboxServer:
        context = server_context(self.tls_files) if self.tls_files else None
        try:
            return SandboxServer((host, port), self._service, context)
        except OSError as err:
            self._store.close()
            self._cleanup()
            raise UsageError(
                f"cannot listen on {host}:{port}: {err.strerror or err}",
                hint="choose another --port (0 picks a free one)",
            ) from err

    @property
    def port(self) -> int:
        """The port it listens on (the free one chosen when asked for port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. `https://127.0.0.1:8443` (a wildcard host shows as loopback)."""
        host = str(self._server.server_address[0])
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 (only rewritten)
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_files else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate that clients trust to verify the sandbox (None without TLS)."""
        return self.tls_files.ca_file if self.tls_files else None

    def start(self) -> Sandbox:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, let requests in progress finish (a few seconds at most), close the store."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._service.wait_idle(STOP_GRACE)
        self._store.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def users(self, tenant: str) -> list[dict[str, str]]:
        """The users `tenant` holds, sorted by username, as `GET /api/sandbox/users` returns them."""
        self._known(tenant)
        return self._store.users(tenant)

    def contacts(self, tenant: str) -> list[dict[str, object]]:
        """The contacts `tenant` holds (imported, then added by hand), as `GET /api/sandbox/contacts`."""
        self._known(tenant)
        return listing(self.config.tenants[tenant], self._store.contacts(tenant))

    def inject(self, tenant: str, fault: Fault, count: int = 1) -> int:
        """Let the next `count` imports of `tenant` misbehave as `fault` says; returns how many wait."""
        self._known(tenant)
        return self._service.faults.add(tenant, fault, count)

    def clear_faults(self, tenant: str) -> int:
        """Drop the pending faults of `tenant`; returns how many there were."""
        self._known(tenant)
        return self._service.faults.clear(tenant)

    def pending_faults(self, tenant: str) -> int:
        """How many faults of `tenant` are still waiting for an import request."""
        return self._service.faults.pending(tenant)

    def _known(self, tenant: str) -> None:
        if tenant not in self.config.tenants:
            raise UsageError(f"the sandbox has no tenant {tenant!r}")
