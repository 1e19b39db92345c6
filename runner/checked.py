"""Projects already validated: so that a command that loads a project validates it once per content, not on
every run (a department's project of 5,000 tenants takes over a second to validate, and a cron job or a
CronJob per tenant would pay that on every start).

A project whose files (the project file, its tenant files and every spec, as text, with their paths) and
whose runner (this package's version and files) are the same as when they last passed validation with no
error passes again without being validated; anything else is validated as usual. Warnings do not stop a
pass being kept: loading a project never shows them (only `validate` does, and it always checks), and a
project with one (a tenant's ca_bundle missing on the machine that validated it, say) would otherwise be
validated again by every run, however many tenants it has. A strict load validates every time. What is
kept is one empty file per passing content, named by its SHA-256, in the cache folder:

    INFINITI_SYNC_CACHE            when set (empty: keep nothing, validate every time)
    %LOCALAPPDATA%\\infiniti-sync\\validated      Windows
    ~/Library/Caches/infiniti-sync/validated    macOS
    $XDG_CACHE_HOME/infiniti-sync/validated (default ~/.cache/...)   elsewhere

A folder that cannot be written (a read-only container) only means validating every time. `validate` itself
always validates everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

from runner import __version__
from runner.files import Files

VARIABLE = "INFINITI_SYNC_CACHE"
KEEP = 200  # passing contents kept; the oldest go first


def folder(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where passing contents are kept; None when keeping is off, or when there is no home folder to keep
    them in (HOME unset and a user id with no passwd entry, as in a container)."""
    if VARIABLE in environ:
        return Path(environ[VARIABLE]) / "validated" if environ[VARIABLE] else None
    try:
        if sys.platform == "win32" and environ.get("LOCALAPPDATA"):
            base = Path(environ["LOCALAPPDATA"])
        elif sys.platform == "darwin":
            base = Path.home() / "Library" / "Caches"
        else:
            base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # Path.home(): "Could not determine home directory."
        return None
    return base / "infiniti-sync" / "validated"


@cache
def _runner() -> bytes:
    """What identifies this runner's rules: its version, and the size and time of each of its files (so a
    working copy that changes a rule never trusts a pass of the rules before)."""
    package = os.path.dirname(os.path.realpath(__file__))
    digest = hashlib.sha256(__version__.encode())
    for name, stat in sorted(_rule_files(package, "")):
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.digest()


def _rule_files(folder: str, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    """Each .py and .json file under `folder` (none in __pycache__ or in a linked folder), by its name from
    the package's folder, with its stat: one listing a folder, where Path.rglob lists each twice."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    yield from _rule_files(entry.path, f"{prefix}{entry.name}/")
            elif entry.name.endswith((".py", ".json")):
                yield f"{prefix}{entry.name}", entry.stat()


def key(files: Files) -> str:
    """The SHA-256 of the project's files and of the runner."""
    digest = hashlib.sha256(_runner())
    for doc in ([files.project] if files.project else []) + files.tenant_files + files.specs:
        digest.update(f"{doc.path}\0{len(doc.text)}\0".encode())
        digest.update(doc.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def passed(files: Files, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether these files passed validation before, with no error."""
    where = folder(environ)
    return where is not None and (where / key(files)).is_file()


def remember(files: Files, environ: Mapping[str, str] = os.environ) -> None:
    """Keep a note that these files pass; any failure to write only means validating next time."""
    where = folder(environ)
    if where is None:
        return
    with contextlib.suppress(OSError):
        where.mkdir(parents=True, exist_ok=True)
        (where / key(files)).touch()
        kept = sorted(where.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-KEEP]:
            old.unlink(missing_ok=True)
