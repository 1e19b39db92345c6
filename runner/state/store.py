"""The state store: one code path of SQL written once, on the database's own DB-API driver, over the
database behind it (runner.state.backend).

A run is written in one transaction at its end (its history row and the fingerprints of the rows Infiniti
accepted; a held run's change, or the approval a run was sent by, used up), so a run killed at any moment
leaves the store exactly as it was before it. `plan` and `history`
open a store read-only (`open_existing`): they never create, migrate or write one.

Comparing reads what the state knows, sorted by fingerprint, as two arrays (runner.changes.Known) rather
than a Python object per user: the job's snapshot (runner.state.snapshot), kept beside its rows by `record`,
or, without one that holds the rows, the rows themselves, sorted by the store (SQLite in a temporary
B-tree, PostgreSQL in a sort that spills to disk): as fast, measured at a million users, as reading an index
on the fingerprint, which would double the cost of recording a first run (its rows come in random
fingerprint order). `plan`
on a version 1 store works all the same, hashing the usernames it reads (slower, and it holds them while
sorting), and says nothing: the next `run` upgrades the store.

For tests only: `StateStore.before_commit`, None in production, is called inside `record`'s transaction
just before the commit, so that a test (tests/support/paused.py) can kill a runner in the middle of recording.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from runner import stateurl
from runner.changes import Known, user_hash
from runner.dburl import unwritten_sqlite
from runner.errors import StateError, Where
from runner.secrets import remember_url, resolve
from runner.spec import Secret
from runner.state import schema, snapshot
from runner.state.backend import Backend, failure
from runner.state.connections import Session
from runner.state.schema import (
    APPROVALS,
    CHUNK,
    HELD,
    RUN_FIELDS,
    RUNS,
    SCHEMA_VERSION,
    SNAPSHOT,
    SYNCED,
    RunRecord,
    aware,
    record_of,
)
from runner.state.sqlite import SQLiteBackend

if TYPE_CHECKING:
    from runner.approve import Approval, Change

_FETCH = 5000  # rows read at a time when streaming the fingerprints (some 600 kB of Python objects)
_ASK_NAMES = 2000  # at most so many vanished users are asked for by fingerprint; more: every user is read
_IN_LIST = 500  # hashes in one IN list when asking for the names of vanished users
_KNOWN = (
    f"SELECT fingerprint, user_hash FROM {SYNCED.name} WHERE tenant = ? AND spec = ? "
    "ORDER BY fingerprint, user_hash"  # the order of a snapshot PostgreSQL makes (runner.state.postgres)
)
_NAMES = f"SELECT fingerprint, username FROM {SYNCED.name} WHERE tenant = ? AND spec = ?"
_OF_JOB = "WHERE s.tenant = ? AND s.spec = ?"
# A snapshot is read an array at a time, so that only one of its blobs is held at once; the run that wrote
# it, read with each, tells that both are of one snapshot, and the backend's condition (Backend.holds: the
# count of the job's rows, or of hand edits), asked in the same statement as its head, that it holds them.
_SNAPSHOT_HEAD = f"SELECT s.run_id, s.users FROM {SNAPSHOT.name} s {_OF_JOB} AND ({{holds}})"
_SNAPSHOT_RUN = f"SELECT s.run_id FROM {SNAPSHOT.name} s {_OF_JOB}"
_SNAPSHOT_DROP = f"DELETE FROM {SNAPSHOT.name} WHERE tenant = ? AND spec = ?"
_SNAPSHOT_WRITE = f"INSERT INTO {SNAPSHOT.name} ({SNAPSHOT.names}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_RUN = (
    f"INSERT INTO {RUNS.name} ({', '.join(RUN_FIELDS[1:])}) VALUES ({', '.join('?' for _ in RUN_FIELDS[1:])})"
)
_RUN_COLUMNS = ", ".join(f"r.{name}" for name in RUN_FIELDS)
_LAST_RUNS = (
    f"SELECT {_RUN_COLUMNS}, ok.ok FROM {RUNS.name} r"
    f" JOIN (SELECT tenant, spec, MAX(started_at) AS started FROM {RUNS.name} GROUP BY tenant, spec) last"
    " ON r.tenant = last.tenant AND r.spec = last.spec AND r.started_at = last.started"
    f" LEFT OUTER JOIN (SELECT tenant, spec, MAX(started_at) AS ok FROM {RUNS.name} WHERE outcome = ?"
    " GROUP BY tenant, spec) ok ON r.tenant = ok.tenant AND r.spec = ok.spec"
    " ORDER BY r.id"  # two runs of one start (never seen): the one recorded last wins
)
_RECENT = (
    f"SELECT {RUNS.names} FROM (SELECT {RUNS.names}, row_number() OVER (PARTITION BY tenant, spec"
    f" ORDER BY started_at DESC, id DESC) AS n FROM {RUNS.name} WHERE started_at >= ?{{tenants}}) numbered"
    " WHERE n <= ? ORDER BY tenant, spec, n"
)
_APPROVAL = tuple(c.name for c in APPROVALS.columns)
_CHANGE = 'lines, gone, "new", changed, vanished'


class StateStore:
    """The state store at a SQLite path or a PostgreSQL URL."""

    # Called inside record()'s transaction just before its commit; set only by tests.
    before_commit: ClassVar[Callable[[], None] | None] = None

    def __init__(self, backend: Backend):
        self.backend = backend
        self.connections = backend.connections
        self.display = backend.display
        self.version = SCHEMA_VERSION  # a read-only open may find an older store: see known()

    @classmethod
    def open(cls, state: str | Secret, *, environ: Mapping[str, str]) -> StateStore:
        """Open (creating or migrating) the store named by the project's `state`."""
        store = cls._connect(state, environ, create=True)
        try:
            store._migrate()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_existing(cls, state: str | Secret, *, environ: Mapping[str, str]) -> StateStore | None:
        """The store if it exists already, else None, for read-only commands: it is never created,
        migrated or written. A store written by a newer runner is refused as by `open`."""
        if unwritten_sqlite(state):
            return None
        store = cls._connect(state, environ, create=False)
        try:
            exists = store._check_existing()
        except BaseException:
            store.close()
            raise
        if not exists:
            store.close()
            return None
        return store

    @classmethod
    def _connect(cls, state: str | Secret, environ: Mapping[str, str], *, create: bool) -> StateStore:
        location = state if isinstance(state, str) else _from_secret(state, environ)
        if not stateurl.is_url(location):
            return cls(SQLiteBackend.open(location, create=create))
        from runner.state.postgres import PostgresBackend  # psycopg and SQLAlchemy's URL: only for PostgreSQL

        return cls(PostgresBackend.open(location, state))

    def close(self) -> None:
        """Release the store's connections."""
        self.connections.close()

    def _fail(self, what: str, err: Exception) -> StateError:
        return failure(self.display, what, err)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Session]:
        """A connection to read on; the driver's errors become StateError."""
        try:
            with self.connections.session() as session:
                yield session
        except self.backend.errors as err:
            raise self._fail("cannot read", err) from err

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._reading() as session:
            return session.all(sql, params)

    def _migrate(self) -> None:
        """Create the schema, or check its version, one runner at a time: a newer store is refused
        before anything in it is touched."""
        try:
            with self.connections.session() as session:  # a look first: nothing to do, nothing written
                if schema.up_to_date(session, self.backend, self.display):
                    return
            with self.backend.migrating() as session:
                schema.create_or_migrate(session, self.backend, self.display)
        except self.backend.errors as err:
            raise self._fail("cannot open", err) from err

    def _check_existing(self) -> bool:
        """Whether the store has been created (refusing one of a newer runner), without writing."""
        try:
            with self.connections.session() as session:
                version = schema.version(session, self.backend)
        except self.backend.errors as err:
            raise self._fail("cannot open", err) from err
        if version is not None and version > SCHEMA_VERSION:
            raise schema.newer(self.display, version)
        self.version = version or SCHEMA_VERSION
        return version is not None

    # --- reading ------------------------------------------------------------------------------

    def known(self, tenant: str, spec: str) -> Known:
        """What Infiniti last accepted for this tenant and spec, as comparing reads it: fingerprints and
        username hashes in fingerprint order in two arrays, 16 bytes a user, never a Python object per
        user; usernames are read afterwards, only those of users the file no longer has. The arrays are
        the job's snapshot (runner.state.snapshot) when it has one that holds its rows, else its rows
        streamed in fingerprint order (sorted by the store).

        A version 1 store (opened read-only by `plan`, which must not migrate it) has no hashes: its
        usernames are hashed here, which is slower and holds them while sorting; `run` upgrades it."""
        names = functools.partial(self._names, tenant, spec)
        if self.version >= schema.SNAPSHOTS and (kept := self._snapshot(tenant, spec)) is not None:
            return Known(*kept, names)
        if self.version < schema.HASHED:
            rows = self._rows(_NAMES, (tenant, spec))
            return Known.of_rows(((fp, user_hash(u)) for fp, u in rows), names)
        return Known(*_arrays(self._chunks(_KNOWN, (tenant, spec))), names)

    def _snapshot(self, tenant: str, spec: str) -> tuple[array[int], array[int]] | None:
        """The job's snapshot, None when it has none or it does not hold the job's rows."""
        with self._reading() as session:
            head = _snapshot_head(session, self.backend.holds(self.version), (tenant, spec))
            return None if head is None else _read_snapshot(self.backend, session, (tenant, spec), head)

    def _names(self, tenant: str, spec: str, wanted: Sequence[int]) -> Iterator[tuple[int, str]]:
        """(fingerprint, username) of the `wanted` fingerprints: asked for by fingerprint when they are
        few, else every user of the tenant and spec (the caller picks)."""
        if len(wanted) > _ASK_NAMES or self.version < schema.HASHED:
            yield from self._rows(_NAMES, (tenant, spec))
            return
        for start in range(0, len(wanted), _IN_LIST):
            part = list(wanted[start : start + _IN_LIST])
            yield from self._rows(f"{_NAMES} AND fingerprint IN ({_marks(part)})", (tenant, spec, *part))

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        for chunk in self._chunks(sql, params):
            yield from chunk

    def _chunks(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of a query in chunks, streamed as the backend streams them (a server-side cursor in
        PostgreSQL), so that no driver holds every row at once."""
        with self._reading() as session:
            yield from self.backend.stream(session, sql, params, _FETCH)

    def synced(self, tenant: str, spec: str) -> dict[str, int]:
        """Username -> fingerprint of every row Infiniti last accepted for this tenant and spec, as a
        dict: for tests and a look at a small store (comparing uses `known`, which holds no dict)."""
        sql = f"SELECT username, fingerprint FROM {SYNCED.name} WHERE tenant = ? AND spec = ?"
        return dict(self._read(sql, (tenant, spec)))

    def history(
        self, tenants: Iterable[str] = (), specs: Iterable[str] = (), limit: int = 20
    ) -> list[RunRecord]:
        """The most recent runs, newest first."""
        sql, params = _newest(RUNS, "finished_at", tenants, specs, limit)
        return [record_of(row) for row in self._read(sql, params)]

    def recent_runs(
        self, since: datetime, per_job: int, tenants: Iterable[str] | None = None
    ) -> dict[tuple[str, str], list[RunRecord]]:
        """The newest `per_job` runs started since `since` of each job (tenant, spec) of these tenants (None:
        every tenant), newest first, in one query (the run-history page of runner/htmlreport)."""
        chosen = None if tenants is None else sorted(set(tenants))
        if chosen == []:
            return {}
        where = "" if chosen is None else f" AND tenant IN ({_marks(chosen)})"
        params = [self.backend.moment(since), *(chosen or ()), per_job]
        found: dict[tuple[str, str], list[RunRecord]] = {}
        for row in self._read(_RECENT.format(tenants=where), params):
            record = record_of(row)
            found.setdefault((record.tenant, record.spec), []).append(record)
        return found

    def last_starts(
        self, tenant: str | None = None, spec: str | None = None
    ) -> dict[tuple[str, str], datetime]:
        """When the last recorded run of each job (tenant, spec) started, whatever its outcome, in one
        query for every job (or for one tenant and spec), read from an index alone."""
        where = " WHERE tenant = ? AND spec = ?" if tenant is not None else ""
        sql = f"SELECT tenant, spec, MAX(started_at) FROM {RUNS.name}{where} GROUP BY tenant, spec"
        rows = self._read(sql, (tenant, spec) if tenant is not None else ())
        return {(t, s): aware(started) for t, s, started in rows}  # SQLite's times as text, parsed once

    def last_runs(self) -> dict[tuple[str, str], tuple[RunRecord, datetime | None]]:
        """The last recorded run of every job (tenant, spec), and when its last ok run started (None: never
        ok), in one query for every job (the metrics of runner/metrics.py)."""
        found = {}
        for *row, last_ok in self._read(_LAST_RUNS, ("ok",)):
            record = record_of(tuple(row))
            found[record.tenant, record.spec] = (record, None if last_ok is None else aware(last_ok))
        return found

    def held(self, tenant: str, spec: str) -> tuple[int, Change] | None:
        """The id of the job's last held run and the change it found, or None (none recorded)."""
        from runner.approve import Change

        if self.version < schema.APPROVING:
            return None
        sql = f"SELECT run_id, {_CHANGE} FROM {HELD.name} WHERE tenant = ? AND spec = ?"
        rows = self._read(sql, (tenant, spec))
        if not rows:
            return None
        run_id, *change = rows[0]
        return run_id, Change.from_bytes(*change)

    def waiting(self, tenant: str, spec: str) -> Approval | None:
        """The approval waiting for the job (expired or not), with its change; None when there is none."""
        if self.version < schema.APPROVING:
            return None
        sql = (
            f"SELECT {APPROVALS.names} FROM {APPROVALS.name} WHERE tenant = ? AND spec = ? AND status = ?"
            " ORDER BY id DESC LIMIT 1"
        )
        rows = self._read(sql, (tenant, spec, "waiting"))
        return _approval(rows[0], with_change=True) if rows else None

    def approvals(
        self, tenants: Iterable[str] = (), specs: Iterable[str] = (), limit: int = 20
    ) -> list[Approval]:
        """The most recent approvals (without their changes), newest first, for history."""
        if self.version < schema.APPROVING:
            return []
        sql, params = _newest(APPROVALS, "approved_at", tenants, specs, limit)
        return [_approval(row, with_change=False) for row in self._read(sql, params)]

    # --- writing ------------------------------------------------------------------------------

    def record(
        self,
        run: RunRecord,
        accepted: Iterable[tuple[str, int]] = (),
        forget: Iterable[str] = (),
        *,
        held: Change | None = None,
        used: int | None = None,
    ) -> int:
        """Write a finished run and the fingerprints of its accepted rows, and drop those of the
        `forget` usernames (gone from the source), in one transaction; with it, the change a held run
        found (`held`), or the approval (`used`, its id) a run sent by, now used up."""
        moment = self.backend.moment
        values = [getattr(run, name) for name in RUN_FIELDS[1:]]
        values[2:4] = [moment(run.started_at), moment(run.finished_at)]
        try:
            with self.connections.transaction() as session:
                self.backend.recording(session)
                edits = self.backend.edits(session, SCHEMA_VERSION)  # before the rows: see _keep_snapshot
                run_id = self.backend.insert(session, _INSERT_RUN, values)
                before = _snapshot_head(session, self.backend.holds(SCHEMA_VERSION), (run.tenant, run.spec))
                tally = _Tally(-1 if before is None else int(before[1] * snapshot.UPDATE_SHARE))
                self.backend.write(session, run.tenant, run.spec, run_id, tally.through(accepted))
                forgotten = list(forget)
                _forget(session, run.tenant, run.spec, forgotten)
                job = (run.tenant, run.spec, run_id)
                self._keep_snapshot(session, job, before, tally, forgotten, edits=edits)
                if held is not None:
                    _hold(session, run.tenant, run.spec, run_id, held)
                if used is not None:
                    _close(session, [used], "used", used_by=run_id)
                if StateStore.before_commit is not None:
                    StateStore.before_commit()
                return run_id
        except self.backend.errors as err:
            raise self._fail("cannot record the run", err) from err

    def approve(self, approval: Approval, change: Change) -> list[Approval]:
        """Record `approval` of `change` (its id is the store's), replacing any approval still waiting for
        the job, in one transaction; the approvals replaced."""
        lines, gone = change.to_bytes()
        moment = self.backend.moment
        values = (
            *(approval.tenant, approval.spec, approval.run_id, approval.user, approval.host),
            *(moment(approval.approved_at), moment(approval.expires), "waiting", None, lines, gone),
            *(change.new, change.changed, change.vanished),
        )
        columns = ", ".join(schema.quoted(name) for name in _APPROVAL[1:])
        insert = f"INSERT INTO {APPROVALS.name} ({columns}) VALUES ({_marks(values)})"
        job = f"SELECT {APPROVALS.names} FROM {APPROVALS.name} WHERE tenant = ? AND spec = ? AND status = ?"
        try:
            with self.connections.transaction() as session:
                rows = session.all(job, (approval.tenant, approval.spec, "waiting"))
                replaced = [_approval(row, with_change=False) for row in rows]
                _close(session, [a.id for a in replaced], "replaced")
                self.backend.insert(session, insert, values)
                return replaced
        except self.backend.errors as err:
            raise self._fail("cannot record the approval", err) from err

    def _keep_snapshot(
        self,
        session: Session,
        job: tuple[str, str, int],
        before: tuple[int, int] | None,
        tally: _Tally,
        forgotten: list[str],
        *,
        edits: int | None,
    ) -> None:
        """Bring the snapshot of the job (tenant, spec, the run recorded) up to date with the rows `record`
        just wrote, given the head (`_snapshot_head`) it read before writing them: unchanged when the run
        changed no user; updated from the one before when it changed few; else made again from the rows
        inside the transaction (a first run, a big change, or no snapshot yet): by the database itself
        where it can (PostgreSQL), else read here in order. It keeps `edits`, the count of hand edits read
        before the rows were: a hand edit since (even one made while this transaction runs) leaves it
        untrusted, never trusted wrongly. Unchanged, the snapshot keeps its count, which `before` showed
        to be the count now."""
        changed = tally.count + len(forgotten)
        if before is not None and changed == 0:
            return
        tenant, spec, run_id = job
        kept = None
        if before is not None and not tally.overflow and snapshot.worth_updating(before[1], changed):
            kept = _read_snapshot(self.backend, session, (tenant, spec), before)
        session.execute(_SNAPSHOT_DROP, (tenant, spec))
        if kept is not None:
            arrays = list(kept)
            del kept
            gone = {h for _, h in tally.pairs} | {user_hash(u) for u in forgotten}
            snapshot.update(arrays, gone, tally.pairs)
        elif self.backend.build_snapshot(session, job, edits):
            return
        else:
            arrays = list(_arrays(self.backend.stream(session, _KNOWN, (tenant, spec), _FETCH)))
        # Written an array at a time, each let go once written: a million users hold 8 MB at once, not 32.
        session.execute(_SNAPSHOT_WRITE, (tenant, spec, run_id, len(arrays[0]), b"", b"", edits))
        for column in ("fingerprints", "hashes"):
            self.backend.write_blob_array(session, SNAPSHOT.name, column, (tenant, spec), arrays.pop(0))

    # --- locks --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(
        self, tenant: str, spec: str, *, wait: float = 0.0, where: Where | None = None
    ) -> Iterator[None]:
        """Hold the lock of this tenant and spec for the duration of the block."""
        where = where or Where(tenant=tenant, spec=spec)
        deadline = time.monotonic() + max(0.0, wait)
        taken = self.backend.locks.take(tenant, spec, deadline, where)
        try:
            yield
        finally:
            taken.release()


def _snapshot_head(session: Session, holds: str, job: tuple[str, str]) -> tuple[int, int] | None:
    """The run that wrote the job's (tenant, spec) snapshot and how many users it holds; None when there is
    none, or it does not hold the job's rows (the backend's condition `holds`, asked in the same statement).
    `record` asks inside its transaction before it writes the run's rows."""
    found = session.first(_SNAPSHOT_HEAD.format(holds=holds), job)
    return None if found is None else (int(found[0]), int(found[1]))


def _read_snapshot(
    backend: Backend, session: Session, job: tuple[str, str], head: tuple[int, int]
) -> tuple[array[int], array[int]] | None:
    """The snapshot of the job (tenant, spec) whose `_snapshot_head` is `head`, an array at a time, each
    blob read into its array; None when another was written while it was read (the run that wrote it,
    read after, is not the head's)."""
    written_by, users = head
    prints = backend.blob_array(session, SNAPSHOT.name, "fingerprints", job)
    hashes = backend.blob_array(session, SNAPSHOT.name, "hashes", job)
    tail = session.first(_SNAPSHOT_RUN, job)
    if prints is None or hashes is None or tail is None or tail[0] != written_by:
        return None
    return (prints, hashes) if len(prints) == len(hashes) == users else None


def _arrays(chunks: Iterable[Sequence[Any]]) -> tuple[array[int], array[int]]:
    """The fingerprints and username hashes of (fingerprint, user_hash) rows read in chunks, as two arrays."""
    fingerprints, hashes = array("q"), array("q")
    for chunk in chunks:
        pairs = array("q", itertools.chain.from_iterable(chunk))  # in C: no tuple a column
        fingerprints.extend(pairs[0::2])
        hashes.extend(pairs[1::2])
    return fingerprints, hashes


class _Tally:
    """The accepted rows of a run on their way to the backend, each given its username hash once; the
    (fingerprint, hash) of the first `limit` kept for updating the job's snapshot (more: it is made again)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.count = 0
        self.pairs: list[tuple[int, int]] = []

    @property
    def overflow(self) -> bool:
        """Whether more rows came than were kept."""
        return self.count > len(self.pairs)

    def through(self, accepted: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int, int]]:
        """(username, fingerprint, username hash) of each accepted row, counted and kept as they pass."""
        for username, fp in accepted:
            h = user_hash(username)
            self.count += 1
            if self.count <= self.limit:
                self.pairs.append((fp, h))
            yield username, fp, h


def _marks(values: Sequence[Any]) -> str:
    """As many ? marks as `values`, for an IN list or a VALUES row."""
    return ", ".join(["?"] * len(values))


def _forget(session: Session, tenant: str, spec: str, usernames: list[str]) -> None:
    for start in range(0, len(usernames), CHUNK):
        part = usernames[start : start + CHUNK]
        sql = f"DELETE FROM {SYNCED.name} WHERE tenant = ? AND spec = ? AND username IN ({_marks(part)})"
        session.execute(sql, (tenant, spec, *part))


def _hold(session: Session, tenant: str, spec: str, run_id: int, change: Change) -> None:
    """Keep `change` as the job's last held change, in place of the one before."""
    lines, gone = change.to_bytes()
    session.execute(f"DELETE FROM {HELD.name} WHERE tenant = ? AND spec = ?", (tenant, spec))
    values = (tenant, spec, run_id, lines, gone, change.new, change.changed, change.vanished)
    session.execute(f"INSERT INTO {HELD.name} ({HELD.names}) VALUES ({_marks(values)})", values)


def _close(session: Session, ids: Sequence[int | None], status: str, used_by: int | None = None) -> None:
    """Mark waiting approvals `status`, their changes dropped; only a waiting one changes, so that no two
    runs use one approval."""
    if ids:
        sql = (
            f"UPDATE {APPROVALS.name} SET status = ?, used_by = ?, lines = NULL, gone = NULL"
            f" WHERE id IN ({_marks(ids)}) AND status = ?"
        )
        session.execute(sql, (status, used_by, *ids, "waiting"))


def _newest(
    table: schema.Table, when: str, tenants: Iterable[str], specs: Iterable[str], limit: int
) -> tuple[str, list[Any]]:
    """The query of the `limit` newest rows of `table` by `when` (then id), of these tenants and specs
    (none: all), and its parameters."""
    tenants, specs = list(tenants), list(specs)
    where = [
        f"{name} IN ({_marks(values)})" for name, values in (("tenant", tenants), ("spec", specs)) if values
    ]
    sql = f"SELECT {table.names} FROM {table.name}" + (f" WHERE {' AND '.join(where)}" if where else "")
    return f"{sql} ORDER BY {when} DESC, id DESC LIMIT ?", [*tenants, *specs, limit]


def _approval(row: Sequence[Any], *, with_change: bool) -> Approval:
    from runner.approve import Approval, Change

    values = dict(zip(_APPROVAL, row, strict=True))
    change = None
    if with_change and values["lines"] is not None:
        change = Change.from_bytes(
            *(values[name] for name in ("lines", "gone", "new", "changed", "vanished"))
        )
    return Approval(
        id=values["id"],
        tenant=values["tenant"],
        spec=values["spec"],
        run_id=values["run_id"],
        user=values["user"],
        host=values["host"],
        approved_at=aware(values["approved_at"]),
        expires=aware(values["expires"]),
        status=values["status"],
        used_by=values["used_by"],
        change=change,
    )


def _from_secret(state: Secret, environ: Mapping[str, str]) -> str:
    """The `state` a secret holds: a SQLite path or a PostgreSQL URL, checked as validate checks a literal
    one (UsageError otherwise, with the value kept out of every message)."""
    location = resolve(state, environ, what="state", mask=False)
    if stateurl.problem(location) is not None:
        remember_url(location)  # whatever it holds, it may hold a password
    hint = f"fix the value of {state}; a PostgreSQL URL looks like {stateurl.EXAMPLE}"
    stateurl.check(location, what=f"state ({state})", hint=hint)
    return location
