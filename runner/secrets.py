"""Reading secrets at run time, and keeping them out of everything the runner writes.

A secret is read only when a command needs it (never by `validate`). Every value read is remembered for the
life of the process so that `redact()` can blank it out of any text before it is printed, logged, archived
or reported, whatever path it took to get there (an error message from a driver, a URL, a traceback).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping

from runner.errors import UsageError
from runner.spec import Secret

MASK = "***"


class _Known:
    """The secret values read by this process, and one pattern that finds any of them."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self.lock = threading.Lock()

    def add(self, value: str) -> None:
        with self.lock:
            if value not in self.values:
                self.values.add(value)
                ordered = sorted(self.values, key=len, reverse=True)
                self.pattern = re.compile("|".join(re.escape(v) for v in ordered))


_known = _Known()


def remember(value: str) -> str:
    """Register `value` as secret, so redact() hides it; returns it unchanged."""
    if len(value) >= 3:  # shorter strings would blank out ordinary text; nobody uses them
        _known.add(value)
    return value


_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@:?#]*(?::(?P<password>[^/@?#]*))?@)?")
_QUERY_SECRET = re.compile(r"[?&]((?:ssl)?password|passwd|pwd)=([^&#]+)", re.IGNORECASE)


def remember_url(url: str) -> str:
    """Register the password of a database URL (as written, and decoded) and any password-like query
    value, not the whole URL, so that messages can still say which server; returns `url` unchanged."""
    from urllib.parse import unquote

    match = _URL_PASSWORD.match(url)
    if match is None:
        return remember(url)  # not a URL we can read: keep all of it out of every message
    for value in [match["password"] or "", *(value for _, value in _QUERY_SECRET.findall(url))]:
        if value:
            remember(value)
            remember(unquote(value))
    return url


def known_values() -> set[str]:
    """Every secret value read so far (a worker process hands them to its parent, which masks them too)."""
    with _known.lock:
        return set(_known.values)


def forget_all() -> None:
    """Forget every secret read so far (for tests, which run many projects in one process)."""
    with _known.lock:
        _known.values.clear()
        _known.pattern = None


def redact(text: str) -> str:
    """`text` with every secret read so far replaced by ***."""
    pattern = _known.pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def resolve(secret: Secret, environ: Mapping[str, str], *, what: str, mask: bool = True) -> str:
    """The value of `secret` (`what` names it in messages, e.g. "tenant stmarys: password").

    With `mask=False` the caller remembers the secret parts itself: a database URL's password, so that
    messages can still name the server and database.
    """
    if secret.env is not None:
        value = environ.get(secret.env)
        if value is None or value == "":
            raise UsageError(
                f"{what}: environment variable {secret.env} is not set",
                hint=f"set {secret.env} before running, or use {{file: PATH}} for a secret file",
            )
        return remember(value) if mask else value
    assert secret.file is not None
    try:
        with secret.file.open(encoding="utf-8") as handle:
            value = handle.readline().rstrip("\r\n")
    except OSError as err:
        raise UsageError(f"{what}: cannot read secret file {secret.file}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise UsageError(f"{what}: secret file {secret.file} is not UTF-8 text") from err
    if not value:
        raise UsageError(f"{what}: secret file {secret.file} is empty")
    return remember(value) if mask else value
