"""The sandbox's answers: an HTTP status with a JSON body in the contract's shape.

`Rejected` carries the answer to a request that cannot be processed as a whole (a malformed body, a
file without the required columns); it never leaves the HTTP handler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import field

from runner.records import record

JSON_TYPE = "application/json;charset=UTF-8"


@record
class Reply:
    """An HTTP status and a JSON body, plus any extra headers."""

    status: int
    body: object
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body as UTF-8 JSON."""
        return json.dumps(self.body, ensure_ascii=False).encode()


def failure(status: int, summary: str, headers: Mapping[str, str] | None = None) -> Reply:
    """`{"success": false, "summary": summary}` with `status`."""
    return Reply(status, {"success": False, "summary": summary}, dict(headers or {}))


class Rejected(Exception):
    """The request is answered with `answer` instead of being processed."""

    def __init__(self, answer: Reply):
        super().__init__(answer.body)
        self.answer = answer


def reject(status: int, summary: str) -> Rejected:
    """A Rejected with `{"success": false, "summary": summary}`."""
    return Rejected(failure(status, summary))
