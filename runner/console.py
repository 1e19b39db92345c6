"""Where commands write: standard output for results, standard error for messages and progress.

Console is the one place anything is written to standard error. Messages are text lines for a person, or,
with `--log-format json`, one JSON object per line for a log collector:

    {"time": "2026-12-01T14:02:11.204Z", "level": "info", "event": "job.finished", "tenant": "stmarys",
     "spec": "staff", "outcome": "ok", "counts": {...}, "duration": 0.84, "message": "stmarys/staff: ok"}

Every object has every key (null when it does not apply). `-q` keeps only warnings and errors, each text
message on one line; progress lines are never written as JSON. Secrets are masked in both forms.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TextIO

from runner.records import record
from runner.secrets import redact

LogFormat = Literal["text", "json"]
Level = Literal["debug", "info", "warning", "error"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


@record
class Fields:
    """What a message is about, for the keys of a JSON log line beside its text."""

    tenant: str | None = None
    spec: str | None = None
    outcome: str | None = None
    counts: Mapping[str, int | None] | None = None
    duration: float | None = None


NO_FIELDS = Fields()


@dataclass
class Console:
    """The streams a command writes to, and how chatty it may be."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    verbose: bool = False
    quiet: bool = False
    progress: bool = True
    log_format: LogFormat = "text"

    @property
    def interactive(self) -> bool:
        """True when standard error is a terminal: only then is progress shown."""
        isatty = getattr(self.err, "isatty", None)
        return bool(isatty and isatty())

    def print(self, text: str = "") -> None:
        """Write a line of results to standard output."""
        self.out.write(redact(text) + "\n")

    def message(self, text: str, *, event: str = "message", about: Fields = NO_FIELDS) -> None:
        """Write a line for the person at the terminal to standard error, unless quiet."""
        self.log("info", event, text, about)

    def error(self, text: str, *, event: str = "error", about: Fields = NO_FIELDS) -> None:
        """Write an error to standard error, even when quiet."""
        self.log("error", event, text, about)

    def log(self, level: Level, event: str, text: str, about: Fields = NO_FIELDS) -> None:
        """Write a message of `level` (`-q` keeps warnings and errors), as text or as a JSON line."""
        if self.quiet and level in ("debug", "info"):
            return
        if self.log_format == "text":
            self.err.write(redact(one_line(text) if self.quiet else text) + "\n")
            return
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "event": event,
            "tenant": about.tenant,
            "spec": about.spec,
            "outcome": about.outcome,
            "counts": None if about.counts is None else dict(about.counts),
            "duration": about.duration,
            "message": redact(text),
        }
        self.err.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.err.flush()

    def reader_gone(self) -> None:
        """The reader of standard output went away (`| head`): nothing more is said, on any stream."""
        sys.stderr.close()


def one_line(text: str) -> str:
    """`text` on one line, as `-q` writes each problem: a hint after "; hint:", other lines after "; "."""
    text = text.replace("\n  hint: ", "; hint: ")
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


class Progress:
    """A single self-overwriting status line on standard error; silent unless interactive, and never in
    JSON logs or with `-q`."""

    def __init__(self, console: Console, enabled: bool = True, interval: float = 0.2):
        self._console = console
        self._enabled = (
            enabled
            and console.progress
            and console.interactive
            and not console.quiet
            and console.log_format == "text"
        )
        self._interval = interval
        self._last = 0.0
        self._width = 0

    def update(self, text: str, *, force: bool = False) -> None:
        """Show `text` as the current status, at most every `interval` seconds."""
        if not self._enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        pad = max(0, self._width - len(text))
        self._console.err.write("\r" + redact(text) + " " * pad)
        self._console.err.flush()
        self._width = len(text)

    def done(self) -> None:
        """Clear the status line."""
        if self._enabled and self._width:
            self._console.err.write("\r" + " " * self._width + "\r")
            self._console.err.flush()
            self._width = 0
