"""The direct CSV reader splits a line without quotes itself (runner.source: _Records._split); it reads
what the csv module reads: the same records, the same line numbers, the same failures.

Generated files mix quoted fields (with delimiters, quotes and line breaks inside), lines ended by CRLF, LF
or CR (or nothing, last), blank lines, short and long records and broken quoting; the cells wanted are the
last or not (a line of the header's width is then cut after the last wanted cell).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.source import _Feed, _Records

FIELD = st.text(alphabet=["a", "é", " ", ",", ";", '"', "\r", "\n", "\x00", "\t"], max_size=5)
RECORD = st.lists(FIELD, min_size=0, max_size=5)
LINE = st.one_of(
    st.tuples(st.just("record"), RECORD, st.sampled_from(["\r\n", "\n", "\r"])),
    st.tuples(
        st.just("raw"),
        st.sampled_from(["", 'a"b', '"a', 'x,"y"z', "  ", ",,", "a,b,c,d"]),
        st.sampled_from(["\r\n", "\n", "\r", ""]),
    ),
)


def _text(lines: list[Any], delimiter: str) -> str:
    parts = []
    for kind, value, end in lines:
        if kind == "record":
            out = io.StringIO(newline="")
            csv.writer(out, delimiter=delimiter, lineterminator=end).writerow(value)
            parts.append(out.getvalue())
        else:
            parts.append(value + end)
    return "".join(parts)


def _read(path: Path, delimiter: str, positions: list[int], *, split: bool) -> list[Any]:
    found: list[Any] = []
    with path.open(encoding="utf-8", newline="") as handle:
        feed = _Feed(handle)
        reader = csv.reader(feed if split else handle, delimiter=delimiter, strict=True)
        records = _Records(reader, 3, positions, 2)
        if split:
            records.feed, records.delimiter = feed, delimiter
        try:
            found.extend(records.cells(lambda err: ValueError(f"{type(err).__name__}: {err}")))
        except ValueError as err:
            found.append(("failed", str(err), records.start))
    return found


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.sampled_from(["a,b,c\r\n", "a,b,\n", '"a","b","c"\r\n']),
    lines=st.lists(LINE, max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
    # the last cell wanted (each line split whole), or not (a line of the header's width cut after the
    # last wanted cell)
    positions=st.sampled_from([[0, 2], [2], [0], [1, 0], [0, 1]]),
)
def test_lines_split_here_read_as_the_csv_module_reads_them(
    tmp_path: Path, header: str, lines: list[Any], delimiter: str, positions: list[int]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(header.replace(",", delimiter) + _text(lines, delimiter), encoding="utf-8", newline="")
    assert _read(path, delimiter, positions, split=True) == _read(path, delimiter, positions, split=False)
