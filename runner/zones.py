"""Time zones by IANA name (`Australia/Sydney`), as `timezone:` in the project file names them, and the
host's own zone, which cron uses when none is named.

The zone data is the system's (/usr/share/zoneinfo), or the `tzdata` package where the system has none
(Windows: a dependency there). Each function imports zoneinfo itself: a command that reads no schedule (a
run without --due) never loads it.
"""

from __future__ import annotations

import os
from datetime import tzinfo
from functools import lru_cache
from pathlib import Path

from runner.errors import UsageError
from runner.suggest import did_you_mean

EXAMPLE = "Australia/Sydney"


def problem(name: str) -> str | None:
    """What is wrong with the zone name `name`, or None when it names a zone."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, _names()) or did_you_mean(name.replace(" ", "_"), _names())
        if hint:
            return f"unknown time zone {name!r}; did you mean {hint!r}?"
        return f"unknown time zone {name!r}; use an IANA name such as {EXAMPLE!r}, Europe/London or UTC"
    return None


@lru_cache(maxsize=1)
def _names() -> frozenset[str]:
    """Every zone name known here (a scan of the zone files: only when a name is wrong)."""
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def zone(name: str | None) -> tzinfo:
    """The zone named `name` (checked by validate), or the host's own when None."""
    import zoneinfo

    if name is not None:
        return zoneinfo.ZoneInfo(name)
    found = host()
    if found is None:
        raise UsageError(
            "this host's time zone is not known by an IANA name, and the project names none",
            hint=f"add timezone: {EXAMPLE} (your zone) to the project file, or set the TZ variable",
        )
    return found


def host() -> tzinfo | None:
    """The host's time zone, as cron reads it: $TZ when it names a zone, else /etc/localtime; None when
    neither does (Windows without TZ)."""
    return _host(os.environ.get("TZ", ""))


@lru_cache(maxsize=4)
def _host(tz: str) -> tzinfo | None:
    import zoneinfo

    named = tz.lstrip(":")
    if named and problem(named) is None:
        return zoneinfo.ZoneInfo(named)
    local = Path("/etc/localtime")
    if not local.is_file():
        return None
    parts = local.resolve().parts  # a link into a zoneinfo folder names the zone (/usr/share, macOS' /var/db)
    if "zoneinfo" in parts:
        key = "/".join(parts[len(parts) - parts[::-1].index("zoneinfo") :])
        if problem(key) is None:
            return zoneinfo.ZoneInfo(key)
    with local.open("rb") as data:
        return zoneinfo.ZoneInfo.from_file(data, key="localtime")


def name_of(zone_: tzinfo) -> str:
    """A zone as messages show it (`Australia/Sydney`)."""
    return str(getattr(zone_, "key", None) or zone_)
