"""The state store: one SQLAlchemy Core code path over the database behind it (runner.state.backend).

A run is written in one transaction at its end (its history row and the fingerprints of the rows Infiniti
accepted; a held run's change, or the approval a run was sent by, used up), so a run killed at any moment
leaves the store exactly as it was before it. `plan` and `history`
open a store read-only (`open_existing`): they never create, migrate or write one.

Comparing reads what the state knows, sorted by fingerprint, as two arrays (runner.changes.Known) rather
than a Python object per user. The store sorts them itself (SQLite in a temporary B-tree, PostgreSQL in a
sort that spills to disk): as fast, measured at a million users, as reading an index on the fingerprint,
which would double the cost of recording a first run (its rows come in random fingerprint order). `plan`
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

from sqlalchemy import Connection, Select, Table, and_, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from runner import stateurl
from runner.changes import Known, user_hash
from runner.dburl import unwritten_sqlite
from runner.errors import StateError, Where
from runner.secrets import remember_url, resolve
from runner.spec import Secret
from runner.state import schema, snapshot
from runner.state.backend import Backend, failure
from runner.state.postgres import PostgresBackend
from runner.state.schema import (
    CHUNK,
    SCHEMA_VERSION,
    RunRecord,
    approvals_table,
    aware,
    held_table,
    record_of,
    runs_table,
    snapshots_table,
    synced_table,
)
from runner.state.sqlite import SQLiteBackend

if TYPE_CHECKING:
    from runner.approve import Approval, Change

_FETCH = 5000  # rows read at a time when streaming the fingerprints (some 600 kB of Python objects)
_ASK_NAMES = 2000  # at most so many vanished users are asked for by fingerprint; more: every user is read
_IN_LIST = 500  # hashes in one IN list when asking for the names of vanished users
_KNOWN = (
    f"SELECT fingerprint, user_hash FROM {synced_table.name} WHERE tenant = ? AND spec = ? "
    "ORDER BY fingerprint"
)
_NAMES = f"SELECT fingerprint, username FROM {synced_table.name} WHERE tenant = ? AND spec = ?"
_ROWS_OF_JOB = f"SELECT COUNT(*) FROM {synced_table.name} r WHERE r.tenant = s.tenant AND r.spec = s.spec"
_OF_JOB = "WHERE s.tenant = ? AND s.spec = ?"
# A snapshot is read an array at a time, so that only one of its blobs is held at once; the run that wrote
# it, read with each, tells that both are of one snapshot, and the count of the job's rows, read in the same
# statement as the snapshot's, that it holds them.
_SNAPSHOT_PRINTS = (
    f"SELECT s.run_id, s.users, ({_ROWS_OF_JOB}), s.fingerprints FROM {snapshots_table.name} s {_OF_JOB}"
)
_SNAPSHOT_HASHES = f"SELECT s.run_id, s.hashes FROM {snapshots_table.name} s {_OF_JOB}"
_SNAPSHOT_USERS = f"SELECT s.run_id, s.users, ({_ROWS_OF_JOB}) FROM {snapshots_table.name} s {_OF_JOB}"
_SNAPSHOT_DROP = f"DELETE FROM {snapshots_table.name} WHERE tenant = ? AND spec = ?"
_SNAPSHOT_WRITE = (
    f"INSERT INTO {snapshots_table.name} (tenant, spec, run_id, users, fingerprints, hashes) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


class StateStore:
    """The state store at a SQLite path or a PostgreSQL URL."""

    # Called inside record()'s transaction just before its commit; set only by tests.
    before_commit: ClassVar[Callable[[], None] | None] = None

    def __init__(self, backend: Backend):
        self.backend = backend
        self.engine = backend.engine
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
        return cls(PostgresBackend.open(location, state))

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def _fail(self, what: str, err: Exception) -> StateError:
        return failure(self.display, what, err)

    def _migrate(self) -> None:
        """Create the schema, or check its version, one runner at a time: a newer store is refused
        before anything in it is touched."""
        try:
            with self.backend.migrating() as conn:
                schema.create_or_migrate(conn, self.display)
        except SQLAlchemyError as err:
            raise self._fail("cannot open", err) from err

    def _check_existing(self) -> bool:
        """Whether the store has been created (refusing one of a newer runner), without writing."""
        try:
            with self.engine.connect() as conn:
                version = schema.version(conn)
        except SQLAlchemyError as err:
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
        return _read_snapshot(lambda sql: next(iter(self._rows(sql, (tenant, spec))), None))

    def _names(self, tenant: str, spec: str, wanted: Sequence[int]) -> Iterator[tuple[int, str]]:
        """(fingerprint, username) of the `wanted` fingerprints: asked for by fingerprint when they are
        few, else every user of the tenant and spec (the caller picks)."""
        if len(wanted) > _ASK_NAMES or self.version < schema.HASHED:
            yield from self._rows(_NAMES, (tenant, spec))
            return
        for start in range(0, len(wanted), _IN_LIST):
            part = list(wanted[start : start + _IN_LIST])
            marks = ", ".join(["?"] * len(part))
            yield from self._rows(f"{_NAMES} AND fingerprint IN ({marks})", (tenant, spec, *part))

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        for chunk in self._chunks(sql, params):
            yield from chunk

    def _chunks(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of a query (written with ? placeholders) in chunks, through the driver's own cursor
        (a server-side one in PostgreSQL), so that no driver holds every row at once."""
        errors = (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)
        try:
            with self.engine.connect() as conn:
                yield from self._chunks_of(conn, sql, params)
        except errors as err:
            raise self._fail("cannot read", err) from err

    def _chunks_of(self, conn: Connection, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of a query in chunks, read on `conn` (inside its transaction, if one is open)."""
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = self.backend.cursor(raw)
        try:
            cursor.execute(sql.replace("?", self.backend.mark), tuple(params))
            while chunk := cursor.fetchmany(_FETCH):
                yield chunk
        finally:
            cursor.close()

    def synced(self, tenant: str, spec: str) -> dict[str, int]:
        """Username -> fingerprint of every row Infiniti last accepted for this tenant and spec, as a
        dict: for tests and a look at a small store (comparing uses `known`, which holds no dict)."""
        mark = self.backend.mark
        try:
            with self.engine.connect() as conn:
                rows = conn.exec_driver_sql(  # the driver's own rows: a hundred thousand in a blink
                    f"SELECT username, fingerprint FROM {synced_table.name} "
                    f"WHERE tenant = {mark} AND spec = {mark}",
                    (tenant, spec),
                )
                return dict(rows.all())
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

    def history(
        self, tenants: Iterable[str] = (), specs: Iterable[str] = (), limit: int = 20
    ) -> list[RunRecord]:
        """The most recent runs, newest first."""
        query = _newest(runs_table, runs_table.c.finished_at, tenants, specs, limit)
        try:
            with self.engine.connect() as conn:
                return [record_of(row._mapping) for row in conn.execute(query)]
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

    def recent_runs(
        self, since: datetime, per_job: int, tenants: Iterable[str] | None = None
    ) -> dict[tuple[str, str], list[RunRecord]]:
        """The newest `per_job` runs started since `since` of each job (tenant, spec) of these tenants (None:
        every tenant), newest first, in one query (the run-history page of runner/htmlreport)."""
        runs = runs_table
        number = func.row_number().over(
            partition_by=(runs.c.tenant, runs.c.spec), order_by=(runs.c.started_at.desc(), runs.c.id.desc())
        )
        recent = select(runs, number.label("n")).where(runs.c.started_at >= since)
        if tenants is not None:
            recent = recent.where(runs.c.tenant.in_(sorted(set(tenants))))
        numbered = recent.subquery()
        query = (
            select(*(numbered.c[c.name] for c in runs.columns))
            .where(numbered.c.n <= per_job)
            .order_by(numbered.c.tenant, numbered.c.spec, numbered.c.n)
        )
        found: dict[tuple[str, str], list[RunRecord]] = {}
        try:
            with self.engine.connect() as conn:
                for row in conn.execute(query):
                    record = record_of(row._mapping)
                    found.setdefault((record.tenant, record.spec), []).append(record)
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err
        return found

    def last_starts(
        self, tenant: str | None = None, spec: str | None = None
    ) -> dict[tuple[str, str], datetime]:
        """When the last recorded run of each job (tenant, spec) started, whatever its outcome, in one
        query for every job (or for one tenant and spec), read from an index alone."""
        mark = self.backend.mark
        where = f" WHERE tenant = {mark} AND spec = {mark}" if tenant is not None else ""
        sql = f"SELECT tenant, spec, MAX(started_at) FROM {runs_table.name}{where} GROUP BY tenant, spec"
        try:
            with self.engine.connect() as conn:  # the driver's own rows: SQLite's times as text, parsed once
                rows = conn.exec_driver_sql(sql, (tenant, spec) if tenant is not None else ())
                return {(t, s): aware(started) for t, s, started in rows}
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

    def last_runs(self) -> dict[tuple[str, str], tuple[RunRecord, datetime | None]]:
        """The last recorded run of every job (tenant, spec), and when its last ok run started (None: never
        ok), in one query for every job (the metrics of runner/metrics.py)."""
        runs = runs_table
        job = (runs.c.tenant, runs.c.spec)
        last = select(*job, func.max(runs.c.started_at).label("started")).group_by(*job).subquery()
        ok = (
            select(*job, func.max(runs.c.started_at).label("ok"))
            .where(runs.c.outcome == "ok")
            .group_by(*job)
            .subquery()
        )
        same = (
            runs.c.tenant == last.c.tenant,
            runs.c.spec == last.c.spec,
            runs.c.started_at == last.c.started,
        )
        query = (
            select(runs, ok.c.ok)
            .select_from(
                runs.join(last, and_(*same)).outerjoin(
                    ok, and_(runs.c.tenant == ok.c.tenant, runs.c.spec == ok.c.spec)
                )
            )
            .order_by(runs.c.id)  # two runs of one start (never seen): the one recorded last wins
        )
        try:
            with self.engine.connect() as conn:
                found = {}
                for row in conn.execute(query):
                    values = dict(row._mapping)
                    last_ok = values.pop("ok")
                    record = record_of(values)
                    found[record.tenant, record.spec] = (record, None if last_ok is None else aware(last_ok))
                return found
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

    def held(self, tenant: str, spec: str) -> tuple[int, Change] | None:
        """The id of the job's last held run and the change it found, or None (none recorded)."""
        from runner.approve import Change

        table = held_table
        if self.version < schema.APPROVING:
            return None
        query = select(table).where(table.c.tenant == tenant, table.c.spec == spec)
        row = self._first(query)
        if row is None:
            return None
        return row.run_id, Change.from_bytes(row.lines, row.gone, row.new, row.changed, row.vanished)

    def waiting(self, tenant: str, spec: str) -> Approval | None:
        """The approval waiting for the job (expired or not), with its change; None when there is none."""
        table = approvals_table
        if self.version < schema.APPROVING:
            return None
        query = select(table).where(
            table.c.tenant == tenant, table.c.spec == spec, table.c.status == "waiting"
        )
        row = self._first(query.order_by(table.c.id.desc()))
        return None if row is None else _approval(row, with_change=True)

    def approvals(
        self, tenants: Iterable[str] = (), specs: Iterable[str] = (), limit: int = 20
    ) -> list[Approval]:
        """The most recent approvals (without their changes), newest first, for history."""
        table = approvals_table
        if self.version < schema.APPROVING:
            return []
        query = _newest(table, table.c.approved_at, tenants, specs, limit)
        try:
            with self.engine.connect() as conn:
                return [_approval(row, with_change=False) for row in conn.execute(query)]
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

    def _first(self, query: Any) -> Any:
        try:
            with self.engine.connect() as conn:
                return conn.execute(query).first()
        except SQLAlchemyError as err:
            raise self._fail("cannot read", err) from err

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
        values = {k: v for k, v in run.__dict__.items() if k != "id"}
        try:
            with self.engine.begin() as conn:
                key = conn.execute(insert(runs_table).values(**values)).inserted_primary_key
                assert key is not None
                run_id = int(key[0])
                before = self._snapshot_users(conn, run.tenant, run.spec)
                tally = _Tally(-1 if before is None else int(before * snapshot.UPDATE_SHARE))
                self.backend.write(conn, run.tenant, run.spec, run_id, tally.through(accepted))
                forgotten = list(forget)
                _forget(conn, run.tenant, run.spec, forgotten)
                self._keep_snapshot(conn, (run.tenant, run.spec, run_id), before, tally, forgotten)
                if held is not None:
                    _hold(conn, run.tenant, run.spec, run_id, held)
                if used is not None:
                    _close(conn, [used], "used", used_by=run_id)
                if StateStore.before_commit is not None:
                    StateStore.before_commit()
                return run_id
        except SQLAlchemyError as err:
            raise self._fail("cannot record the run", err) from err

    def approve(self, approval: Approval, change: Change) -> list[Approval]:
        """Record `approval` of `change` (its id is the store's), replacing any approval still waiting for
        the job, in one transaction; the approvals replaced."""
        table = approvals_table
        lines, gone = change.to_bytes()
        values = {
            "tenant": approval.tenant,
            "spec": approval.spec,
            "run_id": approval.run_id,
            "user": approval.user,
            "host": approval.host,
            "approved_at": approval.approved_at,
            "expires": approval.expires,
            "status": "waiting",
            "lines": lines,
            "gone": gone,
            "new": change.new,
            "changed": change.changed,
            "vanished": change.vanished,
        }
        job = (table.c.tenant == approval.tenant, table.c.spec == approval.spec, table.c.status == "waiting")
        try:
            with self.engine.begin() as conn:
                replaced = [
                    _approval(row, with_change=False) for row in conn.execute(select(table).where(*job))
                ]
                _close(conn, [a.id for a in replaced], "replaced")
                conn.execute(insert(table).values(**values))
                return replaced
        except SQLAlchemyError as err:
            raise self._fail("cannot record the approval", err) from err

    def _snapshot_users(self, conn: Connection, tenant: str, spec: str) -> int | None:
        """How many users the job's snapshot holds, inside `record`'s transaction before it writes; None
        when the job has no snapshot, or one that does not hold its rows."""
        found = conn.exec_driver_sql(_SNAPSHOT_USERS.replace("?", self.backend.mark), (tenant, spec)).first()
        return None if found is None or found[1] != found[2] else int(found[1])

    def _keep_snapshot(
        self,
        conn: Connection,
        job: tuple[str, str, int],
        before: int | None,
        tally: _Tally,
        forgotten: list[str],
    ) -> None:
        """Bring the snapshot of the job (tenant, spec, the run recorded) up to date with the rows `record`
        just wrote: unchanged when the run changed no user; updated from the one before when it changed
        few; else made again from the rows, read in fingerprint order inside the transaction (a first run,
        a big change, or no snapshot yet)."""
        changed = tally.count + len(forgotten)
        if before is not None and changed == 0:
            return
        tenant, spec, run_id = job
        mark = self.backend.mark

        def one(sql: str) -> Any:
            return conn.exec_driver_sql(sql.replace("?", mark), (tenant, spec)).first()

        kept = None
        if before is not None and not tally.overflow and snapshot.worth_updating(before, changed):
            kept = _read_snapshot(one)
        if kept is not None:
            gone = {h for _, h in tally.pairs} | {user_hash(u) for u in forgotten}
            prints, hashes = snapshot.updated(*kept, gone, tally.pairs)
        else:
            prints, hashes = _arrays(self._chunks_of(conn, _KNOWN, (tenant, spec)))
        del kept
        conn.exec_driver_sql(_SNAPSHOT_DROP.replace("?", mark), (tenant, spec))
        values = (tenant, spec, run_id, len(prints), snapshot.pack(prints), snapshot.pack(hashes))
        conn.exec_driver_sql(_SNAPSHOT_WRITE.replace("?", mark), values)

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


def _read_snapshot(one: Callable[[str], Any]) -> tuple[array[int], array[int]] | None:
    """A job's snapshot through `one` (the first row of a query of the job, or None), an array at a time;
    None when there is none, it does not hold the job's rows, or another was written between the reads."""
    first = one(_SNAPSHOT_PRINTS)
    if first is None or first[1] != first[2]:
        return None
    written_by, prints = first[0], snapshot.unpack(first[3])
    del first  # its blob, before the other is read
    second = one(_SNAPSHOT_HASHES)
    if second is None or second[0] != written_by:
        return None
    return prints, snapshot.unpack(second[1])


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


def _forget(conn: Connection, tenant: str, spec: str, usernames: list[str]) -> None:
    for start in range(0, len(usernames), CHUNK):
        conn.execute(
            delete(synced_table).where(
                synced_table.c.tenant == tenant,
                synced_table.c.spec == spec,
                synced_table.c.username.in_(usernames[start : start + CHUNK]),
            )
        )


def _hold(conn: Connection, tenant: str, spec: str, run_id: int, change: Change) -> None:
    """Keep `change` as the job's last held change, in place of the one before."""
    lines, gone = change.to_bytes()
    table = held_table
    conn.execute(delete(table).where(table.c.tenant == tenant, table.c.spec == spec))
    conn.execute(
        insert(table).values(
            tenant=tenant,
            spec=spec,
            run_id=run_id,
            lines=lines,
            gone=gone,
            new=change.new,
            changed=change.changed,
            vanished=change.vanished,
        )
    )


def _close(conn: Connection, ids: Sequence[int], status: str, used_by: int | None = None) -> None:
    """Mark waiting approvals `status`, their changes dropped; only a waiting one changes, so that no two
    runs use one approval."""
    table = approvals_table
    if ids:
        conn.execute(
            update(table)
            .where(table.c.id.in_(ids), table.c.status == "waiting")
            .values(status=status, used_by=used_by, lines=None, gone=None)
        )


def _newest(table: Table, when: Any, tenants: Iterable[str], specs: Iterable[str], limit: int) -> Select[Any]:
    """The `limit` newest rows of `table` by `when` (then id), of these tenants and specs (none: all)."""
    query = select(table).order_by(when.desc(), table.c.id.desc()).limit(limit)
    tenants, specs = list(tenants), list(specs)
    if tenants:
        query = query.where(table.c.tenant.in_(tenants))
    if specs:
        query = query.where(table.c.spec.in_(specs))
    return query


def _approval(row: Any, *, with_change: bool) -> Approval:
    from runner.approve import Approval, Change

    change = None
    if with_change and row.lines is not None:
        change = Change.from_bytes(row.lines, row.gone, row.new, row.changed, row.vanished)
    return Approval(
        id=row.id,
        tenant=row.tenant,
        spec=row.spec,
        run_id=row.run_id,
        user=row.user,
        host=row.host,
        approved_at=aware(row.approved_at),
        expires=aware(row.expires),
        status=row.status,
        used_by=row.used_by,
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
