"""The run archive: for every run, the file sent, Infiniti's raw answers and the report.

    ARCHIVE/TENANT/SPEC/20261128T021500.123456Z-12345/sent.csv, answer-1.json, report.json

Folders (0700) and files (0600) are readable only by their owner (the files hold personal data); the
runs of a tenant and spec are pruned to `keep_runs` after every run. Those modes are POSIX's: on Windows they
mean nothing (setting them changes nothing there), and what keeps the files private is the ACL of the
folder they are in (docs/guides/running.md, "The archive"). With `archive: false` there is no archive: a
run keeps its files in a temporary folder while it runs (runner/run.py).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from runner.csvfile import private_open
from runner.errors import StateError
from runner.secrets import redact


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


class Archive:
    """The archive folder of a project."""

    def __init__(self, root: Path, keep: int):
        self.root = root
        self.keep = keep

    def folder(self, tenant: str, spec: str) -> Path:
        """Where the runs of one tenant and spec are kept."""
        return self.root / tenant / spec

    def new_run(self, tenant: str, spec: str, started: datetime) -> Path:
        """A fresh folder for a run that starts at `started`; StateError when it cannot be made."""
        try:
            _private_dir(self.root)
            _private_dir(self.root / tenant)
            parent = _private_dir(self.folder(tenant, spec))
            stamp = started.strftime("%Y%m%dT%H%M%S.%fZ")
            return _private_dir(parent / f"{stamp}-{os.getpid()}")
        except OSError as err:
            raise StateError(
                f"archive {self.root}: cannot create a folder for the run: {err.strerror or err}",
                hint="check the project's archive setting and that this user may write there",
            ) from err

    def prune(self, tenant: str, spec: str) -> list[Path]:
        """Delete all but the newest `keep` runs of this tenant and spec; return what was deleted."""
        folder = self.folder(tenant, spec)
        if not folder.is_dir():
            return []
        runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)
        old = runs[: max(0, len(runs) - self.keep)]
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
        return old


def write_text(path: Path, text: str) -> None:
    """Write a file of the archive (owner-only, secrets redacted)."""
    with private_open(path) as handle:
        handle.write(redact(text))


def write_bytes(path: Path, body: bytes) -> None:
    """Write a raw answer to the archive (owner-only; secrets redacted where it is text)."""
    text = body.decode("utf-8", errors="surrogateescape")
    cleaned = redact(text).encode("utf-8", errors="surrogateescape")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as handle:
        handle.write(cleaned)
