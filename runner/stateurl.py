"""A project's `state`: a SQLite file path or a PostgreSQL URL, and nothing in between.

A value that starts with `SCHEME://` is a URL and must be one the runner can use: PostgreSQL, with a port
that is a number. Anything else is a SQLite file path, unless it looks like a URL that went wrong (it holds
`//` or `@`, or starts with `NAME:`): a typo such as `postgresql//root:PW@host/db` must not become a brand-new
local store (no shared locks, no history) in a folder named after the password.

`validate` checks a literal `state` with `problem()`; the runner checks a `state` read from a secret the
same way (`check()`). Neither needs SQLAlchemy: `_AFTER_SCHEME` is SQLAlchemy's own URL grammar
(sqlalchemy.engine.url._parse_url), so a value that passes here is read the same way there. Messages never
quote the value: it may hold a password.
"""

from __future__ import annotations

import re

from runner.errors import UsageError

POSTGRES_SCHEMES = ("postgresql", "postgres")  # optionally +DRIVER, as in postgresql+psycopg
EXAMPLE = "postgresql://USER@HOST:5432/DATABASE"
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_LOOKS_LIKE_A_URL = re.compile(r"//|@|^[A-Za-z][A-Za-z0-9+.-]+:")  # one letter and : is a Windows drive
_AFTER_SCHEME = re.compile(
    r"""
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.VERBOSE,
)
_PORT = re.compile(r"[0-9]{1,5}")


def is_url(value: str) -> bool:
    """Whether `value` is written as a URL (SCHEME://...) rather than a SQLite file path."""
    return _SCHEME.match(value) is not None


def problem(value: str) -> str | None:
    """What is wrong with `value` as a project's `state`, or None for a SQLite file path or a usable
    PostgreSQL URL."""
    match = _SCHEME.match(value)
    if match is None:
        if _LOOKS_LIKE_A_URL.search(value):
            return (
                "looks like a database URL but does not parse as one: a URL starts with its scheme and ://, "
                f"as in {EXAMPLE}; a SQLite file path holds no //, @ or NAME: prefix"
            )
        return None
    scheme = match["scheme"]
    backend = scheme.partition("+")[0]
    if backend not in POSTGRES_SCHEMES:
        if backend.lower() == "sqlite":
            return "write the SQLite file's path itself (such as .infiniti-sync/state.db), not sqlite://"
        return f"{scheme}:// is not a store the runner can use: write a SQLite file path or a PostgreSQL URL"
    parts = _AFTER_SCHEME.match(value, match.end())
    assert parts is not None  # every part is optional
    if "@" in (parts["ipv4host"] or ""):
        return "the URL holds more than one @: write an @ in the user or password as %40"
    port = parts["port"]
    if port and not (_PORT.fullmatch(port) and 0 < int(port) < 65536):
        return (
            "the URL's port (after the host and :) is not a number from 1 to 65535; "
            "a password goes before the host, as in postgresql://USER:PASSWORD@HOST:5432/DATABASE"
        )
    return None


def check(value: str, *, what: str, hint: str) -> None:
    """UsageError (exit 2) when `value` cannot be a `state` (`what` names the setting, `hint` where to fix
    it)."""
    found = problem(value)
    if found is not None:
        raise UsageError(f"{what}: {found}", hint=hint)
