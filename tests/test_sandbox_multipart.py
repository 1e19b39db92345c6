"""Finding the first file of a multipart body: the forms real clients send, and malformed ones."""

from __future__ import annotations

import io

import pytest

from runner.sandbox.answer import Rejected
from runner.sandbox.multipart import Part, boundary, first_file

CSV = b"username,library-group,system-group\r\ns001,Year 7,Students\r\n"


def _file_content(body: bytes, content_type: str, chunk: int = 1 << 20) -> tuple[Part, bytes]:
    part = first_file(io.BytesIO(body), boundary(content_type), chunk)
    return part, body[part.start : part.end]


def _summary(body: bytes, content_type: str = "multipart/form-data; boundary=XyZ") -> str:
    with pytest.raises(Rejected) as raised:
        _file_content(body, content_type)
    assert raised.value.answer.status == 400
    answer = raised.value.answer.body
    assert isinstance(answer, dict)
    return str(answer["summary"])


def test_preamble_padding_plain_fields_and_epilogue() -> None:
    body = (
        b"This is the preamble.\r\n--XyZ  \t\r\n"
        b"\r\nno headers at all\r\n"
        b'--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nplain\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="upload"; filename="a b.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + CSV + b"\r\n--XyZ--\r\nThe epilogue."
    )
    part, content = _file_content(body, 'multipart/form-data; boundary="XyZ"')
    assert (part.name, part.filename, content) == ("upload", "a b.csv", CSV)


def test_a_boundary_split_across_reads_and_content_that_almost_matches() -> None:
    content = b"a --XyZ is no boundary without CRLF before it\r\n--Xy\r\n" + CSV
    body = (
        b"--XyZ\r\nContent-Disposition: form-data; name=file; filename=x.csv\r\n\r\n"
        + content
        + b"\r\n--XyZ\r\nContent-Disposition: form-data; name=second; filename=y.csv\r\n\r\n"
        + b"second\r\n--XyZ--\r\n"
    )
    for chunk in (1, 3, 7, 64, 1 << 20):
        part, found = _file_content(body, "multipart/form-data; boundary=XyZ", chunk)
        assert (part.filename, found) == ("x.csv", content)


def test_rfc_2231_file_names_and_empty_files() -> None:
    body = (
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''na%C3%AFve.csv\r\n\r\n"
        b"\r\n--XyZ--\r\n"
    )
    part, content = _file_content(body, "multipart/form-data; boundary=XyZ")
    assert (part.filename, content) == ("naïve.csv", b"")


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        (b"no boundary here", "The multipart body is malformed (no boundary found). No users imported."),
        (
            b"--XyZ\r\nContent-Disposition: form-data; name=file; filename=x.csv\r\n\r\nunfinished",
            "The multipart body is malformed (it ends before its closing boundary). No users imported.",
        ),
        (
            b"--XyZ\r\nContent-Disposition: form-data; name=file; filename=x.csv\r\nno blank line\r\n--XyZ--",
            "The multipart body is malformed (a part's headers do not end). No users imported.",
        ),
        (
            b"--XyZjunk\r\n\r\n\r\n--XyZ--\r\n",
            "The multipart body is malformed (a boundary line is not followed by CRLF). No users imported.",
        ),
        (
            b"--XyZ--\r\n--XyZ\r\n\r\n\r\n--XyZ--\r\n",
            "The multipart body is malformed (a part follows the closing boundary). No users imported.",
        ),
        (
            b"--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nx\r\n--XyZ--\r\n",
            "The request has no file part: send the CSV as a multipart file. No users imported.",
        ),
        (
            b"--XyZ--\r\n",
            "The request has no file part: send the CSV as a multipart file. No users imported.",
        ),
    ],
)
def test_malformed_bodies(body: bytes, summary: str) -> None:
    assert _summary(body) == summary


@pytest.mark.parametrize(
    ("content_type", "summary"),
    [
        (
            None,
            "The request is not multipart/form-data: send the CSV as a multipart file. No users imported.",
        ),
        (
            "text/csv",
            "The request is not multipart/form-data: send the CSV as a multipart file. No users imported.",
        ),
        (
            "multipart/form-data",
            "The request is not multipart/form-data: send the CSV as a multipart file. No users imported.",
        ),
        (
            "multipart/form-data; boundary=" + "b" * 71,
            "The multipart body is malformed (the boundary must be 1 to 70 characters). No users imported.",
        ),
    ],
)
def test_content_types_that_are_not_multipart_form_data(content_type: str | None, summary: str) -> None:
    with pytest.raises(Rejected) as raised:
        boundary(content_type)
    assert raised.value.answer.body == {"success": False, "summary": summary}
