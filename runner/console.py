"""Where commands write: standard output for results, standard error for messages and progress."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from runner.secrets import redact


@dataclass
class Console:
    """The streams a command writes to, and how chatty it may be."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    verbose: bool = False
    quiet: bool = False
    progress: bool = True

    @property
    def interactive(self) -> bool:
        """True when standard error is a terminal: only then is progress shown."""
        isatty = getattr(self.err, "isatty", None)
        return bool(isatty and isatty())

    def print(self, text: str = "") -> None:
        """Write a line of results to standard output."""
        self.out.write(redact(text) + "\n")

    def message(self, text: str) -> None:
        """Write a line for the person at the terminal to standard error, unless quiet."""
        if not self.quiet:
            self.err.write(redact(text) + "\n")

    def error(self, text: str) -> None:
        """Write an error to standard error, even when quiet."""
        self.err.write(redact(text) + "\n")


class Progress:
    """A single self-overwriting status line on standard error; silent unless interactive."""

    def __init__(self, console: Console, enabled: bool = True, interval: float = 0.2):
        self._console = console
        self._enabled = enabled and console.progress and console.interactive and not console.quiet
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
