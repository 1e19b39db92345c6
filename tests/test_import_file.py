"""The import file writes a line that needs no quoting as its cells joined, and any other through the csv
module: either way its bytes are exactly those csv.writer writes, for any cells and any width."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.csvfile import ImportFile, dialect_writer

# Cells made mostly of what changes quoting (comma, quote, CR, LF), with plain text, spaces and Unicode.
CELL = st.text(
    alphabet=st.sampled_from([",", '"', "\r", "\n", " ", "a", "Z", "0", "ā", "伟", "'", ";"]), max_size=6
)


def _expected(header: list[str], lines: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = dialect_writer(text)
    writer.writerow(header)
    writer.writerows(lines)
    return text.getvalue().encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 4), data=st.data())
@example(width=1, data=None)  # one column: an empty cell is quoted, to tell it from a blank line
def test_the_file_is_what_the_csv_module_writes(width: int, data: st.DataObject | None) -> None:
    line = st.lists(CELL, min_size=width, max_size=width)
    lines = data.draw(st.lists(line, max_size=6)) if data is not None else [[""], ["a"], [""]]
    header = [f"column{i}" for i in range(width)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.csv"
        with ImportFile(path, header) as out:
            for cells in lines:
                out.write(cells)
            out.commit()
        assert path.read_bytes() == _expected(header, lines)


def test_lines_written_after_some_are_dropped_are_written_the_same_way(tmp_path: Path) -> None:
    header = ["username", "library-group"]
    path = tmp_path / "out.csv"
    with ImportFile(path, header) as out:
        for cells in (["a", "Year 7"], ["b", 'Smith, "Jr"'], ["c", "Year 8"]):
            out.write(cells)
        out.drop({0})
        out.write(["d", "line\r\nbreak"])
        out.write(["e", "Year 9"])
        out.commit()
    lines = [["b", 'Smith, "Jr"'], ["c", "Year 8"], ["d", "line\r\nbreak"], ["e", "Year 9"]]
    assert path.read_bytes() == _expected(header, lines)
