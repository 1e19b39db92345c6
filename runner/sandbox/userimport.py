"""The userGroups import: read the CSV file, check its header, then apply each row as the contract says.

A file that cannot be read as a whole (not UTF-8, not CSV, a missing or unknown column) is Rejected and
changes nothing. Otherwise every row is checked on its own; the rows that pass are applied together, in
one commit, and the answer counts each row's outcome.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from functools import partial
from typing import IO

from runner import contract
from runner.imports import GROUPS, Import
from runner.records import record
from runner.sandbox.answer import Reply, reject
from runner.sandbox.config import TenantConfig
from runner.sandbox.multipart import CHUNK, Part, boundary, first_file
from runner.sandbox.store import Record, Store, UserChanges, Users

NONE_IMPORTED = "No users imported."


@record
class CsvFile:
    """A readable import file: its columns (contract spellings) and its data rows, blank lines left out."""

    columns: tuple[str, ...]
    rows: Sequence[Sequence[str]]


def run_import(
    store: Store, tenant: str, config: TenantConfig, body: IO[bytes], content_type: str | None
) -> Reply:
    """Import the first file of the multipart `body` into `tenant`; Rejected when it cannot be read."""
    part = first_file(body, boundary(content_type))
    csv_file = read_csv(file_of(body, part))
    return store.apply(tenant, partial(evaluate, config, csv_file))


def file_of(body: IO[bytes], part: Part) -> io.RawIOBase:
    """The file part `part` of the multipart `body`, as a readable, seekable stream."""
    return _Slice(body, part)


def read_csv(raw: io.RawIOBase, kind: Import = GROUPS, none: str = NONE_IMPORTED) -> CsvFile:
    """The import file in `raw`; Rejected when it is not UTF-8 CSV with the columns of import `kind`
    (`none`: how a refusal ends, saying nothing was imported).

    An empty file, or one with blank lines only, has the required columns and no rows.
    """
    _check_text(raw, none)
    raw.seek(0)
    text = io.TextIOWrapper(io.BufferedReader(raw, CHUNK), encoding="utf-8-sig", newline="")
    records = csv.reader(text, strict=True)
    try:
        header = next((r for r in records if r), None)
        if header is None:
            return CsvFile(kind.required, ())
        columns = _columns(header, kind, none)
        rows = [r for r in records if r]
    except csv.Error as err:
        raise reject(400, f"The file is not valid CSV (line {records.line_num}: {err}). {none}") from err
    return CsvFile(columns, rows)


def _check_text(raw: io.RawIOBase, none: str) -> None:
    """Rejected unless `raw` is UTF-8 text without NUL characters; the message names the line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    while chunk := raw.read(CHUNK):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as err:
            at = line + bytes(err.object[: err.start]).count(b"\n")
            raise reject(400, f"The file is not UTF-8 text (line {at}): save it as UTF-8. {none}") from err
        if b"\0" in chunk:
            at = line + chunk[: chunk.index(b"\0")].count(b"\n")
            raise reject(400, f"The file is not CSV text: line {at} has a NUL character. {none}")
        line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        raise reject(400, f"The file is not UTF-8 text (line {line}): save it as UTF-8. {none}") from err


def _columns(header: Sequence[str], kind: Import, none: str) -> tuple[str, ...]:
    """The header's names in the import's spelling; Rejected if blank, unknown, repeated or missing."""
    for i, name in enumerate(header, 1):
        if not name.strip():
            raise reject(400, f"Column {i} of the header has no name. {none}")
    unknown = [name for name in header if kind.canonical(name) is None]
    if unknown:
        known = ", ".join(kind.columns)
        label = "Unknown column" if len(unknown) == 1 else "Unknown columns"
        raise reject(400, f"{label} ({', '.join(unknown)}): the known columns are {known}. {none}")
    columns = tuple(kind.canonical(name) or name for name in header)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise reject(400, f"Column ({repeated[0]}) appears more than once. {none}")
    missing = [c for c in kind.required if c not in columns]
    if missing:
        label = "Missing column" if len(missing) == 1 else "Missing columns"
        needed = f"{', '.join(kind.required[:-1])} and {kind.required[-1]}"
        raise reject(400, f"{label} ({', '.join(missing)}): the file must have {needed}. {none}")
    return columns


def evaluate(config: TenantConfig, csv_file: CsvFile, users: Users) -> tuple[Reply, UserChanges]:
    """Each row's outcome against the tenant's `users`, the answer, and the records to commit."""
    changes: UserChanges = {}
    outcomes: list[str] = []
    width = len(csv_file.columns)
    for cells in csv_file.rows:
        if len(cells) != width:
            outcomes.append(contract.wrong_cell_count(len(cells), width))
            continue
        row = dict(zip(csv_file.columns, cells, strict=True))
        problem = row_problem(config, row)
        if problem is not None:
            outcomes.append(problem)
            continue
        username = row["username"]
        before = changes.get(username) or users.get(username)
        outcomes.append(contract.USER_CREATED if before is None else contract.USER_UPDATED)
        changes[username] = merge(before, row)
    return answer(outcomes), changes


def row_problem(config: TenantConfig, row: Record) -> str | None:
    """Why a row of the file fails (its outcome), or None when it can be applied."""
    for field in contract.REQUIRED_COLUMNS:
        if not row[field].strip():
            return contract.empty_field(field)
    if row["library-group"] not in config.library_groups:
        return contract.undefined_library_group(row["library-group"])
    if row["system-group"] not in config.system_groups:
        return contract.undefined_system_group(row["system-group"])
    email = row.get(contract.EMAIL_FIELD, "")
    if email and not contract.is_email(email):
        return contract.BAD_EMAIL
    for field in contract.BOOLEAN_FIELDS:
        value = row.get(field, "")
        if value and not contract.is_boolean(value):
            return contract.not_boolean(field)
    return None


def merge(before: Record | None, row: Record) -> dict[str, str]:
    """The user after a row: the row's fields set, an empty optional cell clearing its field, others kept."""
    record = dict(before or {})
    for field, value in row.items():
        if value or field in contract.REQUIRED_COLUMNS:
            record[field] = value
        else:
            record.pop(field, None)
    return record


def answer(outcomes: Sequence[str]) -> Reply:
    """The contract's answer for these row outcomes: details (every row) only when a row failed."""
    created = outcomes.count(contract.USER_CREATED)
    updated = outcomes.count(contract.USER_UPDATED)
    failed = len(outcomes) - created - updated
    body: dict[str, object] = {
        "success": failed == 0,
        "summary": contract.summary(len(outcomes), created, updated, failed),
    }
    if failed:
        body["details"] = {str(number): outcome for number, outcome in enumerate(outcomes, 1)}
    return Reply(200, body)


class _Slice(io.RawIOBase):
    """Bytes `part.start` to `part.end` of `body`, as a readable, seekable raw stream."""

    def __init__(self, body: IO[bytes], part: Part):
        super().__init__()
        self._body, self._start, self._end = body, part.start, part.end
        self._position = part.start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            raise io.UnsupportedOperation("only absolute seeks")
        self._position = min(self._start + offset, self._end)
        return self._position - self._start

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._body.seek(self._position)
        data = self._body.read(min(len(buffer), self._end - self._position))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
