"""Planning: one spec for one tenant, from source rows to the exact import file Infiniti would receive.

    source rows -> render (one compiled function) -> pre-checks -> changes -> the CSV file -> duplicates

Rows stream through: memory holds the line -> source row map (8 bytes a line), the username hashes (8 bytes
a slot) and the findings, never the rows. Given what the state knows, each line is compared with it as it
is written (runner.changes.Classifier): the result says what changed, and in incremental mode an
unchanged line is never written. The result is frozen: the stages after planning read it, never change it.
Nothing here sends anything or writes state.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import operator
import re
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from runner import generated
from runner.changes import (
    LEFT_OUT,
    NEW,
    Changes,
    Classifier,
    Known,
    compare_users,
    hold,
    user_hash,
)
from runner.csvfile import ImportFile
from runner.errors import QueryError, Where
from runner.numbers import number, plural
from runner.precheck import Finding, LineChecks, SeenHashes
from runner.records import record
from runner.render import Context, Renderer, RowError, render_params
from runner.source import Rows, Source
from runner.spec import Spec, Tenant

PREVIEW_LINES = 5
Progress = Callable[[int], None]
# What drivers give for BLOB, bytea and binary columns (exact types: a type check a row costs little);
# such a value is text only once decoded.
_BINARY = frozenset((bytes, bytearray, memoryview))
_BINARY_TEXT = "utf-8"
# lines that need no quoting written at once (a power of 2: about 150 KB of text, for short lines)
_BATCH = 2048


@record
class Planned:
    """The file of one spec for one tenant, how it came to be and how it compares with what Infiniti
    last accepted: made once by `build`, read (never changed) by every stage after it."""

    tenant: str
    spec: str
    path: Path
    header: tuple[str, ...]
    columns: tuple[str, ...] = ()
    rows_read: int = 0
    rows_skipped: int = 0
    rows_out: int = 0  # lines in the file: in incremental mode, the new and changed ones only
    findings: list[Finding] = field(default_factory=list)
    dropped: list[Finding] = field(default_factory=list)
    preview: tuple[tuple[str, ...], ...] = ()
    source_rows: array[int] = field(default_factory=lambda: array("q"))
    holds: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    changes: Changes | None = None  # None: not compared (no state given)

    @property
    def ok(self) -> bool:
        """No hold and no failed check."""
        return not self.holds and not self.failures

    def to_json(self, approval: str | None = None, *, lists: bool = False) -> dict[str, Any]:
        """The planned file as the JSON reports give it (with what the approval waiting for its job would
        do, and with `lists` every username of each kind of change: runner.changes.Changes.to_json)."""
        return {
            "tenant": self.tenant,
            "spec": self.spec,
            "ok": self.ok,
            "file": str(self.path),
            "header": list(self.header),
            "rows": {
                "read": self.rows_read,
                "skipped": self.rows_skipped,
                "in_file": self.rows_out,
                "left_out": len({f.row for f in self.findings}),
                "dropped": len(self.dropped),
            },
            "findings": [f.to_json() for f in self.findings],
            "dropped": [f.to_json() for f in self.dropped],
            "preview": [dict(zip(self.header, row, strict=True)) for row in self.preview],
            "changes": None if self.changes is None else self.changes.to_json(lists=lists),
            "holds": self.holds,
            **({"approval": approval} if approval else {}),  # an approval waits for the job
            "failures": self.failures,
        }


def context_of(spec: Spec, tenant: Tenant, vars: Mapping[str, Any] | None = None) -> Context:
    """The template context of `spec` run for `tenant`."""
    return Context.of(spec, tenant.vars if vars is None else vars, tenant.context())


def _identity(rows: Rows, spec: Spec, where: Where) -> Callable[[Sequence[Any]], str]:
    columns = rows.columns
    names = spec.source.id_columns or columns[:1]
    missing = [n for n in names if n not in columns]
    if missing:
        raise QueryError(
            f"source.id names {missing[0]!r}, which is not among the columns {rows.origin}",
            where=where,
            hint=f"{rows.origin}: {', '.join(columns)}",
        )
    positions = [(name, columns.index(name)) for name in names]
    return lambda row: ", ".join(f"{name}={row[i]}" for name, i in positions)


_KEY_SEPARATOR = "\x00"  # never in a line of the file (the pre-checks keep NUL out)


def _key(spec: Spec) -> Callable[[Sequence[str]], str]:
    """What makes a line of `spec`'s file unique (runner.imports: key), as one text: the username, or
    the key's cells joined."""
    positions = [spec.header.index(column) for column in spec.kind.key]
    if len(positions) == 1:
        return operator.itemgetter(positions[0])
    return lambda cells: _KEY_SEPARATOR.join([cells[i] for i in positions])


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
    """The loop of one plan: render, check, classify and write each row, counting as it goes."""

    def __init__(
        self,
        spec: Spec,
        renderer: Renderer,
        identity: Callable[[Sequence[Any]], str],
        out: ImportFile,
        columns: tuple[str, ...],
        *,
        classifier: Classifier | None,
        size: int | None = None,
    ):
        self.spec, self.renderer, self.identity, self.out, self.columns = (
            spec,
            renderer,
            identity,
            out,
            columns,
        )
        self.classifier = classifier
        self.checks = LineChecks(spec)
        self.key = _key(spec)
        self.seen = SeenHashes.for_keys(size)
        self.suspects: dict[int, set[str]] = {}  # hash -> keys (usernames, for groups) seen again under it
        self.findings: list[Finding] = []
        self.dropped: list[Finding] = []
        self.source_rows: array[int] = array("q")
        self.rows_read = self.rows_skipped = 0
        self.dropped_lines: list[int] = []  # written lines the duplicate check took out (sorted)
        self.dropped_rows: set[int] = set()  # source rows it took out, written or not
        self.left_out = 0  # lines of unchanged users taken out (whole_users, in incremental mode)

    def run(self, rows: Rows, progress: Progress | None) -> None:
        """The hot loop, compiled for this spec, file and state (`_compile`): what `run_stages` does, with
        a call a row rather than one a stage. `progress` is told 0 first, then the rows read every
        10,000."""
        if progress is not None:
            progress(0)
        self._prepare(rows, progress)
        self.rows_read, skipped = self._compile()(rows)
        self.rows_skipped += skipped

    def run_stages(self, rows: Rows, progress: Progress | None) -> None:
        """The loop as one call a stage, row by row (`_row`): the definition `run`'s compiled loop keeps
        to (the tests hold the two to the same file, findings and changes), and what it falls back to
        for any row out of the ordinary."""
        if progress is not None:
            progress(0)
        self._prepare(rows, progress)
        n = 0
        for n, fetched in enumerate(rows, 1):
            self._row(n, fetched)
        self.rows_read = n

    def _prepare(self, rows: Rows, progress: Progress | None) -> None:
        self.progress = progress
        self.ok = self.checks.fast(self.renderer.constant_cells)
        self.classify = None if self.classifier is None else self.classifier.verdict
        # An unchanged line's username is checked by the classifier (Classifier.suspects) when the
        # username alone is the key; the planner checks every other line's key.
        self.every = NEW if self.spec.kind.key == ("username",) else LEFT_OUT
        self.binary = not rows.text

    def _row(self, n: int, fetched: Sequence[Any]) -> None:
        """Source row `n`: decode, render, check, classify and write it, one stage a call."""
        row = fetched
        if self.binary and not _BINARY.isdisjoint(map(type, fetched)):
            if (decoded := self._text(n, fetched)) is None:
                return
            row = decoded
        try:
            cells = self.renderer.row(row)
        except RowError as err:
            self.findings.append(Finding(n, "template", str(err), self.identity(row)))
            return
        if cells is None:
            self.rows_skipped += 1
            return
        self._line(n, row, cells)

    def _line(self, n: int, row: Sequence[Any], cells: Sequence[str]) -> None:
        """The rendered line `cells` of source row `n`: check, classify and write it."""
        if not self.ok(cells) and (problems := self.checks.problems(cells)):
            self._reject(n, row, cells, problems)
            return
        if self.progress is not None and not n % 10000:
            self.progress(n)
        verdict = NEW if self.classify is None else self.classify(n, cells)
        if verdict >= self.every and self.seen.add(line_key := self.key(cells)) is not None:
            self._suspect(line_key)
        if verdict == LEFT_OUT:
            return
        self.out.write(cells)
        self.source_rows.append(n)

    def _compile(self) -> Callable[[Rows], tuple[int, int]]:
        """`run_stages`' loop as one generated function for this spec, file and state: the renderer's
        function (Renderer.inline), the pre-checks (LineChecks.expression) and the classifier's verdict
        (Classifier.inline) inline, the cells joined with commas once for the text checks and the
        file's line, and lines that need no quoting written in batches. A row out of the ordinary (a
        binary value, a failed pre-check) goes through `_row` or `_line`, as in `run_stages`; the batch
        is written first, so the file keeps the rows' order. It returns the rows read and those its
        where skipped."""
        checks, names = self.checks.expression(self.renderer.constant_cells, joined=True)
        verdict, classifier_names = (["_v = 2"], {}) if self.classifier is None else self.classifier.inline()
        render, render_names = self.renderer.inline
        names.update(classifier_names)
        if names.keys() & render_names.keys():  # names are kept apart by their prefixes
            raise AssertionError(f"generated names collide: {sorted(names.keys() & render_names.keys())}")
        names.update(render_names)
        batch: list[str] = []
        write_plain = self.out.write_plain

        def flush() -> None:
            write_plain(batch)
            batch.clear()

        names.update(
            _Finding=Finding,
            _findings=self.findings,
            _identity=self.identity,
            _text_only=_BINARY.isdisjoint,
            _row_slow=self._row,
            _line_slow=self._line,
            _flush=flush,
            _batch=batch,
            _write=self.out.write,
            _lines=self.source_rows,
            _progress=self.progress,
            _seen=self.seen.add,
            _key=self.key,
            _suspect=self._suspect,
        )
        head = ["if not _text_only(map(type, _r)):", "    _flush()", "    _row_slow(n, _r)", "    continue"]
        head = (head if self.binary else []) + [
            "try:",
            *("    " + line for line in render),
            "except Exception as _e:",
            '    _findings.append(_Finding(n, "template", str(_failure(_r, _c, _e)), _identity(_r)))',
            "    continue",
        ]
        if self.spec.where:  # without one, the cells are never None
            head += ["if c is None:", "    _skipped += 1", "    continue"]
        # after rendering, a cell the renderer computed is its local `_v{i}`: one load, not three
        cells = self.renderer.inline_cells
        body = [_locals(line, cells) for line in self._line_source(checks, verdict)]
        source = "\n".join(
            [
                "def loop(_rows):",
                "    n = _skipped = 0",
                "    for n, _r in enumerate(_rows, 1):",
                *("        " + line for line in head + body),
                "    _flush()",
                "    return n, _skipped",
            ]
        )
        self.source = source
        exec(generated.code(source, f"<plan {self.spec.name}>"), names)  # noqa: S102 - built from indexes
        return names["loop"]  # type: ignore[no-any-return]

    def _line_source(self, checks: str, verdict: list[str]) -> list[str]:
        """The generated loop's statements for the rendered cells `c` of row `n`: `_line`'s steps."""
        commas = self.out.commas
        body = [
            'j = ",".join(c)',
            f"if not ({checks}):",
            "    _flush()",
            "    _line_slow(n, _r, c)",
            "    continue",
        ]
        if self.progress is not None:
            body += ["if not n % 10000:", "    _progress(n)"]
        # _q: no cell holds a comma, so the line has as many as the header (a line to write plain if it
        # holds no quote or line break either); f: the text `fingerprint` hashes, the cells joined with
        # NUL (one cell: the cell itself), when the verdict needs it
        if not any("f.encode()" in line for line in verdict):
            body += [] if commas is None else [f'_q = j.count(",") == {commas}']
        elif commas is None:
            body.append("f = j")
        else:
            body += ['f = "\\x00".join(c)', '_q = "," not in f']
        body += verdict
        positions = [self.spec.header.index(column) for column in self.spec.kind.key]
        key = f"c[{positions[0]}]" if len(positions) == 1 else "_key(c)"
        if verdict == ["_v = 2"]:
            body += [f"if _seen(_k := {key}) is not None:", "    _suspect(_k)"]
        else:
            body += [f"if _v >= {self.every} and _seen(_k := {key}) is not None:", "    _suspect(_k)"]
            if self.classifier is not None and self.classifier.skip:
                body += [f"if _v == {LEFT_OUT}:", "    continue"]
        if commas is None:
            body.append("_write(c)")
        else:
            body += [
                "if _q and '\"' not in j and '\\r' not in j and '\\n' not in j:",
                "    _batch.append(j)",
                f"    if not n & {_BATCH - 1}:",  # at most _BATCH lines: at most one a row
                "        _flush()",
                "else:",
                "    _flush()",
                "    _write(c)",
            ]
        return [*body, "_lines.append(n)"]

    def _suspect(self, key: str) -> None:
        """Note that `key` may be on more than one line (its hash was seen before)."""
        self.suspects.setdefault(hash(key) or 1, set()).add(key)

    def _text(self, n: int, row: Sequence[Any]) -> Sequence[Any] | None:
        """Row `n` with its binary values as text, or None (and a finding) when one is not text."""
        decoded, problem = _text_row(row, self.columns)
        if problem is None:
            return decoded
        self.findings.append(Finding(n, "text", problem, self.identity(decoded)))
        return None

    def _reject(
        self, n: int, row: Sequence[Any], cells: Sequence[str], problems: list[tuple[str, str]]
    ) -> None:
        who = self.identity(row)
        user = cells[self.checks.username] or None
        self.findings += [Finding(n, check, message, who, user) for check, message in problems]

    def duplicates(self) -> None:
        """Confirm suspect keys (usernames, for an import of one line per user) on the file itself (and,
        for the unchanged lines not written, on the classifier's record of them) and apply
        checks.duplicates."""
        if self.classifier is not None and self.spec.kind.key == ("username",):
            for username in self.classifier.suspects():
                self._suspect(username)
        if not self.suspects:
            return
        # (source row, written line or -1, the classifier's key) of each occurrence of a suspect
        positions: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        key_of = self.key
        for i, cells in enumerate(self.out.data_lines()):
            if (hash(line_key := key_of(cells)) or 1) in self.suspects:
                positions[line_key].append((self.source_rows[i], i, 0))
        if self.classifier is not None:
            wanted = {user_hash(name): name for names in self.suspects.values() for name in names}
            for name, row, key in self.classifier.unwritten(wanted):
                positions[name].append((row, -1, key))
        drop: list[tuple[int, int, int]] = []
        for user, at in positions.items():
            if len(at) > 1:
                drop += self._duplicate(user, sorted(at))
        if not drop:
            return
        self.dropped_rows = {row for row, _, _ in drop}
        self.dropped_lines = sorted(i for _, i, _ in drop if i >= 0)
        self._drop(set(self.dropped_lines))
        if self.classifier is not None:
            self.classifier.drop(key for _, i, key in drop if i < 0)

    def _drop(self, gone: set[int]) -> None:
        """Take the written lines at `gone` (0-based) out of the file, and their source rows."""
        if gone:
            self.out.drop(gone)
            self.source_rows = array("q", (r for i, r in enumerate(self.source_rows) if i not in gone))

    def _duplicate(self, key: str, at: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """The occurrences of `key` (sorted by source row) to leave out, with their findings."""
        policy, rows = self.spec.checks.duplicates, [row for row, _, _ in at]
        listed = ", ".join(map(str, rows))
        user, named = key.split(_KEY_SEPARATOR, 1)[0], self._named(key)
        if policy == "error":
            self.findings += [
                Finding(r, "duplicate", f"{named} is on {plural(len(rows), 'row')}: {listed}", username=user)
                for r in rows
            ]
            return at
        keep = rows[0] if policy == "first" else rows[-1]
        self.dropped += [
            Finding(
                r,
                "duplicate",
                f"{named} is also on row {keep}; duplicates: {policy} sends row {keep}",
                username=user,
            )
            for r in rows
            if r != keep
        ]
        return [place for place in at if place[0] != keep]

    def _named(self, key: str) -> str:
        """A duplicate key as messages name it: `username 'x'`, or each of its columns with its value."""
        columns = self.spec.kind.key
        return ", ".join(f"{c} {v!r}" for c, v in zip(columns, key.split(_KEY_SEPARATOR), strict=True))

    def whole_users(self, known: Known | None, *, incremental: bool) -> Changes | None:
        """For an import whose user's record is all of its lines: leave out every line of a user that
        the pre-checks left a line of out (the import replaces a patron's set as a whole, so a part
        would remove the rest), then compare each user's set with `known` (runner.changes.compare_users)
        and, in incremental mode, leave out the lines of unchanged users."""
        u = self.checks.username
        failed: dict[str, int] = {}
        for f in sorted(self.findings, key=lambda f: f.row):
            if f.username:
                failed.setdefault(f.username, f.row)
        lines = list(self.out.data_lines())
        with_user = {i for i, line in enumerate(lines) if line[u] in failed}
        for i in sorted(with_user):
            user, row = lines[i][u], failed[lines[i][u]]
            self.findings.append(
                Finding(
                    self.source_rows[i],
                    "user",
                    f"left out because row {row} of username {user!r} failed a pre-check, and "
                    f"{self.spec.import_name} replaces a user's lines as a whole",
                    username=user,
                )
            )
        self._drop(with_user)
        lines = [line for i, line in enumerate(lines) if i not in with_user]
        users = compare_users(lines, u, known, incremental=incremental, left_out=set(failed))
        self.left_out = len(users.drop)
        self._drop(users.drop)
        return users.changes


def _locals(line: str, cells: frozenset[int]) -> str:
    """`line` of the generated loop with each `c[i]` of a cell in `cells` read from its local `_v{i}`."""
    return _CELL.sub(lambda m: f"_v{m[1]}" if int(m[1]) in cells else m[0], line)


_CELL = re.compile(r"(?<![\w.])c\[(\d+)\]")


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
    known: Known | None = None,
    incremental: bool = False,
    vars: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Planned:
    """Write the import file of `spec` for `tenant` to `path` and say how it went.

    Given `known` (what the state knows: runner.changes.Known), each line is compared with it as it is
    written, and the result's `changes` say how (and can name every user of each kind, from the file
    and the state: runner.changes.Changes.names); with `incremental`, unchanged lines are not written.
    `params` are the query's values (default: the spec's, rendered); `vars` replace the tenant's.
    """
    where = Where(tenant=tenant.name, spec=spec.name, connection=spec.source.connection)
    context = context_of(spec, tenant, vars)
    if params is None:
        params = render_params(spec.source.params, context, where=where)
    classifier = None
    if known is not None and not spec.kind.whole_user:
        user = spec.header.index("username")
        classifier = Classifier(known, username=user, incremental=incremental)
    with (
        _no_collection(),
        source.query(spec.source.query, params) as rows,
        ImportFile(path, spec.header) as out,
    ):
        renderer = Renderer(spec, rows.columns, context, where=where, origin=rows.origin, text=rows.text)
        identity = _identity(rows, spec, where)
        writer = _Writer(spec, renderer, identity, out, rows.columns, classifier=classifier, size=rows.size)
        writer.run(rows, progress)
        writer.duplicates()
        if spec.kind.whole_user:
            whole = writer.whole_users(known, incremental=incremental)
        preview = tuple(tuple(r) for r in itertools.islice(out.data_lines(), PREVIEW_LINES))
        out.commit()
    findings = sorted(writer.findings, key=lambda f: f.row)
    rows_out = len(writer.source_rows)
    changes = whole if spec.kind.whole_user else None
    if classifier is not None:
        changes = classifier.finish(
            writer.dropped_lines, writer.dropped_rows, findings, preview, rows_out, path=path
        )
    lines = rows_out + (classifier.left_out if classifier is not None else writer.left_out)
    holds, failures = _guards(spec, lines, writer.rows_read - writer.rows_skipped, findings)
    if changes is not None and known is not None:
        holds += hold(spec, changes, len(known))
    return Planned(
        tenant=tenant.name,
        spec=spec.name,
        path=path,
        header=spec.header,
        columns=tuple(rows.columns),
        rows_read=writer.rows_read,
        rows_skipped=writer.rows_skipped,
        rows_out=rows_out,
        findings=findings,
        dropped=sorted(writer.dropped, key=lambda f: f.row),
        preview=preview,
        source_rows=writer.source_rows,
        holds=holds,
        failures=failures,
        changes=changes,
    )


def _guards(
    spec: Spec, lines: int, considered: int, findings: Sequence[Finding]
) -> tuple[list[str], list[str]]:
    """The spec's checks on the file as a whole (`lines`: every line planned, sent or unchanged): too few
    rows holds the run; too many invalid fails it."""
    checks = spec.checks
    holds, failures = [], []
    if checks.min_rows is not None and lines < checks.min_rows:
        holds.append(
            f"{plural(lines, 'row')} is fewer than checks.min_rows ({number(checks.min_rows)}); "
            "is the export complete? Nothing is sent until it is, or until infiniti-sync approve lets it "
            "through (or --force)"
        )
    invalid = len({f.row for f in findings})
    allowed = checks.max_invalid.of(considered)
    if invalid > allowed:
        failures.append(
            f"{plural(invalid, 'row')} failed the pre-checks and "
            f"{'were' if invalid != 1 else 'was'} left out; checks.max_invalid allows {checks.max_invalid}"
        )
    return holds, failures
