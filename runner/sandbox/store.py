"""What the sandbox holds: each tenant's users and their imported contacts, in memory, and also in a
SQLite file when given one.

A user is a mapping of contract field names to text (`username`, `library-group`, `system-group` and any
other field an import set); a user's contacts are a list of such mappings (`type`, `role`, `contact`...).
Changes are applied through `Store.apply`, which runs a whole import under one lock and commits all of its
changes or none. Only the records an import really changes are written: a file that sends the users as
they are (every run after the first, for a school whose data did not change) commits nothing, so the
sandbox answers it without touching the disk. The SQLite file is in WAL mode with `synchronous=NORMAL`:
a commit survives the sandbox being killed (not the machine losing power, which a sandbox need not), and
costs no flush to the disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from runner.contract import USER_FIELDS
from runner.errors import StateError

Record = Mapping[str, str]
Users = Mapping[str, Record]
UserChanges = dict[str, dict[str, str]]
Contacts = Mapping[str, list[Record]]  # username -> the contacts imported for the user
ContactChanges = dict[str, list[Record]]  # username -> the user's contacts now
R = TypeVar("R")

SCHEMA_VERSION = 2  # 2: contacts
_VALUE = {"users": "fields", "contacts": "records"}  # each table's JSON column (constants: no user input)
_ORDER = {name: i for i, name in enumerate(USER_FIELDS)}


def ordered(record: Record) -> dict[str, str]:
    """`record` with its fields in the contract's order (username and the groups first)."""
    return dict(sorted(record.items(), key=lambda item: (_ORDER.get(item[0], len(_ORDER)), item[0])))


class Store:
    """Each tenant's users; kept in `path` (a SQLite file) too when given, so they survive a restart."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Record]] = {}
        self._contacts: dict[str, dict[str, list[Record]]] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = _open(path)
            self._users = _read_all(self._db, path, "users")
            self._contacts = _read_all(self._db, path, "contacts")

    def users(self, tenant: str) -> list[dict[str, str]]:
        """The users of `tenant`, sorted by username, fields in the contract's order."""
        with self._lock:
            records = dict(self._users.get(tenant, {}))
        return [ordered(records[name]) for name in sorted(records)]

    def apply(self, tenant: str, plan: Callable[[Users], tuple[R, UserChanges]]) -> R:
        """Run `plan` on the current users of `tenant` under the lock and commit the changes it returns.

        `plan` returns its result and the new records by username; they are committed together (to the
        SQLite file first), or, if anything fails, not at all.
        """
        with self._lock:
            current = self._users.setdefault(tenant, {})
            result, changes = plan(current)
            self._commit("users", tenant, current, changes)
            return result

    def contacts(self, tenant: str) -> dict[str, list[Record]]:
        """The contacts imported for each user of `tenant`, by username (sorted)."""
        with self._lock:
            held = dict(self._contacts.get(tenant, {}))
        return {name: list(held[name]) for name in sorted(held)}

    def apply_contacts(self, tenant: str, plan: Callable[[Users, Contacts], tuple[R, ContactChanges]]) -> R:
        """As `apply`, for a contacts import: `plan` sees the users and their contacts and returns the new
        contacts of the users it changes, committed together or not at all."""
        with self._lock:
            users = self._users.setdefault(tenant, {})
            current = self._contacts.setdefault(tenant, {})
            result, changes = plan(users, current)
            self._commit("contacts", tenant, current, changes)
            return result

    def close(self) -> None:
        """Close the SQLite file, if any."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _commit(self, table: str, tenant: str, held: dict[str, Any], changes: Mapping[str, object]) -> None:
        """Write the values of `changes` that differ from those `held`, then hold them (called under the
        lock)."""
        changed = {name: value for name, value in changes.items() if held.get(name) != value}
        if changed:
            self._persist(table, tenant, changed)
            held.update(changed)

    def _persist(self, table: str, tenant: str, changes: Mapping[str, object]) -> None:
        """Write the new value (a user's fields, or its contacts) of each username in `changes`."""
        if self._db is None:
            return
        rows = [(tenant, name, json.dumps(value, ensure_ascii=False)) for name, value in changes.items()]
        try:
            with self._db:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {table} (tenant, username, {_VALUE[table]}) VALUES (?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as err:
            raise StateError(f"cannot write the sandbox's {table}: {err}") from err


def _open(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            db.close()
            raise StateError(f"{path} was written by a newer infiniti-sync sandbox (schema {version})")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        with db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS users (tenant TEXT NOT NULL, username TEXT NOT NULL, "
                "fields TEXT NOT NULL, PRIMARY KEY (tenant, username)) WITHOUT ROWID"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS contacts (tenant TEXT NOT NULL, username TEXT NOT NULL, "
                "records TEXT NOT NULL, PRIMARY KEY (tenant, username)) WITHOUT ROWID"
            )
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except (sqlite3.Error, OSError) as err:
        raise StateError(f"cannot use {path} as the sandbox's store: {err}") from err
    return db


def _read_all(db: sqlite3.Connection, path: Path, table: str) -> dict[str, dict[str, Any]]:
    """Tenant -> username -> the stored value (a user's fields, or its contacts) of `table`."""
    held: dict[str, dict[str, Any]] = {}
    try:
        for tenant, username, value in db.execute(f"SELECT tenant, username, {_VALUE[table]} FROM {table}"):
            held.setdefault(tenant, {})[username] = json.loads(value)
    except (sqlite3.Error, ValueError) as err:
        raise StateError(f"cannot read the sandbox's {table} from {path}: {err}") from err
    return held
