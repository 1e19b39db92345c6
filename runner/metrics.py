"""Prometheus metrics of the runs: `run --metrics-file PATH` writes them for node_exporter's textfile
collector, and `metrics: {pushgateway: URL}` in the project file pushes them to a Pushgateway.

Both hold the whole picture, read in one query after the jobs ran, from the state store the run has open
(never opened a second time): the last recorded run of every job of the project (of the shard, with
--shard) that has one, not only the jobs this invocation ran. A collector shows only what the last write
held, and with `run --due` most invocations run few jobs or none; a job skipped under its lock is not a
run, and a job removed from the project drops out. Every gauge has the labels `tenant` and `spec`:

    infiniti_sync_last_run_timestamp_seconds        when the last run started (Unix seconds)
    infiniti_sync_last_run_outcome{outcome=...}     1 for its outcome, 0 for the others (ok, held, failed,
                                                    error)
    infiniti_sync_last_run_exit_code                its exit code (0 ok, 1 held or failed, 2, 3)
    infiniti_sync_last_run_duration_seconds         from its start to its record
    infiniti_sync_last_success_timestamp_seconds    when the last ok run started; 0 when none ever was ok
    infiniti_sync_last_run_rows_read, _rows_sent    rows read from the source, and sent
    infiniti_sync_last_run_users_created, _users_updated, _users_failed     Infiniti's counts (absent
                                                    when it gave none: a run held or stopped before)

The file is replaced atomically (a temporary file in its folder, then a rename), so a collector never reads
half of one; it cannot be written: exit 3, after the report. A Pushgateway that cannot take the metrics is
reported and never changes the exit code. An https:// Pushgateway's certificate is verified as every other
TLS connection's is: against the system's CAs, or those of `metrics: {ca_bundle: PATH}`. The
`prometheus-client` library is an optional extra, imported only here.
"""

from __future__ import annotations

import base64
import http.client
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import HTTPSHandler, Request, build_opener

from runner import due, jobs
from runner.atomic import replace_file
from runner.console import Console
from runner.errors import EXIT_OK, EXIT_OUTSIDE, SyncError, UsageError
from runner.records import record
from runner.secrets import remember_basic, remember_url, resolve
from runner.spec import Project, Secret
from runner.state import RunRecord, StateStore

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

EXTRA = "pip install 'infiniti-sync[metrics]'"
JOB = "infiniti-sync"  # the Pushgateway's job label
PUSH_TIMEOUT = 10.0  # seconds for each of connecting, sending and reading the Pushgateway's answer
OUTCOMES = ("ok", "held", "failed", "error")
_PREFIX = "infiniti_sync_"
_LABELS = ("tenant", "spec")

Job = tuple[str, str]
LastRun = tuple[RunRecord, datetime | None]  # the last run, and the start of the last ok one

_GAUGES: tuple[tuple[str, str, Callable[[LastRun], float | None]], ...] = (
    (
        "last_run_timestamp_seconds",
        "When the last run of the job started, in seconds since the Unix epoch.",
        lambda last: last[0].started_at.timestamp(),
    ),
    (
        "last_run_exit_code",
        "The exit code of the last run: 0 ok, 1 held or failed, 2 invalid, 3 an outside failure.",
        lambda last: last[0].exit_code,
    ),
    (
        "last_run_duration_seconds",
        "How long the last run took, from its start to its record.",
        lambda last: (last[0].finished_at - last[0].started_at).total_seconds(),
    ),
    (
        "last_success_timestamp_seconds",
        "When the last ok run of the job started, in seconds since the Unix epoch; 0 if none was ok.",
        lambda last: last[1].timestamp() if last[1] is not None else 0.0,
    ),
    ("last_run_rows_read", "Rows the last run read from the source.", lambda last: last[0].rows_read),
    ("last_run_rows_sent", "Rows the last run sent to Infiniti.", lambda last: last[0].rows_sent),
    ("last_run_users_created", "Users Infiniti created in the last run.", lambda last: last[0].created),
    ("last_run_users_updated", "Users Infiniti updated in the last run.", lambda last: last[0].updated),
    ("last_run_users_failed", "Users Infiniti did not import in the last run.", lambda last: last[0].failed),
)


@record
class Reading:
    """What the metrics show, read from the state: the last run of each job; or why it could not be read."""

    last_runs: Mapping[Job, LastRun]
    error: SyncError | None = None


@record
class Publisher:
    """Where this invocation's metrics go: a file, a Pushgateway (its address read), or both."""

    project: Project
    shard: tuple[int, int] | None
    file: Path | None
    pushgateway: str | None
    context: ssl.SSLContext | None = None  # verifying the Pushgateway's certificate: metrics.ca_bundle's CAs

    @classmethod
    def prepare(
        cls, project: Project, file: Path | None, shard: tuple[int, int] | None, environ: Mapping[str, str]
    ) -> Publisher | None:
        """The publisher of a run, checked before any job runs (UsageError: the library is missing, the
        file's folder does not exist, the Pushgateway's secret cannot be read); None when there is none."""
        if file is None and project.pushgateway is None:
            return None
        try:
            import prometheus_client  # noqa: F401
        except ImportError as err:
            asked = "--metrics-file" if file is not None else "metrics.pushgateway in the project file"
            raise UsageError(
                f"{asked} needs the prometheus-client library, which is not installed",
                hint=f"install it with: {EXTRA}",
            ) from err
        if file is not None and not file.parent.is_dir():
            raise UsageError(
                f"--metrics-file {file}: the folder {file.parent} does not exist",
                hint="name a file in a folder that exists: node_exporter's --collector.textfile.directory",
            )
        if project.pushgateway is None:
            return cls(project, shard, file, None)
        address = _address(project.pushgateway, environ)
        return cls(project, shard, file, address, _context(project.pushgateway_ca_bundle))

    def read(self, state: StateStore) -> Reading:
        """The last run of each job of the project (of the shard) that has one, in the project's order, read
        in one query from the store the run has open, after its jobs ran (never a second open)."""
        every = jobs.select(self.project)
        if self.shard is not None:
            every = due.in_shard(every, *self.shard)
        try:
            found = state.last_runs()
        except SyncError as err:
            return Reading({}, err)
        named = ((job.tenant.name, job.spec.name) for job in every)
        return Reading({key: found[key] for key in named if key in found})

    def publish(self, reading: Reading, console: Console) -> int:
        """Write and push the metrics read; EXIT_OUTSIDE when the file was asked for and is not written."""
        if reading.error is not None:
            console.error(f"error: no metrics: {reading.error}", event="metrics")
            return EXIT_OUTSIDE if self.file is not None else EXIT_OK
        registry = registry_of(reading.last_runs)
        code = EXIT_OK if self.file is None else _write(self.file, registry, console)
        if self.pushgateway is not None:
            self._push(registry, console)
        return code

    def _push(self, registry: CollectorRegistry, console: Console) -> None:
        """PUT the metrics to the Pushgateway (replacing its group's); a failure is a message only."""
        from prometheus_client import push_to_gateway

        assert self.pushgateway is not None and self.context is not None
        gateway, handler = _gateway(self.pushgateway, self.context)
        grouping = {} if self.shard is None else {"shard": f"{self.shard[0]}/{self.shard[1]}"}
        try:
            push_to_gateway(gateway, JOB, registry, grouping, timeout=PUSH_TIMEOUT, handler=handler)
        except (OSError, http.client.HTTPException, ValueError) as err:
            console.error(
                f"error: the Pushgateway at {gateway} did not take the metrics: {_reason(err)}\n"
                "  hint: the runs are recorded and the exit code is theirs; the next run pushes again",
                event="metrics",
            )


def registry_of(last_runs: Mapping[Job, LastRun]) -> CollectorRegistry:
    """A registry of its own holding the gauges of these last runs."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    outcome = Gauge(
        f"{_PREFIX}last_run_outcome",
        "The outcome of the last run: 1 for the one it had, 0 for the others.",
        [*_LABELS, "outcome"],
        registry=registry,
    )
    gauges = [(Gauge(_PREFIX + n, text, _LABELS, registry=registry), value) for n, text, value in _GAUGES]
    for job, last in last_runs.items():
        for state in dict.fromkeys([*OUTCOMES, last[0].outcome]):
            outcome.labels(*job, state).set(1 if state == last[0].outcome else 0)
        for gauge, value in gauges:
            if (number := value(last)) is not None:
                gauge.labels(*job).set(number)
    return registry


def _write(path: Path, registry: CollectorRegistry, console: Console) -> int:
    """Replace the metrics file; EXIT_OUTSIDE, said on standard error, when it cannot be written."""
    from prometheus_client import generate_latest

    try:
        replace_file(path, generate_latest(registry), mode=0o644)  # node_exporter runs as its own user
    except OSError as err:
        console.error(
            f"error: cannot write the metrics file {path}: {err.strerror or err}\n"
            "  hint: name a file this account may write, in a folder of its own; the runs are recorded",
            event="metrics",
        )
        return EXIT_OUTSIDE
    return EXIT_OK


def _address(pushgateway: str | Secret, environ: Mapping[str, str]) -> str:
    """The Pushgateway's address, read from its secret and checked as validate checks a written one."""
    if not isinstance(pushgateway, Secret):
        return pushgateway
    address = remember_url(resolve(pushgateway, environ, what="metrics.pushgateway", mask=False))
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{pushgateway.named('metrics.pushgateway')}: not an http:// or https:// address",
            hint=f"fix the value of {pushgateway}, for example http://pushgateway.monitoring:9091",
        )
    return address


def _context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The verifying TLS context of an https:// Pushgateway: metrics.ca_bundle's CAs, else the system's
    (made as every other TLS connection's is, runner.client)."""
    from runner.client import tls_context

    try:
        return tls_context(ca_bundle)
    except UsageError as err:
        raise UsageError(
            f"metrics.{err.message}",
            hint="give the PEM file of the CA that signed the Pushgateway's certificate, relative to the "
            "project file",
        ) from err


def _gateway(address: str, context: ssl.SSLContext) -> tuple[str, Callable[..., Callable[[], None]]]:
    """The address without its user information, and the handler that sends to it: over TLS verified with
    `context`, and with the user information as HTTP Basic auth."""
    parts = urlsplit(address)
    authorization = None
    bare = address
    if parts.username is not None:
        user, password = parts.username, parts.password or ""
        remember_basic(user, password)
        authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    def handler(
        url: str, method: str, timeout: float | None, headers: Sequence[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            request = Request(url, data=data, method=method)  # noqa: S310 (http:// or https://, checked)
            for name, value in [*headers, *([("Authorization", authorization)] if authorization else [])]:
                request.add_header(name, value)
            with build_opener(HTTPSHandler(context=context)).open(request, timeout=timeout):
                pass  # an answer of 400 or more is an HTTPError

        return send

    return bare, handler


def _reason(err: Exception) -> str:
    """Why a push failed, in a few words."""
    if isinstance(err, HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, URLError) and isinstance(err.reason, ssl.SSLCertVerificationError):
        return (
            f"TLS: the Pushgateway's certificate was not verified ({err.reason.verify_message}); a "
            "certificate from a private CA goes in metrics.ca_bundle"
        )
    if isinstance(err, URLError):
        return str(err.reason)
    return str(err) or type(err).__name__
