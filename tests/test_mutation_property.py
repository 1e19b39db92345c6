"""Whatever is done to the shipped example project, `validate` and `plan` answer; they never crash.

Each example copies `runner/example` to a fresh folder, applies one to three random mutations (a key
deleted, a scalar changed to another type or value, a line duplicated, odd Unicode inserted, a file cut
short, a CSV header or row damaged, a file removed), then runs `validate` and `plan` in this process as
the command line would. Neither may exit 4 (a bug) or leave a traceback or an "Exception ignored" on
standard error, whatever else it says.
"""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import runner
from runner.cli import main
from runner.console import Console

EXAMPLE = Path(runner.__file__).parent / "example"
YAML_FILES = ("infiniti-sync.yaml", "specs/students.yaml", "specs/staff.yaml")
CSV_FILES = ("sms-export/students.csv", "sms-export/staff.csv")
FILES = YAML_FILES + CSV_FILES
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXIT_BUG = 4

ODD = [
    "\x00", "\ufeff", "\u2028", "\u2029", "\u202e", "\u200b", "\x85", "\x1b[31m", "\r", "\t", "\u00a0",
    "e\u0301", "😀", "\U0010ffff", "\ud800", "\\", '"', "'", ",", "#", ":", "{{", "}}", "{%", "\n---\n",
]  # fmt: skip
SCALARS = [
    None, True, False, 0, -1, 2**64, 1.5, float("nan"), float("inf"), "", " ", "07", "3.10", "yes", "~",
    "{{ row.nope }}", "{{ 1/0 }}", "{env: NOPE}", [], {}, ["x"], {"a": 1}, "x" * 300, "é😀",
]  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What one command said and how it ended."""

    argv: tuple[str, ...]
    code: int
    out: str
    err: str


def run(argv: list[str]) -> Outcome:
    """`infiniti-sync ARGV` in this process; standard error includes what Python itself reports there."""
    out, err = io.StringIO(), io.StringIO()
    with _python_reports_into(err), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, Console(out=out, err=err))
        gc.collect()  # what is left unclosed is reported now, while the hook is ours
    return Outcome(tuple(argv), code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _python_reports_into(err: io.StringIO) -> Iterator[None]:
    """Write "Exception ignored" and uncaught thread exceptions into `err`, as Python would on stderr."""

    def unraisable(report: Any) -> None:
        err.write(f"Exception ignored in: {report.object!r}\n")
        _traceback(report.exc_type, report.exc_value, report.exc_traceback)

    def in_thread(report: Any) -> None:
        err.write(f"Exception in thread {report.thread}:\n")
        _traceback(report.exc_type, report.exc_value, report.exc_traceback)

    def _traceback(kind: type[BaseException], value: BaseException | None, tb: TracebackType | None) -> None:
        err.write("".join(traceback.format_exception(kind, value, tb)))

    hooks = sys.unraisablehook, threading.excepthook
    sys.unraisablehook, threading.excepthook = unraisable, in_thread
    try:
        yield
    finally:
        sys.unraisablehook, threading.excepthook = hooks


# --- mutations ----------------------------------------------------------------------------------

KINDS = (
    "delete a key",  # YAML: a key (or list item) anywhere, the file dumped again
    "change a scalar",  # YAML: any scalar replaced by one of SCALARS (another type or value)
    "duplicate a line",
    "insert odd unicode",  # one of ODD at a position
    "damage a CSV line",  # drop, add, blank or repeat a cell, or open a quote that never closes
    "truncate",  # the file cut short at a byte
    "remove",  # the file deleted
)
CELL_DAMAGE = ("drop a cell", "add a cell", "blank a cell", "repeat a cell", "open a quote")


@dataclass(frozen=True)
class Mutation:
    """One change to one file of the project; `at` and `pick` choose where and what (modulo the choices)."""

    file: str
    kind: str
    at: int = 0
    pick: int = 0

    def apply(self, root: Path) -> None:
        """Change the file under `root` (a mutation of a file already removed does nothing)."""
        path = root / self.file
        if not path.exists():
            return
        data = path.read_bytes()
        if self.kind == "remove":
            path.unlink()
        elif self.kind == "truncate":
            path.write_bytes(data[: self.at % max(len(data), 1)])
        else:
            text = data.decode("utf-8", "surrogateescape")
            path.write_bytes(_encoded(self._edit(text)))

    def _edit(self, text: str) -> str:
        if self.kind in ("delete a key", "change a scalar"):
            return self._structural(text)
        lines = text.splitlines(keepends=True) or [""]
        line = self.at % len(lines)
        if self.kind == "duplicate a line":
            return "".join([*lines[: line + 1], *lines[line:]])
        if self.kind == "insert odd unicode":
            at = self.at % (len(text) + 1)
            return text[:at] + ODD[self.pick % len(ODD)] + text[at:]
        lines[line] = _damaged(lines[line], self.pick)
        return "".join(lines)

    def _structural(self, text: str) -> str:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return text  # no keys to change in a file that does not load
        paths = [path for path in _paths(data) if path]
        if self.kind == "change a scalar":
            paths = [path for path in paths if not isinstance(_at(data, path), dict | list)]
        if not paths:
            return text
        *parent, last = paths[self.at % len(paths)]
        if self.kind == "change a scalar":
            value = SCALARS[self.pick % len(SCALARS)]
            changed = _changed(data, (*parent, last), lambda _: value)
        else:
            changed = _changed(data, tuple(parent), lambda node: _without(node, last))
        return yaml.safe_dump(changed, allow_unicode=True, sort_keys=False)


def _encoded(text: str) -> bytes:
    """`text` as UTF-8; bytes that were not UTF-8 go back as they were, a lone surrogate as its 3 bytes."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _damaged(line: str, pick: int) -> str:
    cells = line.rstrip("\r\n").split(",")
    cell = pick // len(CELL_DAMAGE) % len(cells)
    damage = CELL_DAMAGE[pick % len(CELL_DAMAGE)]
    if damage == "drop a cell":
        del cells[cell]
    elif damage == "add a cell":
        cells.insert(cell, "x")
    elif damage == "blank a cell":
        cells[cell] = ""
    elif damage == "repeat a cell":
        cells.insert(cell, cells[cell])
    else:
        cells[cell] = '"' + cells[cell]
    return ",".join(cells) + "\n"


def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a node of a loaded YAML document."""
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, (*path, i))


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _changed(data: Any, path: tuple[Any, ...], change: Callable[[Any], Any]) -> Any:
    """`data` with the node at `path` replaced by `change(node)` (a copy; `data` is left alone)."""
    if not path:
        return change(data)
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {**data, head: _changed(data[head], rest, change)}
    return [*data[:head], _changed(data[head], rest, change), *data[head + 1 :]]


def _without(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return {k: v for k, v in node.items() if k != key}
    return [v for i, v in enumerate(node) if i != key]


mutations = st.builds(
    Mutation,
    file=st.sampled_from(FILES),
    kind=st.sampled_from(KINDS),
    at=st.integers(0, 10**6),
    pick=st.integers(0, 10**6),
)


# --- the property -------------------------------------------------------------------------------


def assert_no_crash(outcome: Outcome, changes: list[Mutation]) -> None:
    what = f"{' '.join(outcome.argv)} after {changes}:\n{outcome.err}{outcome.out[-2000:]}"
    assert outcome.code != EXIT_BUG, what
    assert "Traceback" not in outcome.err, what
    assert "Exception ignored" not in outcome.err, what


def check(changes: list[Mutation]) -> None:
    """Copy the example project, apply `changes`, then `validate` and `plan` must answer."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("schemas", ".infiniti-sync"))
        for change in changes:
            change.apply(root)
        assert_no_crash(run(["validate", "--project", str(root)]), changes)
        assert_no_crash(run(["plan", "--project", str(root), "--out", str(Path(folder) / "plan")]), changes)


def set_scalar(file: str, path: tuple[Any, ...], value: Any) -> Mutation:
    """The mutation that sets the scalar at `path` of `file` to `value` (one of SCALARS)."""
    data = yaml.safe_load((EXAMPLE / file).read_text("utf-8"))
    scalars = [p for p in _paths(data) if p and not isinstance(_at(data, p), dict | list)]
    return Mutation(file, "change a scalar", scalars.index(path), SCALARS.index(value))


LONG_NAME = "x" * 300  # longer than a file name may be (255 bytes on Linux and macOS)
KNOWN_CRASHES = [  # found by this test; each exited 4 ("internal error") before it was fixed
    # plan: sqlite3.ProgrammingError "the query contains a null character" (runner/source.py, _schema)
    Mutation("sms-export/students.csv", "insert odd unicode", at=0, pick=ODD.index("\x00")),
    # plan: OSError ENAMETOOLONG from Path.is_file (runner/dburl.py, unwritten_sqlite)
    set_scalar("infiniti-sync.yaml", ("state",), LONG_NAME),
    # validate and plan: OSError ENAMETOOLONG (runner/project.py, spec_files)
    set_scalar("infiniti-sync.yaml", ("specs",), LONG_NAME),
    # plan: OSError ENAMETOOLONG (runner/source.py, _files)
    set_scalar("infiniti-sync.yaml", ("tenants", "demo", "connections", "export", "files"), LONG_NAME),
    # plan: OverflowError "Python int too large to convert to SQLite INTEGER" (runner/source.py)
    set_scalar("specs/staff.yaml", ("source", "params", "campus"), 2**64),
]


def pinned(test: Callable[..., None]) -> Callable[..., None]:
    """`test` with each of KNOWN_CRASHES as an explicit example, tried first on every run."""
    for crash in KNOWN_CRASHES:
        test = example(changes=[crash])(test)
    return test


@SETTINGS
@given(changes=st.lists(mutations, min_size=1, max_size=3))
@pinned
def test_a_mutated_example_project_never_crashes_validate_or_plan(changes: list[Mutation]) -> None:
    check(changes)
