"""The project's exceptions, and the exit code each one means.

    SyncError                   base: a failure the user can act on (never shows a traceback)
    ├── UsageError        2     a command line that cannot be carried out (unknown tenant, bad option)
    ├── SpecError         2     an invalid project file or spec; carries every problem found
    ├── SourceError       3     a source could not be read (unreachable, refused, broken export)
    │   └── QueryError    2     the spec's query or params do not fit the source (missing table, syntax)
    ├── InfinitiError     3     Infiniti could not be reached or gave no usable answer (TLS, network, HTML)
    │   └── AuthError     3     Infiniti refused the credentials
    ├── StateError        3     the state store cannot be used (unreachable, written by a newer runner)
    └── LockHeld          3     another run holds the tenant and spec

Checks that do not hold (pre-checks, guards, expectations) are results, not exceptions: they give exit 1.
Anything else that escapes is a bug (exit 4); an interrupt is 130.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from runner.records import record

EXIT_OK = 0
EXIT_CHECK = 1
EXIT_USAGE = 2
EXIT_OUTSIDE = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130
# What each exit code means, the same for every command (the documentation's table of exit codes).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "all well",
    EXIT_CHECK: "a declared check did not hold: a pre-check, a guard (`min_rows`, `max_change`), an "
    "expectation; `approve` found no held run to approve",
    EXIT_USAGE: "usage error, or an invalid project file or spec",
    EXIT_OUTSIDE: "an outside failure stopped the work (source unreachable, credentials refused, TLS, "
    "network, server error, lock held); nothing was recorded as synced",
    EXIT_INTERNAL: "internal error: a bug (a short message; `-v` shows the traceback)",
    EXIT_INTERRUPTED: "interrupted",
}

Severity = Literal["error", "warning"]


@record
class Problem:
    """One finding about a project or spec file, located at a line, column and JSON path."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: Severity = "error"
    rule: str = "schema"

    def __str__(self) -> str:
        kind = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {kind}{self.message}"

    def to_json(self) -> dict[str, int | str]:
        """The finding as `validate --format json` gives it."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "path": self.path,
            "severity": self.severity,
            "rule": self.rule,
            "message": self.message,
        }


@record
class Where:
    """Which tenant, spec and connection a failure belongs to (each optional)."""

    tenant: str | None = None
    spec: str | None = None
    connection: str | None = None

    def __str__(self) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (
                ("tenant", self.tenant),
                ("spec", self.spec),
                ("connection", self.connection),
            )
            if value
        ]
        return ", ".join(parts)


class SyncError(Exception):
    """A failure the user can act on; the message says where and what to do."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, where: Where | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where or Where()
        self.hint = hint

    def __str__(self) -> str:
        place = str(self.where)
        text = f"{place}: {self.message}" if place else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, int | str]:
        """The error as the JSON reports give it: its exit code and its message (hint included)."""
        return {"exit_code": self.exit_code, "message": str(self)}

    def at(self, where: Where) -> SyncError:
        """Fill in the parts of `where` this error does not know yet, and return it."""
        self.where = Where(
            tenant=self.where.tenant or where.tenant,
            spec=self.where.spec or where.spec,
            connection=self.where.connection or where.connection,
        )
        return self


class UsageError(SyncError):
    """The command line cannot be carried out as given."""

    exit_code = EXIT_USAGE


class SpecError(SyncError):
    """The project file or a spec is invalid; `problems` lists every finding."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: Sequence[Problem], *, message: str | None = None):
        errors = [p for p in problems if p.severity == "error"]
        summary = message or "\n".join(str(p) for p in errors)
        super().__init__(summary)
        self.problems = list(problems)


class SourceError(SyncError):
    """A source could not be read: unreachable, credentials refused, a broken export."""

    exit_code = EXIT_OUTSIDE


class QueryError(SourceError):
    """The spec's query or params do not fit the source: a missing table or column, bad SQL."""

    exit_code = EXIT_USAGE


class InfinitiError(SyncError):
    """Infiniti could not be reached, or its answer could not be used."""

    exit_code = EXIT_OUTSIDE

    def __init__(
        self,
        message: str,
        *,
        where: Where | None = None,
        hint: str | None = None,
        status: int | None = None,
        notes: Sequence[str] = (),
    ):
        super().__init__(message, where=where, hint=hint)
        self.status = status
        self.notes = tuple(notes)  # what each attempt of the exchange did, for -v


class AuthError(InfinitiError):
    """Infiniti refused the credentials (HTTP 401 or "Unauthorised")."""


class StateError(SyncError):
    """The state store cannot be used."""

    exit_code = EXIT_OUTSIDE


class LockHeld(SyncError):
    """Another run holds the lock of this tenant and spec."""

    exit_code = EXIT_OUTSIDE
