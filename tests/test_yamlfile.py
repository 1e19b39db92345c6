"""The YAML loader: marks, YAML 1.2 scalars, text keys, anchors and merge keys, limits, encodings.

Every test runs with each parser installed (libyaml and pure Python) and must give the same answer.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from runner import yamlfile
from runner.yamlfile import Document, Mark, display_path, json_path, load, loads

BACKENDS = list(yamlfile.COMPOSERS)
F = Path("f.yaml")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def read(text: str, backend: str) -> Document:
    return loads(text, F, backend=backend)


def messages(doc: Document) -> list[str]:
    return [str(p) for p in doc.problems]


# --- marks ---------------------------------------------------------------------------------------


def test_marks_point_at_every_node_and_key(backend: str) -> None:
    doc = read("a: 1\nb:\n  - x\n  - {c: [y, z]}\n'd e': |\n  text\n", backend)
    assert doc.data == {"a": 1, "b": ["x", {"c": ["y", "z"]}], "d e": "text\n"}
    assert doc.marks[()] == Mark(1, 1)
    assert doc.marks[("a",)] == Mark(1, 4)
    assert doc.marks[("b", 0)] == Mark(3, 5)
    assert doc.marks[("b", 1, "c", 1)] == Mark(4, 13)
    assert doc.key_marks[("b", 1, "c")] == Mark(4, 6)
    assert doc.key_marks[("d e",)] == Mark(5, 1)
    assert doc.styles[("d e",)] == "|"
    assert doc.problems == []


def test_a_mark_falls_back_to_the_nearest_ancestor(backend: str) -> None:
    doc = read("a:\n  b: 1\n", backend)
    assert doc.mark(("a", "b", "missing", 3)) == Mark(2, 6)
    assert doc.mark(("a", "b"), key=True) == Mark(2, 3)
    assert doc.mark(("nothing",)) == Mark(1, 1)


def test_columns_count_characters_not_bytes(backend: str) -> None:
    doc = read("ā: {é: ü, 😀: [1, 07]}\n", backend)
    assert doc.marks[("ā", "😀", 1)] == Mark(1, 18)
    assert messages(doc) == [
        "f.yaml:1:18: $['ā']['😀'][1]: 07 is ambiguous: YAML may read it as the number 7; "
        'quote it ("07") to keep it as written'
    ]


def test_template_lines_inside_a_literal_block(backend: str) -> None:
    doc = read("q: |\n    SELECT a\n    FROM t\nf: >\n  one\n  two\nx: 'a b'\n", backend)
    assert doc.template_line(("q",), 2, 5) == (3, 10)  # line 2 of the block, column 5 inside it
    assert doc.template_line(("q",), 1) == (2, 5)
    assert doc.template_line(("f",), 2) == (5, 3)  # folded: only the block's first line is known
    assert doc.template_line(("x",), 3) == (7, 4)  # a flow scalar: its own place


def test_json_paths() -> None:
    assert json_path(()) == "$"
    assert json_path(("columns", "library-group", 0)) == "$.columns.library-group[0]"
    assert json_path(("lookups", "y", "07")) == "$.lookups.y['07']"
    assert json_path(("tenants", "a b")) == "$.tenants['a b']"


def test_display_path_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "specs" / "a.yaml") == "specs/a.yaml"
    assert display_path(Path("rel.yaml")) == "rel.yaml"
    assert display_path(Path("/elsewhere/a.yaml")) == "/elsewhere/a.yaml"


# --- scalars -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("Y", "Y"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("~", None),
        ("null", None),
        ("", None),
        ("2024-01-31", "2024-01-31"),
        ("12", 12),
        ("-3", -3),
        ("0", 0),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".inf", float("inf")),
        ("-.inf", float("-inf")),
        ("'07'", "07"),
        ('"3.10"', "3.10"),
        ("!!str 07", "07"),
        ("|\n  07\n", "07\n"),
        ("North", "North"),
        ("Year 7", "Year 7"),
        ("<<", "<<"),
        ("_1", "_1"),
        ("a1", "a1"),
        ("1a", "1a"),
        ("1.2.3", "1.2.3"),
        ("15 2 * * *", "15 2 * * *"),
    ],
)
def test_yaml_1_2_scalars(text: str, value: Any, backend: str) -> None:
    doc = read(f"v: {text}", backend)
    assert doc.problems == []
    assert doc.data == {"v": value}
    assert type(doc.data["v"]) is type(value)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("07", "7"),
        ("3.10", "3.1"),
        ("1.50", "1.5"),
        ("1e3", "1000.0"),
        ("0x1F", "31"),
        ("0o17", "15"),
        ("0b101", "5"),
        ("1_000", "1000"),
        ("+1", "1"),
        (".5", "0.5"),
        ("1.", "1.0"),
        ("1:30", "90"),
        ("-1:30", "-90"),
    ],
)
def test_ambiguous_numbers_stay_text_and_are_reported(text: str, number: str, backend: str) -> None:
    doc = read(f"v: {text}\n", backend)
    assert doc.data == {"v": text}
    assert messages(doc) == [
        f"f.yaml:1:4: $.v: {text} is ambiguous: YAML may read it as the number {number}; "
        f'quote it ("{text}") to keep it as written'
    ]


def test_keys_stay_text_as_written(backend: str) -> None:
    doc = read("1: a\ntrue: b\nnull: c\nyes: d\n2024-01-01: e\n'07': f\n", backend)
    assert doc.data == {"1": "a", "true": "b", "null": "c", "yes": "d", "2024-01-01": "e", "07": "f"}
    assert doc.problems == []


def test_an_ambiguous_key_is_reported(backend: str) -> None:
    doc = read("year: {07: Year 7, 10: Year 10}\n", backend)
    assert doc.data == {"year": {"07": "Year 7", "10": "Year 10"}}
    assert messages(doc) == [
        "f.yaml:1:8: $.year['07']: 07 is ambiguous: YAML may read it as the number 7; "
        'quote it ("07") to keep it as written'
    ]


def test_a_key_must_be_text(backend: str) -> None:
    doc = read("? [a, b]\n: 1\nc: 2\n", backend)
    assert doc.data == {"c": 2}
    assert messages(doc) == ["f.yaml:1:3: $: a key must be plain text, not a list or mapping"]


def test_unknown_tags_are_reported(backend: str) -> None:
    doc = read("a: !!binary aGk=\nb: !env X\nc: !!str 1\n", backend)
    assert doc.data == {"a": "aGk=", "b": "X", "c": "1"}
    assert messages(doc) == [
        "f.yaml:1:4: $.a: tag tag:yaml.org,2002:binary is not used in these files; remove it",
        "f.yaml:2:4: $.b: write {env: X} instead of !env X",
    ]


def test_duplicate_keys_are_reported_and_the_first_kept(backend: str) -> None:
    doc = read("a: 1\nb: 2\na: 3\n", backend)
    assert doc.data == {"a": 1, "b": 2}
    assert messages(doc) == ["f.yaml:3:1: $.a: duplicate key 'a' (first at line 1)"]


# --- anchors and merge keys ----------------------------------------------------------------------


def test_aliases_repeat_the_anchored_node(backend: str) -> None:
    doc = read("a: &x [1, 2]\nb: *x\n", backend)
    assert doc.data == {"a": [1, 2], "b": [1, 2]}
    assert doc.data["a"] is not doc.data["b"]  # plain data, not shared structure


def test_keys_written_in_a_mapping_win_over_merged_ones(backend: str) -> None:
    doc = read("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n", backend)
    assert doc.data["m"] == {"x": 3, "y": 2}
    assert doc.problems == []
    assert doc.marks[("m", "x")] == Mark(4, 6)  # the value written here
    assert doc.marks[("m", "y")] == Mark(1, 20)  # a merged value: where the anchor wrote it


def test_the_first_of_several_merged_mappings_wins(backend: str) -> None:
    text = "a: &a {x: 1}\nb: &b {x: 2, z: 0, <<: {w: 9}}\nm: {<<: [*a, *b], y: 5}\n"
    doc = read(text, backend)
    assert doc.data["m"] == {"x": 1, "z": 0, "w": 9, "y": 5}
    assert doc.problems == []


def test_a_quoted_merge_key_is_an_ordinary_key(backend: str) -> None:
    assert read("'<<': {a: 1}\n", backend).data == {"<<": {"a": 1}}


def test_merging_what_is_not_a_mapping_is_reported(backend: str) -> None:
    doc = read("m: {<<: [1], a: 2}\n", backend)
    assert doc.data == {"m": {"a": 2}}
    assert messages(doc) == [
        "f.yaml:1:10: $.m: << merges a mapping or a list of mappings (such as *defaults)"
    ]


def test_recursive_aliases_are_reported_not_followed(backend: str) -> None:
    doc = read("a: &a [1, *a]\nm: &m {x: 1, <<: *m}\n", backend)
    assert doc.data == {"a": [1, None], "m": {"x": 1}}
    assert messages(doc) == [
        "f.yaml:1:4: $.a[1]: an alias here refers to a node that contains it; data cannot loop",
        "f.yaml:2:4: $.m: << here merges a mapping that contains it",
    ]


def test_an_alias_bomb_is_rejected_quickly(backend: str) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    start = time.perf_counter()
    doc = read("\n".join(lines) + "\n", backend)
    assert time.perf_counter() - start < 5
    assert doc.data is None
    assert messages(doc) == ["f.yaml:1:1: $: too large: aliases expand it beyond 100000 values"]


# --- syntax, encodings, limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: b: c\n", "1:5: $: YAML syntax: ': ' is not allowed here; quote a value that contains ': '"),
        ("a:\n\tb: 1\n", "2:1: $: YAML syntax: a tab here; indent with spaces, not tabs"),
        (
            "a: 1\n---\nb: 2\n",
            "2:1: $: YAML syntax: a second document starts here; a file holds one document",
        ),
        ("a: *nope\n", "1:4: $: YAML syntax: found undefined alias 'nope'"),
        (
            "a: &x 1\nb: &x 2\n",
            "2:4: $: YAML syntax: this &anchor is already defined above; give each anchor its own name",
        ),
        (
            "a: [1, 2\n",
            "2:1: $: YAML syntax: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence)",
        ),
        (
            "a: 'x\n",
            "2:1: $: YAML syntax: found unexpected end of stream (while scanning a quoted scalar)",
        ),
        (
            "a:\n  - 1\n  b: 2\n",
            "3:3: $: YAML syntax: expected <block end>, but found '?' (while parsing a block collection)",
        ),
    ],
)
def test_syntax_errors_read_the_same_with_every_parser(text: str, message: str, backend: str) -> None:
    doc = read(text, backend)
    assert doc.data is None
    assert messages(doc) == [f"f.yaml:{message}"]


def test_control_characters_are_reported_where_they_are(backend: str) -> None:
    doc = read("a: 1\nb: x\x07y\n", backend)
    assert messages(doc) == ["f.yaml:2:5: $: character U+0007 is not allowed in YAML; remove it"]


def test_deep_nesting_is_a_problem_not_a_crash(backend: str) -> None:
    doc = read("a: " + "[" * 1200 + "]" * 1200 + "\n", backend)
    assert doc.data is None
    assert messages(doc) == ["f.yaml:1:1: $: nested too deeply"]


def test_an_integer_too_long_to_read_is_a_problem_not_a_crash(backend: str) -> None:
    longest, longer = "9" * yamlfile.MAX_DIGITS, "-" + "1" * 5000
    doc = read(f"a: {longest}\nb: [{longer}]\n", backend)
    assert doc.data == {"a": int(longest), "b": [longer]}
    assert messages(doc) == [
        "f.yaml:2:5: $.b[0]: a number of 5,000 digits is longer than a number can be here "
        "(4,300 digits at most); quote it if it is text"
    ]


def test_an_empty_file_has_no_data_and_no_problem(backend: str) -> None:
    doc = read("# only a comment\n", backend)
    assert (doc.data, doc.problems) == (None, [])


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\nb: x\n")
    doc = load(path)
    assert (doc.data, doc.problems) == ({"a": 1, "b": "x"}, [])
    assert doc.marks[("b",)] == Mark(2, 4)


def test_a_file_that_is_not_utf8_is_reported_at_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nb: café\n".encode("latin-1"))
    doc = load(path)
    assert doc.data is None
    assert [(p.line, p.col, p.message) for p in doc.problems] == [
        (2, 7, "not UTF-8 (byte 0xE9): save the file as UTF-8")
    ]


def test_a_file_that_cannot_be_read_is_reported(tmp_path: Path) -> None:
    doc = load(tmp_path / "missing.yaml")
    [problem] = doc.problems
    assert (problem.line, problem.col, problem.path) == (1, 1, "$")
    assert problem.message.startswith("cannot read: ")


@pytest.mark.skipif(len(BACKENDS) < 2, reason="only one YAML parser installed")
def test_both_parsers_give_the_same_data_and_marks() -> None:
    examples = resources.files("runner").joinpath("example")
    texts = [examples.joinpath("infiniti-sync.yaml").read_text("utf-8")]
    texts += [p.read_text("utf-8") for p in examples.joinpath("specs").iterdir()]
    texts.append("a: &a {x: 07, 'y': \"z\"}\nb: {<<: *a, w: |\n    t\n  }\n")
    for text in texts:
        first, second = (loads(text, F, backend=b) for b in BACKENDS)
        assert (first.data, first.marks, first.key_marks, first.styles) == (
            second.data,
            second.marks,
            second.key_marks,
            second.styles,
        )
        assert messages(first) == messages(second)
