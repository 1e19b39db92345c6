"""Finding the first file of a multipart/form-data body (RFC 7578) without loading the body into memory.

The body lies in a seekable file; it is scanned in chunks for the boundary, and the first part whose
Content-Disposition has a filename is returned as a byte range of that file. Field names and file names
do not matter, as the contract says.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesHeaderParser
from typing import IO

from runner.records import record
from runner.sandbox.answer import reject

CHUNK = 1 << 20
MAX_PART_HEADER = 64 * 1024
_NOT_MULTIPART = (
    "The request is not multipart/form-data: send the CSV as a multipart file. No users imported."
)
_NO_FILE = "The request has no file part: send the CSV as a multipart file. No users imported."
_BROKEN = "The multipart body is malformed ({}). No users imported."


@record
class Part:
    """A file part of the body: its content is bytes `start` to `end` of the body file."""

    start: int
    end: int
    name: str | None
    filename: str


def boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type; Rejected (HTTP 400) for any other type."""
    header = Message()
    header["content-type"] = content_type or "application/octet-stream"
    value = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(value, str):
        raise reject(400, _NOT_MULTIPART)
    if not 1 <= len(value) <= 70:
        raise reject(400, _BROKEN.format("the boundary must be 1 to 70 characters"))
    return value.encode("latin-1", "replace")


def first_file(body: IO[bytes], boundary: bytes, chunk: int = CHUNK) -> Part:
    """The first file part of the multipart `body` (read `chunk` bytes at a time); Rejected (400) if none."""
    delimiter = b"\r\n--" + boundary
    marks = _delimiters(body, delimiter, chunk)
    here = next(marks, None)
    if here is None:
        raise reject(400, _BROKEN.format("no boundary found"))
    for following in marks:
        part = _part(body, here + len(delimiter), following)
        if part is not None:
            return part
        here = following
    if not _is_close(body, here + len(delimiter)):
        raise reject(400, _BROKEN.format("it ends before its closing boundary"))
    raise reject(400, _NO_FILE)


def _delimiters(body: IO[bytes], delimiter: bytes, chunk: int) -> Iterator[int]:
    """Offsets of every `delimiter` in the body, read as if it began with CRLF (so offset -2 is possible)."""
    buffer, base, position = b"\r\n", -2, 0
    while True:
        body.seek(position)
        data = body.read(chunk)
        position += len(data)
        buffer += data
        start = 0
        while (found := buffer.find(delimiter, start)) != -1:
            yield base + found
            start = found + len(delimiter)
        if not data:
            return
        keep = max(start, len(buffer) - len(delimiter) + 1)
        base, buffer = base + keep, buffer[keep:]


def _is_close(body: IO[bytes], offset: int) -> bool:
    body.seek(offset)
    return body.read(2) == b"--"


def _part(body: IO[bytes], start: int, end: int) -> Part | None:
    """The part between a delimiter ending at `start` and the next one at `end`, if it is a file."""
    body.seek(start)
    head = body.read(min(end - start, MAX_PART_HEADER))
    if head.startswith(b"--"):
        raise reject(400, _BROKEN.format("a part follows the closing boundary"))
    line_end = head.find(b"\r\n")
    if line_end == -1 or head[:line_end].strip(b" \t"):
        raise reject(400, _BROKEN.format("a boundary line is not followed by CRLF"))
    headers_end = head.find(b"\r\n\r\n", line_end)
    if line_end == head.find(b"\r\n\r\n"):  # a part without headers
        headers_end = line_end
    if headers_end == -1:
        raise reject(400, _BROKEN.format("a part's headers do not end"))
    message = BytesHeaderParser().parse(io.BytesIO(head[line_end + 2 : headers_end + 2]))
    filename = message.get_filename()
    if filename is None:
        return None
    name = message.get_param("name", header="content-disposition")
    return Part(start + headers_end + 4, end, name if isinstance(name, str) else None, filename)
