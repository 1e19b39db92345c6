"""The pre-checks of each line, duplicates and the guards on the file as a whole, and the file itself."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.csvfile import ImportFile, read_records
from runner.plan import build
from runner.precheck import LineChecks, SeenHashes
from runner.source import StaticRows
from runner.spec import Amount, Checks
from tests.support.specs import make_spec, make_tenant
from tests.support.windows import posix_modes

SPEC = make_spec(
    {
        "username": "{{ row.u }}",
        "library-group": "{{ row.lib }}",
        "system-group": "{{ row.sys }}",
        "emailaddress": "{{ row.email }}",  # the contract's names match whatever their case
        "enabled": "{{ row.enabled }}",
        "staffMember": "{{ row.staff }}",
        "givenName": "{{ row.given }}",
    }
)
GOOD = {
    "u": "s001",
    "lib": "Year 7",
    "sys": "Students",
    "email": "ana@example.edu",
    "enabled": "TRUE",
    "staff": "FALSE",
    "given": "Ana",
}


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        ({}, []),
        ({"email": "", "enabled": "", "staff": ""}, []),  # optional columns may be empty
        ({"u": " "}, [("username", "username is empty")]),
        ({"lib": ""}, [("required", "library-group is empty")]),
        ({"sys": "  "}, [("required", "system-group is empty")]),
        ({"lib": "Year 9"}, [("group", "library-group 'Year 9' is not in groups.library")]),
        ({"lib": "year 7"}, [("group", "library-group 'year 7' is not in groups.library")]),  # exact
        ({"sys": "Teachers"}, [("group", "system-group 'Teachers' is not in groups.system")]),
        ({"email": "ana@"}, [("email", "emailaddress 'ana@' is not a well-formed email address")]),
        (
            {"email": "a b@example.edu"},
            [("email", "emailaddress 'a b@example.edu' is not a well-formed email address")],
        ),
        (
            {"email": "ana@example"},
            [("email", "emailaddress 'ana@example' is not a well-formed email address")],
        ),
        ({"enabled": "true"}, [("boolean", "enabled 'true' is not TRUE or FALSE")]),
        ({"staff": "Y"}, [("boolean", "staffMember 'Y' is not TRUE or FALSE")]),
        (
            {"given": "A\x00na"},
            [("text", "givenName contains a NUL character, which an import file cannot carry")],
        ),
        ({"given": "\udc80"}, [("text", "givenName contains a lone surrogate, which is not Unicode text")]),
        (
            {"u": "", "lib": "Nope", "email": "x"},
            [
                ("username", "username is empty"),
                ("group", "library-group 'Nope' is not in groups.library"),
                ("email", "emailaddress 'x' is not a well-formed email address"),
            ],
        ),
    ],
)
def test_each_line_check(change: dict[str, str], problems: list[tuple[str, str]]) -> None:
    cells = [{**GOOD, **change}[k] for k in ("u", "lib", "sys", "email", "enabled", "staff", "given")]
    assert LineChecks(SPEC).problems(cells) == problems


def test_seen_hashes_tell_a_repeat_and_grow() -> None:
    seen = SeenHashes(capacity=8)
    assert [seen.add(f"user{n}") for n in range(5000)] == [None] * 5000
    assert seen.add("user42") == hash("user42")
    assert seen.add("user5000") is None


def _plan(tmp_path: Path, rows: list[dict[str, Any]], **checks: Any) -> Any:
    spec = make_spec(
        {"username": "{{ row.u }}", "emailAddress": "{{ row.email }}", "enabled": "{{ row.on }}"},
        where="{{ row.keep }}",
        checks=Checks(**checks),
        ids=["u"],
    )
    base = {"email": "", "on": "TRUE", "keep": "yes"}
    return build(spec, make_tenant(), StaticRows([{**base, **r} for r in rows]), tmp_path / "people.csv")


def test_max_invalid_counts_rows_not_findings(tmp_path: Path) -> None:
    planned = _plan(tmp_path, [{"u": "a", "email": "bad", "on": "yes"}, {"u": "b"}], max_invalid=Amount(1))
    assert [(f.row, f.check) for f in planned.findings] == [(1, "email"), (1, "boolean")]
    assert (planned.ok, planned.failures) == (True, [])


@pytest.mark.parametrize(("allowed", "ok"), [("20%", True), ("19%", False), ("10%", False)])
def test_max_invalid_as_a_percentage_of_the_rows_where_kept(tmp_path: Path, allowed: str, ok: bool) -> None:
    rows = [{"u": f"u{n}", "keep": "yes" if n < 5 else "no"} for n in range(10)]
    rows[0]["email"] = "bad"
    planned = _plan(tmp_path, rows, max_invalid=Amount.parse(allowed))
    assert (planned.rows_read, planned.rows_skipped, planned.rows_out) == (10, 5, 4)
    assert planned.ok is ok  # 1 of the 5 rows considered is 20%
    if not ok:
        assert planned.failures == [
            f"1 row failed the pre-checks and was left out; checks.max_invalid allows {allowed}"
        ]


def test_min_rows_holds_a_short_file(tmp_path: Path) -> None:
    planned = _plan(tmp_path, [{"u": "a"}, {"u": "b"}], min_rows=3)
    assert planned.holds == [
        "2 rows is fewer than checks.min_rows (3); is the export complete? Nothing is sent until it is, "
        "or until infiniti-sync approve lets it through (or --force)"
    ]
    assert (planned.ok, planned.failures) == (False, [])
    assert _plan(tmp_path, [{"u": "a"}, {"u": "b"}], min_rows=2).ok


def test_a_row_left_out_by_a_check_is_not_a_duplicate(tmp_path: Path) -> None:
    planned = _plan(tmp_path, [{"u": "a", "email": "bad"}, {"u": "a"}, {"u": "b"}])
    assert [(f.row, f.check) for f in planned.findings] == [(1, "email")]
    assert [r[0] for r in read_records(planned.path)] == ["username", "a", "b"]
    assert list(planned.source_rows) == [2, 3]


@pytest.mark.parametrize(
    ("policy", "kept", "rows"),
    [("error", ["c"], [4]), ("first", ["a", "b", "c"], [1, 2, 4]), ("last", ["b", "c", "a"], [3, 4, 5])],
)
def test_duplicates_policies(tmp_path: Path, policy: str, kept: list[str], rows: list[int]) -> None:
    users = ["a", "b", "b", "c", "a"]
    planned = _plan(tmp_path, [{"u": u} for u in users], duplicates=policy)
    assert [r[0] for r in read_records(planned.path)][1:] == kept
    assert list(planned.source_rows) == rows  # each line maps back to its source row
    assert [tuple(p) for p in planned.preview] == [(u, "Year 7", "Students", "", "TRUE") for u in kept]
    assert planned.ok is (policy != "error")


def test_duplicates_are_confirmed_on_the_text_not_the_hash(tmp_path: Path) -> None:
    planned = _plan(tmp_path, [{"u": f"user{n}"} for n in range(20000)])
    assert (planned.rows_out, planned.findings, planned.dropped) == (20000, [], [])


# --- the import file ------------------------------------------------------------------------------


def test_the_file_is_utf8_without_bom_crlf_rfc4180(tmp_path: Path) -> None:
    path = tmp_path / "out" / "t" / "s.csv"
    with ImportFile(path, ["username", "givenName"]) as out:
        assert out.part.exists() and not path.exists()
        out.write(["s1", 'Bob "Bobby", Jr'])
        out.write(["s2", "Line\nbreak"])
        out.write(["s3", "Tāne 李"])
        out.commit()
    assert path.read_bytes() == (
        b'username,givenName\r\ns1,"Bob ""Bobby"", Jr"\r\ns2,"Line\nbreak"\r\ns3,T\xc4\x81ne \xe6\x9d\x8e\r\n'
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.csv"]


@posix_modes
def test_the_file_is_readable_only_by_its_owner_also_after_dropping_lines(tmp_path: Path) -> None:
    path = tmp_path / "out" / "s.csv"
    with ImportFile(path, ["username"]) as out:
        assert stat.S_IMODE(os.stat(out.part).st_mode) == 0o600
        out.write(["s1"])
        out.drop({0})
        out.commit()
    assert [stat.S_IMODE(p.stat().st_mode) for p in (path.parent, path)] == [0o700, 0o600]


def test_a_file_not_committed_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    with pytest.raises(RuntimeError), ImportFile(path, ["username"]) as out:
        out.write(["s1"])
        raise RuntimeError("the run stopped")
    assert list(tmp_path.iterdir()) == []


def test_dropping_lines_keeps_the_rest_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    with ImportFile(path, ["username"]) as out:
        for n in range(5):
            out.write([f"s{n}"])
        out.drop({1, 3})
        out.write(["s5"])
        assert list(out.data_lines()) == [["s0"], ["s2"], ["s4"], ["s5"]]
        out.commit()
    assert path.read_bytes() == b"username\r\ns0\r\ns2\r\ns4\r\ns5\r\n"


CELL = st.sampled_from(
    [
        "",
        " ",
        "s001",
        "Year 7",
        "Year 9",
        "Students",
        "Teachers",
        "TRUE",
        "FALSE",
        "yes",
        "ana@example.edu",
        "ana@",
        "a\x00b",
        "Māori",
        "\ud800",
    ]
)


@settings(max_examples=400, deadline=None)
@given(cells=st.lists(CELL, min_size=7, max_size=7), constant=st.sets(st.integers(0, 6), max_size=3))
def test_the_compiled_fast_check_agrees_with_the_full_checks(cells: list[str], constant: set[int]) -> None:
    checks = LineChecks(SPEC)
    ok = checks.fast({i: cells[i] for i in constant})  # constant cells: the same in every line
    assert ok(cells) == (checks.problems(cells) == [])
