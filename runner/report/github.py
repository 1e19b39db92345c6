"""GitHub Actions workflow commands: an annotation on a line of a file, as `validate --format github` and
`test --format github` write them (escaped as actions/toolkit's command.ts does)."""

from __future__ import annotations


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, file: str, line: int, title: str, message: str, *, col: int | None = None) -> str:
    """`::error file=F,line=L,col=C,title=T::message`: `level` is error, warning or notice."""
    where = [f"file={_escape_property(file)}", f"line={line}"]
    where += [f"col={col}"] if col is not None else []
    return f"::{level} {','.join([*where, f'title={_escape_property(title)}'])}::{_escape_data(message)}"
