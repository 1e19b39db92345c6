"""A keyring backend that keeps its entries in one JSON file, for tests: real `keyring` semantics (`keyring
set`, `keyring get`, get_password) without the user's own keychain.

A child process selects it through keyring's own environment variables:

    PYTHON_KEYRING_BACKEND=tests.support.keyrings.FileKeyring  INFINITI_SYNC_TEST_KEYRING=/tmp/x/keyring.json

and `keyring.set_keyring(FileKeyring(path))` selects it in this process (the `keyring` fixture of
tests/test_keyring.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

BACKEND = f"{__name__}.FileKeyring"
VARIABLE = "INFINITI_SYNC_TEST_KEYRING"


class FileKeyring(KeyringBackend):
    """Entries as {service: {username: password}} in the JSON file `path` (default:
    $INFINITI_SYNC_TEST_KEYRING)."""

    @properties.classproperty
    def priority(cls) -> float:
        """Viable only where $INFINITI_SYNC_TEST_KEYRING names its file: never the keyring keyring picks
        by itself."""
        if VARIABLE not in os.environ:
            raise RuntimeError(f"{VARIABLE} is not set")
        return 1.0

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring leaves it unannotated
        self.path = path or Path(os.environ[VARIABLE])

    def _entries(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        entries: dict[str, dict[str, str]] = json.loads(self.path.read_text(encoding="utf-8"))
        return entries

    def get_password(self, service: str, username: str) -> str | None:
        """The password stored for `username` of `service`, or None."""
        return self._entries().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store `password` for `username` of `service`."""
        entries = self._entries()
        entries.setdefault(service, {})[username] = password
        self.path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")

    def delete_password(self, service: str, username: str) -> None:
        """Remove the entry; PasswordDeleteError when there is none."""
        entries = self._entries()
        if entries.get(service, {}).pop(username, None) is None:
            raise PasswordDeleteError(f"no entry for {username} of {service}")
        self.path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
