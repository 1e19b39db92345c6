"""A tenant's Infiniti address (`url`): https://, no user information, http:// only for this machine.

`validate` checks an address written in the file (the schema's pattern, then `_literal_secrets` and
`clear_text()` in runner/validate.py); an address read from a secret when a run starts (`url: {env: ...}`,
for a sandbox on a port that changes) is checked by `check()` with the same rules and words. Messages
never quote a value read from a secret.
"""

from __future__ import annotations

import re

from runner.errors import UsageError

LOOPBACK = re.compile(r"^(?:https?|smtp)://(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?(/|$)")
PATTERN = re.compile(r"^https?://[^/?#\s]+(/[^?#\s]*)?$")  # the project schema's, for the tenant's url
EXAMPLE = "https://stmarys.concordinfiniti.com"
CLEAR_TEXT = (
    "use https://: the password would cross the network in clear text "
    "(http:// is accepted only for a sandbox on this machine)"
)


def clear_text(url: str) -> bool:
    """Whether the password would cross the network unencrypted to `url` (http:// off this machine)."""
    return url.startswith("http://") and not LOOPBACK.match(url)


def problem(url: str) -> str | None:
    """What keeps `url` from being a tenant's Infiniti address, or None."""
    if not PATTERN.match(url):
        return (
            "not an Infiniti address: one starts with https:// and has no spaces, query or fragment, "
            f"for example {EXAMPLE}"
        )
    if "@" in url.partition("://")[2].partition("/")[0]:
        return (
            "the address holds user information: give the address alone, the user in username: and the "
            "password in password:"
        )
    return CLEAR_TEXT if clear_text(url) else None


def check(url: str, *, what: str) -> None:
    """UsageError (exit 2) when `url`, read from a secret, is no usable address (`what` names it)."""
    found = problem(url)
    if found is not None:
        raise UsageError(f"{what}: {found}", hint="correct the value the secret holds")
