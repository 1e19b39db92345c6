"""Whatever the files hold, `validate` answers 0 or 2 with messages, never an internal error (exit 4)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.cli import main
from runner.console import Console

BASE = Path(__file__).parent / "validate_cases" / "_base"
FILES = ["infiniti-sync.yaml", "specs/students.yaml", "specs/staff.yaml"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values that have broken YAML tools and validators before: numbers that are not, booleans that are
# not, templates that are almost templates, secrets, cron, regular expressions, odd characters.
TRICKY = [
    "07", "3.10", "1e3", "0x1F", "1:30", "yes", "no", "on", "~", "null", "true", "''", '""', "[]", "{}",
    "{{", "}}", "{{ row }}", "{{ row.x | nope }}", "{% if %}", "{{ lookups.x[1] }}", "{{ 9 ** 9 ** 9 }}",
    "{{ lookups['a'] }}", "{% for x in row %}{{ loop.index }}{% endfor %}", "{# #}", "{{ caller() }}",
    "*alias", "&anchor x", "<<", "<<: 1", "!!binary x", "!env X", "!!str 07", "? x", "- x", "-", ":",
    "|", ">",
    "{env: X}", "{file: y}", "{env: 1}", "{env: X, file: y}", "hunter2", "sqlite:///x", "postgresql://a:b@h/d",
    "http://x", "https://", "@daily", "* * * * *", "61 * * * *", "(", "[a-", "25%", "-1", "0", "1.5",
    "rows_sent", "'\\u0000'", "\t", "#", "%", "a: b: c", "'", '"', "\\", "é", "😀", "\u2028", "\ufeff",
    '"{{ ' + "(" * 3000 + "1" + ")" * 3000 + ' }}"', '"{{ row' + ".a" * 3000 + ' }}"', "[" * 300 + "]" * 300,
]  # fmt: skip


def run_validate(files: dict[str, bytes], *args: str) -> tuple[int, str]:
    """`validate` on the base project with `files` replaced, in a fresh folder."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in FILES:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(files.get(name, (BASE / name).read_bytes()))
        out, err = io.StringIO(), io.StringIO()
        argv = ["validate", "--project", str(root), *[str(root / a) for a in args]]
        code = main(argv, Console(out=out, err=err))
        return code, out.getvalue() + err.getvalue()


def assert_answered(code: int, output: str) -> None:
    assert code in (0, 2), output
    assert "internal error" not in output
    assert "Traceback" not in output


# --- text mutations of the base files -----------------------------------------------------------


def mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        if not lines:
            lines = [""]
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["delete", "duplicate", "value", "insert", "indent", "chars"]))
        line = lines[i]
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {data.draw(st.sampled_from(TRICKY))}\n"
        elif kind == "insert":
            lines.insert(i, data.draw(st.sampled_from(TRICKY)) + "\n")
        elif kind == "indent":
            lines[i] = data.draw(st.sampled_from(["", " ", "    ", "\t"])) + line.lstrip()
        else:
            at = data.draw(st.integers(0, len(line)))
            lines[i] = line[:at] + data.draw(st.text(max_size=5)) + line[at:]
    return "".join(lines)


@SETTINGS
@given(st.sampled_from(FILES), st.data())
def test_mutated_files_never_crash_validate(name: str, data: st.DataObject) -> None:
    text = mutate((BASE / name).read_text("utf-8"), data)
    assert_answered(*run_validate({name: text.encode("utf-8", "surrogatepass")}))


@SETTINGS
@given(st.sampled_from(FILES[1:]), st.data())
def test_mutated_specs_never_crash_validate_of_that_spec(name: str, data: st.DataObject) -> None:
    text = mutate((BASE / name).read_text("utf-8"), data)
    assert_answered(*run_validate({name: text.encode("utf-8", "surrogatepass")}, name))


# --- structural mutations: any value anywhere ----------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(TRICKY),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def replace_somewhere(data: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """`data` with one node (chosen by walking down at random) replaced by any value."""
    if not isinstance(data, dict | list) or not data or draw(st.booleans()):
        return draw(values)
    if isinstance(data, dict):
        key = draw(st.sampled_from(sorted(data)))
        return {**data, key: replace_somewhere(data[key], draw)}
    i = draw(st.integers(0, len(data) - 1))
    return [*data[:i], replace_somewhere(data[i], draw), *data[i + 1 :]]


@SETTINGS
@given(st.sampled_from(FILES), st.data())
def test_any_value_anywhere_never_crashes_validate(name: str, data: st.DataObject) -> None:
    original = yaml.safe_load((BASE / name).read_text("utf-8"))
    changed = replace_somewhere(original, data.draw)
    text = yaml.safe_dump(changed, allow_unicode=True, sort_keys=False)
    assert_answered(*run_validate({name: text.encode("utf-8", "surrogatepass")}))


# --- garbage -------------------------------------------------------------------------------------


@SETTINGS
@given(st.sampled_from(FILES), st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_garbage_never_crashes_validate(name: str, garbage: bytes) -> None:
    assert_answered(*run_validate({name: garbage}))


@SETTINGS
@given(st.sampled_from(FILES), values)
def test_any_yaml_document_never_crashes_validate(name: str, document: Any) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    assert_answered(*run_validate({name: text.encode("utf-8", "surrogatepass")}))
