"""Standard output and standard error that take any text, on any console.

A report holds what the school's data holds (a Māori macron in "Tūī", a family name in Cyrillic); printing
it must never end in UnicodeEncodeError. `setup()`, called once when the command line starts, makes sure:

- UTF-8 where the console allows it. A POSIX locale says what its terminal and pipes expect (the C locale
  already reads as UTF-8, PEP 538 and 540); a Windows console takes any text (Python writes to it as
  UTF-16). A Windows file or pipe (`>> logs\\sync.log` under Task Scheduler) would get the ANSI code page
  (cp1252): it gets UTF-8 instead, as Python's UTF-8 mode writes it (the default from Python 3.15, PEP 686).
- Otherwise replacement characters: an encoding chosen on purpose (PYTHONIOENCODING=cp1252, a Latin-1
  locale) is kept, and a character it lacks is written `?` instead of stopping the report. Standard error
  keeps Python's own choice, backslash escapes (`T\\u016b\\u012b`), which never fail either and still say
  which character a message meant.
"""

from __future__ import annotations

import codecs
import io
import os
import sys

_NEVER_FAIL = frozenset({"replace", "backslashreplace", "xmlcharrefreplace", "namereplace", "ignore"})


def setup() -> None:
    """Make sys.stdout and sys.stderr safe for any text (see the module's docstring)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # not None (pythonw) nor a test's StringIO
            _make_safe(stream)


def _make_safe(stream: io.TextIOWrapper) -> None:
    chosen = "PYTHONIOENCODING" in os.environ
    if sys.platform == "win32" and not chosen and not _is_utf(stream.encoding) and not stream.isatty():
        stream.reconfigure(encoding="utf-8")
    if stream.errors not in _NEVER_FAIL:  # strict, or the C locale's surrogateescape; in UTF-8 too, where
        stream.reconfigure(errors="replace")  # a lone surrogate (bytes that were not UTF-8) becomes `?`


def _is_utf(encoding: str) -> bool:
    """True for an encoding that writes every character (UTF-8, UTF-16, UTF-32)."""
    return codecs.lookup(encoding).name.startswith("utf")
