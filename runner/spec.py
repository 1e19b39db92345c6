"""The project and its specs as immutable records, built from files that passed validation.

Nothing past this module handles raw YAML: every other part of the runner reads these records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from runner.imports import IMPORTS, Import
from runner.records import record

GROUP_COLUMNS = {"library-group": "library", "system-group": "system"}
COUNTS = ("processed", "created", "updated", "failed")
# A tenant's request settings when the project file does not give them: their one home (the project schema's
# "default"s are held equal to these by tests/test_defaults.py).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0
RETRY_ATTEMPTS = 4
RETRY_MAX_TIME = 300.0

Mode = Literal["full", "incremental"]
Duplicates = Literal["error", "first", "last"]


def frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only view of `mapping` (nested mappings too)."""
    return MappingProxyType(
        {k: frozen(v) if isinstance(v, Mapping) else v for k, v in (mapping or {}).items()}
    )


@record
class Secret:
    """A secret's address: an environment variable, a file or an entry (service, username) of the operating
    system's keyring. The value is read only when needed."""

    env: str | None = None
    file: Path | None = None
    keyring: tuple[str, str] | None = None
    at: str | None = field(default=None, compare=False)  # where it is written (`infiniti-sync.yaml:15`)

    def named(self, what: str) -> str:
        """`what` (`tenant stmarys: password`) with where the secret is written, when that is known."""
        return f"{what} ({self.at})" if self.at else what

    def __str__(self) -> str:
        if self.keyring is not None:
            return f"{{keyring: {'/'.join(self.keyring)}}}"
        return f"{{env: {self.env}}}" if self.env else f"{{file: {self.file}}}"


@record
class Connection:
    """A named source of rows: a database URL or CSV files."""

    name: str
    url: str | Secret | None = None
    files: Path | None = None
    encoding: str = "utf-8"
    delimiter: str = ","


@record
class Email:
    """An SMTP server to mail a digest through, and who gets it."""

    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = True
    tls: bool = False  # implicit TLS (SMTPS)
    username: str | None = None
    password: Secret | None = None


NOTIFY_ON = ("failed", "held", "error", "recovered")


@record
class Notify:
    """Who hears how a run went (runner/notify.py): the outcomes told, and where to."""

    on: frozenset[str] = frozenset(NOTIFY_ON)
    webhook: str | Secret | None = None
    ping: str | Secret | None = None
    email: Email | None = None
    ca_bundle: Path | None = None


@record
class Tenant:
    """One school's Infiniti, its credentials and its sources."""

    name: str
    url: str | Secret  # a Secret is read when the run starts (a sandbox on a port that changes)
    username: str
    password: Secret
    specs: tuple[str, ...]
    tenant_id: str | None = None
    ca_bundle: Path | None = None
    connections: Mapping[str, Connection] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    spec_schedules: Mapping[str, str] = field(default_factory=dict)  # a spec's own, by spec name
    timezone: str | None = None  # None: the project's
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    retry_attempts: int = RETRY_ATTEMPTS
    retry_max_time: float = RETRY_MAX_TIME
    batch_size: int | None = None
    notify: Notify | None = None  # besides the project's
    specs_at: str | None = field(default=None, compare=False)  # where `specs:` is written (file:line)

    def schedule_of(self, spec: str) -> str | None:
        """When `spec` is due for this tenant: its own schedule, else the tenant's (None: never)."""
        return self.spec_schedules.get(spec, self.schedule)

    def context(self) -> Mapping[str, Any]:
        """What templates see as `tenant` (never the credentials; `url` only when the file gives it, not a
        secret read when the run starts)."""
        shown = {"name": self.name, "id": self.tenant_id or self.name}
        return frozen(shown if isinstance(self.url, Secret) else {**shown, "url": self.url})


@record
class Amount:
    """A count, or a percentage of some total."""

    value: float
    percent: bool = False

    @classmethod
    def parse(cls, raw: int | str) -> Amount:
        """`25` or `"25%"`."""
        if isinstance(raw, str):
            return cls(float(raw.rstrip("%")), percent=True)
        return cls(float(raw))

    def of(self, total: int) -> float:
        """The amount as a count, given the total it is a percentage of."""
        return self.value * total / 100 if self.percent else self.value

    def __str__(self) -> str:
        number = f"{self.value:g}"
        return f"{number}%" if self.percent else number


@record
class SourceSpec:
    """Where a spec's rows come from."""

    connection: str
    query: str
    params: Mapping[str, Any] = field(default_factory=dict)
    id_columns: tuple[str, ...] = ()


@record
class Groups:
    """The library and system groups that exist in Infiniti."""

    library: frozenset[str]
    system: frozenset[str]

    def of(self, column: str) -> frozenset[str]:
        """The groups allowed in `column` (library-group or system-group)."""
        return self.library if GROUP_COLUMNS[column] == "library" else self.system


@record
class Checks:
    """Checks before anything is sent."""

    min_rows: int | None = None
    max_change: Amount | None = None
    max_invalid: Amount = Amount(0)
    duplicates: Duplicates = "error"


@record
class CountExpectation:
    """What one count of Infiniti's summary must be."""

    exact: int | None = None
    rows_sent: bool = False
    min: Amount | None = None
    max: Amount | None = None

    @classmethod
    def parse(cls, raw: int | str | Mapping[str, Any]) -> CountExpectation:
        """`3`, `rows_sent` or `{min: 1, max: 5%}`."""
        if raw == "rows_sent":
            return cls(rows_sent=True)
        if isinstance(raw, int):
            return cls(exact=raw)
        assert isinstance(raw, Mapping)
        low, high = raw.get("min"), raw.get("max")
        return cls(
            min=None if low is None else Amount.parse(low),
            max=None if high is None else Amount.parse(high),
        )

    def __str__(self) -> str:
        if self.rows_sent:
            return "rows_sent"
        if self.exact is not None:
            return str(self.exact)
        parts = [f"{k} {v}" for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        return ", ".join(parts)


DEFAULT_SUCCESS = True
DEFAULT_FAILED = CountExpectation(exact=0)


@record
class Expect:
    """What Infiniti's answer must show. A key the spec does not name keeps its default: `success` true
    (DEFAULT_SUCCESS) and `failed` 0 (DEFAULT_FAILED, rows tolerated by `allow` set aside)."""

    success: bool | None = None  # None: not named, DEFAULT_SUCCESS holds
    counts: Mapping[str, CountExpectation] = field(default_factory=dict)
    allow: re.Pattern[str] | None = None


@record
class ExpectedFinding:
    """An expected pre-check finding in a spec test."""

    row: int
    check: str
    message: str | None = None


@record
class SpecTest:
    """One example inside a spec: rows in, CSV rows or findings out."""

    name: str
    rows: tuple[Mapping[str, Any], ...]
    line: int
    vars: Mapping[str, Any] = field(default_factory=dict)
    tenant: str = "test"
    csv: tuple[Mapping[str, str], ...] | None = None
    findings: tuple[ExpectedFinding, ...] | None = None


@record
class Spec:
    """A sync spec: source, mapping, groups, checks and expectations."""

    name: str
    path: Path
    source: SourceSpec
    columns: tuple[tuple[str, str], ...]
    groups: Groups = Groups(frozenset(), frozenset())
    description: str = ""
    import_name: str = "userGroups"
    import_mode: str | None = None  # the path's mode, for an import that has one (None: its default)
    lookups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    where: str | None = None
    mode: Mode = "full"
    checks: Checks = Checks()
    expect: Expect = Expect()
    tests: tuple[SpecTest, ...] = ()
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def header(self) -> tuple[str, ...]:
        """The import file's column names, in order."""
        return tuple(name for name, _ in self.columns)

    @property
    def kind(self) -> Import:
        """The import the spec posts to (runner.imports)."""
        return IMPORTS[self.import_name]

    @property
    def import_path(self) -> str:
        """The path after /api/import/: `userGroups`, or `userContacts/MODE`."""
        return self.kind.path(self.import_mode or self.kind.default_mode)


@record
class Project:
    """The project file and every spec it can run."""

    path: Path
    specs_dir: Path
    state: str | Secret
    archive: Path | None  # None: `archive: false`, nothing is kept
    keep_runs: int
    tenants: Mapping[str, Tenant]
    specs: Mapping[str, Spec]
    timezone: str | None = None  # None: the host's
    pushgateway: str | Secret | None = None  # metrics: {pushgateway: URL} (runner/metrics.py)
    pushgateway_ca_bundle: Path | None = None  # metrics: {ca_bundle: PATH}: the CAs trusted for it
    notify: Notify | None = None  # hears every job

    @property
    def root(self) -> Path:
        """The folder of the project file; relative paths start here."""
        return self.path.parent
