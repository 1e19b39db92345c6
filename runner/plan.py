"""Planning: one spec for one tenant, from source rows to the exact import file Infiniti would receive.

    source rows -> render (one compiled function) -> pre-checks -> duplicates -> the CSV file

Rows stream through: memory holds the line -> source row map (8 bytes a line), the username hashes (8 bytes
a slot) and the findings, never the rows. Nothing here sends anything or touches state.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.changes import Changes
from runner.csvfile import ImportFile
from runner.errors import QueryError, Where
from runner.precheck import Finding, LineChecks, SeenHashes
from runner.render import Context, Renderer, RowError, render_params
from runner.source import Source
from runner.spec import Spec, Tenant

PREVIEW_LINES = 5
Progress = Callable[[int], None]
# What drivers give for BLOB, bytea and binary columns (exact types: a type check a row costs little);
# such a value is text only once decoded.
_BINARY = frozenset((bytes, bytearray, memoryview))
_BINARY_TEXT = "utf-8"


@dataclass
class Planned:
    """The file of one spec for one tenant, and how it came to be."""

    tenant: str
    spec: str
    path: Path
    header: tuple[str, ...]
    columns: tuple[str, ...] = ()
    rows_read: int = 0
    rows_skipped: int = 0
    rows_out: int = 0
    findings: list[Finding] = field(default_factory=list)
    dropped: list[Finding] = field(default_factory=list)
    preview: list[tuple[str, ...]] = field(default_factory=list)
    source_rows: array[int] = field(default_factory=lambda: array("q"))
    holds: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    changes: Changes | None = None

    @property
    def ok(self) -> bool:
        """No hold and no failed check."""
        return not self.holds and not self.failures


def context_of(spec: Spec, tenant: Tenant, vars: Mapping[str, Any] | None = None) -> Context:
    """The template context of `spec` run for `tenant`."""
    return Context.of(spec, tenant.vars if vars is None else vars, tenant.context())


def _identity(columns: Sequence[str], spec: Spec, where: Where) -> Callable[[Sequence[Any]], str]:
    names = spec.source.id_columns or columns[:1]
    missing = [n for n in names if n not in columns]
    if missing:
        raise QueryError(
            f"source.id names {missing[0]!r}, which the query does not return",
            where=where,
            hint=f"the query returns: {', '.join(columns)}",
        )
    positions = [(name, columns.index(name)) for name in names]
    return lambda row: ", ".join(f"{name}={row[i]}" for name, i in positions)


def _text_row(row: Sequence[Any], columns: Sequence[str]) -> tuple[tuple[Any, ...], str | None]:
    """`row` with its binary values decoded as UTF-8 text, and the first that is not text, if any.

    A binary value is never printed as Python's `b'...'`: it is the text it holds, or the row is left out.
    """
    values: list[Any] = []
    problem = None
    for column, value in zip(columns, row, strict=True):
        if not isinstance(value, bytes | bytearray | memoryview):
            values.append(value)
            continue
        data = bytes(value)
        try:
            values.append(data.decode(_BINARY_TEXT))
        except UnicodeDecodeError as err:
            problem = problem or (
                f"column {column} holds binary data that is not {_BINARY_TEXT.upper()} text (byte "
                f"0x{data[err.start]:02x} at offset {err.start}); convert it in the query or leave it out"
            )
            values.append(data.decode(_BINARY_TEXT, errors="backslashreplace"))  # to name the row
    return tuple(values), problem


class _Writer:
    """The loop of one plan: render, check and write each row, counting as it goes."""

    def __init__(
        self,
        spec: Spec,
        renderer: Renderer,
        identity: Callable[[Sequence[Any]], str],
        out: ImportFile,
        planned: Planned,
    ):
        self.spec, self.renderer, self.identity, self.out, self.planned = (
            spec,
            renderer,
            identity,
            out,
            planned,
        )
        self.checks = LineChecks(spec)
        self.seen = SeenHashes()
        self.suspects: set[int] = set()

    def run(self, rows: Any, progress: Progress | None) -> None:
        """The hot loop: one compiled call renders a row, one compiled call checks it."""
        render, checks, seen, write = self.renderer.row, self.checks, self.seen.add, self.out.write
        ok = checks.fast(self.renderer.constant_cells)
        username, lines, planned = self.checks.username, self.planned.source_rows, self.planned
        text_only = _BINARY.isdisjoint
        n = 0
        for n, fetched in enumerate(rows, 1):
            row = fetched if text_only(map(type, fetched)) else self._text(n, fetched)
            if row is None:
                continue
            try:
                cells = render(row)
            except RowError as err:
                planned.findings.append(Finding(n, "template", str(err), self.identity(row)))
                continue
            if cells is None:
                planned.rows_skipped += 1
                continue
            if not ok(cells) and (problems := checks.problems(cells)):
                self._reject(n, row, cells, problems)
                continue
            if seen(cells[username]) is not None:
                self.suspects.add(hash(cells[username]) or 1)
            write(cells)
            lines.append(n)
            if progress is not None and not n % 10000:
                progress(n)
        planned.rows_read = n

    def _text(self, n: int, row: Sequence[Any]) -> Sequence[Any] | None:
        """Row `n` with its binary values as text, or None (and a finding) when one is not text."""
        decoded, problem = _text_row(row, self.planned.columns)
        if problem is None:
            return decoded
        self.planned.findings.append(Finding(n, "text", problem, self.identity(decoded)))
        return None

    def _reject(
        self, n: int, row: Sequence[Any], cells: Sequence[str], problems: list[tuple[str, str]]
    ) -> None:
        who = self.identity(row)
        user = cells[self.checks.username] or None
        self.planned.findings += [Finding(n, check, message, who, user) for check, message in problems]

    def duplicates(self) -> None:
        """Confirm suspect usernames on the file itself and apply checks.duplicates."""
        if not self.suspects:
            return
        positions: dict[str, list[int]] = defaultdict(list)
        u = self.checks.username
        for i, record in enumerate(self.out.data_lines()):
            if (hash(record[u]) or 1) in self.suspects:
                positions[record[u]].append(i)
        drop: set[int] = set()
        for user, at in positions.items():
            if len(at) > 1:
                drop |= self._duplicate(user, at)
        if drop:
            self.out.drop(drop)
            lines = self.planned.source_rows
            self.planned.source_rows = array("q", (r for i, r in enumerate(lines) if i not in drop))

    def _duplicate(self, user: str, at: list[int]) -> set[int]:
        policy, rows = self.spec.checks.duplicates, [self.planned.source_rows[i] for i in at]
        listed = ", ".join(map(str, rows))
        if policy == "error":
            self.planned.findings += [
                Finding(r, "duplicate", f"username {user!r} is on {len(rows)} rows: {listed}", username=user)
                for r in rows
            ]
            return set(at)
        keep = rows[0] if policy == "first" else rows[-1]
        self.planned.dropped += [
            Finding(
                r,
                "duplicate",
                f"username {user!r} is also on row {keep}; duplicates: {policy} sends row {keep}",
                username=user,
            )
            for r in rows
            if r != keep
        ]
        return {i for i, r in zip(at, rows, strict=True) if r != keep}


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """Pause the cycle collector: rows make no reference cycles, and collecting through a million
    short-lived tuples only costs time. Reference counting still frees every row at once."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def build(
    spec: Spec,
    tenant: Tenant,
    source: Source,
    path: Path,
    *,
    vars: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Planned:
    """Write the import file of `spec` for `tenant` to `path` and say how it went.

    `params` are the query's values (default: the spec's, rendered); `vars` replace the tenant's.
    """
    where = Where(tenant=tenant.name, spec=spec.name, connection=spec.source.connection)
    context = context_of(spec, tenant, vars)
    if params is None:
        params = render_params(spec.source.params, context, where=where)
    planned = Planned(tenant=tenant.name, spec=spec.name, path=path, header=spec.header)
    with (
        _no_collection(),
        source.query(spec.source.query, params) as rows,
        ImportFile(path, spec.header) as out,
    ):
        planned.columns = rows.columns
        renderer = Renderer(spec, rows.columns, context, where=where)
        writer = _Writer(spec, renderer, _identity(rows.columns, spec, where), out, planned)
        writer.run(rows, progress)
        writer.duplicates()
        planned.preview = [tuple(r) for r in itertools.islice(out.data_lines(), PREVIEW_LINES)]
        out.commit()
    planned.rows_out = len(planned.source_rows)
    planned.findings.sort(key=lambda f: f.row)
    planned.dropped.sort(key=lambda f: f.row)
    _guards(spec, planned)
    return planned


def _guards(spec: Spec, planned: Planned) -> None:
    """The spec's checks on the file as a whole: too few rows holds the run; too many invalid fails it."""
    checks = spec.checks
    if checks.min_rows is not None and planned.rows_out < checks.min_rows:
        planned.holds.append(
            f"{planned.rows_out} rows is fewer than checks.min_rows ({checks.min_rows}); "
            "is the export complete? Nothing is sent until it is (or use --force)"
        )
    invalid = len({f.row for f in planned.findings})
    considered = planned.rows_read - planned.rows_skipped
    allowed = checks.max_invalid.of(considered)
    if invalid > allowed:
        planned.failures.append(
            f"{invalid} row{'s' if invalid != 1 else ''} failed the pre-checks and "
            f"{'were' if invalid != 1 else 'was'} left out; checks.max_invalid allows {checks.max_invalid}"
        )
